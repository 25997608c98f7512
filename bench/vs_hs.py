"""hubsync side by side with HubSpot's ``hs`` CLI 8.14.0 on the same emulator (issue 12).

Run by hand (not in CI), after ``tests/run.sh`` installed ``hs`` into the test cache:

    .venv/bin/python bench/vs_hs.py            # all four, 3 rounds where it says so (~10 min)
    .venv/bin/python bench/vs_hs.py --rounds 1 --only bulk

Both tools talk https to one ``Emulator(tls=True)`` on loopback (``hs`` only speaks
https): ``hs`` with ``NODE_EXTRA_CA_CERTS`` and ``HUBAPI_DOMAIN_OVERRIDE``, hubsync with
``SSL_CERT_FILE`` and ``api_base``. ``hs`` runs with the conformance suite's preload that
refuses any connection off the machine. Every time is wall clock of the whole command
or the whole save -> stored interval (start-up and any quiet period included).

1. bulk: 1,000 files, 50 ms server latency, 5 connections each (hs's sockets, hubsync's
   concurrency): ``hs cms upload`` vs ``hubsync push``, median of the rounds.
2. limited: 300 files under 100 requests / 10 s: files stored, 429s, exit code, time.
3. saves: 100 single saves under ``hs cms watch`` and ``hubsync watch`` (default
   debounce 300 ms, and 50 ms): save -> stored p50/p99.
4. burst: 30 writes to one file within 100 ms: uploads of that file, final content right.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from benchlib import HUBSYNC, machine, make_theme, percentile, start_emulator, wait_until

from hubsync.emulator import EmulatorThread, Endpoint

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conformance.hs_cli import PRELOAD, find_hs

PORTAL = 111


@contextmanager
def emulator(**kwargs: object) -> Iterator[EmulatorThread]:
    """A fresh https emulator (fresh rate-limit windows) for one run."""
    emu = start_emulator(tls=True, **kwargs)
    try:
        yield emu
    finally:
        emu.stop()


def hs_env(emu: EmulatorThread, home: Path) -> dict[str, str]:
    """``hs``'s environment: a private home signed in with a hand-written config."""
    (home / ".hscli").mkdir(parents=True, exist_ok=True)
    key = emu.accounts["sandbox"].key
    (home / ".hscli" / "config.yml").write_text(
        f"defaultAccount: {PORTAL}\nallowUsageTracking: false\naccounts:\n"
        f"  - name: sandbox\n    accountId: {PORTAL}\n    env: prod\n"
        f"    authType: personalaccesskey\n    accountType: STANDARD\n"
        f"    personalAccessKey: {key}\n    auth:\n      tokenInfo: {{}}\n")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "HUBAPI_DOMAIN_OVERRIDE": f"{urlsplit(emu.url).netloc}/api.hubapi",
        "NODE_EXTRA_CA_CERTS": str(emu.ca_path),
        "NODE_OPTIONS": f"--require {PRELOAD}",
        "NO_UPDATE_NOTIFIER": "1",
        "SKIP_HUBSPOT_CLI_AUTO_UPDATES": "1",
        "BROWSER": "none",
    }


def hubsync_env(emu: EmulatorThread) -> dict[str, str]:
    """hubsync's environment: the key in its variable, the emulator's CA trusted."""
    env = dict(os.environ)
    env["HUBSYNC_KEY_SANDBOX"] = emu.accounts["sandbox"].key
    env["SSL_CERT_FILE"] = str(emu.ca_path)
    env.pop("HUBSYNC_CONFIG", None)
    return env


def hubsync_config(base: Path, emu: EmulatorThread, root: Path, dest: str, *,
                   rate_limit: int = 10_000, debounce_ms: int | None = None) -> Path:
    """A config with one watch of ``root`` to ``dest`` and a fresh state folder."""
    state = base / f"state-{dest}"
    path = base / f"config-{dest}.toml"
    debounce = f"debounce_ms = {debounce_ms}\n" if debounce_ms is not None else ""
    path.write_text(
        f'[settings]\nstate_dir = "{state}"\nrate_limit = {rate_limit}\n{debounce}'
        f'[accounts.sandbox]\nportal_id = {PORTAL}\napi_base = "{emu.url}"\n'
        f'[[watch]]\nname = "theme"\nsrc = "{root}"\ndest = "{dest}"\n'
        'accounts = ["sandbox"]\n')
    return path


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, float]:
    """Run ``argv`` to completion; its exit code and wall-clock seconds."""
    began = time.monotonic()
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False,
                            timeout=900)
    return result.returncode, time.monotonic() - began


