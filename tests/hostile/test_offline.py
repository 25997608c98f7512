"""Offline and flaky networks (trial findings 2, 8 and 9), as a user sees them: `watch`
and `push` as subprocesses against the emulator with its faults on (every connection
dropped, some dropped, a 429 storm).

- Offline, the worker sleeps until the account's probe may go: it does not spin (the
  trial measured ~30 % of a core for an offline watch).
- A console line says one time, the one the retry really waits, and the sync log shows
  that wait honoured.
- `push` that gives up on a file says it is still pending.
- A dropped connection that its retry fixes is not "offline": no flood of warnings.
- A 429 on the key exchange is said as a rate limit, not as "cannot reach HubSpot".
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import run_hubsync, write_config
from tests.support.processes import HUBSYNC, hubsync_process, keys_env, wait_until, write_files

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` has used (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def _project(tmp_path: Path, emu: EmulatorThread, files: int = 1) -> tuple[Path, Path]:
    """One watch of sandbox with ``files`` changed CSS files; (config, state dir)."""
    root = tmp_path / "theme"
    write_files(root, {f"css/f{i:03}.css": f"/* {i} */" for i in range(files)})
    state = tmp_path / "state"
    return write_config(tmp_path / "config.toml", emu, root, state,
                        accounts=("sandbox",)), state


def _log(state: Path, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in (state / "sync.log").read_text().splitlines()
             if line.strip()]
    return [line for line in lines if line["event"] == event]


def _attempts(output: str) -> int:
    return len(re.findall(r"attempt \d+ failed", output))


def test_an_offline_watch_sleeps_until_its_probe(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """Every connection dropped, one file to push: between the watch's 2nd and 4th failed
    attempts (a few seconds, the barrier) the process uses under 10 % of a core (it used
    ~30 %: the loop spun from the probe time to the entry's retry time); the account
    goes offline with one warning and, the network back, the file goes up with one
    `account_online` line; no line carries a second clock."""
    emu = emulator_thread
    config, _state = _project(tmp_path, emu)
    emu.set_faults(drop_rate=1.0)
    try:
        with hubsync_process(["--config", str(config), "watch"], keys_env(emu),
                             tmp_path / "watch.out", stop_signal=signal.SIGINT) as session:
            wait_until(lambda: _attempts(session.output()) >= 2, 30, "the 2nd attempt")
            cpu, wall = _cpu_s(session.pid), time.monotonic()
            wait_until(lambda: _attempts(session.output()) >= 4, 60, "the 4th attempt")
            used, took = _cpu_s(session.pid) - cpu, time.monotonic() - wall
            emu.set_faults()
            # Back online: the next probe pushes the file, and one line says so.
            session.wait_for_output("account_online", timeout=90)
            wait_until(lambda: "css/f000.css -> sandbox (" in session.output(), 30,
                       "the file pushed")
            output = session.output()
    finally:
        emu.set_faults()
    assert took > 1.0, "the window must be long enough to measure"
    assert used / took < 0.10, f"{used:.2f} CPU s in {took:.1f} s:\n{output}"
    assert output.count("account_offline") == 1, output
    assert output.count("account_online") == 1, output
    assert "next try in" not in output


def test_offline_push_waits_what_it_says_and_leaves_the_file_pending(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`push` with every connection dropped: little CPU over its whole run, each
    `retrying` line's wait honoured by the next attempt (sync log times), one offline
    warning, and the summary says the file is still pending (not only "0 pushed")."""
    emu = emulator_thread
    config, state = _project(tmp_path, emu)
    emu.set_faults(drop_rate=1.0)
    before = os.times()  # the children's CPU so far: earlier tests' processes count too
    try:
        started = time.monotonic()
        process = subprocess.Popen([*HUBSYNC, "--config", str(config), "push"],
                                   env=keys_env(emu), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        out, err = process.communicate(timeout=240)
        took = time.monotonic() - started
        after = os.times()
        used = (after.children_user - before.children_user
                + after.children_system - before.children_system)
    finally:
        emu.set_faults()
    assert process.returncode != 0
    assert used / took < 0.10, f"{used:.2f} CPU s in {took:.1f} s"
    assert err.count("account_offline") == 1, err
    assert "sandbox: 0 pushed, 0 deleted, 1 pending" in out, out
    assert "1 change still pending" in err, err
    assert "next try in" not in out + err
    retries = _log(state, "retrying")
    assert len(retries) >= 3
    for earlier, later in itertools.pairwise(retries):
        gap_ms = (datetime.fromisoformat(later["ts"]) -
                  datetime.fromisoformat(earlier["ts"])).total_seconds() * 1000
        assert gap_ms >= earlier["retry_in_ms"] - 50, (earlier, later)


def test_dropped_connections_that_retries_fix_are_not_offline(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A fifth of the connections dropped while 30 files go up: everything is pushed and
    at most one `account_offline` warning is printed (the trial saw 28 in one push, one
    per dropped connection, while the account pushed fine)."""
    emu = emulator_thread
    config, _state = _project(tmp_path, emu, files=30)
    emu.set_faults(drop_rate=0.2)
    try:
        done = run_hubsync(config, emu, "push", timeout=180)
    finally:
        emu.set_faults()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "30 pushed" in done.stdout
    assert done.stderr.count("account_offline") <= 1, done.stderr


def test_a_429_on_the_key_exchange_says_rate_limited(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A 429 storm of 8 s (longer than hubsync takes to start) with Retry-After 2 on the
    first key exchange: the console says the account is rate limited (never "cannot
    reach HubSpot"), and the push then goes through once the storm is over."""
    emu = emulator_thread
    config, _state = _project(tmp_path, emu)
    emu.set_faults(storm_seconds=8, retry_after=2)
    try:
        done = run_hubsync(config, emu, "push", timeout=120)
    finally:
        emu.set_faults()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "rate limited" in output, output
    assert "cannot reach HubSpot" not in output, output
    assert "1 pushed" in done.stdout
