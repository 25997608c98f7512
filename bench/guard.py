"""What the conflict guard costs (issue 10): requests per file and wall time, guard on
against guard off, medians of ROUNDS runs each.

1. **300-file push, second push**: a theme of 300 files is pushed once; then every file is
   changed and `hubsync push` runs again (a subprocess), so the guard's metadata read runs
   before each overwrite. Counted: the emulator's logged requests of that second push by
   endpoint, and its wall time.
2. **100-save watch session**: `hubsync watch` runs; one file is saved 100 times, each save
   waited for until the emulator holds it (so every save is one settled upload). Counted:
   requests per save, and the wall time of the 100 saves.

3. **Archive push, then the guard** (``GUARD_BENCH=archive`` runs only this): a theme of
   300 files is pushed with ``bulk = "auto"`` (one archive); every file is changed and
   pushed again, (a) by archive again, (b) with the extraction refused (HTTP 403), so the
   archive path hands every vetted file back to the per-file loop. Counted: the second
   push's requests by kind (metadata reads, downloads, uploads, archive requests) per
   file, and its wall time. Run it with ``HUBSYNC_PYTHON`` pointing at an older hubsync
   for the "before" column (bench/README.md).

The emulator answers with ``LATENCY_MS`` of latency and no rate limit, and hubsync's own
budget is high, so the wall time shows the latency cost of the extra read; under a real
rate limit the extra read also takes budget (requests per file is the number to scale by).

    .venv/bin/python bench/guard.py            # prints RESULT lines and a table
    GUARD_BENCH=archive .venv/bin/python bench/guard.py   # the archive section only
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchlib import HUBSYNC, env, make_theme, start_emulator

from hubsync.emulator import EmulatorThread

FILES = 300
SAVES = 100
ROUNDS = 3
LATENCY_MS = 20.0


def config(path: Path, emu: EmulatorThread, root: Path, state: Path, *, guard: bool,
           bulk: str = "files") -> Path:
    path.write_text(
        "[settings]\n"
        f'state_dir = "{state}"\n'
        "debounce_ms = 50\n"
        "rate_limit = 10000\n"
        "[accounts.sandbox]\n"
        "portal_id = 111\n"
        f'api_base = "{emu.url}"\n'
        f'bulk = "{bulk}"\n'
        f"guard = {str(guard).lower()}\n"
        "[[watch]]\n"
        'name = "theme"\n'
        f'src = "{root}"\n'
        'dest = "my-theme"\n'
        'accounts = ["sandbox"]\n'
    )
    return path


def run(cfg: Path, emu: EmulatorThread, *args: str) -> None:
    done = subprocess.run([*HUBSYNC, "--config", str(cfg), *args], env=env(emu),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"hubsync {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def push_round(guard: bool) -> dict[str, float]:
    emu = start_emulator(rate_limit=0, latency_ms=LATENCY_MS)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch) / "theme"
            make_theme(root, FILES)
            cfg = config(Path(scratch) / "config.toml", emu, root, Path(scratch) / "state",
                         guard=guard)
            run(cfg, emu, "push")
            for path in sorted(root.rglob("*.css")):
                path.write_text(path.read_text() + "\n/* changed */")
            before = len(emu.requests)
            began = time.monotonic()
            run(cfg, emu, "push")
            elapsed = time.monotonic() - began
            counts = Counter(str(r.endpoint) for r in emu.requests[before:])
    finally:
        emu.stop()
    files_requests = sum(n for endpoint, n in counts.items() if endpoint != "auth")
    return {"seconds": elapsed, "per_file": files_requests / FILES,
            "meta": counts.get("meta", 0), "upload": counts.get("upload", 0)}


def watch_round(guard: bool) -> dict[str, float]:
    emu = start_emulator(rate_limit=0, latency_ms=LATENCY_MS)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch) / "theme"
            make_theme(root, 10)
            cfg = config(Path(scratch) / "config.toml", emu, root, Path(scratch) / "state",
                         guard=guard)
            out = Path(scratch) / "watch.txt"
            with out.open("wb") as sink:
                process = subprocess.Popen([*HUBSYNC, "--config", str(cfg), "watch"],
                                           env=env(emu), stdout=sink,
                                           stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 60
                while "watching" not in out.read_text(errors="replace"):
                    if time.monotonic() > deadline:
                        raise SystemExit("watch did not start:\n" + out.read_text())
                    time.sleep(0.05)
                run(cfg, emu, "flush")
                target = root / "part000" / "f00000.css"
                remote = "my-theme/part000/f00000.css"
                before = len(emu.requests)
                began = time.monotonic()
                for i in range(SAVES):
                    body = f"/* save {i} */".encode()
                    target.write_bytes(body)
                    while emu.files(111).get(remote) is None or \
                            emu.files(111)[remote].content != body:
                        time.sleep(0.005)
                elapsed = time.monotonic() - began
                counts = Counter(str(r.endpoint) for r in emu.requests[before:])
            finally:
                process.terminate()
                process.wait(20)
    finally:
        emu.stop()
    requests = sum(n for endpoint, n in counts.items() if endpoint != "auth")
    return {"seconds": elapsed, "per_save": requests / SAVES,
            "meta": counts.get("meta", 0), "upload": counts.get("upload", 0)}


ARCHIVE_KINDS = {"meta": ("meta", "v3_metadata"), "download": ("stream", "v3_download"),
                 "upload": ("upload",),
                 "archive": ("v3_upload", "extract", "extract_status", "v3_delete")}
"""Request kinds of the archive section, by the emulator's endpoint names."""


