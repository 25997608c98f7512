"""Trial 2, finding 11: who did what, told consistently. `hubsync log`'s user column is
always the actor (the key's user) and a conflict's remote side has its own words (who
wrote the remote version, or that HubSpot does not say who deleted it); `hubsync
conflicts` and `status` say the local side of a conflict too ("deleted here");
`log --user ACCOUNT` is a usage error that names the account's user. Ann and Bob run
hubsync as subprocesses on one emulated portal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.teams.teams_helpers import USERS, make_user

pytestmark = pytest.mark.slow

THEME = {"css/main.css": "body { color: black }", "templates/home.html": "<h1>home</h1>",
         "theme.json": '{"label": "Field"}'}
ANN_ID, BOB_ID = USERS["ann"], USERS["bob"]


def _columns(line: str) -> list[str]:
    """A human log line's columns: time, symbol, event, account, user, path, details."""
    return re.split(r"\s{2,}", line.strip(), maxsplit=6)


def test_log_conflicts_and_status_say_who_did_what_on_each_side(
        tmp_path: Path, team: EmulatorThread) -> None:
    """Bob changes css/main.css and deletes templates/home.html; Ann (who never saw
    that) deletes css/main.css and edits templates/home.html, and pushes: two
    conflicts. `conflicts` says "deleted here, changed remotely by user 7002" and
    "changed here, deleted remotely"; `status` says "deleted here; changed remotely".
    `log --user ann@example.com` lists her lines with her in the user column on every
    one (never "user 7002" or "?"), the remote side in words after the path."""
    ann = make_user(tmp_path, team, "ann", THEME)
    bob = make_user(tmp_path, team, "bob", THEME)
    assert ann.run("push").returncode == 0
    assert bob.run("push").returncode == 0
    (bob.root / "css/main.css").write_text("body { color: blue } /* bob */")
    (bob.root / "templates/home.html").unlink()
    assert bob.run("push", "--allow-deletes").returncode == 0
    (ann.root / "css/main.css").unlink()
    (ann.root / "templates/home.html").write_text("<h1>ann's home</h1>")
    pushed = ann.run("push", "--allow-deletes")
    assert pushed.returncode == 1, pushed.stdout + pushed.stderr
    assert "css/main.css: changed: deleted here; changed remotely since" in pushed.stderr

    listed = ann.run("conflicts")
    assert listed.returncode == 1
    [main] = [x for x in listed.stdout.splitlines() if "css/main.css" in x]
    assert f"deleted here, changed remotely by user {BOB_ID}" in main
    [home] = [x for x in listed.stdout.splitlines() if "templates/home.html" in x]
    assert "changed here, deleted remotely (HubSpot does not say by whom)" in home

    status = ann.run("status")
    assert "2 conflicts open" in status.stdout
    assert "ann: css/main.css: changed: deleted here; changed remotely since" in status.stdout

    shown = ann.run("log", "--user", "ann@example.com", "-n", "0")
    assert shown.returncode == 0, shown.stderr
    rows = [_columns(line) for line in shown.stdout.splitlines()]
    assert {row[2] for row in rows} >= {"pushed", "conflict"}
    assert {row[4] for row in rows} == {"ann@example.com"}, shown.stdout
    conflicts = {row[5]: row[6] for row in rows if row[2] == "conflict"}
    assert conflicts["css/main.css"].startswith(f"remote version by user {BOB_ID}")
    assert conflicts["templates/home.html"].startswith(
        "deleted remotely (HubSpot does not say by whom)")

    by_bob = ann.run("log", "--user", str(BOB_ID), "-n", "0")
    assert [_columns(line)[5] for line in by_bob.stdout.splitlines()] == ["css/main.css"]


def test_log_user_given_an_account_name_is_a_usage_error_naming_its_user(
        tmp_path: Path, team: EmulatorThread) -> None:
    """`log --user ann` (the account, not a user) exits 64 and says which user its key
    is (email and id) and that `--account ann` lists the account's lines; a name that
    is neither is still a plain "no user of that name"."""
    ann = make_user(tmp_path, team, "ann", THEME)
    assert ann.run("push").returncode == 0
    wrong = ann.run("log", "--user", "ann")
    assert wrong.returncode == 64, wrong.stdout + wrong.stderr
    assert wrong.stdout == ""
    assert "'ann' is an account name, not a HubSpot user" in wrong.stderr
    assert f"--user 'ann@example.com' or {ANN_ID}" in wrong.stderr
    assert "`--account ann`" in wrong.stderr
    other = ann.run("log", "--user", "carol")
    assert other.returncode == 64
    assert "no user of that name" in other.stderr
    assert ann.run("log", "--account", "ann", "-n", "0").stdout.count("pushed") == len(THEME)