def stored_under(emu: EmulatorThread, dest: str) -> int:
    return sum(1 for path in emu.files(PORTAL) if path.startswith(dest + "/"))


def too_many(emu: EmulatorThread) -> int:
    return sum(1 for record in emu.requests if record.status == 429)


def check(rc: int, emu: EmulatorThread, dest: str, who: str) -> None:
    """Stop the benchmark when a run did not store all 1,000 files."""
    if rc != 0 or stored_under(emu, dest) != 1000:
        raise SystemExit(f"{who}: exit {rc}, {stored_under(emu, dest)} of 1000 stored")


# ----------------------------------------------------------------------- scenarios


def bulk(hs: Path, base: Path, rounds: int) -> list[str]:
    root = base / "bulk-theme"
    make_theme(root, 1000, min_bytes=2000, max_bytes=20000)
    times: dict[str, list[float]] = {"hs": [], "hubsync": []}
    with emulator(rate_limit=0, latency_ms=50) as emu:
        for i in range(rounds):
            dest = f"bulk-hs-{i}"
            rc, seconds = timed([str(hs), "cms", "upload", str(root), dest],
                                hs_env(emu, base / "hs-home"), base)
            check(rc, emu, dest, "hs cms upload")
            times["hs"].append(seconds)
            dest = f"bulk-hubsync-{i}"
            config = hubsync_config(base, emu, root, dest)
            rc, seconds = timed([*HUBSYNC, "--config", str(config), "push"],
                                hubsync_env(emu), base)
            check(rc, emu, dest, "hubsync push")
            times["hubsync"].append(seconds)
    hs_s, ours = statistics.median(times["hs"]), statistics.median(times["hubsync"])
    return [f"bulk 1,000 files, 50 ms latency, 5 connections ({rounds} rounds): "
            f"hs cms upload median {hs_s:.1f} s, hubsync push median {ours:.1f} s, "
            f"hubsync/hs = {ours / hs_s:.2f} (all rounds: hs "
            f"{', '.join(f'{t:.1f}' for t in times['hs'])}; hubsync "
            f"{', '.join(f'{t:.1f}' for t in times['hubsync'])})"]


def limited(hs: Path, base: Path, rounds: int) -> list[str]:
    root = base / "limited-theme"
    make_theme(root, 300)
    lines = []
    for i in range(rounds):
        with emulator(rate_limit=100, rate_window_ms=10_000) as emu:
            rc, seconds = timed([str(hs), "cms", "upload", str(root), "lim-hs"],
                                hs_env(emu, base / "hs-home"), base)
            lines.append(f"limited 100/10 s, 300 files, round {i + 1}: hs cms upload exit {rc}, "
                         f"{stored_under(emu, 'lim-hs')} stored, {too_many(emu)} x 429, "
                         f"{seconds:.1f} s")
        with emulator(rate_limit=100, rate_window_ms=10_000) as emu:
            config = hubsync_config(base, emu, root, f"lim-hubsync-{i}", rate_limit=100)
            rc, seconds = timed([*HUBSYNC, "--config", str(config), "push"],
                                hubsync_env(emu), base)
            lines.append(f"limited 100/10 s, 300 files, round {i + 1}: hubsync push exit {rc}, "
                         f"{stored_under(emu, f'lim-hubsync-{i}')} stored, "
                         f"{too_many(emu)} x 429, {seconds:.1f} s")
    return lines


@contextmanager
def running(argv: list[str], env: dict[str, str], cwd: Path, out: Path,
            ready: Callable[[], bool]) -> Iterator[None]:
    with out.open("wb") as sink:
        process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=sink,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(ready, 120, 0.05)
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def save_latencies(emu: EmulatorThread, root: Path, dest: str, saves: int) -> list[float]:
    target = root / "part000" / "f00000.css"
    remote = f"{dest}/part000/f00000.css"
    samples = []
    for i in range(saves):
        content = f"/* save {i} {dest} */ body {{ color: #{i:06x} }}".encode()
        began = time.monotonic()
        target.write_bytes(content)

        def arrived(content: bytes = content) -> bool:
            stored = emu.files(PORTAL).get(remote)
            return stored is not None and stored.content == content

        samples.append((wait_until(arrived, 30) - began) * 1000)
        time.sleep(0.05)
    return samples


