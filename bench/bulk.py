"""Bulk upload: files of 2-20 KB through `Engine.push_once` against the emulator.

Run 0 (issue 13, target: at most 2x the floor): client CPU per file of a 2,000-file push
at no latency, the emulator in ANOTHER process, beside the floor (bench/floor.py's
minimal aiohttp client sending the same uploads to the same server, right after; also
printed: the same floor client with bodies prebuilt by ``hubspot.multipart_body``, as
hubsync now sends them). The hubsync figure is the whole push (state, scan and hash,
uploads, state writes, the sync log); the median of BULK_CPU_ROUNDS rounds (default 3;
0 skips run 0). BULK_CPU_FILES sets the file count.

Run 1 (issue 13, concurrency follows the budget): emulator latency 50 ms, announcing a
generous limit (10,000 requests / 10 s) in its X-HubSpot-RateLimit headers; hubsync
with the DEFAULT settings (it learns the limit from the headers, and the budget rule
keeps up to ``max_concurrency`` = 20 uploads in flight), then the same with the rule off
(``max_concurrency = concurrency`` = 5, the old fixed concurrency): files/s, total time,
the emulator's most requests at once, 429s. Both twice: with the emulator thread in this
process (as before: it shares the GIL, so files/s is a lower bound) and in its own
process ("apart"). BULK_FILES sets the count (default 1000).
Run 2: emulator limited to 100 requests / 10 s (hubsync starts from its default budget
and learns the limit from the X-HubSpot-RateLimit headers): achieved request rate as a
fraction of the limit (target >= 0.9) and the number of 429s (target 0). Run 2 uses
300 files (about 30 s) unless BULK_PACED_FILES says otherwise; BULK_RUNS=1 skips run 2.

Archive (issue 13, target: under 10 s): 1,000 files under the emulator's 100 requests /
10 s sent as one archive (``bulk = "archive"``) beside the same push file by file, then
the break-even batch sizes (see ``archive_section``). BULK_ARCHIVE=0 skips it,
BULK_ARCHIVE=only runs it alone.

The same script runs against hubsync 0.1 (bench/pair.py, with 0.1's venv): there the
engine is ``hubsync.engine.Engine(config)``, here ``hubsync.app.build_engine(config)``.

    .venv/bin/python bench/bulk.py
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchlib import load, machine, make_theme, result, start_emulator

from hubsync.config import Account, Config, Settings, Watch

try:
    from hubsync.config import DEFAULT_CONCURRENCY
except ImportError:  # hubsync 0.1 (bench/pair.py)
    DEFAULT_CONCURRENCY = 5
from hubsync.emulator import EmulatorThread


def config_for(emu: EmulatorThread, root: Path, state: Path, rate_limit: int | None,
               max_concurrency: int | None = None, bulk: str = "files") -> Config:
    """None: the default setting. Runs 0-2 measure per-file uploads: the archive path has
    its own run (archive_run)."""
    settings: dict[str, Any] = {"state_dir": state}
    if rate_limit is not None:
        settings["rate_limit"] = rate_limit
    if max_concurrency is not None:
        settings["max_concurrency"] = max_concurrency
    return Config(
        path=state / "config.toml",
        settings=Settings(**settings),
        accounts={"sandbox": account("sandbox", emu.url, bulk)},
        watches=(Watch("theme", root, "my-theme", ("sandbox",), delete_remote=True),),
    )


def account(name: str, base: str, bulk: str) -> Account:
    """An account of this tree's config; hubsync 0.1 has no ``bulk`` (per-file only)."""
    try:
        return Account(name, 111, api_base=base, bulk=bulk)  # type: ignore[call-arg,unused-ignore]
    except TypeError:
        return Account(name, 111, api_base=base)


def engine_for(config: Config) -> Any:
    """The engine of whichever hubsync this interpreter has: redesigned, or 0.1."""
    try:
        return importlib.import_module("hubsync.app").build_engine(config)
    except ImportError:  # hubsync 0.1 has no composition root
        return importlib.import_module("hubsync.engine").Engine(config)


