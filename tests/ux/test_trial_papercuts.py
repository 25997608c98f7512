"""Trial findings 4, 5 and 12: flush's leftovers, NO_COLOR, init's next steps, auth
wording, subcommand typos, keys only in the environment under a service."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

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
