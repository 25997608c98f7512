"""Findings of the fresh-user trial (trial 1) about two-way watch and pull, as Ann and Bob
would meet them: Ann's hubsync runs as a subprocess; Bob edits the emulated portal as
user 7002 (``edit_as``), as his own hubsync or the Design Manager would."""

from __future__ import annotations

import json
from pathlib import Path

from hubsync.emulator import EmulatorThread
from tests.support.processes import wait_until
from tests.teams.teams_helpers import DEST, PORTAL, User, make_user, remote

BOB = 7002
FIELDS_JS = "module.exports = () => [{ name: 'title', type: 'text', default: 'Ann' }];\n"
ANN_FIELDS = json.dumps([{"name": "title", "type": "text", "default": "Ann"}], indent=2)
"""What node makes of FIELDS_JS (``JSON.stringify(fields, null, 2)``)."""
BOB_FIELDS = json.dumps([{"name": "title", "type": "text", "default": "Bob"}], indent=2)
PROMO = {
    "templates/home.html": "<h1>home</h1>",
    "modules/promo.module/meta.json": '{"label": "Promo"}',
    "modules/promo.module/module.html": "<div>{{ module.title }}</div>",
    "modules/promo.module/fields.js": FIELDS_JS,
    "images/logo.svg": "<svg/>",
}
FIELDS_JSON = "modules/promo.module/fields.json"


def two_way(user: User) -> User:
    """``user`` with ``two_way = true`` on their watch and a fast poll (1000 per 10 s)."""
    text = user.config.read_text().replace("[settings]\n", "[settings]\nrate_limit = 1000\n")
    user.config.write_text(text + "two_way = true\n")
    return user


def flushed(user: User) -> None:
    """The barrier: everything Ann's running session owed is sent (`hubsync flush`)."""
    done = user.run("flush")
    assert done.returncode == 0, done.stderr


def test_two_way_never_reverts_a_teammates_fields_json_edit(
        tmp_path: Path, team: EmulatorThread) -> None:
    """Ann's module has a fields.js; Bob changes the remote fields.json. Ann's two-way
    watch records a conflict naming fields.js: no fields.json is written beside it and
    nothing is pushed over Bob's version. `resolve --keep remote` refuses (it cannot go
    into fields.js) and says what to do; `resolve --keep local` pushes Ann's output."""
    ann = two_way(make_user(tmp_path, team, "ann", PROMO))
    with ann.watching(tmp_path / "watch.txt") as session:
        wait_until(lambda: remote(team).get(FIELDS_JSON) == ANN_FIELDS.encode(),
                   what="fields.js converted and pushed")
        team.edit_as(PORTAL, f"{DEST}/{FIELDS_JSON}", BOB_FIELDS.encode(), user_id=BOB)
        wait_until(lambda: bool(ann.log("conflict")), 30, "a conflict line")
        flushed(ann)
        [line] = ann.log("conflict")
        assert (line["path"], line["kind"], line["remote_user_id"]) == (
            FIELDS_JSON, "changed", BOB)
        assert line["source"] == "modules/promo.module/fields.js"
        assert "fields.js" in line["note"]
        assert not (ann.root / FIELDS_JSON).exists()
        assert not ann.log("pulled")
        assert remote(team)[FIELDS_JSON] == BOB_FIELDS.encode()
        session.wait_for_output("fields.js")

        refused = ann.run("resolve", FIELDS_JSON, "--keep", "remote")
        assert refused.returncode != 0
        assert "generated from modules/promo.module/fields.js" in refused.stderr
        assert not (ann.root / FIELDS_JSON).exists()
        assert [c["path"] for c in ann.conflicts()] == [FIELDS_JSON]

        kept = ann.run("resolve", FIELDS_JSON, "--keep", "local")
        assert kept.returncode == 0, kept.stderr
        wait_until(lambda: remote(team)[FIELDS_JSON] == ANN_FIELDS.encode(), 30,
                   "Ann's output pushed after --keep local")
    assert not (ann.root / FIELDS_JSON).exists()
    assert "↑ " + FIELDS_JSON not in session.output().split("≠", 1)[-1].split(
        "resolved", 1)[0]


