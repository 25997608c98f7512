"""CPU seconds and RSS of `hubsync watch` over 60 s idle on a 10,000-file theme.

Targets: under 0.5 s CPU, under 100 MB RSS. Reads /proc/<pid>/stat (utime + stime) and
/proc/<pid>/status (VmRSS) of the watch process, after its first reconcile.

    .venv/bin/python bench/idle.py   (IDLE_SECONDS=60 by default; RESTART_FILES: tree size)
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

from benchlib import load, machine, result, start_watch, wait_until
from restart import prepare

IDLE_S = float(os.environ.get("IDLE_SECONDS", "60"))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(dir=Path.home()) as scratch:
        base = Path(scratch)
        emu, config = prepare(base)
        log = base / "state" / "sync.log"
        before = log.read_text().count('"reconciled"')
        began = time.monotonic()
        process = start_watch(config, emu, base / "out.txt")
        try:
            # The start is restart.py's figure too: one more sample of it per idle run.
            done = wait_until(lambda: log.read_text().count('"reconciled"') > before, 60, 0.01)
            start_cpu = cpu_seconds(process.pid)
            wait_until(lambda: "watching" in (base / "out.txt").read_text(), 60, 0.05)
            time.sleep(2.0)
            cpu_before = cpu_seconds(process.pid)
            time.sleep(IDLE_S)
            cpu = cpu_seconds(process.pid) - cpu_before
            rss = rss_mb(process.pid)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
        emu.stop()
    print(f"start to reconciled: {done - began:.2f} s, CPU {start_cpu:.2f} s")
    print(f"idle {IDLE_S:.0f} s: CPU {cpu:.2f} s, RSS {rss:.1f} MB ({load()})")
    result(cpu_s=round(cpu, 3), rss_mb=round(rss, 1), restart_s=round(done - began, 3),
           restart_cpu_s=round(start_cpu, 3))


if __name__ == "__main__":
    main()
