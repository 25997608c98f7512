"""`hubsync status --watch` against a real `hubsync watch` subprocess: the live view on a
pseudo terminal (the screen text read back), plain snapshots and JSON lines off a
terminal, the end of the session, and no session at all."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import run_hubsync, watch_session, write_config
from tests.support.processes import HUBSYNC, keys_env, wait_until, write_files

pytestmark = pytest.mark.slow

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\r")


class Screen:
    """What a process wrote to its pseudo terminal, escapes removed."""

    def __init__(self, master: int) -> None:
        self._master = master
        self._chunks: list[bytes] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self._master], [], [], 0.2)
            if not ready:
                continue
            try:
                data = os.read(self._master, 65536)
            except OSError:  # the child closed its side
                return
            if not data:
                return
            self._chunks.append(data)

    def text(self) -> str:
        return _ANSI.sub("", b"".join(self._chunks).decode("utf-8", "replace"))


@contextmanager
def on_a_terminal(args: list[str], env: dict[str, str]) -> Iterator[
        tuple[subprocess.Popen[bytes], Screen]]:
    """Run ``hubsync ARGS`` with a 200x50 pseudo terminal as stdin, stdout and stderr."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    process = subprocess.Popen([*HUBSYNC, *args], stdin=slave, stdout=slave, stderr=slave,
                               env={**env, "TERM": "xterm-256color", "COLUMNS": "200",
                                    "LINES": "50"})
    os.close(slave)
    screen = Screen(master)
    try:
        yield process, screen
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(20)
        os.close(master)


def _setup(tmp_path: Path, emu: EmulatorThread) -> tuple[Path, Path]:
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}"})
    return write_config(tmp_path / "config.toml", emu, root, tmp_path / "state"), root


