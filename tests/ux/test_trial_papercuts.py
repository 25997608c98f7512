"""Trial findings 4, 5 and 12: flush's leftovers, NO_COLOR, init's next steps, auth
wording, subcommand typos, keys only in the environment under a service."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import termios
from pathlib import Path

import pytest

from hubsync.credentials import env_var_name
from hubsync.emulator import EmulatorThread
from hubsync.errors import EX_USAGE
from tests.support.processes import HUBSYNC, hubsync_process, wait_until
from tests.ux.ux_helpers import make_project

pytestmark = pytest.mark.slow


def test_flush_with_deletes_held_says_what_is_left_per_account(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """A watch whose brake holds deletes: `flush` exits 1 and says, per account, how many
    deletes are held and how to release or discard them; --json names it plainly."""
    project = make_project(tmp_path, emulator_thread, files=300)
    with hubsync_process(["--config", str(project.config), "watch"], project.env(),
                         tmp_path / "watch.out", stop_signal=signal.SIGINT) as session:
        session.wait_for_output("watching", timeout=60)
        assert project.run("flush", "--timeout", "60").returncode == 0
        for i in range(299):
            (project.root / "css" / f"f{i:04d}.css").unlink()
        wait_until(lambda: "holding" in session.output(), timeout=60, what="the hold")
        flushed = project.run("flush", "--timeout", "30")
        as_json = project.run("flush", "--json", "--timeout", "30")
        helped = project.run("flush", "--help")
    assert flushed.returncode == 1, flushed.stdout + flushed.stderr
    lines = flushed.stderr.splitlines()
    assert "sandbox: 299 held deletes" in lines
    assert "staging: 299 held deletes" in lines
    assert ("deletes held by the safety brake: `hubsync deletes release [ACCOUNT]` sends "
            "them, `hubsync deletes discard [ACCOUNT]` keeps the remote files") in lines
    assert as_json.returncode == 1
    answer = json.loads(as_json.stdout)
    assert answer["held_deletes"] == 598
    assert [(a["held_deletes"], a["blocked"], a["held"]) for a in answer["accounts"]] == [
        (299, False, False), (299, False, False)]
    # The old key stays for scripts, and the help says what it means.
    assert '"held" is the old name of "blocked"' in " ".join(helped.stdout.split())


@pytest.mark.parametrize(("argv", "said"), [
    (("pussh",), "hubsync: error: 'pussh': no command of that name; did you mean 'push'?"),
    (("service", "instal"),
     "hubsync service: error: 'instal': no action of that name; did you mean 'install'?"),
    (("push", "--mode", "draf"),
     "hubsync push: error: argument --mode: invalid choice: 'draf'; did you mean 'draft'?"),
])
def test_a_mistyped_command_or_choice_suggests_the_closest_one(
        argv: tuple[str, ...], said: str, tmp_path: Path) -> None:
    """A typo in a subcommand, an action or a choice exits 64 with "did you mean" and the
    known names, as a watch or account name typo does."""
    result = subprocess.run([*HUBSYNC, "--config", str(tmp_path / "none.toml"), *argv],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == EX_USAGE
    assert said in result.stderr
    assert "known " in result.stderr or "choose from draft, publish" in result.stderr


SGR = re.compile(r"\x1b\[[0-9;]*m")
LONG_NAME = "production-eu-marketing"


def _run_on_terminal(argv: list[str], env: dict[str, str], columns: int) -> tuple[int, str]:
    """``argv`` with stdout and stderr on a pseudo terminal ``columns`` wide."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=follower,
                               stderr=follower, close_fds=True)
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return process.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_status_on_an_80_column_terminal_fits_and_no_color_means_no_escapes(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`status` of a running watch on an 80-column terminal: no line is wider than 80,
    nothing is cut with "…", a long account name is shown whole; with NO_COLOR=1 not one
    SGR escape (no bold or italic either), without it there are some."""
    emu = emulator_thread
    project = make_project(tmp_path, emu, accounts=("sandbox",))
    project.config.write_text(
        project.config.read_text().replace('accounts = ["sandbox"]',
                                           f'accounts = ["sandbox", "{LONG_NAME}"]')
        + f'[accounts.{LONG_NAME}]\nportal_id = 222\napi_base = "{emu.url}"\n')
    env = project.env(**{env_var_name(LONG_NAME): emu.accounts["staging"].key})
    for name in ("COLUMNS", "LINES"):
        env.pop(name, None)
    argv = [*HUBSYNC, "--config", str(project.config), "status"]
    with hubsync_process(["--config", str(project.config), "watch"], env,
                         tmp_path / "watch.out", stop_signal=signal.SIGINT) as session:
        session.wait_for_output("watching", timeout=60)
        assert project.run("flush", env=env).returncode == 0
        code, plain = _run_on_terminal(argv, {**env, "NO_COLOR": "1"}, 80)
        coloured_code, coloured = _run_on_terminal(argv, env, 80)
    assert (code, coloured_code) == (0, 0), plain + coloured
    assert SGR.findall(plain) == []
    assert SGR.search(coloured), "the test would prove nothing without styles here"
    for out in (plain, SGR.sub("", coloured)):
        lines = out.replace("\r", "").splitlines()
        assert max(len(line) for line in lines) <= 80, out
        assert "…" not in out
        for name in (LONG_NAME, "sandbox"):
            (row,) = [line for line in lines if line.startswith(name + " ")]
            assert re.search(r" \d\d:\d\d:\d\d( |$)", row), row  # last push, whole
        assert "jane@" in out  # the user column folds rather than being dropped


REPO = Path(__file__).resolve().parents[2]


def test_docs_say_what_deletes_left_remote_and_folder_deletes_do_now() -> None:
    """The docs no longer say a later two-way session brings down a file deleted here
    with delete_remote = false (the state's `left_remote` keeps it away: tests/pull/
    test_two_way.py, test_a_file_left_remote_on_purpose_is_not_pulled_back_by_a_later_
    session), nor that deletes are always one per file (core/folders.py sends one
    folder delete), nor a pre-fix time for the archive's second push."""
    usage = " ".join((REPO / "docs" / "usage.md").read_text().split())
    assert "later* session treats the remote copy" not in usage
    assert "That rule holds in later sessions too" in usage
    assert "`left_remote`" in usage
    architecture = " ".join((REPO / "docs" / "architecture.md").read_text().split())
    assert "Deletes are always one per synced file" not in architecture
    assert "ONE remote folder delete" in architecture
    readme = " ".join((REPO / "README.md").read_text().split())
    assert "67.5 s / 65.6 s" not in readme
    assert "36.1 s as one archive" in readme
