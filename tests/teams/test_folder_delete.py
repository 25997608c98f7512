"""Scoped folder deletes (issue 10): a removed local folder becomes ONE remote folder delete
only when the remote folder holds nothing but the files hubsync synced there; otherwise
one guarded delete per file. hubsync runs as a subprocess against the emulator over HTTP;
every test checks the remote tree byte for byte, the emulator's request log and the sync
log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.support.processes import wait_until
from tests.teams.teams_helpers import DEST, PORTAL, User, make_user, remote, requests

pytestmark = pytest.mark.slow

THEME = {"css/main.css": "body { color: black }", "theme.json": '{"label": "Field"}'}
HERO = {"modules/hero.module/meta.json": '{"label": "Hero"}',
        "modules/hero.module/module.html": "<div>hero</div>",
        "modules/hero.module/fields.json": "[]",
        "modules/hero.module/css/hero.css": ".hero {}"}
TEAM_MODULE = {"modules/team.module/meta.json": '{"label": "Team"}',
               "modules/team.module/module.html": "<div>team</div>"}
BOB = 7002


def encoded(files: dict[str, str]) -> dict[str, bytes]:
    return {rel: text.encode() for rel, text in files.items()}


def deletes(team: EmulatorThread, user: User, endpoint: str = "delete") -> list[str]:
    """Remote paths (relative to DEST) of the delete requests ``user`` sent."""
    return sorted(p.removeprefix(DEST + "/") for p in requests(team, endpoint, user.user_id))


def as_bob(team: EmulatorThread, files: dict[str, str]) -> None:
    """Bob writes ``files`` in the Design Manager (the emulator's act-as-another-user)."""
    for rel, text in files.items():
        team.edit_as(PORTAL, f"{DEST}/{rel}", text.encode(), user_id=BOB)


def pushed_then_removed(tmp_path: Path, team: EmulatorThread, files: dict[str, str],
                        remove: str, **config: str) -> User:
    """Ann pushes ``files``, then removes the local folder ``remove``; the request log is
    cleared so a test sees only what the next push sends."""
    ann = make_user(tmp_path, team, "ann", files, **config)  # type: ignore[arg-type]
    first = ann.run("push")
    assert first.returncode == 0, first.stderr
    shutil.rmtree(ann.root / remove)
    team.clear_requests()
    return ann


def beside_bobs_module(tmp_path: Path, team: EmulatorThread) -> User:
    """Ann with THEME and hero.module pushed, and Bob's team.module made remotely beside
    it under modules/."""
    ann = make_user(tmp_path, team, "ann", {**THEME, **HERO})
    assert ann.run("push").returncode == 0
    as_bob(team, TEAM_MODULE)
    return ann


def test_a_module_alone_in_its_folder_goes_in_one_folder_delete(
        tmp_path: Path, team: EmulatorThread) -> None:
    """Issue 10, scenario 2: modules/ holds Ann's hero.module and team.module, made by
    another user. `rm -rf modules/hero.module` then `push`: exactly ONE delete request,
    for the hero.module folder (it holds only what Ann synced, sub-folder included),
    none for modules/, team.module byte for byte intact, one `deleted` line per file
    (via the folder) that `hubsync log --path` finds."""
    ann = beside_bobs_module(tmp_path, team)
    shutil.rmtree(ann.root / "modules/hero.module")
    team.clear_requests()

    done = ann.run("push")

    assert done.returncode == 0, done.stderr + done.stdout
    assert remote(team) == {**encoded(THEME), **encoded(TEAM_MODULE)}
    assert deletes(team, ann) == ["modules/hero.module"]
    assert f"{DEST}/modules/hero.module" not in team.folders(PORTAL)
    shown = done.stdout + done.stderr
    assert all(f"{rel} -> ann deleted with its folder" in shown for rel in HERO), shown
    lines = ann.log("deleted")
    assert sorted(line["path"] for line in lines) == sorted(HERO)
    assert {line["via"] for line in lines} == {"folder"}
    assert {line["remote_folder"] for line in lines} == {f"{DEST}/modules/hero.module"}
    assert {line["hub_user_id"] for line in lines} == {ann.user_id}
    assert ann.log("conflict") == []
    found = ann.run("log", "--path", "modules/hero.module/css/hero.css", "--json")
    assert found.returncode == 0, found.stderr
    events = [json.loads(line)["event"] for line in found.stdout.splitlines() if line]
    assert "deleted" in events
    again = ann.run("push")
    assert again.returncode == 0
    assert deletes(team, ann) == ["modules/hero.module"]


def test_a_removed_folder_with_a_teammates_module_inside_is_never_deleted(
        tmp_path: Path, team: EmulatorThread) -> None:
    """`rm -rf modules` where Ann synced only hero.module and a teammate made
    team.module: the listing of modules/ shows team.module, so modules/ is never
    deleted; the next folder down, hero.module, holds only Ann's files and goes in one
    request; team.module stays byte for byte."""
    ann = beside_bobs_module(tmp_path, team)
    shutil.rmtree(ann.root / "modules")
    team.clear_requests()

    done = ann.run("push")

    assert done.returncode == 0, done.stderr + done.stdout
    assert remote(team) == {**encoded(THEME), **encoded(TEAM_MODULE)}
    assert deletes(team, ann) == ["modules/hero.module"]
    assert f"{DEST}/modules" in team.folders(PORTAL)
    assert sorted(line["path"] for line in ann.log("deleted")) == sorted(HERO)


def test_a_teammates_new_file_inside_the_folder_keeps_it_file_by_file(
        tmp_path: Path, team: EmulatorThread) -> None:
    """A teammate adds a file inside hero.module (in a sub-folder hubsync synced) before
    Ann's push: per-file deletes of what Ann synced, never the folder; the teammate's
    file stays byte for byte."""
    ann = pushed_then_removed(tmp_path, team, {**THEME, **HERO}, "modules/hero.module")
    as_bob(team, {"modules/hero.module/css/bob.css": ".bob {}"})
    team.clear_requests()

    done = ann.run("push")

    assert done.returncode == 0, done.stderr + done.stdout
    assert remote(team) == {**encoded(THEME), "modules/hero.module/css/bob.css": b".bob {}"}
    assert deletes(team, ann) == sorted(HERO)
    assert sorted(line["path"] for line in ann.log("deleted")) == sorted(HERO)


def test_a_file_changed_remotely_is_a_conflict_and_the_others_go_one_by_one(
        tmp_path: Path, team: EmulatorThread) -> None:
    """Bob changed hero.module/module.html after Ann synced it: that file is a `changed`
    conflict (kept remotely, push exits 1), the other files are deleted one by one, and
    the folder is never deleted."""
    ann = pushed_then_removed(tmp_path, team, {**THEME, **HERO}, "modules/hero.module")
    as_bob(team, {"modules/hero.module/module.html": "<div>bob's hero</div>"})
    team.clear_requests()

    done = ann.run("push")

    assert done.returncode == 1, done.stderr + done.stdout
    changed = "modules/hero.module/module.html"
    assert remote(team) == {**encoded(THEME), changed: b"<div>bob's hero</div>"}
    assert deletes(team, ann) == sorted(set(HERO) - {changed})
    [conflict] = ann.log("conflict")
    assert (conflict["path"], conflict["kind"]) == (changed, "changed")
    assert conflict["remote_user_id"] == BOB


def test_a_folder_delete_of_sixty_files_trips_the_brake_at_fifty(
        tmp_path: Path, team: EmulatorThread) -> None:
    """The brake counts files, not requests: removing a folder of 60 synced files with
    `max_deletes = 50` holds all 60 (nothing sent); `push --allow-deletes` then sends
    ONE folder delete and logs 60 `deleted` lines."""
    big = {f"images/icons/i{n:02d}.svg": f"<svg id='{n}'/>" for n in range(60)}
    ann = make_user(tmp_path, team, "ann", {**THEME, **big})
    text = ann.config.read_text().replace("debounce_ms = 50", "debounce_ms = 50\n"
                                          "max_deletes = 50")
    ann.config.write_text(text)
    assert ann.run("push").returncode == 0
    shutil.rmtree(ann.root / "images")
    team.clear_requests()

    held = ann.run("push")

    assert held.returncode == 1, held.stderr + held.stdout
    assert deletes(team, ann) == []
    [line] = ann.log("held")
    assert line["deletes"] == 60
    assert "more than 50 files" in line["reason"]
    assert remote(team) == {**encoded(THEME), **encoded(big)}

    released = ann.run("push", "--allow-deletes")

    assert released.returncode == 0, released.stderr + released.stdout
    assert deletes(team, ann) == ["images"]
    assert remote(team) == encoded(THEME)
    assert len(ann.log("deleted")) == 60


def test_the_source_code_api_deletes_the_folder_in_one_request(
        tmp_path: Path, team: EmulatorThread) -> None:
    """The same on the Source Code API transport: its metadata lists the folder (sub-
    folder too), the guard reads each file's hash, and one `DELETE …/content/{folder}`
    removes hero.module; the teammate's module beside it stays."""
    ann = make_user(tmp_path, team, "ann", {**THEME, **HERO}, transport="source-code")
    assert ann.run("push").returncode == 0
    as_bob(team, TEAM_MODULE)
    shutil.rmtree(ann.root / "modules/hero.module")
    team.clear_requests()

    done = ann.run("push")

    assert done.returncode == 0, done.stderr + done.stdout
    assert remote(team) == {**encoded(THEME), **encoded(TEAM_MODULE)}
    assert deletes(team, ann, "v3_delete") == ["modules/hero.module"]
    assert len(ann.log("deleted")) == len(HERO)


def test_a_folder_removed_while_watching_goes_in_one_folder_delete(
        tmp_path: Path, team: EmulatorThread) -> None:
    """Under `watch`, `rm -rf modules/hero.module` (settled by the brake as one batch of
    four files) becomes one folder delete; `flush` then returns with nothing owed, and
    team.module, beside it, stays."""
    ann = beside_bobs_module(tmp_path, team)
    team.clear_requests()
    with ann.watching(tmp_path / "ann-watch.txt"):
        shutil.rmtree(ann.root / "modules/hero.module")
        wait_until(lambda: len(ann.log("deleted")) == len(HERO), what="four deleted lines")
        assert ann.run("flush").returncode == 0
    assert remote(team) == {**encoded(THEME), **encoded(TEAM_MODULE)}
    assert deletes(team, ann) == ["modules/hero.module"]
    assert {line["via"] for line in ann.log("deleted")} == {"folder"}


def test_the_source_code_api_sees_a_teammates_draft_only_file(
        tmp_path: Path, team: EmulatorThread) -> None:
    """On the Source Code API hubsync lists the drafts too: a file Bob saved under
    hero.module as a draft only (never published) keeps that folder from being deleted;
    Ann's files beside it go one by one (her css/ sub-folder, which holds only her file,
    in one request) and Bob's draft stays."""
    ann = pushed_then_removed(tmp_path, team, {**THEME, **HERO}, "modules/hero.module",
                              transport="source-code")
    draft = f"{DEST}/modules/hero.module/bob.css"
    team.edit_as(PORTAL, draft, b".draft {}", user_id=BOB, publish=False)
    team.clear_requests()

    done = ann.run("push")

    assert done.returncode == 0, done.stderr + done.stdout
    assert remote(team) == encoded(THEME)
    assert team.files(PORTAL, "draft")[draft].content == b".draft {}"
    assert deletes(team, ann, "v3_delete") == sorted(
        [*(r for r in HERO if "/css/" not in r), "modules/hero.module/css"])