def run(files: int, *, latency_ms: float, emulator_limit: int, rate_limit: int | None,
        max_concurrency: int | None = None) -> dict[str, float]:
    emu = start_emulator(rate_limit=emulator_limit, latency_ms=latency_ms)
    os.environ["HUBSYNC_KEY_SANDBOX"] = emu.accounts["sandbox"].key
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "theme"
        make_theme(root, files, min_bytes=2_000, max_bytes=20_000)
        config = config_for(emu, root, Path(scratch) / "state", rate_limit, max_concurrency)
        began, began_cpu = time.monotonic(), time.process_time()
        summary = asyncio.run(engine_for(config).push_once())
        elapsed = time.monotonic() - began
        # The whole process: engine and emulator thread (each side's own emulator).
        cpu = time.process_time() - began_cpu
    uploads = [r for r in emu.requests if r.endpoint == "upload"]
    first = min(r.ts for r in uploads)
    last = max(r.ts for r in uploads)
    too_many = sum(1 for r in emu.requests if r.status == 429)
    at_once = getattr(emu, "max_in_flight", -1)  # -1: an emulator without the counter
    emu.stop()
    ok = "ok" if summary.ok else "NOT OK"
    print(f"  {files} files, {ok}: total {elapsed:.2f} s, {files / elapsed:.1f} files/s, "
          f"at most {at_once} requests at once, 429s: {too_many}, process CPU {cpu:.2f} s "
          f"({load()})", flush=True)
    figures = {"seconds": round(elapsed, 2), "files_per_s": round(files / elapsed, 1),
               "cpu_s": round(cpu, 2), "max_in_flight": at_once,
               "too_many": too_many, "ok": int(summary.ok)}
    if emulator_limit and rate_limit is not None:  # run 2: a limit hubsync must meet
        rate = (len(uploads) - 1) / (last - first)
        figures["fraction"] = round(rate / (emulator_limit / 10), 3)
        print(f"  achieved {rate:.2f} req/s during the push = "
              f"{figures['fraction']:.2f} of the limit ({emulator_limit}/10 s)", flush=True)
    return figures


def run_apart(files: int, max_concurrency: int | None) -> dict[str, float]:
    """Run 1's push with the emulator in ANOTHER process (latency 50 ms, announcing
    10,000 / 10 s), so the wall time is not shared with the emulator's GIL; the emulator's
    most requests at once and 429s from its control API."""
    from floor import start_emulator as start_emulator_process
    process, base, key = start_emulator_process(
        "--latency-ms", "50", "--rate-limit", "10000", "--rate-window-ms", "10000")
    os.environ["HUBSYNC_KEY_FLOOR"] = key
    try:
        with tempfile.TemporaryDirectory(dir=Path.home()) as scratch:
            root = Path(scratch) / "theme"
            make_theme(root, files, min_bytes=2_000, max_bytes=20_000)
            settings: dict[str, Any] = {"state_dir": Path(scratch) / "state"}
            if max_concurrency is not None:
                settings["max_concurrency"] = max_concurrency
            config = Config(path=Path(scratch) / "config.toml", settings=Settings(**settings),
                            accounts={"floor": account("floor", base, "files")},
                            watches=(Watch("theme", root, "apart", ("floor",)),))
            began, began_cpu = time.monotonic(), time.process_time()
            summary = asyncio.run(engine_for(config).push_once())
            elapsed, cpu = time.monotonic() - began, time.process_time() - began_cpu
        with urllib.request.urlopen(f"{base}/_emulator/") as answer:  # noqa: S310 - loopback
            at_once = int(json.load(answer).get("max_in_flight", -1))
        with urllib.request.urlopen(f"{base}/_emulator/requests") as answer:  # noqa: S310
            too_many = sum(1 for r in json.load(answer) if r["status"] == 429)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    ok = "ok" if summary.ok else "NOT OK"
    print(f"  {files} files, {ok}, emulator in its own process: total {elapsed:.2f} s, "
          f"{files / elapsed:.1f} files/s, at most {at_once} requests at once, 429s: "
          f"{too_many}, hubsync CPU {cpu:.2f} s ({load()})", flush=True)
    return {"seconds": round(elapsed, 2), "files_per_s": round(files / elapsed, 1),
            "max_in_flight": at_once, "too_many": too_many}


