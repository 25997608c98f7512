"""Bulk upload: files of 2-20 KB through `Engine.push_once` against the emulator.

Run 0 (issue 13, target: at most 2x the floor): client CPU per file of a 2,000-file push
at no latency, the emulator in ANOTHER process, beside the floor (bench/floor.py's
minimal aiohttp client sending the same uploads to the same server, right after). The
hubsync figure is the whole push (state, scan and hash, uploads, state writes, the sync
log); it is the median of BULK_CPU_ROUNDS rounds (default 3). BULK_CPU_FILES sets the
file count.

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
import signal
import statistics
import tempfile
import time
from pathlib import Path

from benchlib import machine, make_theme, start_emulator
from floor import cpu_s, upload_all
from floor import start_emulator as start_emulator_process

from hubsync.app import build_engine
from hubsync.config import Account, Config, Settings, Watch
from hubsync.credentials import env_var_name
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


def cpu_round(base: str, root: Path, state: Path, files: int, round_: int,
              ) -> tuple[float, float]:
    """One push of ``root`` to a fresh folder, then the floor client; CPU ms per file."""
    config = Config(
        path=state / "config.toml",
        settings=Settings(state_dir=state, rate_limit=10_000),
        accounts={"floor": Account("floor", 111, api_base=base)},
        watches=(Watch("theme", root, f"hubsync-{round_}", ("floor",)),),
    )
    began = cpu_s()
    summary = asyncio.run(build_engine(config).push_once())
    ours = (cpu_s() - began) * 1000 / files
    if not summary.ok:
        raise SystemExit("the push did not succeed")
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    key = os.environ[env_var_name("floor")]
    cpu, _wall, count = asyncio.run(upload_all(base, key, root, paths, f"floor-{round_}"))
    return ours, cpu * 1000 / count


def cpu_per_file(files: int, rounds: int) -> None:
    process, base, key = start_emulator_process()
    os.environ[env_var_name("floor")] = key
    ours: list[float] = []
    floor: list[float] = []
    try:
        with tempfile.TemporaryDirectory(dir=Path.home()) as scratch:
            root = Path(scratch) / "theme"
            make_theme(root, files, min_bytes=2_000, max_bytes=20_000)
            for round_ in range(rounds):
                mine, least = cpu_round(base, root, Path(scratch) / f"state-{round_}",
                                        files, round_)
                ours.append(mine)
                floor.append(least)
                print(f"  round {round_ + 1}: hubsync {mine:.2f} ms CPU per file, "
                      f"floor {least:.2f} ms", flush=True)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    median_ours, median_floor = statistics.median(ours), statistics.median(floor)
    print(f"  median: hubsync {median_ours:.2f} ms CPU per file, floor {median_floor:.2f} ms,"
          f" ratio {median_ours / median_floor:.2f} (target <= 2.0); "
          f"load average {os.getloadavg()[0]:.2f}")


def main() -> None:
    print(f"machine: {machine()}")
    cpu_files = int(os.environ.get("BULK_CPU_FILES", "2000"))
    print(f"run 0: CPU per file, {cpu_files} files, no latency, emulator in its own process")
    cpu_per_file(cpu_files, int(os.environ.get("BULK_CPU_ROUNDS", "3")))
    print("run 1: latency 50 ms, no rate limit, pacing off")
    run(1000, latency_ms=50, emulator_limit=0, rate_limit=10_000)
    paced = int(os.environ.get("BULK_PACED_FILES", "300"))
    print("run 2: emulator limit 100 requests / 10 s, hubsync default pacing")
    run(paced, latency_ms=50, emulator_limit=100, rate_limit=100)


if __name__ == "__main__":
    main()
