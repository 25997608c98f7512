"""The floor for bulk uploads: the least client CPU per file that hubsync's requests can cost.

A minimal aiohttp client sends the same per-file uploads as hubsync (filemapper
``POST upload/{path}?buffer=false&environmentId=1&portalId=``, one ``file`` part built by
``hubsync.hubspot.multipart_file``, aiohttp's multipart writer, Bearer token, 5
connections) to ``hubsync emulator``
running in ANOTHER process at no latency and no rate limit, so the CPU measured is the
client's alone. It reads each file, sends it, and checks the status; nothing else (no
state, no hashing, no log). The lead's bulk benchmark compares its CPU per file with this.

    .venv/bin/python bench/floor.py [--files 1000] [--rounds 3]

Prints, per round and as the median: CPU ms per file (user + system of this process
during the uploads) and files/s. ``--prebuilt`` sends bodies built at once by
``hubsync.hubspot.multipart_body`` (the same bytes, as hubsync itself now sends them)
instead of aiohttp's writer: a lower floor.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from benchlib import machine, make_theme

from hubsync.hubspot import EXCHANGE_PATH, FILEMAPPER, USER_AGENT, multipart_file

# An older hubsync (bench/pair.py) has only aiohttp's writer.
multipart_body: Any = getattr(importlib.import_module("hubsync.hubspot"), "multipart_body", None)

PORTAL = 111
CONNECTIONS = 5


def start_emulator(*options: str) -> tuple[subprocess.Popen[str], str, str]:
    """``hubsync emulator`` in its own process, unlimited unless ``options`` (its command
    line options, e.g. ``--latency-ms 50``) say otherwise; (process, api base, key)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "hubsync", "emulator", "--rate-limit", "0",
         "--account", f"floor:{PORTAL}:1", *options],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    account = process.stdout.readline()
    base = process.stdout.readline()
    key = re.search(r"key=(\S+)", account)
    url = re.search(r'api_base = "([^"]+)"', base)
    if key is None or url is None:
        process.kill()
        raise SystemExit(f"unexpected emulator output: {account!r} {base!r}")
    return process, url.group(1), key.group(1)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def upload_all(base: str, key: str, root: Path, files: list[Path], dest: str, *,
                     prebuilt: bool = False) -> tuple[float, float, int]:
    """Upload ``files`` (under ``root``); (CPU seconds, wall seconds, files). ``prebuilt``:
    bodies from ``multipart_body`` instead of aiohttp's multipart writer."""
    if prebuilt and multipart_body is None:
        raise SystemExit("--prebuilt needs hubsync.hubspot.multipart_body")
    connector = aiohttp.TCPConnector(limit=CONNECTIONS, limit_per_host=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector,
                                     headers={"User-Agent": USER_AGENT}) as session:
        async with session.post(base + EXCHANGE_PATH,
                                json={"encodedOAuthRefreshToken": key}) as response:
            token = (await response.json())["oauthAccessToken"]
        headers = {"Authorization": f"Bearer {token}"}
        params = {"buffer": "false", "environmentId": "1", "portalId": str(PORTAL)}
        queue: asyncio.Queue[Path] = asyncio.Queue()
        for path in files:
            queue.put_nowait(path)

        async def worker() -> None:
            while not queue.empty():
                path = queue.get_nowait()
                remote = f"{dest}/{path.relative_to(root).as_posix()}"
                content = await asyncio.to_thread(path.read_bytes)
                url = f"{base}{FILEMAPPER}/upload/{quote(remote, safe='')}"
                body: Any = multipart_file(path.name, content)
                sent = headers
                if prebuilt:
                    content_type, body = multipart_body(path.name, content)
                    sent = {**headers, "Content-Type": content_type}
                async with session.post(url, params=params, headers=sent,
                                        data=body) as response:
                    await response.read()
                    if response.status != 200:
                        raise SystemExit(f"{remote}: HTTP {response.status}")

        cpu0, wall0 = cpu_s(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        return cpu_s() - cpu0, time.perf_counter() - wall0, len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prebuilt", action="store_true",
                        help="bodies from hubspot.multipart_body, not aiohttp's writer")
    args = parser.parse_args()
    process, base, key = start_emulator()
    per_file: list[float] = []
    rates: list[float] = []
    try:
        with tempfile.TemporaryDirectory(dir=Path.home()) as scratch:
            root = Path(scratch) / "theme"
            make_theme(root, args.files, min_bytes=2000, max_bytes=20000)
            print(f"machine: {machine()}; {args.files} files of 2-20 KB, "
                  f"{CONNECTIONS} connections, emulator in its own process", flush=True)
            for round_ in range(args.rounds):
                files = sorted(p for p in root.rglob("*") if p.is_file())
                cpu, wall, count = asyncio.run(upload_all(base, key, root, files,
                                                          f"floor-{round_}",
                                                          prebuilt=args.prebuilt))
                per_file.append(cpu * 1000 / count)
                rates.append(count / wall)
                print(f"round {round_ + 1}: {per_file[-1]:.2f} ms CPU per file, "
                      f"{rates[-1]:.0f} files/s", flush=True)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    print(f"median: {statistics.median(per_file):.2f} ms CPU per file, "
          f"{statistics.median(rates):.0f} files/s")


if __name__ == "__main__":
    main()