def saves(hs: Path, base: Path, count: int) -> list[str]:
    lines = []
    with emulator(rate_limit=0) as emu:
        root = base / "saves-theme"
        make_theme(root, 50)
        out = base / "hs-watch.out"
        with running([str(hs), "cms", "watch", str(root), "saves-hs"],
                     hs_env(emu, base / "hs-home"), base, out,
                     lambda: "Watcher is ready" in out.read_text(errors="replace")):
            samples = save_latencies(emu, root, "saves-hs", count)
        lines.append(describe("hs cms watch", samples))
        for debounce in (None, 50):
            dest = f"saves-hubsync-{debounce or 'default'}"
            config = hubsync_config(base, emu, root, dest, debounce_ms=debounce)
            out = base / f"{dest}.out"

            def reconciled(dest: str = dest) -> bool:
                return stored_under(emu, dest) == 50

            with running([*HUBSYNC, "--config", str(config), "watch"], hubsync_env(emu), base,
                         out, reconciled):
                samples = save_latencies(emu, root, dest, count)
            label = "default 300" if debounce is None else str(debounce)
            lines.append(describe(f"hubsync watch (debounce {label} ms)", samples))
    return lines


def describe(who: str, samples: list[float]) -> str:
    return (f"saves: {who}: {len(samples)} saves, save -> stored p50 "
            f"{percentile(samples, 0.5):.0f} ms, p99 {percentile(samples, 0.99):.0f} ms, "
            f"max {max(samples):.0f} ms")


def burst_uploads(emu: EmulatorThread, root: Path, dest: str) -> tuple[int, bool]:
    """30 writes to one file within ~100 ms; uploads of it and whether the last won."""
    target = root / "part000" / "f00001.css"
    remote = f"{dest}/part000/f00001.css"
    emu.clear_requests()
    last = b""
    for i in range(30):
        last = f"/* burst {i} {dest} {time.time()} */ p {{ margin: {i}px }}".encode()
        target.write_bytes(last)
        time.sleep(0.1 / 30)
    with suppress(SystemExit):
        wait_until(lambda: (s := emu.files(PORTAL).get(remote)) is not None
                   and s.content == last, 30, 0.01)
    time.sleep(3)  # a benchmark, not a test: let stragglers land before counting
    uploads = sum(1 for r in emu.requests
                  if r.endpoint is Endpoint.UPLOAD and r.remote_path == remote)
    stored = emu.files(PORTAL).get(remote)
    return uploads, stored is not None and stored.content == last


def burst(hs: Path, base: Path, rounds: int) -> list[str]:
    lines = []
    with emulator(rate_limit=0) as emu:
        root = base / "burst-theme"
        make_theme(root, 20)
        out = base / "hs-burst.out"
        results: dict[str, list[tuple[int, bool]]] = {"hs cms watch": [], "hubsync watch": []}
        with running([str(hs), "cms", "watch", str(root), "burst-hs"],
                     hs_env(emu, base / "hs-home"), base, out,
                     lambda: "Watcher is ready" in out.read_text(errors="replace")):
            for _ in range(rounds):
                results["hs cms watch"].append(burst_uploads(emu, root, "burst-hs"))
        config = hubsync_config(base, emu, root, "burst-hubsync")
        with running([*HUBSYNC, "--config", str(config), "watch"], hubsync_env(emu), base,
                     base / "hubsync-burst.out",
                     lambda: stored_under(emu, "burst-hubsync") == 20):
            for _ in range(rounds):
                results["hubsync watch"].append(burst_uploads(emu, root, "burst-hubsync"))
    for who, runs in results.items():
        lines.append(f"burst 30 writes in 100 ms: {who}: uploads per burst "
                     f"{[u for u, _ in runs]}, final content right {[ok for _, ok in runs]}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--saves", type=int, default=100)
    parser.add_argument("--only", choices=["bulk", "limited", "saves", "burst"])
    args = parser.parse_args()
    hs = find_hs()
    if hs is None:
        raise SystemExit("hs is not installed: run tests/run.sh first (or set HUBSYNC_HS)")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory(dir=Path.home()) as scratch:
        base = Path(scratch)
        runs: dict[str, Callable[[], list[str]]] = {
            "bulk": lambda: bulk(hs, base, args.rounds),
            "limited": lambda: limited(hs, base, min(args.rounds, 2)),
            "saves": lambda: saves(hs, base, args.saves),
            "burst": lambda: burst(hs, base, args.rounds),
        }
        for name, run in runs.items():
            if args.only in (None, name):
                for line in run():
                    print(line, flush=True)


if __name__ == "__main__":
    main()
