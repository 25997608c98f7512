"""The README's rate-limited row, hubsync alone, with today's defaults (guard on): 300
files under 100 requests / 10 s (emulator and settings.rate_limit), one round each of
`bulk = "auto"` (the default: one archive) and `bulk = "files"`; a first push, then a
second push with all 300 files changed (the guard reads each file's metadata first).

    .venv/bin/python bench/limited.py     # RESULT lines (~3.5 min)
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchlib import HUBSYNC, env, make_theme, start_emulator

from hubsync.emulator import EmulatorThread

FILES = 300


def config(path: Path, emu: EmulatorThread, root: Path, state: Path, bulk: str) -> Path:
    path.write_text(
        f'[settings]\nstate_dir = "{state}"\nrate_limit = 100\n'
        f'[accounts.sandbox]\nportal_id = 111\napi_base = "{emu.url}"\nbulk = "{bulk}"\n'
        f'[[watch]]\nname = "theme"\nsrc = "{root}"\ndest = "my-theme"\n'
        'accounts = ["sandbox"]\n')
    return path


def timed_push(cfg: Path, emu: EmulatorThread, what: str) -> None:
    """One `hubsync push`: prints its RESULT line (exit, seconds, requests by endpoint)."""
    first = len(emu.requests)
    began = time.monotonic()
    done = subprocess.run([*HUBSYNC, "--config", str(cfg), "push"], env=env(emu),
                          capture_output=True, text=True, check=False)
    seconds = time.monotonic() - began
    counts = Counter(str(r.endpoint.value) for r in emu.requests[first:])
    print(f"RESULT {what}: exit {done.returncode}, {seconds:.1f} s, requests "
          f"{dict(counts)}", flush=True)


def main() -> None:
    for bulk in ("auto", "files"):
        base = Path(tempfile.mkdtemp())
        root = base / "theme"
        make_theme(root, FILES)
        emu = start_emulator(rate_limit=100, rate_window_ms=10_000)
        try:
            cfg = config(base / "config.toml", emu, root, base / "state", bulk)
            timed_push(cfg, emu, f"bulk={bulk} first push")
            for path in root.rglob("*.css"):
                path.write_text(path.read_text() + "/* changed */")
            timed_push(cfg, emu, f"bulk={bulk} second push, {FILES} changed")
        finally:
            emu.stop()


if __name__ == "__main__":
    main()
