"""Restart on a 10,000-file theme already in sync: start to "reconciled", and uploads.

Targets: under 2 s, 0 uploads. Pushes the theme once (not timed), then starts
`hubsync watch` as a subprocess and times from process start until its sync log has the
`reconciled` line; counts the uploads the emulator saw from the restart. RESTART_FILES
sets the tree size, RESTART_ROUNDS the number of restarts of the same prepared tree
(median printed).

    .venv/bin/python bench/restart.py
"""

from __future__ import annotations

import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from benchlib import (
    load,
    machine,
    make_theme,
    push,
    result,
    start_emulator,
    start_watch,
    wait_until,
)
from benchlib import write_config as write_cfg

from hubsync.emulator import EmulatorThread

FILES = int(os.environ.get("RESTART_FILES", "10000"))
ROUNDS = int(os.environ.get("RESTART_ROUNDS", "1"))


def prepare(base: Path) -> tuple[EmulatorThread, Path]:
    """Emulator + 10,000-file theme pushed once; returns the emulator and the config."""
    emu = start_emulator(rate_limit=0)
    root = base / "theme"
    make_theme(root, FILES)
    config = write_cfg(base / "config.toml", emu, root, base / "state", rate_limit=10_000)
    began = time.monotonic()
    push(config, emu)
    print(f"initial push of {FILES} files: {time.monotonic() - began:.1f} s (not the target)")
    emu.clear_requests()
    return emu, config


def restart_once(base: Path, emu: EmulatorThread, config: Path) -> tuple[float, int]:
    """One ``hubsync watch`` start: seconds to the ``reconciled`` line, uploads seen."""
    emu.clear_requests()
    log = base / "state" / "sync.log"
    before = log.read_text().count('"reconciled"')
    began = time.monotonic()
    process = start_watch(config, emu, base / "out.txt")
    try:
        done = wait_until(lambda: log.read_text().count('"reconciled"') > before, 60, 0.01)
        time.sleep(1.0)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
    return done - began, sum(1 for r in emu.requests if r.endpoint == "upload")


def main() -> None:
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(dir=Path.home()) as scratch:
        base = Path(scratch)
        emu, config = prepare(base)
        times: list[float] = []
        uploads = 0
        for _ in range(ROUNDS):
            seconds, sent = restart_once(base, emu, config)
            times.append(seconds)
            uploads += sent
            print(f"start to reconciled: {seconds:.2f} s (includes Python start-up), "
                  f"uploads: {sent} ({load()})", flush=True)
        emu.stop()
    median = statistics.median(times)
    print(f"median of {ROUNDS}: {median:.2f} s, uploads {uploads}")
    result(seconds=round(median, 3), uploads=uploads)


if __name__ == "__main__":
    main()
