"""What a fresh user tripped over: empty files, a missing key without a keyring, a
`held:` line without its account, doubled punctuation, a problem list cut off after
"3 problems:", and `log --failed` showing lines that are not failures.

Each runs the real command against the emulator and reads what the user reads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import DEST
from tests.ux.ux_helpers import make_project

pytestmark = pytest.mark.slow

DOUBLED = re.compile(r"[.;:][.;]")
"""Doubled punctuation (`).;`, `..`, `:;`) as a message builder can glue it together."""


def test_empty_file_is_skipped_by_the_plan_and_by_push_alike(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """An empty file is listed as skipped, with HubSpot's reason, by `push --dry-run` and
    by `push`; push sends nothing for it and exits 0 (HubSpot would answer 400)."""
    project = make_project(tmp_path, emulator_thread, accounts=("sandbox",))
    (project.root / "css" / "empty.css").write_text("")
    reason = "empty file: HubSpot refuses empty files"

    plan = project.run("push", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert f"skipped theme:css/empty.css: {reason}" in plan.stdout
    assert "upload  css/empty.css" not in plan.stdout
    plan_json = json.loads(project.run("push", "--dry-run", "--json").stdout)

    pushed = project.run("push", "--json")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    summary = json.loads(pushed.stdout)
    assert summary["ok"] is True
    assert summary["skipped"] == plan_json["skipped"] == [
        {"watch": "theme", "path": "css/empty.css", "reason": reason}]
    assert not [r for r in emulator_thread.requests
                if r.remote_path == f"{DEST}/css/empty.css"]


def test_missing_key_without_a_keyring_names_the_variable_and_the_credential(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """No key for `staging` and no keyring: the error names HUBSYNC_KEY_STAGING, the
    systemd credential hubsync-staging and `hubsync auth add staging`, never the
    placeholder HUBSYNC_KEY_<NAME>."""
    project = make_project(tmp_path, emulator_thread)
    env = project.env()
    del env["HUBSYNC_KEY_STAGING"]
    result = project.run("push", env=env)
    # A key is missing (no keyring to look in: 75, temporary); sandbox was pushed.
    assert result.returncode == 75
    out = result.stdout + result.stderr
    assert "sandbox: 4 pushed" in out
    assert ("give keys as HUBSYNC_KEY_STAGING or the systemd credential 'hubsync-staging' "
            "(no key for account 'staging' in HUBSYNC_KEY_STAGING or a systemd credential); "
            "once a keyring works, `hubsync auth add staging` stores it") in out
    assert "<NAME>" not in out
    # Said once, by the console, not again as a diagnostics warning.
    assert "auth_failed" not in result.stderr

    test = project.run("auth", "test", "staging", env=env)
    assert "HUBSYNC_KEY_STAGING" in test.stdout + test.stderr
    assert "<NAME>" not in test.stdout + test.stderr


def test_held_summary_line_names_the_account(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """Deleting most of the theme trips the brake on both accounts: each `held:` line of
    the summary starts with its account, and each account's line counts its held
    deletes."""
    project = make_project(tmp_path, emulator_thread, files=8)
    assert project.run("push").returncode == 0
    for i in range(6):
        (project.root / "css" / f"f{i:04}.css").unlink()
    result = project.run("push")
    assert result.returncode == 1
    held = [line for line in result.stdout.splitlines() if line.startswith("held: ")]
    assert sorted(line.split(":")[1].strip() for line in held) == ["sandbox", "staging"], held
    assert all("holding 6 deletes" in line for line in held)
    assert "sandbox: 0 pushed, 0 deleted, 6 deletes held" in result.stdout


def test_messages_have_no_doubled_punctuation(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """The error paths a user meets (a revoked key, whose HubSpot message ends with a
    period, a missing key without keyring, unknown names, a broken config) print no
    `).;`, `..` or `:;` outside file paths."""
    emu = emulator_thread
    project = make_project(tmp_path, emu)
    env = project.env()
    emu.revoke_key(emu.accounts["staging"].key)
    outputs = [project.run("push", env=env), project.run("auth", "test", env=env)]
    del env["HUBSYNC_KEY_STAGING"]
    outputs += [project.run("push", env=env), project.run("auth", "test", env=env),
                project.run("push", "them"), project.run("log", "--event", "pushd"),
                project.run("flush")]
    project.config.write_text(project.config.read_text().replace(
        "[[watch]]", "[[watch]]\nfoo = 1"))
    outputs += [project.run("check"), project.run("push"), project.run("status")]
    text = "\n".join(r.stdout + r.stderr for r in outputs)
    assert "HubSpot refused the key of account 'staging'" in text  # the path was taken
    readable = text.replace(str(tmp_path), "TMP")
    assert not DOUBLED.findall(readable), [line for line in readable.splitlines()
                                           if DOUBLED.search(line)]


def test_a_warning_with_a_problem_list_shows_the_list(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A config with three mistakes: the warnings of `status` and `log` (which go on from
    the state dir) show all three, not "3 problems:" and nothing after it."""
    project = make_project(tmp_path, emulator_thread, accounts=("sandbox",))
    assert project.run("push").returncode == 0
    project.config.write_text(project.config.read_text().replace(
        "[[watch]]", "[[watch]]\nfoo = 1\nbar = 2\nbaz = 3"))
    for argv in (("status",), ("log",)):
        result = project.run(*argv)
        assert result.returncode == 0, result.stderr
        warning = next(line for line in result.stderr.splitlines() if "warning" in line)
        assert "3 problems:" in warning
        for key in ("foo", "bar", "baz"):
            assert f"watch[0].{key}: unknown key" in warning, warning