def test_live_view_on_a_terminal_and_ctrl_c(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """On a pseudo terminal the view shows each account's queue, rate budget and last
    push with its path; a refused template's error appears with its file within a
    refresh; Ctrl-C
    (SIGINT) ends it with exit 0 while the session goes on."""
    emu = emulator_thread
    config, root = _setup(tmp_path, emu)
    env = keys_env(emu)
    with watch_session(config, emu, tmp_path / "out.txt") as session:
        assert run_hubsync(config, emu, "flush").returncode == 0
        with on_a_terminal(["--config", str(config), "status", "--watch", "--interval",
                            "0.2"], env) as (viewer, screen):
            wait_until(lambda: "css/main.css" in screen.text(), what="the live view")
            text = screen.text()
            for word in ("sandbox", "staging", "pending", "in flight", "rate budget",
                         "last push", "Ctrl-C to stop"):
                assert word in text, (word, text)
            write_files(root, {"templates/bad.html": "{{ nope"})
            session.wait_for_output("✗ templates/bad.html -> staging")
            wait_until(lambda: "templates/bad.html: Template contains errors"
                       in screen.text(), what="the error, with its file, in the view")
            viewer.send_signal(signal.SIGINT)
            assert viewer.wait(20) == 0
        assert session.process.poll() is None


def test_off_a_terminal_snapshots_and_json_end_with_the_session(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """Off a terminal --watch prints plain snapshots, --watch --json one JSON object per
    line with ISO 8601 times (the end on stderr); when the session stops both say so and exit
    0."""
    emu = emulator_thread
    config, _ = _setup(tmp_path, emu)
    env = keys_env(emu)
    base = [*HUBSYNC, "--config", str(config), "status", "--watch", "--interval", "0.2"]
    with watch_session(config, emu, tmp_path / "out.txt") as session:
        assert run_hubsync(config, emu, "flush").returncode == 0
        plain_out, json_out = tmp_path / "plain.txt", tmp_path / "json.txt"
        with plain_out.open("wb") as p_sink, json_out.open("wb") as j_sink:
            plain = subprocess.Popen(base, env=env, stdout=p_sink, stderr=subprocess.STDOUT)
            as_json = subprocess.Popen([*base, "--json"], env=env, stdout=j_sink,
                                       stderr=subprocess.PIPE, text=True)
            wait_until(lambda: plain_out.read_text().count("--- ") >= 2
                       and json_out.read_text().count("\n") >= 2, what="two snapshots")
            session.process.send_signal(signal.SIGINT)
            assert plain.wait(30) == 0
            _, err = as_json.communicate(timeout=30)
            assert as_json.returncode == 0
    text = plain_out.read_text()
    assert "accounts:" in text
    assert "sandbox" in text
    assert text.rstrip().endswith("ended; `hubsync status` shows what it left")
    # stdout is JSON lines only; the end is said on stderr.
    reports = [json.loads(line) for line in json_out.read_text().splitlines()]
    assert all(r["running"] for r in reports)
    assert {a["name"] for a in reports[-1]["accounts"]} == {"sandbox", "staging"}
    last = reports[-1]["accounts"][0]
    assert last["last_push_path"] == "css/main.css"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", last["last_push"])
    assert err.rstrip().endswith("ended; `hubsync status` shows what it left")


def test_without_a_session_it_says_so_and_exits_3(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """With nothing running, --watch prints what plain status prints and exits 3 with
    a line saying there is nothing to follow."""
    config, _ = _setup(tmp_path, emulator_thread)
    result = run_hubsync(config, emulator_thread, "status", "--watch")
    assert result.returncode == 3
    assert "not running" in result.stdout
    assert "nothing to follow live: no hubsync is running" in result.stderr


def test_a_reader_that_leaves_ends_it(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """`status --watch | head -n 3` ends quietly with the pipe (exit 0, no traceback)
    instead of refreshing forever with nobody reading."""
    emu = emulator_thread
    config, _ = _setup(tmp_path, emu)
    with watch_session(config, emu, tmp_path / "out.txt"):
        viewer = subprocess.Popen([*HUBSYNC, "--config", str(config), "status", "--watch",
                                   "--interval", "0.1"], env=keys_env(emu),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert viewer.stdout is not None
        assert viewer.stdout.readline().startswith(b"--- ")
        viewer.stdout.close()
        assert viewer.wait(30) == 0
        assert viewer.stderr is not None
        assert viewer.stderr.read() == b""
        viewer.stderr.close()


def test_view_shows_pacing_held_accounts_and_conflicts() -> None:
    """The live view of a report: the rate budget left with a pause and the 429 count,
    an unauthorized paused account, and a conflicts column only when the session
    reports conflicts (per account or as a session list naming accounts)."""
    from rich.console import Console

    from hubsync.commands.status_live import render_live

    def screen(report: dict[str, object]) -> str:
        console = Console(record=True, width=220, color_system=None)
        console.print(render_live(report))
        return console.export_text()

    sandbox = {"name": "sandbox", "auth": "ok", "pending": 7, "in_flight": 2,
               "held_deletes": 30, "parked": 1, "last_error": "HTTP 429",
               "rate": {"limit": 100, "window_ms": 10000, "budget": 60, "used": 58,
                        "paused_for_ms": 2500, "rate_limited": 3},
               "last_push_path": "css/a.css", "last_push_event": "pushed",
               "last_push_at": "2020-01-01T00:00:00.000Z"}
    staging = {"name": "staging", "auth": "unauthorized", "held": True, "paused": True}
    text = screen({"kind": "daemon", "pid": 42, "summary": "1/2 accounts ok",
                   "accounts": [sandbox, staging]})
    assert "hubsync daemon (PID 42): 1/2 accounts ok" in text
    assert "2/100 left per 10 s, paused 2.5 s, 3×429" in text
    assert "css/a.css" in text
    assert "unauthorized, paused" in text
    assert "conflicts" not in text
    listed = screen({"accounts": [sandbox, staging],
                     "conflicts": [{"account": "staging", "path": "x.html"},
                                   {"account": "staging", "path": "y.html"}]})
    row = next(line for line in listed.splitlines() if "staging" in line)
    assert "conflicts" in listed
    assert row.rstrip(" │").endswith("2")
