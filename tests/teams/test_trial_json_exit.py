"""Trial 1, items 8 and 12: with --json stdout is exactly one JSON document (the `✗`
lines of a failing fields.js go to stderr), a push whose key is missing exits 78 before
it walks the folder or runs fields.js and says so once, and argparse's usage errors exit
64 like every other usage error. Subprocesses against the emulator over HTTP."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.support.processes import HUBSYNC, keys_env
from tests.teams.teams_helpers import make_user

pytestmark = pytest.mark.slow

THEME = {"css/main.css": "body { color: black }", "theme.json": '{"label": "Field"}',
         "modules/promo.module/fields.js": "module.exports = [ oops",
         "modules/promo.module/module.html": "<p>promo</p>",
         "modules/promo.module/meta.json": "{}"}
JSON_COMMANDS = (["push", "--json"], ["push", "--json"], ["push", "--dry-run", "--json"],
                 ["pull", "--dry-run", "--json"], ["conflicts", "--json"],
                 ["status", "--json"], ["ls", "--json"], ["check", "--json"],
                 ["deletes", "--json"], ["auth", "list", "--json"],
                 ["auth", "test", "--json"], ["doctor", "--json"])


def test_every_json_command_prints_one_json_document(tmp_path: Path,
                                                     team: EmulatorThread) -> None:
    """A theme whose fields.js fails: each command with --json (push twice, so the
    stale failure is listed again) prints exactly one JSON document on stdout; the push's
    `✗` line is on stderr instead."""
    ann = make_user(tmp_path, team, "ann", THEME)
    for command in JSON_COMMANDS:
        done = ann.run(*command)
        assert done.returncode in (0, 1), (command, done.stderr)
        try:
            json.loads(done.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"{command}: stdout is not one JSON document: "
                                 f"{done.stdout!r}") from exc
        if command[:2] == ["push", "--json"]:
            assert "✗ modules/promo.module/fields.json -> ann" in done.stderr


def test_push_with_a_missing_key_exits_78_before_doing_anything(tmp_path: Path,
                                                                team: EmulatorThread) -> None:
    """No key anywhere (no variable, an empty keyring): `push` exits 78, tells it once
    (no second copy on stderr), walks no folder and runs no fields.js (no `reconciled`
    or `failed` line in the sync log); with --json stdout is one object saying so."""
    ann = make_user(tmp_path, team, "ann", THEME)
    env = {k: v for k, v in keys_env(team).items() if k != "HUBSYNC_KEY_ANN"}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    run = [*HUBSYNC, "--config", str(ann.config), "push"]
    done = subprocess.run(run, env=env, capture_output=True, text=True, timeout=90,
                          check=False)
    assert done.returncode == 78, done.stdout + done.stderr
    said = done.stdout + done.stderr
    assert said.count("no key for account 'ann'") == 1, said
    assert ann.log("reconciled") == []
    assert ann.log("failed") == []
    assert [line["account"] for line in ann.log("auth_failed")] == ["ann"]

    as_json = subprocess.run([*run, "--json"], env=env, capture_output=True, text=True,
                             timeout=90, check=False)
    assert as_json.returncode == 78
    doc = json.loads(as_json.stdout)
    assert doc["ok"] is False
    assert "no key for account 'ann'" in doc["error"]


@pytest.mark.parametrize("argv", [["push", "--bogus"], ["resolve", "x.html"],
                                  ["push", "--prefer", "remote"], ["nosuchcommand"]])
def test_argparse_usage_errors_exit_64(argv: list[str]) -> None:
    """An unknown option, a missing required option, a bad choice and an unknown command
    exit 64 (the table in docs/usage.md), with argparse's usage line on stderr."""
    done = subprocess.run([*HUBSYNC, *argv], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 64, done.stderr
    assert "usage: hubsync" in done.stderr
    assert done.stdout == ""


def test_quiet_push_does_not_list_files_left_out_by_the_rules(tmp_path: Path,
                                                              team: EmulatorThread) -> None:
    """`push -q` is the summary and problems only: the files the rules leave out (two
    .scss files) are not listed on every run; without -q they still are."""
    ann = make_user(tmp_path, team, "ann", {"css/main.css": "a", "theme.json": "{}",
                                            "scss/a.scss": "x", "scss/b.scss": "y"})
    loud = ann.run("push")
    assert loud.returncode == 0, loud.stderr
    assert "2 files left out by the rules" in loud.stdout
    quiet = ann.run("push", "-q")
    assert quiet.returncode == 0, quiet.stderr
    assert "left out by the rules" not in quiet.stdout + quiet.stderr
    assert "everything is in sync" in quiet.stdout