def test_log_failed_shows_failures_only_and_skips_carry_a_reason(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A skipped file's sync log line has a `reason` and no `error`; `log --failed` shows
    the failure and the session that stopped on an error, and none of the lines that
    are not failures (a retry, a skip, even one written with an `error` by an older
    version)."""
    project = make_project(tmp_path, emulator_thread, accounts=("sandbox",))
    (project.root / "css" / "x.scss").write_text("a {}")
    assert project.run("push").returncode == 0
    lines = [json.loads(line) for line in (project.state / "sync.log").read_text().splitlines()]
    skipped = [line for line in lines if line["event"] == "skipped"]
    assert skipped
    assert all("reason" in line and "error" not in line for line in skipped)

    stamp = "2026-11-29T10:00:00.000Z"
    extra = [
        {"ts": stamp, "event": "retrying", "account": "sandbox", "path": "css/a.css",
         "error": "HTTP 503", "retry_in_ms": 1000},
        {"ts": stamp, "event": "skipped", "path": "css/old.scss", "error": "extension"},
        {"ts": stamp, "event": "failed", "account": "sandbox", "path": "css/bad.css",
         "error": "rejected"},
        {"ts": stamp, "event": "session_stopped", "error": "StateDiskFull: disk full"},
        {"ts": stamp, "event": "session_stopped", "error": None},
    ]
    with (project.state / "sync.log").open("a") as log:
        log.writelines(json.dumps(entry) + "\n" for entry in extra)
    result = project.run("log", "--failed", "-n", "0")
    assert result.returncode == 0, result.stderr
    shown = result.stdout.splitlines()
    assert len(shown) == 2, shown
    assert "css/bad.css" in shown[0]
    assert "StateDiskFull" in shown[1]


def test_one_rule_for_empty_files_in_a_scan_and_a_single_look(tmp_path: Path) -> None:
    """`watch` looks at one saved file at a time (probe), `push` scans the tree: both
    leave an empty file out with the same reason, and take it once it has content."""
    from hubsync.localtree import Skipped, SkipReason, load_rules, probe, scan

    (tmp_path / "a.css").write_text("")
    rules = load_rules(tmp_path)
    looked = probe(tmp_path, "a.css", rules, None, now_ns=0)
    assert isinstance(looked, Skipped)
    assert looked.reason == SkipReason.EMPTY
    scanned = scan(tmp_path, rules, {}, now_ns=0)
    assert [(s.rel, s.reason) for s in scanned.skipped] == [("a.css", SkipReason.EMPTY)]
    assert scanned.files == {}

    (tmp_path / "a.css").write_text("a {}")
    assert not isinstance(probe(tmp_path, "a.css", rules, None, now_ns=0), Skipped)
    assert list(scan(tmp_path, rules, {}, now_ns=0).files) == ["a.css"]
