"""A long push says enough: one bar per account with rich's own columns, a line when the
rate limit is the bottleneck, no line per file for a large batch unless -v, a summary
with totals, bytes and time that LISTS what was left out, Ctrl-C that says what was
pushed and what is pending per account, and retry times that are the real ones.

Subprocess tests read what a user reads; the bars are read on a pseudo terminal.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import DEST, write_config
from tests.support.processes import (
    HUBSYNC,
    PORTALS,
    hubsync_process,
    remote_tree,
    wait_until,
    write_files,
)
from tests.ux.ux_helpers import Project, make_project, run_in_pty

pytestmark = pytest.mark.slow

CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
"""A terminal control sequence (colour, cursor movement, line erase)."""
PER_FILE = re.compile(r"^↑ css/", re.MULTILINE)
"""A per-file "pushed" line of the console."""


def _skipped_files(project: Project, count: int) -> None:
    """``count`` files the rules leave out (an extension HubSpot does not take)."""
    write_files(project.root, {f"scss/s{i:03}.scss": "a {}" for i in range(count)})


def test_large_push_prints_no_line_per_file_and_lists_what_was_left_out(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """30 files (more than 20) into a pipe: no line per file, a summary with bytes and the
    time, and the 25 skipped files LISTED, capped at 20 with "and 5 more" and the command
    that shows them all."""
    project = make_project(tmp_path, emulator_thread, files=30, accounts=("sandbox",))
    _skipped_files(project, 25)
    result = project.run("push")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert not PER_FILE.search(out), out
    assert "· scss/" not in out  # the skips are in the summary, not one line each
    assert re.search(r"^sandbox: 31 pushed \(\d+(\.\d)? [KB]+\), 0 deleted$", out, re.M), out
    assert re.search(r"^in all: 31 pushed, 0 deleted, .+ in \d+(\.\d)? s$", out, re.M), out
    assert "25 files left out by the rules:" in out
    listed = re.findall(r"^  skipped theme:scss/s\d{3}\.scss: extension not accepted", out, re.M)
    assert len(listed) == 20
    assert "  and 5 more: hubsync log --event skipped" in out
    assert "in the lines above" not in out


def test_large_push_with_verbose_prints_a_line_per_file(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`-v` brings the line per file back for a large batch; a small batch has them
    without asking."""
    project = make_project(tmp_path, emulator_thread, files=30, accounts=("sandbox",))
    verbose = project.run("push", "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert len(PER_FILE.findall(verbose.stdout)) == 30

    small = make_project(tmp_path / "small", emulator_thread, files=3,
                         accounts=("staging",))
    result = small.run("push")
    assert result.returncode == 0, result.stderr
    assert len(PER_FILE.findall(result.stdout)) == 3


def test_progress_on_a_terminal_has_a_bar_per_account_with_time_and_rate(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """On a TTY: a bar per account, each with its own N/total, elapsed and remaining time
    and files/s; a delete-only run counts its deletes (25/25), never `N/0`."""
    project = make_project(tmp_path, emulator_thread, files=30)
    emulator_thread.set_faults(latency_ms=40)
    argv = [*HUBSYNC, "--config", str(project.config), "push"]
    try:
        code, out = run_in_pty(argv, project.env())
        out = CSI.sub("", out)
        assert code == 0, out
        for account in ("sandbox", "staging"):
            bar = re.search(account + r" [━╸╺]+ +\d+/31 \d:\d\d:\d\d left "
                            r"\d:\d\d:\d\d \d+\.\d files/s", out)
            assert bar, out[-3000:]
        assert "31/31" in out

        for i in range(25):
            (project.root / "css" / f"f{i:04}.css").unlink()
        code, out = run_in_pty([*argv, "--allow-deletes"], project.env())
        out = CSI.sub("", out)
    finally:
        emulator_thread.set_faults()
    assert code == 0, out
    assert re.search(r"sandbox [━╸╺]+ +\d+/25 ", out), out[-3000:]
    assert not re.search(r"\d+/0 ", out), out[-3000:]
    assert "sandbox: 0 pushed, 25 deleted" in out


def test_a_line_says_when_the_rate_limit_is_the_bottleneck(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """An account whose pacer waits for its window gets one line naming HubSpot's limit
    (as the pacer learnt it) and a time left that matches the work left."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {f"css/f{i:03}.css": f"/* {i} */" for i in range(40)})
    config = write_config(tmp_path / "config.toml", emu, root, tmp_path / "state",
                          accounts=("sandbox",),
                          extra_settings="rate_limit = 10\nrate_window_ms = 1000")
    emu.set_rate_limit(10, 1000)
    try:
        project = Project(tmp_path, emu, root, config, tmp_path / "state")
        result = project.run("push")
    finally:
        emu.set_rate_limit(0)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = re.findall(r"^sandbox: paced by HubSpot's rate limit \(10 requests / 1 s\); "
                       r"about (\d+) s left$", result.stdout, re.M)
    assert len(lines) == 1, result.stdout
    # 40 files at 9 per second (the limit less the pacer's margin): at most ~5 s.
    assert 1 <= int(lines[0]) <= 6


def test_ctrl_c_says_what_was_pushed_and_what_is_pending_per_account(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A real SIGINT to a real push of 150 files to two accounts (emulator with latency):
    exit 130, and per account a line whose pushed count is what the emulator holds and
    whose pending count is the rest."""
    emu = emulator_thread
    project = make_project(tmp_path, emu, files=149)  # and theme.json: 150 files
    # File by file (not one archive), so that the interrupt falls between files.
    text = project.config.read_text()
    for portal in PORTALS.values():
        text = text.replace(f"portal_id = {portal}\n", f'portal_id = {portal}\nbulk = "files"\n')
    project.config.write_text(text)
    emu.set_faults(latency_ms=30)
    try:
        with hubsync_process(["--config", str(project.config), "push"], project.env(),
                             tmp_path / "out.txt", stop_signal=signal.SIGKILL) as push:
            wait_until(lambda: all(len(remote_tree(emu, p, DEST)) >= 10
                                   for p in PORTALS.values()), what="some pushes")
            push.process.send_signal(signal.SIGINT)
            assert push.process.wait(30) == 130
            output = push.output()
    finally:
        emu.set_faults()
    assert "internal error" not in output
    assert "interrupted: the files counted as pushed above reached HubSpot" in output
    for account, portal in PORTALS.items():
        found = re.search(rf"^{account}: (\d+) pushed.*, 0 deleted, (\d+) pending$",
                          output, re.M)
        assert found, output[-2000:]
        pushed, pending = int(found.group(1)), int(found.group(2))
        assert pushed + pending == 150
        assert len(remote_tree(emu, portal, DEST)) == pushed


LATENCY_MS = 300
"""The emulator's answer time in the retry test: a wave of requests takes this long."""
RETRY_LINE = re.compile(r"^… (?P<path>\S+) -> sandbox: HTTP 429; attempt \d+ failed, "
                        r"retrying in (?P<wait>\d+\.\d) s$", re.M)


def test_retry_time_said_is_the_real_wait_under_a_429_storm(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A 429 storm with Retry-After 10 s (longer than push's 8 s backoff cap): every
    "retrying in X s" line says within 1.5 s when the emulator next saw that file."""
    emu = emulator_thread
    project = make_project(tmp_path, emu, files=19, accounts=("sandbox",))
    emu.set_faults(latency_ms=LATENCY_MS)
    try:
        with hubsync_process(["--config", str(project.config), "push"], project.env(),
                             tmp_path / "out.txt", stop_signal=signal.SIGKILL) as push:
            wait_until(lambda: any(r.endpoint == "upload" for r in emu.requests),
                       what="the first upload")
            emu.set_faults(latency_ms=LATENCY_MS, storm_seconds=2, retry_after=10)
            assert push.process.wait(60) == 0, push.output()
            output = push.output()
    finally:
        emu.set_faults()
    said = {m["path"]: float(m["wait"]) for m in RETRY_LINE.finditer(output)}
    assert said, output
    for rel, wait_s in said.items():
        seen = [r for r in emu.requests if r.remote_path == f"{DEST}/{rel}"]
        refused = next(i for i, r in enumerate(seen) if r.status == 429)
        # Records are stamped when answered: the 429 when the client got it, the next
        # one LATENCY_MS after it was sent.
        actual = seen[refused + 1].ts - LATENCY_MS / 1000 - seen[refused].ts
        assert abs(actual - wait_s) <= 1.5, (rel, wait_s, actual)
