"""Trial 2, findings 6, 7 and 11 (plurals): what `resolve`, `status` and a watch print
is true. No command says "in sync" while a conflict is open; a resolve for a paused
account says it goes at `resume`, not "now"; one of a thing is never "1 conflicts".
Ann and Bob run hubsync as subprocesses on one emulated portal."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.teams.teams_helpers import make_user, remote

pytestmark = pytest.mark.slow

THEME = {"css/main.css": "body { color: black }", "templates/home.html": "<h1>home</h1>",
         "theme.json": '{"label": "Field"}'}
BOBS = {"css/main.css": "body { color: blue } /* bob */",
        "templates/home.html": "<h1>bob's home</h1>", "theme.json": '{"label": "Field"}'}


def test_resolve_with_another_conflict_open_never_says_in_sync(tmp_path: Path,
                                                                team: EmulatorThread) -> None:
    """Bob's first push leaves two `unsynced` conflicts. `resolve css/main.css --keep
    local` with nothing running pushes his file (exit 0) and says one other conflict is
    still open, in the singular, and never "in sync"; `status` then says "1 conflict
    open". Resolving the last one is in sync."""
    ann = make_user(tmp_path, team, "ann", THEME)
    bob = make_user(tmp_path, team, "bob", BOBS)
    assert ann.run("push").returncode == 0
    assert bob.run("push").returncode == 1

    kept = bob.run("resolve", "css/main.css", "--keep", "local")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert remote(team)["css/main.css"] == BOBS["css/main.css"].encode()
    assert "in sync" not in kept.stdout + kept.stderr
    assert "1 other conflict still open" in kept.stdout
    assert "conflicts still open" not in kept.stdout + kept.stderr

    status = bob.run("status")
    assert "1 conflict open" in status.stdout, status.stdout
    assert "1 conflicts" not in status.stdout

    last = bob.run("resolve", "templates/home.html", "--keep", "local")
    assert last.returncode == 0, last.stdout + last.stderr
    assert "everything is in sync" in last.stdout
    assert "other conflict" not in last.stdout


def test_push_and_dry_run_with_one_open_conflict_say_it_in_the_singular(
        tmp_path: Path, team: EmulatorThread) -> None:
    """One open conflict: the dry run says "1 conflict open from an earlier run", the
    push neither "in sync" nor "1 conflicts"."""
    ann = make_user(tmp_path, team, "ann", {"theme.json": THEME["theme.json"],
                                           "css/main.css": THEME["css/main.css"]})
    bob = make_user(tmp_path, team, "bob", {"theme.json": THEME["theme.json"],
                                           "css/main.css": BOBS["css/main.css"]})
    assert ann.run("push").returncode == 0
    assert bob.run("push").returncode == 1
    plan = bob.run("push", "--dry-run")
    assert "1 conflict open from an earlier run" in plan.stdout, plan.stdout
    again = bob.run("push")
    assert again.returncode == 1
    assert "in sync" not in again.stdout + again.stderr
    assert "1 conflicts" not in again.stdout + again.stderr + plan.stdout


def test_resolve_keep_local_for_a_paused_account_says_it_goes_at_resume(
        tmp_path: Path, team: EmulatorThread) -> None:
    """Bob's watch runs with his account paused (`hubsync pause bob`). `resolve
    css/main.css --keep local` says it goes when he resumes, never "does it now"; the
    remote still holds Ann's file until `hubsync resume bob` and a flush, then his."""
    ann = make_user(tmp_path, team, "ann", THEME)
    bob = make_user(tmp_path, team, "bob", BOBS)
    assert ann.run("push").returncode == 0
    assert bob.run("push").returncode == 1
    with bob.watching(tmp_path / "watch.out"):
        paused = bob.run("pause", "bob")
        assert paused.returncode == 0, paused.stderr
        kept = bob.run("resolve", "css/main.css", "--keep", "local")
        assert kept.returncode == 0, kept.stdout + kept.stderr
        assert "does it now" not in kept.stdout
        assert "bob is paused" in kept.stdout, kept.stdout
        assert "`hubsync resume bob`" in kept.stdout
        assert remote(team)["css/main.css"] == THEME["css/main.css"].encode()
        assert bob.run("resume", "bob").returncode == 0
        assert bob.run("flush").returncode == 0
        assert remote(team)["css/main.css"] == BOBS["css/main.css"].encode()
        # Not paused: the same words as before.
        now = bob.run("resolve", "templates/home.html", "--keep", "local")
        assert "the running session does it now" in now.stdout, now.stdout