def cpu_round(base: str, key: str, root: Path, state: Path, files: int, round_: int,
              ) -> tuple[float, float, float]:
    """One push of ``root`` to a fresh folder, then the floor client with aiohttp's
    multipart writer, then with prebuilt bodies; CPU ms per file of each."""
    from floor import cpu_s, upload_all
    config = Config(
        path=state / "config.toml",
        settings=Settings(state_dir=state, rate_limit=10_000),
        accounts={"floor": account("floor", base, "files")},
        watches=(Watch("theme", root, f"hubsync-{round_}", ("floor",)),),
    )
    began = cpu_s()
    summary = asyncio.run(engine_for(config).push_once())
    ours = (cpu_s() - began) * 1000 / files
    if not summary.ok:
        raise SystemExit("the push did not succeed")
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    cpu, _wall, count = asyncio.run(upload_all(base, key, root, paths, f"floor-{round_}"))
    prebuilt, _wall, count = asyncio.run(upload_all(base, key, root, paths,
                                                    f"floor-prebuilt-{round_}", prebuilt=True))
    return ours, cpu * 1000 / count, prebuilt * 1000 / count


def cpu_per_file(files: int, rounds: int) -> dict[str, float]:
    """Run 0: the medians of hubsync's and the floor's CPU ms per file."""
    from floor import start_emulator as start_emulator_process
    process, base, key = start_emulator_process()
    os.environ["HUBSYNC_KEY_FLOOR"] = key
    ours: list[float] = []
    floor: list[float] = []
    floor_prebuilt: list[float] = []
    try:
        with tempfile.TemporaryDirectory(dir=Path.home()) as scratch:
            root = Path(scratch) / "theme"
            make_theme(root, files, min_bytes=2_000, max_bytes=20_000)
            for round_ in range(rounds):
                mine, least, least_prebuilt = cpu_round(
                    base, key, root, Path(scratch) / f"state-{round_}", files, round_)
                ours.append(mine)
                floor.append(least)
                floor_prebuilt.append(least_prebuilt)
                print(f"  round {round_ + 1}: hubsync {mine:.2f} ms CPU per file, "
                      f"floor {least:.2f} ms, floor with prebuilt bodies "
                      f"{least_prebuilt:.2f} ms ({load()})", flush=True)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    median_ours, median_floor = statistics.median(ours), statistics.median(floor)
    median_prebuilt = statistics.median(floor_prebuilt)
    ratios = [mine / least for mine, least in zip(ours, floor, strict=True)]
    print(f"  median: hubsync {median_ours:.2f} ms CPU per file, floor {median_floor:.2f} ms,"
          f" ratio {median_ours / median_floor:.2f} (target <= 2.0; per round "
          f"{', '.join(f'{r:.2f}' for r in ratios)}); floor with prebuilt bodies "
          f"{median_prebuilt:.2f} ms, ratio {median_ours / median_prebuilt:.2f}", flush=True)
    return {"cpu_ms_per_file": round(median_ours, 2),
            "floor_cpu_ms_per_file": round(median_floor, 2),
            "cpu_ratio": round(median_ours / median_floor, 2),
            "floor_prebuilt_cpu_ms_per_file": round(median_prebuilt, 2),
            "cpu_ratio_prebuilt": round(median_ours / median_prebuilt, 2)}


# --- the archive path (issue 13: 1,000 files under 100 requests / 10 s in under 10 s) ----


