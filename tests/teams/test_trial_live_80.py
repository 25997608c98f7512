"""Trial 1, item 14: `status --watch` in an 80-column terminal keeps every header word
whole (it wrapped `accoun / t`). A real watch session and `status --watch` on a pseudo
terminal of 80 columns."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.support.processes import HUBSYNC, keys_env
from tests.teams.teams_helpers import make_user

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def live_view(argv: list[str], env: dict[str, str], *, until: str,
              timeout: float = 60) -> str:
    """Run ``argv`` on an 80x40 pseudo terminal until ``until`` is shown, then Ctrl-C;
    all it printed, escape sequences removed."""
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
    process = subprocess.Popen(argv, env=env, stdin=follower, stdout=follower,
                               stderr=follower, close_fds=True)
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and until.encode() not in seen:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    seen += os.read(leader, 65536)
                except OSError:
                    break
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    finally:
        os.close(leader)
    return ANSI.sub("", seen.decode("utf-8", "replace"))


def test_status_watch_fits_80_columns(tmp_path: Path, team: EmulatorThread) -> None:
    """With Ann's watch running (one open conflict, so the conflicts column is there),
    `status --watch` at 80 columns shows each header word whole on one line and no
    line longer than 80."""
    ann = make_user(tmp_path, team, "ann", {"css/main.css": "a", "theme.json": "{}"})
    bob = make_user(tmp_path, team, "bob", {"css/main.css": "b", "theme.json": "{}"})
    assert ann.run("push").returncode == 0
    assert bob.run("push").returncode == 1  # css/main.css: an unsynced conflict
    env = {**keys_env(team), "COLUMNS": "80", "LINES": "40", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    with bob.watching(tmp_path / "bob.out"):
        shown = live_view([*HUBSYNC, "--config", str(bob.config), "status", "--watch"],
                          env, until="Ctrl-C to stop")
    lines = [line.rstrip() for line in re.split(r"[\r\n]+", shown)]
    assert any(line.startswith("account ") for line in lines), shown
    header = next(line for line in lines if line.startswith("account "))
    for word in ("account", "auth", "pending", "flight", "held", "failed", "budget",
                 "push", "error", "conflicts"):
        assert re.search(rf"\b{word}\b", header), (word, header)
    assert max(len(line) for line in lines) <= 80, shown
