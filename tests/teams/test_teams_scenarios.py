"""Issue 10's two scenarios, two people on one portal, each running hubsync as a
subprocess: Bob's change is never overwritten by Ann, and a teammate's module survives
Ann's folder removal. Every test checks the remote tree byte for byte and the sync log."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.support.processes import wait_until
from tests.teams.teams_helpers import DEST, make_user, remote, requests, writers

pytestmark = pytest.mark.slow

THEME = {"css/main.css": "body { color: black }", "templates/home.html": "<h1>home</h1>",
         "theme.json": '{"label": "Field"}'}


def test_scenario_1_bobs_change_is_never_overwritten(tmp_path: Path,
                                                     team: EmulatorThread) -> None:
    """Ann pushes; Bob's first push adopts the equal files (no upload) and his edit goes
    out over Ann's version; Ann, who edited the same file, sees the conflict in
    `push --dry-run` and `push` (exit 1), her push sends nothing for that file, the
    remote copy of Bob's version is kept in her state folder, and her later saves under
    `watch` never overwrite it either."""
    ann = make_user(tmp_path, team, "ann", THEME)
    bob = make_user(tmp_path, team, "bob", THEME)
    assert ann.run("push").returncode == 0
    first = bob.run("push")
    assert first.returncode == 0, first.stderr
    assert requests(team, "upload", bob.user_id) == []
    assert sorted(line["path"] for line in bob.log("adopted")) == sorted(THEME)

    (bob.root / "css/main.css").write_text("body { color: blue } /* bob */")
    assert bob.run("push").returncode == 0
    assert remote(team)["css/main.css"] == b"body { color: blue } /* bob */"

    (ann.root / "css/main.css").write_text("body { color: red } /* ann */")
    plan = ann.run("push", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert "conflict css/main.css (changed" in plan.stdout
    assert "upload  css/main.css" not in plan.stdout

    pushed = ann.run("push")
    assert pushed.returncode == 1
    assert "not sent: a remote version hubsync will not overwrite" in pushed.stderr
    assert "changed remotely since hubsync last synced it" in pushed.stderr
    assert "ann: css/main.css: changed" in pushed.stderr
    expected = {**{k: v.encode() for k, v in THEME.items()},
                "css/main.css": b"body { color: blue } /* bob */"}
    assert remote(team) == expected
    assert writers(team)["css/main.css"] == bob.user_id
    [line] = ann.log("conflict")
    assert line["path"] == "css/main.css"
    assert line["remote_path"] == f"{DEST}/css/main.css"
    assert line["kind"] == "changed"
    assert line["remote_user_id"] == bob.user_id
    assert line["hub_user_id"] == ann.user_id
    assert line["portal_id"] == 333
    assert line["remote_updated_at"].endswith("Z")
    copy = ann.state / "conflicts/ann" / DEST / "css/main.css"
    assert copy.read_bytes() == b"body { color: blue } /* bob */"
    assert [c["path"] for c in ann.conflicts()] == ["css/main.css"]

    with ann.watching(tmp_path / "ann-watch.txt"):
        (ann.root / "css/main.css").write_text("body { color: green } /* ann again */")
        (ann.root / "css/extra.css").write_text(".x {}")
        wait_until(lambda: remote(team).get("css/extra.css") == b".x {}", what="extra.css")
        assert ann.run("flush").returncode == 0
    assert remote(team) == {**expected, "css/extra.css": b".x {}"}
    assert [u for u in requests(team, "upload", ann.user_id)
            if u.endswith("main.css")] == [f"{DEST}/css/main.css"]  # only her first push


def test_scenario_2_a_teammates_module_survives_a_folder_removal(
        tmp_path: Path, team: EmulatorThread) -> None:
    """Ann pushed modules/hero.module, Bob pushed modules/team.module; Ann removes her
    hero.module folder with delete_remote on and pushes: hero.module holds only what she
    synced, so ONE delete of that folder (tests/teams/test_folder_delete.py has the rest),
    never a delete of modules/ or of anything under team.module, which stays byte for
    byte; one `deleted` line per file."""
    hero = {"modules/hero.module/meta.json": "{}",
            "modules/hero.module/module.html": "<div>hero</div>",
            "modules/hero.module/fields.json": "[]"}
    ann = make_user(tmp_path, team, "ann", {**THEME, **hero})
    team_module = {"modules/team.module/meta.json": "{}",
                   "modules/team.module/module.html": "<div>team</div>"}
    bob = make_user(tmp_path, team, "bob", team_module)
    assert ann.run("push").returncode == 0
    assert bob.run("push").returncode == 0
    shutil.rmtree(ann.root / "modules/hero.module")
    done = ann.run("push")
    assert done.returncode == 0, done.stderr + done.stdout
    assert remote(team) == {**{k: v.encode() for k, v in THEME.items()},
                            **{k: v.encode() for k, v in team_module.items()}}
    deletes = requests(team, "delete", ann.user_id)
    assert deletes == [f"{DEST}/modules/hero.module"]
    assert sorted(line["path"] for line in ann.log("deleted")) == sorted(hero)
    assert ann.log("conflict") == []
