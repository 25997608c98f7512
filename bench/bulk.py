"""Bulk upload: 1,000 files of 2-20 KB through `Engine.push_once` against the emulator.

Run 1: emulator latency 50 ms, no rate limit, no pacing: files/s and total time.
Run 2: emulator limited to 100 requests / 10 s (hubsync starts from its default budget
and learns the limit from the X-HubSpot-RateLimit headers): achieved request rate as a
fraction of the limit (target >= 0.9) and the number of 429s (target 0). Run 2 uses
300 files (about 30 s) unless BULK_PACED_FILES says otherwise.

    .venv/bin/python bench/bulk.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

from benchlib import machine, make_theme, start_emulator

from hubsync.app import build_engine
from hubsync.config import Account, Config, Settings, Watch
from hubsync.emulator import EmulatorThread


def config_for(emu: EmulatorThread, root: Path, state: Path, rate_limit: int) -> Config:
    return Config(
        path=state / "config.toml",
        settings=Settings(state_dir=state, rate_limit=rate_limit),
        accounts={"sandbox": Account("sandbox", 111, api_base=emu.url)},
        watches=(Watch("theme", root, "my-theme", ("sandbox",), delete_remote=True),),
    )


def run(files: int, *, latency_ms: float, emulator_limit: int, rate_limit: int) -> None:
    emu = start_emulator(rate_limit=emulator_limit, latency_ms=latency_ms)
    os.environ["HUBSYNC_KEY_SANDBOX"] = emu.accounts["sandbox"].key
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "theme"
        make_theme(root, files, min_bytes=2_000, max_bytes=20_000)
        config = config_for(emu, root, Path(scratch) / "state", rate_limit)
        began = time.monotonic()
        summary = asyncio.run(build_engine(config).push_once())
        elapsed = time.monotonic() - began
    uploads = [r for r in emu.requests if r.endpoint == "upload"]
    first = min(r.ts for r in uploads)
    last = max(r.ts for r in uploads)
    too_many = sum(1 for r in emu.requests if r.status == 429)
    emu.stop()
    ok = "ok" if summary.ok else "NOT OK"
    print(f"  {files} files, {ok}: total {elapsed:.2f} s, {files / elapsed:.1f} files/s, "
          f"429s: {too_many}")
    if emulator_limit:
        rate = (len(uploads) - 1) / (last - first)
        print(f"  achieved {rate:.2f} req/s during the push = "
              f"{rate / (emulator_limit / 10):.2f} of the limit ({emulator_limit}/10 s)")


def main() -> None:
    print(f"machine: {machine()}")
    print("run 1: latency 50 ms, no rate limit, pacing off")
    run(1000, latency_ms=50, emulator_limit=0, rate_limit=10_000)
    paced = int(os.environ.get("BULK_PACED_FILES", "300"))
    print("run 2: emulator limit 100 requests / 10 s, hubsync default pacing")
    run(paced, latency_ms=50, emulator_limit=100, rate_limit=100)


if __name__ == "__main__":
    main()
