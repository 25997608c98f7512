"""Save -> visible on the emulator, p50 and p99 over 200 saves, minus the debounce.

Target: p50 under 20 ms, p99 under 60 ms. Runs `hubsync watch` as a subprocess with
debounce_ms = 50 against an emulator thread (no latency, no rate limit) and polls the
emulator's store every millisecond after each save. LATENCY_SAVES sets the number of
saves.

    .venv/bin/python bench/latency.py
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

from benchlib import (
    load,
    machine,
    make_theme,
    percentile,
    result,
    start_emulator,
    start_watch,
    wait_until,
)
from benchlib import write_config as write_cfg
from restart import cpu_seconds

SAVES = int(os.environ.get("LATENCY_SAVES", "200"))
DEBOUNCE_MS = 50


def main() -> None:
    emu = start_emulator(rate_limit=0)
    with tempfile.TemporaryDirectory(dir=Path.home()) as scratch:
        base = Path(scratch)
        root = base / "theme"
        make_theme(root, 50)
        config = write_cfg(base / "config.toml", emu, root, base / "state",
                           debounce_ms=DEBOUNCE_MS, rate_limit=10_000)
        process = start_watch(config, emu, base / "out.txt")
        try:
            wait_until(lambda: "watching" in (base / "out.txt").read_text(), 60, 0.05)
            wait_until(lambda: len(emu.files(111)) == 50, 60, 0.05)
            target = root / "part000" / "f00000.css"
            remote = "my-theme/part000/f00000.css"
            samples: list[float] = []
            cpu_before = cpu_seconds(process.pid)
            for i in range(SAVES):
                content = f"/* save {i} */ body {{ color: #{i:06x} }}".encode()
                began = time.monotonic()
                target.write_bytes(content)

                def arrived(content: bytes = content) -> bool:
                    stored = emu.files(111).get(remote)
                    return stored is not None and stored.content == content

                seen = wait_until(arrived, 10)
                samples.append((seen - began) * 1000 - DEBOUNCE_MS)
                time.sleep(0.02)
            cpu_ms = (cpu_seconds(process.pid) - cpu_before) * 1000 / SAVES
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
    emu.stop()
    print(f"machine: {machine()}")
    print(f"saves: {SAVES}, debounce_ms: {DEBOUNCE_MS}")
    p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
    print(f"latency minus debounce: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
          f"max {max(samples):.1f} ms; watch CPU {cpu_ms:.1f} ms per save ({load()})")
    result(p50_ms=round(p50, 1), p99_ms=round(p99, 1), max_ms=round(max(samples), 1),
           cpu_ms_per_save=round(cpu_ms, 2))


if __name__ == "__main__":
    main()