def test_two_way_does_not_bring_back_a_file_deleted_here_with_delete_remote_off(
        tmp_path: Path, team: EmulatorThread) -> None:
    """With delete_remote = false, Ann deletes images/logo.svg: the remote copy stays and
    a poll does not write it back (two later polls, seen by a teammate's edits of a file
    listed after it coming down, are the barrier)."""
    files = {k: v for k, v in PROMO.items() if "fields" not in k}
    files["zz.html"] = "<p>zz</p>"
    ann = two_way(make_user(tmp_path, team, "ann", files, delete_remote=False))
    with ann.watching(tmp_path / "watch.txt"):
        wait_until(lambda: set(remote(team)) == set(files), what="first push")
        (ann.root / "images/logo.svg").unlink()
        wait_until(lambda: any(line.get("path") == "images/logo.svg"
                               for line in ann.log("skipped")), 30, "the local delete seen")
        for n in (1, 2):
            text = f"<p>bob {n}</p>"
            team.edit_as(PORTAL, f"{DEST}/zz.html", text.encode(), user_id=BOB)

            def arrived(text: str = text) -> bool:
                return (ann.root / "zz.html").read_text() == text
            wait_until(arrived, 30, f"Bob's edit {n} pulled")
        assert not (ann.root / "images/logo.svg").exists()
        assert remote(team)["images/logo.svg"] == b"<svg/>"
    assert [line["path"] for line in ann.log("pulled")] == ["zz.html", "zz.html"]


def test_two_way_pull_says_who_wrote_it_and_hides_its_temp_files(
        tmp_path: Path, team: EmulatorThread) -> None:
    """A pulled line on the console names the remote writer first (`templates/home.html:
    written by user 7002; pulled via account ann`), never hubsync's own temp file as
    `skipped`; `hubsync log --user 7002` finds the pull Bob caused, and a resolve's temp
    file is not reported either."""
    files = {k: v for k, v in PROMO.items() if "fields" not in k}
    ann = two_way(make_user(tmp_path, team, "ann", files))
    with ann.watching(tmp_path / "watch.txt") as session:
        wait_until(lambda: set(remote(team)) == set(files), what="first push")
        team.edit_as(PORTAL, f"{DEST}/templates/home.html", b"<h1>bob</h1>", user_id=BOB)
        wait_until(lambda: (ann.root / "templates/home.html").read_bytes() == b"<h1>bob</h1>",
                   30, "Bob's edit pulled")
        session.wait_for_output(
            "templates/home.html: written by user 7002; pulled via account ann")
        # A conflict resolved with --keep remote writes through a temp file too.
        ann.run("pause", "ann")
        (ann.root / "images/logo.svg").write_text("<svg>ann</svg>")
        team.edit_as(PORTAL, f"{DEST}/images/logo.svg", b"<svg>bob</svg>", user_id=BOB)
        wait_until(lambda: bool(ann.log("conflict")), 30, "a conflict line")
        assert ann.run("resolve", "images/logo.svg", "--keep", "remote").returncode == 0
        ann.run("resume", "ann")
        flushed(ann)
        assert (ann.root / "images/logo.svg").read_bytes() == b"<svg>bob</svg>"
    assert ".hubsync-" not in session.output()
    assert not [line for line in ann.log("skipped") if ".hubsync-" in line["path"]]
    assert [line["kind"] for line in ann.log("conflict")] == ["both"]
    by_bob = ann.run("log", "--user", str(BOB), "--json", "-n", "0")
    events = [json.loads(line)["event"] for line in by_bob.stdout.splitlines()]
    assert (events.count("pulled"), events.count("conflict")) == (1, 1), by_bob.stdout
    shown = ann.run("log", "--event", "conflict", "-n", "0").stdout
    assert "user 7002" in shown
    assert "ann@example.com" not in shown


def test_conflicts_found_by_two_way_are_listed_and_resolved_while_the_watch_runs(
        tmp_path: Path, team: EmulatorThread) -> None:
    """A `both` conflict found by Ann's two-way poll is what `hubsync conflicts` shows
    while the watch runs (not "no conflicts"), and `resolve --keep local` settles it in
    the running session: her version goes up, and the conflict is gone."""
    files = {k: v for k, v in PROMO.items() if "fields" not in k}
    ann = two_way(make_user(tmp_path, team, "ann", files))
    with ann.watching(tmp_path / "watch.txt"):
        wait_until(lambda: set(remote(team)) == set(files), what="first push")
        assert ann.run("pause", "ann").returncode == 0
        (ann.root / "templates/home.html").write_text("<h1>ann</h1>")
        team.edit_as(PORTAL, f"{DEST}/templates/home.html", b"<h1>bob</h1>", user_id=BOB)
        wait_until(lambda: bool(ann.log("conflict")), 30, "a conflict line")
        listed = ann.run("conflicts")
        assert listed.returncode == 1, listed.stdout + listed.stderr
        assert "templates/home.html" in listed.stdout
        assert ann.run("resume", "ann").returncode == 0
        kept = ann.run("resolve", "templates/home.html", "--keep", "local")
        assert kept.returncode == 0, kept.stdout + kept.stderr
        flushed(ann)
        assert remote(team)["templates/home.html"] == b"<h1>ann</h1>"
        assert ann.conflicts() == []
