"""Recovery after an outage: seconds from the server's return to the remote tree converged.

Target: under 5 s (issue 11; hubsync 0.1 took 277 s after a 60 s outage). Runs
`hubsync watch` as a subprocess (debounce 50 ms) on a theme of OUTAGE_FILES files
(default 200) pushing to an emulator thread. Each round stops the emulator's listener,
so every connection is refused, for OUTAGE_SECONDS (default 60; OUTAGE_QUICK=1 makes
it 10) while files are edited, created and deleted: a batch at once, the rest spread
over the outage. Then the listener comes back on the same port (same stored files) and
the script polls every 20 ms until the emulator's tree under ``my-theme/`` equals the
local tree, byte for byte. The figure is that time, from the moment the listener
accepts connections again; the median over OUTAGE_ROUNDS rounds (default 3) of one
watch session is printed. OUTAGE_TIMEOUT (default 600 s) bounds the wait of a round.
OUTAGE_MODE=drop keeps the listener and makes the emulator drop every connection after
reading the request instead (``set_faults(drop_rate=1.0)``): the client then sees a
server disconnect, not a refused connection.

    .venv/bin/python bench/outage.py                 (~4 min)
    OUTAGE_QUICK=1 .venv/bin/python bench/outage.py  (~1 min)

Per round it also prints when the first request reached the server after its return
and when the last upload landed, so a miss shows whether the client waited (backoff,
probe interval) or was busy sending.
"""

from __future__ import annotations

import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from benchlib import load, machine, make_theme, result, start_emulator, start_watch, wait_until
from benchlib import write_config as write_cfg

from hubsync.emulator import EmulatorThread

QUICK = os.environ.get("OUTAGE_QUICK", "") not in ("", "0")
OUTAGE_S = float(os.environ.get("OUTAGE_SECONDS", "10" if QUICK else "60"))
ROUNDS = int(os.environ.get("OUTAGE_ROUNDS", "3"))
FILES = int(os.environ.get("OUTAGE_FILES", "200"))
TIMEOUT_S = float(os.environ.get("OUTAGE_TIMEOUT", "600"))
DROP = os.environ.get("OUTAGE_MODE", "refuse") == "drop"
DEST = "my-theme"
STEPS = 5
"""The edits after the first batch are spread over this many moments of the outage."""


def local_tree(root: Path) -> dict[str, bytes]:
    """Remote path -> content of every file under ``root``."""
    return {f"{DEST}/{p.relative_to(root).as_posix()}": p.read_bytes()
            for p in root.rglob("*") if p.is_file()}


def converged(emu: EmulatorThread, want: dict[str, bytes]) -> bool:
    """True when the emulator holds exactly ``want`` under DEST."""
    stored = {path: f for path, f in emu.files(111).items() if path.startswith(DEST + "/")}
    if stored.keys() != want.keys():
        return False
    return all(stored[path].content == content for path, content in want.items())


def edit_batch(root: Path, round_no: int, step: int, files: list[Path]) -> None:
    """Change 10 existing files and add 2; mid-outage also delete 1 file added earlier.

    One delete per round keeps a session of many rounds under the delete brake
    (``max_deletes`` = 20 within 10 minutes), which would hold them and never converge.
    """
    for n, path in enumerate(files[step * 10:(step + 1) * 10]):
        path.write_text(f"/* round {round_no} step {step} edit {n} */ body {{ margin: {n}px }}")
    for n in range(2):
        new = root / "added" / f"r{round_no}s{step}n{n}.css"
        new.parent.mkdir(exist_ok=True)
        new.write_text(f"/* added in round {round_no} step {step} */")
    victims = sorted((root / "added").glob("*.css")) if (root / "added").exists() else []
    if step == STEPS // 2 and len(victims) > 4:
        victims[0].unlink()


def outage_round(emu: EmulatorThread, port: int, root: Path, round_no: int
                 ) -> tuple[EmulatorThread, float]:
    """One outage with edits, then the return; the new emulator thread and the seconds."""
    files = sorted(p for p in root.rglob("*.css") if "added" not in p.parts)
    if DROP:
        emu.set_faults(drop_rate=1.0)
    else:
        emu.stop()  # the listener is gone: every connection is refused
    began = time.monotonic()
    edit_batch(root, round_no, 0, files)
    for step in range(1, STEPS + 1):
        time.sleep(max(0.0, began + OUTAGE_S * step / (STEPS + 1) - time.monotonic()))
        edit_batch(root, round_no, step, files)
    time.sleep(max(0.0, began + OUTAGE_S - time.monotonic()))
    want = local_tree(root)
    if DROP:
        back = emu
        back.set_faults()
    else:
        back = EmulatorThread(emu.emulator, port=port)
        back.start()
    returned = time.monotonic()
    returned_wall = time.time()
    done = wait_until(lambda: converged(back, want), TIMEOUT_S, 0.02)
    seconds = done - returned
    after = [r for r in back.requests if r.ts >= returned_wall]
    uploads = [r.ts - returned_wall for r in after if r.endpoint == "upload"]
    first = min((r.ts - returned_wall for r in after), default=float("nan"))
    print(f"round {round_no}: outage {OUTAGE_S:.0f} s, converged {seconds:.2f} s after the "
          f"return; first request +{first:.2f} s, {len(uploads)} uploads, last upload "
          f"+{max(uploads, default=float('nan')):.2f} s ({load()})", flush=True)
    return back, seconds


def main() -> None:
    print(f"machine: {machine()}")
    print(f"outage {OUTAGE_S:.0f} s x {ROUNDS} rounds, {FILES} files, "
          f"{'every connection dropped' if DROP else 'connections refused'}")
    emu = start_emulator(rate_limit=0)
    port = int(emu.url.rsplit(":", 1)[1])
    times: list[float] = []
    with tempfile.TemporaryDirectory(dir=Path.home()) as scratch:
        base = Path(scratch)
        root = base / "theme"
        make_theme(root, FILES)
        config = write_cfg(base / "config.toml", emu, root, base / "state",
                           debounce_ms=50, rate_limit=10_000)
        process = start_watch(config, emu, base / "out.txt")
        try:
            want = local_tree(root)
            wait_until(lambda: converged(emu, want), 120, 0.05)
            for round_no in range(1, ROUNDS + 1):
                emu, seconds = outage_round(emu, port, root, round_no)
                times.append(seconds)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
            emu.stop()
    median = statistics.median(times)
    verdict = "met" if median < 5 else f"MISSED by {median - 5:.2f} s"
    print(f"converged after the server's return: median {median:.2f} s of "
          f"{', '.join(f'{t:.2f}' for t in times)} (target < 5 s: {verdict})")
    result(seconds=round(median, 3), outage_s=OUTAGE_S, rounds=ROUNDS)


if __name__ == "__main__":
    main()
