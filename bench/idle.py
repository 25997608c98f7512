"""CPU seconds and RSS of `hubsync watch` over 60 s idle on a 10,000-file theme.

Targets: under 0.5 s CPU, under 100 MB RSS. Reads /proc/<pid>/stat (utime + stime) and
/proc/<pid>/status (VmRSS) of the watch process, after its first reconcile.

    .venv/bin/python bench/idle.py   (IDLE_SECONDS=60 by default; RESTART_FILES: tree size)
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchlib import cpu_seconds, load, machine, result, rss_mb, wait_until, watch_reconciled
from restart import prepare

IDLE_S = float(os.environ.get("IDLE_SECONDS", "60"))


def main() -> None:
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(dir=Path.home()) as scratch:
        base = Path(scratch)
        emu, config = prepare(base)
        # The start is restart.py's figure too: one more sample of it per idle run.
        with watch_reconciled(config, emu, base / "state", base / "out.txt") as started:
            pid = started.process.pid
            wait_until(lambda: "watching" in (base / "out.txt").read_text(), 60, 0.05)
            time.sleep(2.0)
            cpu_before = cpu_seconds(pid)
            time.sleep(IDLE_S)
            cpu = cpu_seconds(pid) - cpu_before
            rss = rss_mb(pid)
        emu.stop()
    print(f"start to reconciled: {started.seconds:.2f} s, CPU {started.cpu_s:.2f} s")
    print(f"idle {IDLE_S:.0f} s: CPU {cpu:.2f} s, RSS {rss:.1f} MB ({load()})")
    result(cpu_s=round(cpu, 3), rss_mb=round(rss, 1), restart_s=round(started.seconds, 3),
           restart_cpu_s=round(started.cpu_s, 3))


if __name__ == "__main__":
    main()
