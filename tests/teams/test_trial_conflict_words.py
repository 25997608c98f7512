"""Trial 1, items 5 and 9: a push with open conflicts is not "in sync" and names them,
`--prefer local` keeps yours over the open `unsynced` ones, and each conflict kind and
each resolution is told in its own words. Ann and Bob run hubsync as subprocesses on one
emulated portal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.teams.teams_helpers import make_user, remote

pytestmark = pytest.mark.slow

THEME = {"css/main.css": "body { color: black }", "templates/home.html": "<h1>home</h1>",
         "theme.json": '{"label": "Field"}'}
BOBS = {"css/main.css": "body { color: blue } /* bob */",
        "templates/home.html": "<h1>bob's home</h1>", "theme.json": '{"label": "Field"}'}


def test_repeat_push_with_open_conflicts_fails_and_names_them(tmp_path: Path,
                                                              team: EmulatorThread) -> None:
    """Bob's first push finds two `unsynced` conflicts (Ann's different files); a dry
    run lists them as open; a repeat push exits 1, does not say "everything is in sync",
    lists both paths with the words for `unsynced` (never "changed remotely"), and
    `--json` says ok=false with them under open_conflicts, stdout one JSON document."""
    ann = make_user(tmp_path, team, "ann", THEME)
    bob = make_user(tmp_path, team, "bob", BOBS)
    assert ann.run("push").returncode == 0
    first = bob.run("push")
    assert first.returncode == 1
    assert "hubsync never synced it" in first.stderr
    assert "changed remotely" not in first.stderr

    again = bob.run("push")
    assert again.returncode == 1, again.stdout
    assert "everything is in sync" not in again.stdout
    assert "2 not sent: conflicts still open" in again.stderr
    for rel in ("css/main.css", "templates/home.html"):
        assert f"  bob: {rel}: unsynced: already on HubSpot with other content" in again.stderr
    assert "changed remotely" not in again.stderr

    plan = bob.run("push", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert "2 conflicts open from an earlier run" in plan.stdout
    assert "bob: css/main.css: unsynced: already on HubSpot" in plan.stdout

    as_json = bob.run("push", "--json")
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)
    assert doc["ok"] is False
    assert sorted(c["path"] for c in doc["open_conflicts"]) == ["css/main.css",
                                                                 "templates/home.html"]


def test_prefer_local_overwrites_open_unsynced_conflicts(tmp_path: Path,
                                                         team: EmulatorThread) -> None:
    """After a push left `unsynced` conflicts open, `push --prefer local` does what its
    help promises: Bob's files go over Ann's (exit 0), no conflict stays open, and a
    later plain push is in sync."""
    ann = make_user(tmp_path, team, "ann", THEME)
    bob = make_user(tmp_path, team, "bob", BOBS)
    assert ann.run("push").returncode == 0
    assert bob.run("push").returncode == 1
    assert len(bob.conflicts()) == 2

    preferred = bob.run("push", "--prefer", "local")
    assert preferred.returncode == 0, preferred.stderr
    assert remote(team) == {k: v.encode() for k, v in BOBS.items()}
    assert bob.conflicts() == []
    later = bob.run("push")
    assert later.returncode == 0, later.stderr
    assert "everything is in sync" in later.stdout


def test_resolve_of_a_remote_delete_says_it_removed_the_local_file(
        tmp_path: Path, team: EmulatorThread) -> None:
    """Ann deletes a file Bob edited: Bob's push finds a `deleted` conflict (said as
    deleted remotely); `resolve --keep remote` says it removed his local file, and did."""
    ann = make_user(tmp_path, team, "ann", THEME)
    bob = make_user(tmp_path, team, "bob", THEME)
    assert ann.run("push").returncode == 0
    assert bob.run("push").returncode == 0
    (ann.root / "css/main.css").unlink()
    assert ann.run("push", "--allow-deletes").returncode == 0
    (bob.root / "css/main.css").write_text("body { color: green }")
    pushed = bob.run("push")
    assert pushed.returncode == 1
    assert "css/main.css: deleted: deleted remotely since hubsync last synced it" \
        in pushed.stderr

    kept = bob.run("resolve", "css/main.css", "--keep", "remote")
    assert kept.returncode == 0, kept.stderr
    assert "deleted remotely; removed your local file too" in kept.stdout
    assert "took the remote version" not in kept.stdout
    assert not (bob.root / "css/main.css").exists()


def test_resolve_keep_local_of_a_local_delete_says_it_deletes_the_remote_file(
        tmp_path: Path, team: EmulatorThread) -> None:
    """Bob deletes a file Ann changed since: his push finds a conflict; `resolve --keep
    local` says it keeps his deletion and deletes the remote file (which it does), not
    "keeping your local file"."""
    ann = make_user(tmp_path, team, "ann", THEME)
    bob = make_user(tmp_path, team, "bob", THEME)
    assert ann.run("push").returncode == 0
    assert bob.run("push").returncode == 0
    (ann.root / "css/main.css").write_text("body { color: red } /* ann */")
    assert ann.run("push").returncode == 0
    (bob.root / "css/main.css").unlink()
    assert bob.run("push", "--allow-deletes").returncode == 1

    kept = bob.run("resolve", "css/main.css", "--keep", "local")
    assert "keeping your deletion; deleting the remote file" in kept.stdout, kept.stdout
    assert "keeping your local file" not in kept.stdout
    assert "css/main.css" not in remote(team)


def test_resolve_keep_local_with_other_conflicts_open_succeeds(tmp_path: Path,
                                                               team: EmulatorThread) -> None:
    """With two conflicts open, `resolve --keep local` of one pushes it and exits 0 (the
    other open conflict is not its failure), saying that one other is still open."""
    ann = make_user(tmp_path, team, "ann", THEME)
    bob = make_user(tmp_path, team, "bob", BOBS)
    assert ann.run("push").returncode == 0
    assert bob.run("push").returncode == 1
    kept = bob.run("resolve", "css/main.css", "--keep", "local")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "1 other conflict still open" in kept.stdout
    assert remote(team)["css/main.css"] == BOBS["css/main.css"].encode()
    assert [c["path"] for c in bob.conflicts()] == ["templates/home.html"]
