"""Attribution both ways (issue 10): `hubsync log --user` finds the conflicts a teammate's
remote edit caused, by id always and by email once hubsync has seen that teammate's
identity (a key check of their account on this machine, or their pushes in this sync
log); the console, `hubsync conflicts` and `hubsync log` name the writer by email when
known, by id otherwise. Ann and Bob run hubsync as subprocesses on one emulated portal;
no key or token ever appears in what they print."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hubsync.emulator import EmulatorThread
from tests.teams.teams_helpers import DEST, USERS, User, make_user, remote

pytestmark = pytest.mark.slow

THEME = {"css/main.css": "body { color: black }", "templates/home.html": "<h1>home</h1>",
         "theme.json": '{"label": "Field"}'}
BOB_ID = USERS["bob"]
SANDBOX = 444
"""Bob's own sandbox portal: one HubSpot user has one id in every portal, so a key of his
for it says who user 7002 is. (One state folder holds one account per portal: Bob's key
for portal 333 itself cannot be configured beside Ann's.)"""


def _bobs_sandbox(emu: EmulatorThread, ann: User, *, watch: Path | None = None) -> None:
    """Bob's key for his sandbox portal, configured on Ann's machine (a shared
    workstation); with ``watch``, a watch of that folder pushing to it."""
    emu.add_account("bobsbox", portal_id=SANDBOX, user_id=BOB_ID, email="bob@example.com",
                    hub_name="Bob's sandbox")
    lines = ["[accounts.bobsbox]", f"portal_id = {SANDBOX}", f'api_base = "{emu.url}"',
             'bulk = "files"']
    if watch is not None:
        lines += ["[[watch]]", 'name = "sandbox"', f'src = "{watch}"', f'dest = "{DEST}"',
                  'accounts = ["bobsbox"]']
    with ann.config.open("a") as config:
        config.write("\n".join(lines) + "\n")


def _secrets(emu: EmulatorThread) -> list[str]:
    """Every key the portal's users have and every token the emulator issued."""
    tokens = list(emu.emulator._tokens)
    return [account.key for account in emu.accounts.values()] + tokens


def _no_secret(emu: EmulatorThread, *outputs: subprocess.CompletedProcess[str]) -> None:
    for done in outputs:
        for secret in _secrets(emu):
            assert secret not in done.stdout + done.stderr, done.args


def _json_lines(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def _bobs_edit_becomes_anns_conflict(ann: User, bob: User, emu: EmulatorThread,
                                     rel: str = "css/main.css") -> subprocess.CompletedProcess[str]:
    """Bob changes ``rel`` and pushes; Ann changes it too and pushes: her conflict."""
    (bob.root / rel).write_text(f"/* bob's {rel} */")
    assert bob.run("push").returncode == 0
    assert remote(emu)[rel] == f"/* bob's {rel} */".encode()
    (ann.root / rel).write_text(f"/* ann's {rel} */")
    pushed = ann.run("push")
    assert pushed.returncode == 1, pushed.stdout + pushed.stderr
    assert remote(emu)[rel] == f"/* bob's {rel} */".encode()  # never overwritten
    return pushed


def test_log_user_finds_bobs_conflict_by_id_always_and_by_email_once_bob_is_known(
        tmp_path: Path, team: EmulatorThread) -> None:
    """Bob's edit becomes Ann's conflict. On Ann's machine, which has never seen Bob's
    identity, `log --user 7002` finds the conflict line (the id form always works), the
    console, `log` and `conflicts` say "user 7002", and `--user bob@example.com` is a
    usage error (exit 64). Once a key of Bob's (for his sandbox portal: the same HubSpot
    user) is configured on Ann's machine and checked (a shared workstation),
    `--user bob@example.com` finds the same conflict line
    (and none of Ann's pushes), `--json` shows both `remote_user_id` and the added
    `remote_user_email`, and the console, `log` and `conflicts` name him
    "bob@example.com (user 7002)". Nothing printed holds a key or token."""
    ann = make_user(tmp_path, team, "ann", THEME)
    bob = make_user(tmp_path, team, "bob", THEME)
    assert ann.run("push").returncode == 0
    assert bob.run("push").returncode == 0  # adopts Ann's equal files
    pushed = _bobs_edit_becomes_anns_conflict(ann, bob, team)
    assert "css/main.css -> ann: changed by user 7002 at " in pushed.stdout
    assert ("  ann: css/main.css: changed: changed remotely since hubsync last synced it, "
            "by user 7002\n") in pushed.stderr
    [written] = ann.log("conflict")
    assert written["remote_user_id"] == BOB_ID
    assert "remote_user_email" not in written  # the file keeps what was known then

    by_id = ann.run("log", "--user", str(BOB_ID), "--json", "-n", "0")
    assert [(line["event"], line["path"]) for line in _json_lines(by_id)] == [
        ("conflict", "css/main.css")]
    assert "remote_user_email" not in _json_lines(by_id)[0]
    unknown = ann.run("log", "--user", "bob@example.com")
    assert unknown.returncode == 64, unknown.stderr
    assert "--user 'bob@example.com': no user of that name" in unknown.stderr
    assert "known emails: ann@example.com" in unknown.stderr
    shown = ann.run("log", "--event", "conflict")
    assert "user 7002" in shown.stdout
    assert "bob@example.com" not in shown.stdout
    listed = ann.run("conflicts")
    assert "changed remotely by user 7002 at " in listed.stdout

    # A shared workstation: Bob's key (for his sandbox) is configured here, and checked.
    _bobs_sandbox(team, ann)
    checked = ann.run("auth", "test", "bobsbox")
    assert checked.returncode == 0, checked.stderr

    for given in ("bob@example.com", "BOB@example.com", str(BOB_ID)):
        found = _json_lines(ann.run("log", "--user", given, "--json", "-n", "0"))
        assert [(line["event"], line["path"]) for line in found] == [
            ("conflict", "css/main.css")], given
        assert found[0]["remote_user_id"] == BOB_ID
        assert found[0]["remote_user_email"] == "bob@example.com"
        assert found[0]["hub_user_id"] == USERS["ann"]  # the actor stays Ann
    anns = _json_lines(ann.run("log", "--user", "ann@example.com", "--json", "-n", "0"))
    assert {line["event"] for line in anns} >= {"pushed", "conflict"}
    named = ann.run("log", "--event", "conflict")
    assert "bob@example.com" in named.stdout
    assert "remote version by bob@example.com (user 7002)" in named.stdout
    listed = ann.run("conflicts")
    assert "changed remotely by bob@example.com (user 7002) at " in listed.stdout
    as_json = json.loads(ann.run("conflicts", "--json").stdout)["conflicts"]
    assert [(c["remote_user_id"], c["remote_user_email"]) for c in as_json] == [
        (BOB_ID, "bob@example.com")]

    # The live console names him too, for the next conflict he causes.
    again = _bobs_edit_becomes_anns_conflict(ann, bob, team, "templates/home.html")
    assert ("templates/home.html -> ann: changed by bob@example.com (user 7002) at "
            in again.stdout), again.stdout
    assert ("  ann: templates/home.html: changed: changed remotely since hubsync last "
            "synced it, by bob@example.com (user 7002)\n") in again.stderr
    assert ("  ann: css/main.css: changed: changed remotely since hubsync last synced it, "
            "by bob@example.com (user 7002)\n") in again.stderr  # still open
    _no_secret(team, pushed, by_id, unknown, shown, listed, checked, named, again)


def test_bobs_pushes_in_the_log_name_him_without_any_key_check(
        tmp_path: Path, team: EmulatorThread) -> None:
    """A shared workstation: Bob pushes his copy of the theme to his sandbox portal with
    his key from Ann's hubsync, so his identity (id and email) is in her sync log; no
    key check is ever recorded. His edit on the team portal (from his own machine)
    becomes Ann's conflict, and her console names him by email, and `log --user
    bob@example.com` finds both his sandbox push and the conflict: the log alone is
    the directory."""
    ann = make_user(tmp_path, team, "ann", THEME)
    bob = make_user(tmp_path, team, "bob", THEME)
    bobs_copy = tmp_path / "bob-at-anns"
    for rel, content in THEME.items():
        (bobs_copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (bobs_copy / rel).write_text(content)
    _bobs_sandbox(team, ann, watch=bobs_copy)
    assert ann.run("push").returncode == 0  # both watches: the team portal, Bob's sandbox
    assert bob.run("push").returncode == 0
    assert not _auth_checked(ann)

    pushed = _bobs_edit_becomes_anns_conflict(ann, bob, team)
    assert "css/main.css -> ann: changed by bob@example.com (user 7002) at " in pushed.stdout

    found = _json_lines(ann.run("log", "--user", "bob@example.com", "--json", "-n", "0"))
    # His key's lines on his sandbox, and Ann's conflict his edit caused; none of hers.
    assert {line["account"] for line in found if line["event"] != "conflict"} == {"bobsbox"}
    assert sorted(line["path"] for line in found if line["event"] == "pushed") == sorted(THEME)
    assert [line["account"] for line in found if line["event"] == "conflict"] == ["ann"]
    [conflict] = [line for line in found if line["event"] == "conflict"]
    assert (conflict["remote_user_id"], conflict["remote_user_email"]) == (
        BOB_ID, "bob@example.com")
    assert conflict["hub_user_email"] == "ann@example.com"
    _no_secret(team, pushed)


def _auth_checked(user: User) -> bool:
    """Whether any key check was recorded in ``user``'s state (``auth add``/``test``)."""
    from hubsync.state import StateStore

    with StateStore.open(user.state) as store:
        return bool(store.auth_statuses())