def archive_run(files: int, bulk: str, *, latency_ms: float, emulator_limit: int
                ) -> dict[str, float]:
    """One first push of ``files`` files with ``bulk`` ("archive" or "files"): seconds,
    requests (token exchange and email lookup left out), extractions, 429s."""
    emu = start_emulator(rate_limit=emulator_limit, latency_ms=latency_ms)
    os.environ["HUBSYNC_KEY_SANDBOX"] = emu.accounts["sandbox"].key
    try:
        with tempfile.TemporaryDirectory(dir=Path.home()) as scratch:
            root = Path(scratch) / "theme"
            make_theme(root, files, min_bytes=2_000, max_bytes=20_000)
            config = config_for(emu, root, Path(scratch) / "state",
                                100 if emulator_limit else 10_000, bulk=bulk)
            began = time.monotonic()
            summary = asyncio.run(engine_for(config).push_once())
            elapsed = time.monotonic() - began
            stored = {p for p in emu.files(111) if p.startswith("my-theme/")}
            if not summary.ok or len(stored) != files:
                raise SystemExit(f"the {bulk} push did not store every file: "
                                 f"{len(stored)} of {files}")
        requests = [r for r in emu.requests if r.endpoint not in ("auth", "email")]
        return {"seconds": round(elapsed, 2), "requests": len(requests),
                "extracts": sum(1 for r in requests if r.endpoint == "extract"),
                "too_many": sum(1 for r in requests if r.status == 429)}
    finally:
        emu.stop()


def archive_rounds(files: int, bulk: str, rounds: int, *, latency_ms: float,
                   emulator_limit: int) -> dict[str, float]:
    """``rounds`` runs; the median time, the requests and 429s of the median run."""
    runs = []
    for round_ in range(rounds):
        figures = archive_run(files, bulk, latency_ms=latency_ms,
                              emulator_limit=emulator_limit)
        runs.append(figures)
        print(f"    {bulk:7} round {round_ + 1}: {figures['seconds']:.2f} s, "
              f"{figures['requests']:.0f} requests, {figures['extracts']:.0f} extract, "
              f"{figures['too_many']:.0f} x 429 ({load()})", flush=True)
    median = statistics.median(r["seconds"] for r in runs)
    middle = min(runs, key=lambda r: abs(r["seconds"] - median))
    return {**middle, "seconds": round(median, 2)}


def archive_section() -> dict[str, float]:
    """1,000 files under the emulator's 100 requests / 10 s (latency 50 ms): archive
    (BULK_ARCHIVE_ROUNDS, default 3) beside per-file (BULK_FILE_ROUNDS, default 1: ~100 s
    each); then the break-even sizes BULK_BREAKEVEN (default "10,20,40,60,80,120"), paced
    (a fresh budget) and unpaced, one round each, with the threshold lifted."""
    files = int(os.environ.get("BULK_ARCHIVE_FILES", "1000"))
    print(f"archive: {files} files of 2-20 KB in folders of 100, emulator limit "
          "100 requests / 10 s, latency 50 ms")
    archive = archive_rounds(files, "archive", int(os.environ.get("BULK_ARCHIVE_ROUNDS", "3")),
                             latency_ms=50, emulator_limit=100)
    per_file = archive_rounds(files, "files", int(os.environ.get("BULK_FILE_ROUNDS", "1")),
                              latency_ms=50, emulator_limit=100)
    print(f"  median: archive {archive['seconds']:.2f} s ({archive['requests']:.0f} requests),"
          f" per file {per_file['seconds']:.2f} s ({per_file['requests']:.0f} requests), "
          f"{per_file['seconds'] / archive['seconds']:.1f}x (target: archive < 10 s)",
          flush=True)
    figures = {"archive_seconds": archive["seconds"], "archive_requests": archive["requests"],
               "archive_too_many": archive["too_many"],
               "archive_files_seconds": per_file["seconds"]}
    sizes = [int(n) for n in os.environ.get("BULK_BREAKEVEN", "10,20,40,60,80,120").split(",")
             if n]
    # Below the threshold "archive" sends files one by one: lift it to see both sides.
    # (Imported here: under bench/pair.py this script also runs with hubsync 0.1.)
    from hubsync.engine import bulk as archive_path
    threshold = archive_path.ARCHIVE_MIN_FILES
    archive_path.ARCHIVE_MIN_FILES = 1
    try:
        for limit, label in ((100, "paced 100/10 s"), (0, "unpaced")):
            for size in sizes:
                pair = [archive_run(size, bulk, latency_ms=50, emulator_limit=limit)
                        for bulk in ("archive", "files")]
                print(f"  break-even, {label}, {size} files: archive {pair[0]['seconds']:.2f} s"
                      f" ({pair[0]['requests']:.0f} requests), per file "
                      f"{pair[1]['seconds']:.2f} s ({pair[1]['requests']:.0f} requests)",
                      flush=True)
    finally:
        archive_path.ARCHIVE_MIN_FILES = threshold
    return figures