def archive_round(refused: bool) -> dict[str, float]:
    """First push by archive; then all files changed and pushed again, by archive or, with
    ``refused``, with the extraction refused so every file goes back to the per-file loop."""
    emu = start_emulator(rate_limit=0, latency_ms=LATENCY_MS)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch) / "theme"
            make_theme(root, FILES)
            cfg = config(Path(scratch) / "config.toml", emu, root, Path(scratch) / "state",
                         guard=True, bulk="auto")
            run(cfg, emu, "push")
            if not any(str(r.endpoint) == "extract" for r in emu.requests):
                raise SystemExit("the first push did not go by archive")
            for path in sorted(root.rglob("*.css")):
                path.write_text(path.read_text() + "\n/* changed */")
            if refused:
                emu.set_extract_faults(refuse_status=403)
            before = len(emu.requests)
            began = time.monotonic()
            run(cfg, emu, "push")
            elapsed = time.monotonic() - began
            counts = Counter(str(r.endpoint) for r in emu.requests[before:])
    finally:
        emu.stop()
    files_requests = sum(n for endpoint, n in counts.items() if endpoint != "auth")
    row: dict[str, float] = {"seconds": elapsed, "per_file": files_requests / FILES}
    for kind, names in ARCHIVE_KINDS.items():
        row[kind] = sum(counts.get(name, 0) for name in names)
    return row


def archive_section() -> None:
    rows: dict[str, dict[str, float]] = {}
    for refused in (False, True):
        label = "extraction refused" if refused else "by archive"
        rows[label] = medians([archive_round(refused) for _ in range(ROUNDS)])
        print(f"RESULT archive then second push {label} {json.dumps(rows[label])}",
              flush=True)
    print(f"\n| second push of {FILES} changed files after an archive push | by archive | "
          "extraction refused, per file |\n|---|---|---|")
    for key, what in (("per_file", "requests per file"), ("meta", "metadata reads"),
                      ("download", "downloads"), ("upload", "per-file uploads"),
                      ("archive", "archive requests"), ("seconds", "wall time (s)")):
        a, b = rows["by archive"][key], rows["extraction refused"][key]
        print(f"| {what} | {a:g} | {b:g} |")


def medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(r[key] for r in rounds), 3) for key in rounds[0]}


def main() -> None:
    archive_section()
    if os.environ.get("GUARD_BENCH") == "archive":
        return
    results: dict[str, dict[str, float]] = {}
    for guard in (False, True):
        label = "on" if guard else "off"
        results[f"push_guard_{label}"] = medians([push_round(guard) for _ in range(ROUNDS)])
        print(f"RESULT push guard {label} {json.dumps(results[f'push_guard_{label}'])}",
              flush=True)
        results[f"watch_guard_{label}"] = medians([watch_round(guard) for _ in range(ROUNDS)])
        print(f"RESULT watch guard {label} {json.dumps(results[f'watch_guard_{label}'])}",
              flush=True)
    off, on = results["push_guard_off"], results["push_guard_on"]
    woff, won = results["watch_guard_off"], results["watch_guard_on"]
    print(f"\n| {FILES}-file second push | guard off | guard on |\n|---|---|---|")
    print(f"| requests per file | {off['per_file']:.2f} | {on['per_file']:.2f} |")
    print(f"| wall time (s) | {off['seconds']:.2f} | {on['seconds']:.2f} |")
    print(f"\n| {SAVES}-save watch session | guard off | guard on |\n|---|---|---|")
    print(f"| requests per save | {woff['per_save']:.2f} | {won['per_save']:.2f} |")
    print(f"| wall time of the saves (s) | {woff['seconds']:.2f} | {won['seconds']:.2f} |")


if __name__ == "__main__":
    main()
