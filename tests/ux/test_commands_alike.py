"""Commands behave alike: unknown names, nothing to sync, closed pipes, a config typo.

Each test runs the real ``hubsync`` as a subprocess against the threaded emulator and
reads what a user would read.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from hubsync.errors import EX_CONFIG, EX_USAGE
from tests.support.processes import HUBSYNC, remote_tree
from tests.ux.ux_helpers import make_project

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("args", "expected"), [
    (("push", "them"), "'them': no watch of that name; did you mean 'theme'?"),
    (("push", "--dry-run", "nosuch"), "'nosuch': no watch of that name"),
    (("push", "--account", "sandbx"), "--account 'sandbx': no account of that name; "
                                      "did you mean 'sandbox'?"),
    (("watch", "them"), "'them': no watch of that name; did you mean 'theme'?"),
    (("watch", "--account", "stagin"), "did you mean 'staging'?"),
    (("log", "--account", "nosuch"), "--account 'nosuch': no account of that name"),
    (("log", "--event", "pushd"), "--event 'pushd': no event of that name; "
                                  "did you mean 'pushed'?"),
    (("auth", "test", "sandbx"), "'sandbx': no account of that name; did you mean 'sandbox'?"),
    (("auth", "remove", "nosuch"), "'nosuch': no account of that name"),
    (("pause", "stagin"), "did you mean 'staging'?"),
])
def test_an_unknown_name_is_a_usage_error_with_a_suggestion(
        tmp_path: Path, emulator_thread: EmulatorThread, args: tuple[str, ...],
        expected: str) -> None:
    """Every command that takes a watch, account or event name answers a typo the same
    way: exit 64, one line naming the typo, the closest known name and the known ones."""
    project = make_project(tmp_path, emulator_thread)
    result = project.run(*args)
    assert result.returncode == EX_USAGE, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    # Nothing was pushed on the way to the error.
    assert remote_tree(emulator_thread, 111, "my-theme") == {}


@pytest.mark.parametrize("command", ["push", "watch"])
def test_nothing_configured_to_sync_is_an_error_not_silence(
        tmp_path: Path, emulator_thread: EmulatorThread, command: str) -> None:
    """With no [[watch]], `push` does not say "everything is in sync" and `watch` does not
    idle on "watching": both exit 78 saying there is nothing to sync and what to add."""
    project = make_project(tmp_path, emulator_thread)
    text = project.config.read_text()
    project.config.write_text(text[:text.index("[[watch]]")])
    result = project.run(command, timeout=30)
    assert result.returncode == EX_CONFIG, result.stdout + result.stderr
    assert "nothing to sync: no [[watch]]" in result.stderr
    assert "everything is in sync" not in result.stdout
    assert "watching" not in result.stdout


def test_a_watch_without_the_chosen_account_is_nothing_to_sync(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`push --account staging` when the watch pushes only to sandbox: nothing to sync."""
    project = make_project(tmp_path, emulator_thread, accounts=("sandbox",))
    text = project.config.read_text()
    project.config.write_text(text + f'[accounts.staging]\nportal_id = 222\n'
                                     f'api_base = "{emulator_thread.url}"\n')
    result = project.run("push", "--account", "staging")
    assert result.returncode == EX_CONFIG
    assert "nothing to sync: no selected watch pushes to 'staging'" in result.stderr


def test_push_dry_run_into_a_closed_pipe_exits_quietly(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`hubsync push --dry-run | head -3`: three lines, then a quiet exit; no
    BrokenPipeError, no "internal error, please report it" (the plan is ~120 KB, far more
    than a pipe holds, so the reader really leaves while hubsync is still writing)."""
    project = make_project(tmp_path, emulator_thread, files=2000)
    pipeline = (f"{' '.join(HUBSYNC)} --config {project.config} push --dry-run "
                "| head -3; echo \"status=${PIPESTATUS[0]}\"")
    result = subprocess.run(["bash", "-c", pipeline], env=project.env(),
                            capture_output=True, text=True, timeout=120, check=False)
    lines = result.stdout.splitlines()
    assert "theme -> sandbox: 2001" in lines[0]
    assert len(lines) == 4
    assert lines[-1] in ("status=0", "status=141")
    assert result.stderr == ""


def test_log_into_a_closed_pipe_exits_quietly(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`hubsync log -n 0 | head -1` on a 5000-line sync log (~500 KB of output): one
    line, exit 0, nothing on stderr."""
    project = make_project(tmp_path, emulator_thread)
    project.state.mkdir()
    lines = [json.dumps({"ts": "2026-11-29T10:00:00.000Z", "event": "pushed",
                         "account": "sandbox", "path": f"css/f{i:05d}.css", "bytes": i})
             for i in range(5000)]
    (project.state / "sync.log").write_text("\n".join(lines) + "\n")
    pipeline = (f"{' '.join(HUBSYNC)} --config {project.config} log -n 0 | head -1; "
                "echo \"status=${PIPESTATUS[0]}\"")
    result = subprocess.run(["bash", "-c", pipeline], env=project.env(),
                            capture_output=True, text=True, timeout=120, check=False)
    assert "css/f00000.css" in result.stdout.splitlines()[0]
    assert result.stdout.splitlines()[1] == "status=0"
    assert result.stderr == ""


def test_a_config_typo_does_not_lock_out_status_and_log(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """After a push, a typo in the config: `status` and `log` warn about the config and
    still show the accounts and the pushes from the state dir; `push` still refuses."""
    project = make_project(tmp_path, emulator_thread, accounts=("sandbox",))
    assert project.run("push").returncode == 0
    project.config.write_text(project.config.read_text().replace("debounce_ms", "debounce_mss"))

    status = project.run("status", "--json")
    assert status.returncode == 0, status.stderr
    assert "warning: the config is not usable" in status.stderr
    assert "debounce_mss" in status.stderr
    report = json.loads(status.stdout)
    assert report["running"] is False
    assert [a["name"] for a in report["accounts"]] == ["sandbox"]
    assert report["accounts"][0]["portal_id"] == 111
    assert report["accounts"][0]["last_push"] is not None

    log = project.run("log", "--event", "pushed", "-n", "0")
    assert log.returncode == 0, log.stderr
    assert "warning: the config is not valid" in log.stderr
    assert "css/f0000.css" in log.stdout

    assert project.run("push").returncode == EX_CONFIG