def main() -> None:
    print(f"machine: {machine()}")
    if os.environ.get("BULK_ARCHIVE") == "only":
        result(**archive_section())
        return
    cpu_figures: dict[str, float] = {}
    cpu_rounds = int(os.environ.get("BULK_CPU_ROUNDS", "3"))
    if cpu_rounds > 0:
        cpu_files = int(os.environ.get("BULK_CPU_FILES", "2000"))
        print(f"run 0: CPU per file, {cpu_files} files, no latency, emulator in its own "
              "process, beside the floor client")
        cpu_figures = cpu_per_file(cpu_files, cpu_rounds)
    files = int(os.environ.get("BULK_FILES", "1000"))
    print("run 1: latency 50 ms, emulator announces 10,000 requests / 10 s, "
          "default settings (budget rule on, max_concurrency 20)")
    budget = run(files, latency_ms=50, emulator_limit=10_000, rate_limit=None)
    print("run 1, rule off: the same with max_concurrency = concurrency = 5 (the old fixed "
          "concurrency)")
    fixed = run(files, latency_ms=50, emulator_limit=10_000, rate_limit=None,
                max_concurrency=DEFAULT_CONCURRENCY)
    print(f"  budget rule: {budget['files_per_s'] / fixed['files_per_s']:.2f}x the files/s "
          "of the fixed concurrency", flush=True)
    print("run 1 apart: the same two, the emulator in its own process (no shared GIL)")
    budget_apart = run_apart(files, None)
    fixed_apart = run_apart(files, DEFAULT_CONCURRENCY)
    print(f"  budget rule: {budget_apart['files_per_s'] / fixed_apart['files_per_s']:.2f}x "
          "the files/s of the fixed concurrency", flush=True)
    figures = {"seconds": budget["seconds"], "files_per_s": budget["files_per_s"],
               "cpu_s": budget["cpu_s"], "too_many": budget["too_many"],
               "max_in_flight": budget["max_in_flight"],
               "fixed_seconds": fixed["seconds"], "fixed_files_per_s": fixed["files_per_s"],
               "fixed_max_in_flight": fixed["max_in_flight"],
               "fixed_too_many": fixed["too_many"],
               "apart_files_per_s": budget_apart["files_per_s"],
               "apart_max_in_flight": budget_apart["max_in_flight"],
               "apart_too_many": budget_apart["too_many"],
               "fixed_apart_files_per_s": fixed_apart["files_per_s"],
               "fixed_apart_max_in_flight": fixed_apart["max_in_flight"], **cpu_figures}
    if os.environ.get("BULK_RUNS", "2") != "1":
        paced = int(os.environ.get("BULK_PACED_FILES", "300"))
        print("run 2: emulator limit 100 requests / 10 s, hubsync default pacing")
        limited = run(paced, latency_ms=50, emulator_limit=100, rate_limit=100)
        figures.update(paced_seconds=limited["seconds"], paced_fraction=limited["fraction"],
                       paced_too_many=limited["too_many"])
    if os.environ.get("BULK_ARCHIVE", "1") != "0":
        figures.update(archive_section())
    result(**figures)


if __name__ == "__main__":
    main()
