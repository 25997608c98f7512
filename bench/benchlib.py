"""Shared set-up of the benchmarks: an emulator thread, a theme, a config, hubsync runs."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hubsync.emulator import Emulator, EmulatorThread

# HUBSYNC_PYTHON runs another hubsync (e.g. 0.1 from its own worktree and venv) against
# this process's emulator, so a pair of runs differs in the engine only (bench/pair.py).
HUBSYNC = [os.environ.get("HUBSYNC_PYTHON", sys.executable), "-m", "hubsync"]


def start_emulator(**kwargs: object) -> EmulatorThread:
    """An emulator thread with account ``sandbox`` (portal 111)."""
    emulator = Emulator(**kwargs)  # type: ignore[arg-type]
    emulator.add_account("sandbox", portal_id=111, user_id=9001, email="jane@example.com")
    thread = EmulatorThread(emulator)
    thread.start()
    return thread


def make_theme(root: Path, files: int, *, min_bytes: int = 200, max_bytes: int = 1000,
               per_folder: int = 100, seed: int = 1) -> None:
    """``files`` CSS files of random size in folders of ``per_folder``."""
    rng = random.Random(seed)
    for i in range(files):
        folder = root / f"part{i // per_folder:03}"
        folder.mkdir(parents=True, exist_ok=True)
        size = rng.randint(min_bytes, max_bytes)
        body = (f"/* file {i} */\n" + "a" * size)[:size]
        (folder / f"f{i:05}.css").write_text(body)


def write_config(path: Path, emu: EmulatorThread, root: Path, state: Path, *,
                 debounce_ms: int = 50, rate_limit: int = 100) -> Path:
    path.write_text(
        "[settings]\n"
        f'state_dir = "{state}"\n'
        f"debounce_ms = {debounce_ms}\n"
        f"rate_limit = {rate_limit}\n"
        "[accounts.sandbox]\n"
        "portal_id = 111\n"
        f'api_base = "{emu.url}"\n'
        "[[watch]]\n"
        'name = "theme"\n'
        f'src = "{root}"\n'
        'dest = "my-theme"\n'
        'accounts = ["sandbox"]\n'
        "delete_remote = true\n"
    )
    return path


def env(emu: EmulatorThread) -> dict[str, str]:
    environment = dict(os.environ)
    environment["HUBSYNC_KEY_SANDBOX"] = emu.accounts["sandbox"].key
    return environment


def push(config: Path, emu: EmulatorThread) -> None:
    result = subprocess.run([*HUBSYNC, "--config", str(config), "push"], env=env(emu),
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"hubsync push failed:\n{result.stdout}\n{result.stderr}")


def start_watch(config: Path, emu: EmulatorThread, out: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as sink:
        return subprocess.Popen([*HUBSYNC, "--config", str(config), "watch"], env=env(emu),
                                stdout=sink, stderr=subprocess.STDOUT)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a live process in MiB, from /proc/<pid>/status (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True)
class Started:
    """A ``hubsync watch`` that has reconciled: the process, wall seconds from its start
    to the ``reconciled`` line, and its CPU seconds by then (less disturbed by a loaded
    machine than wall time)."""

    process: subprocess.Popen[bytes]
    seconds: float
    cpu_s: float


@contextlib.contextmanager
def watch_reconciled(config: Path, emu: EmulatorThread, state: Path, out: Path
                     ) -> Iterator[Started]:
    """Start ``hubsync watch`` and wait (60 s at most) for a new ``reconciled`` line in
    ``state``'s sync log; stopped with SIGINT (30 s to exit) when the block ends."""
    log = state / "sync.log"
    before = log.read_text().count('"reconciled"') if log.exists() else 0
    began = time.monotonic()
    process = start_watch(config, emu, out)
    try:
        done = wait_until(lambda: log.read_text().count('"reconciled"') > before, 60, 0.01)
        yield Started(process, done - began, cpu_seconds(process.pid))
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def wait_until(predicate: Callable[[], bool], timeout: float, poll_s: float = 0.001) -> float:
    """Wait for ``predicate``; returns the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(poll_s)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"


def load() -> str:
    """The 1-minute load average now, e.g. ``load 1.42`` (the machine is shared)."""
    return f"load {os.getloadavg()[0]:.2f}"


def result(**figures: float | int | str) -> None:
    """Print the figures as one ``RESULT {json}`` line, for bench/pair.py to collect."""
    print("RESULT " + json.dumps({**figures, "load1": round(os.getloadavg()[0], 2)}),
          flush=True)
