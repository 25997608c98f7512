"""Save -> stored on the emulator, the whole time (the quiet period included), p50/p99.

Target (issue 13): p50 under 25 ms, p99 under 60 ms with the default settings. Runs
`hubsync watch` as a subprocess with the default ``debounce_ms = 300`` against an
emulator thread (no latency, no rate limit) and polls the emulator's store every
millisecond after each save, twice side by side:

- ``settle_on_close = true`` (the default): a file closed after writing is pushed at once;
- ``settle_on_close = false``: every save waits out the 300 ms quiet period.

Saves are ``write_bytes`` (open, write, close) of one file, spaced by more than the quiet
period as a person's saves are (saves closer together coalesce: see the burst test in
tests/e2e/test_e2e_editors.py).

    .venv/bin/python bench/latency.py [--saves 100]
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import time
from pathlib import Path

from benchlib import machine, make_theme, percentile, start_emulator, start_watch, wait_until
from benchlib import write_config as write_cfg

from hubsync.emulator import EmulatorThread

DEBOUNCE_MS = 300
GAP_S = DEBOUNCE_MS / 1000 + 0.05


def measure(emu: EmulatorThread, saves: int, *, settle_on_close: bool) -> list[float]:
    """Milliseconds from each save's start to its content being stored remotely."""
    with tempfile.TemporaryDirectory(dir=Path.home()) as scratch:
        base = Path(scratch)
        root = base / "theme"
        make_theme(root, 50)
        config = write_cfg(base / "config.toml", emu, root, base / "state",
                           debounce_ms=DEBOUNCE_MS, rate_limit=10_000)
        text = config.read_text().replace(
            "[settings]\n", f"[settings]\nsettle_on_close = {str(settle_on_close).lower()}\n", 1)
        config.write_text(text)
        process = start_watch(config, emu, base / "out.txt")
        try:
            wait_until(lambda: "watching" in (base / "out.txt").read_text(), 60, 0.05)
            wait_until(lambda: len(emu.files(111)) >= 50, 60, 0.05)
            target = root / "part000" / "f00000.css"
            remote = "my-theme/part000/f00000.css"
            samples: list[float] = []
            for i in range(saves):
                content = f"/* save {i} {settle_on_close} */ body {{ color: #{i:06x} }}".encode()
                began = time.monotonic()
                target.write_bytes(content)

                def arrived(content: bytes = content) -> bool:
                    stored = emu.files(111).get(remote)
                    return stored is not None and stored.content == content

                seen = wait_until(arrived, 10)
                samples.append((seen - began) * 1000)
                time.sleep(GAP_S)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=100, help="saves per setting")
    args = parser.parse_args()
    emu = start_emulator(rate_limit=0)
    try:
        fast = measure(emu, args.saves, settle_on_close=True)
        quiet = measure(emu, args.saves, settle_on_close=False)
    finally:
        emu.stop()
    print(f"machine: {machine()} (load average {os.getloadavg()[0]:.2f})")
    print(f"saves: {args.saves} per setting, debounce_ms: {DEBOUNCE_MS}, whole time "
          "(save start -> stored), quiet period included")
    for name, samples in (("settle_on_close = true ", fast), ("settle_on_close = false", quiet)):
        print(f"  {name}: p50 {percentile(samples, 0.5):.1f} ms, "
              f"p99 {percentile(samples, 0.99):.1f} ms, max {max(samples):.1f} ms")


if __name__ == "__main__":
    main()
