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
    watch_reconciled,
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


def restart_once(base: Path, emu: EmulatorThread, config: Path
                 ) -> tuple[float, float, int]:
    """One ``hubsync watch`` start: wall seconds to the ``reconciled`` line, the process's
    CPU seconds by then (less disturbed by a loaded machine than wall time), uploads."""
    emu.clear_requests()
    with watch_reconciled(config, emu, base / "state", base / "out.txt") as started:
        time.sleep(1.0)
    return (started.seconds, started.cpu_s,
            sum(1 for r in emu.requests if r.endpoint == "upload"))


def main() -> None:
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(dir=Path.home()) as scratch:
        base = Path(scratch)
        emu, config = prepare(base)
        times: list[float] = []
        cpus: list[float] = []
        uploads = 0
        for _ in range(ROUNDS):
            seconds, cpu, sent = restart_once(base, emu, config)
            times.append(seconds)
            cpus.append(cpu)
            uploads += sent
            print(f"start to reconciled: {seconds:.2f} s (includes Python start-up), "
                  f"CPU {cpu:.2f} s, uploads: {sent} ({load()})", flush=True)
        emu.stop()
    median, median_cpu = statistics.median(times), statistics.median(cpus)
    print(f"median of {ROUNDS}: {median:.2f} s, CPU {median_cpu:.2f} s, uploads {uploads}")
    result(seconds=round(median, 3), cpu_s=round(median_cpu, 3), uploads=uploads)


if __name__ == "__main__":
    main()
