"""The console is for people: human lines only, diagnostics with -v, -q for the summary,
and NO_COLOR honoured on a terminal, structlog's renderer included.

Where the behaviour depends on a terminal, the command runs on a pseudo terminal.
"""

from __future__ import annotations

import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.support.processes import HUBSYNC, hubsync_process, wait_until
from tests.ux.ux_helpers import make_project, run_in_pty

pytestmark = pytest.mark.slow

SGR = re.compile(r"\x1b\[[0-9;]*m")
"""An ANSI colour/style sequence (cursor movement of a progress bar is not colour)."""


def test_push_off_a_terminal_writes_no_diagnostics(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A successful `push` into a pipe leaves stderr empty (no JSON `auth_ok` lines);
    with -v the diagnostics come back, as JSON lines on stderr."""
    project = make_project(tmp_path, emulator_thread, accounts=("sandbox",))
    quiet = project.run("push")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert "✓ sandbox: portal 111 as jane@example.com" in quiet.stdout

    (project.root / "css" / "f0000.css").write_text("/* changed */")
    verbose = project.run("push", "-v")
    assert verbose.returncode == 0
    assert '"event": "auth_ok"' in verbose.stderr


def test_push_on_a_terminal_shows_only_the_human_lines(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """On a TTY, `push` prints the human line for the key exchange once, and no structlog
    console line (`[info ] auth_ok`) between them; `-v` adds it, on its own line above
    the progress bar."""
    project = make_project(tmp_path, emulator_thread, accounts=("sandbox",))
    argv = [*HUBSYNC, "--config", str(project.config), "push"]
    code, out = run_in_pty(argv, project.env())
    assert code == 0, out
    assert "✓ sandbox: portal 111 as jane@example.com" in out
    assert "auth_ok" not in out
    assert "[info" not in out

    (project.root / "css" / "f0000.css").write_text("/* changed */")
    code, out = run_in_pty([*argv, "-v"], project.env())
    assert code == 0, out
    assert "auth_ok" in out
    # ... printed above the progress bar, never glued to it ("0/02026-...auth_ok").
    segments = re.split(r"[\r\n]+", out)
    assert not any("━" in part and "auth_ok" in part for part in segments)


def test_no_color_is_honoured_by_every_renderer_on_a_terminal(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`-v push` on a TTY: colour sequences without NO_COLOR (rich's bar and structlog's
    console renderer), none at all with NO_COLOR=1."""
    project = make_project(tmp_path, emulator_thread, accounts=("sandbox",))
    argv = [*HUBSYNC, "--config", str(project.config), "-v", "push"]
    code, coloured = run_in_pty(argv, project.env())
    assert code == 0, coloured
    assert SGR.search(coloured), "the test would prove nothing without colour here"

    (project.root / "css" / "f0000.css").write_text("/* changed */")
    code, plain = run_in_pty(argv, project.env(NO_COLOR="1"))
    assert code == 0, plain
    assert "auth_ok" in plain
    assert SGR.findall(plain) == []


def test_quiet_push_prints_the_summary_alone(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`push -q` prints no line per file, only the summary: per account, the totals with
    bytes and time, and the verdict."""
    project = make_project(tmp_path, emulator_thread, accounts=("sandbox",))
    result = project.run("push", "-q")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3, lines
    assert lines[0] == "sandbox: 4 pushed (35 B), 0 deleted"
    assert re.fullmatch(r"in all: 4 pushed, 0 deleted, 35 B in \d+\.\d s", lines[1]), lines
    assert lines[2] == "everything is in sync"


def test_warnings_off_a_terminal_are_plain_lines_json_only_with_verbose(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """Dropped connections make `push` warn (account_offline). Into a pipe the warning is
    one plain `hubsync: warning: ...` line, no JSON object; with -v the diagnostics come
    as JSON lines."""
    emu = emulator_thread
    project = make_project(tmp_path, emu, files=6, accounts=("sandbox",))
    # An outage for sure: every connection dropped until a few were (hubsync calls an
    # account offline after 3 failures in a row), then the network is back.
    emu.clear_requests()
    emu.set_faults(drop_rate=1.0)
    try:
        with ThreadPoolExecutor(1) as pool:
            pushing = pool.submit(project.run, "push")
            wait_until(lambda: sum(r.status == 0 for r in emu.requests) >= 4, 60,
                       "dropped connections")
            emu.set_faults()
            result = pushing.result()
        emu.set_faults(drop_rate=1.0)
        (project.root / "css" / "f0000.css").write_text("/* changed */")
        (project.root / "css" / "f0001.css").write_text("/* changed */")
        with ThreadPoolExecutor(1) as pool:
            pushing = pool.submit(project.run, "push", "-v")
            wait_until(lambda: sum(r.status == 0 for r in emu.requests) >= 8, 60,
                       "dropped connections")
            emu.set_faults()
            verbose = pushing.result()
    finally:
        emu.set_faults()
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if line]
    assert warnings, "the test needs a warning to look at"
    # An outage is two lines: offline, then online again (tests/hostile/test_offline.py).
    assert all(line.startswith(("hubsync: warning: account_offline (account=sandbox",
                                "hubsync: warning: account_online (account=sandbox"))
               for line in warnings), warnings
    assert not any(line.lstrip().startswith("{") for line in result.stderr.splitlines())
    assert verbose.returncode == 0, verbose.stderr
    assert any(line.startswith('{"') for line in verbose.stderr.splitlines()), verbose.stderr


def test_watch_off_a_terminal_writes_human_lines_only(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`watch` into a file (stdout and stderr together): the session's human lines, a
    saved file's `↑` line, and not one JSON diagnostics object."""
    project = make_project(tmp_path, emulator_thread, accounts=("sandbox",))
    out = tmp_path / "watch.txt"
    with hubsync_process(["--config", str(project.config), "watch"], project.env(), out,
                         stop_signal=signal.SIGINT) as session:
        session.wait_for_output("watching")
        (project.root / "css" / "f0001.css").write_text("/* saved */")
        session.wait_for_output("↑ css/f0001.css -> sandbox")
        session.process.send_signal(signal.SIGINT)
        assert session.process.wait(30) == 0
    text = out.read_text()
    assert "✓ sandbox: portal 111 as jane@example.com" in text
    assert not [line for line in text.splitlines() if line.lstrip().startswith("{")], text
