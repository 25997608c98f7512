"""Save -> visible on the emulator, p50 and p99 over 200 saves, minus the debounce.

Target: p50 under 20 ms, p99 under 60 ms. Runs `hubsync watch` as a subprocess with
debounce_ms = 50 against an emulator thread (no latency, no rate limit) and polls the
emulator's store every millisecond after each save.

    .venv/bin/python bench/latency.py
"""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path

from benchlib import machine, make_theme, percentile, start_emulator, start_watch, wait_until
from benchlib import write_config as write_cfg

SAVES = 200
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
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
    emu.stop()
    print(f"machine: {machine()}")
    print(f"saves: {SAVES}, debounce_ms: {DEBOUNCE_MS}")
    print(f"latency minus debounce: p50 {percentile(samples, 0.5):.1f} ms, "
          f"p99 {percentile(samples, 0.99):.1f} ms, max {max(samples):.1f} ms")


if __name__ == "__main__":
    main()
