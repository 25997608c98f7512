"""First contact, remote deletes, races and resolution, two people on one portal, each
running hubsync as a subprocess. Every test checks the remote tree byte for byte and the
sync log."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.support.processes import wait_until
from tests.teams.teams_helpers import DEST, PORTAL, make_user, remote, requests, writers

pytestmark = pytest.mark.slow

BASE = {"css/main.css": "body {}", "templates/home.html": "<h1>home</h1>"}


def encoded(files: dict[str, str]) -> dict[str, bytes]:
    return {k: v.encode() for k, v in files.items()}


def test_first_contact_adopts_equal_files_keeps_different_and_remote_only(
        tmp_path: Path, team: EmulatorThread) -> None:
    """Bob's theme is on the portal; Ann's first push (no state) lists each folder once,
    adopts the equal file (no upload), keeps the differing one as an `unsynced` conflict,
    leaves Bob's remote-only file alone, and uploads her new file. `--prefer local` on a
    fresh state then overwrites the differing file."""
    bob = make_user(tmp_path, team, "bob", {**BASE, "css/bob-only.css": ".bob {}"})
    assert bob.run("push").returncode == 0
    ann = make_user(tmp_path, team, "ann", {"css/main.css": "body {}",
                                            "templates/home.html": "<h1>ANN</h1>",
                                            "css/new.css": ".new {}"})
    done = ann.run("push")
    assert done.returncode == 1
    assert "ann: templates/home.html: unsynced" in done.stderr
    assert "1 remote file hubsync never synced was left alone" in done.stdout
    assert f"  ann: {DEST}/css/bob-only.css" in done.stdout
    assert remote(team) == {**encoded(BASE), "css/bob-only.css": b".bob {}",
                            "css/new.css": b".new {}"}
    assert requests(team, "upload", ann.user_id) == [f"{DEST}/css/new.css"]
    # One listing per folder, not one metadata read per new file.
    listings = [p for p in requests(team, "meta", ann.user_id) if not p.endswith((".css",
                                                                              ".html"))]
    assert sorted(listings) == [f"{DEST}/css", f"{DEST}/templates"]
    assert [line["path"] for line in ann.log("adopted")] == ["css/main.css"]
    [conflict] = ann.log("conflict")
    assert conflict["kind"] == "unsynced"
    assert conflict["remote_user_id"] == bob.user_id
    assert "base_sha256" not in conflict

    preferring = make_user(tmp_path / "again", team, "ann", {"templates/home.html":
                                                             "<h1>ANN</h1>"})
    assert preferring.run("push", "--prefer", "local").returncode == 0
    assert remote(team)["templates/home.html"] == b"<h1>ANN</h1>"
    assert writers(team)["templates/home.html"] == ann.user_id


def test_remote_delete_of_a_locally_edited_file_then_keep_local_offline(
        tmp_path: Path, team: EmulatorThread) -> None:
    """Bob deletes a file Ann synced and then edited: Ann's push does not re-create it
    (a `deleted` conflict); `resolve --keep local` with nothing running pushes her file
    and logs `resolved`; a delete of a file already gone remotely is simply done."""
    ann = make_user(tmp_path, team, "ann", {**BASE, "css/old.css": ".old {}"})
    assert ann.run("push").returncode == 0
    assert team.delete_as(PORTAL, f"{DEST}/css/main.css")
    assert team.delete_as(PORTAL, f"{DEST}/css/old.css")
    (ann.root / "css/main.css").write_text("body { margin: 0 }")
    (ann.root / "css/old.css").unlink()
    done = ann.run("push")
    assert done.returncode == 1
    assert remote(team) == {"templates/home.html": b"<h1>home</h1>"}
    assert [(c["path"], c["kind"]) for c in ann.conflicts()] == [("css/main.css", "deleted")]
    assert [line["path"] for line in ann.log("deleted")] == ["css/old.css"]

    resolved = ann.run("resolve", "css/main.css", "--keep", "local")
    assert resolved.returncode == 0, resolved.stderr + resolved.stdout
    assert remote(team) == {"templates/home.html": b"<h1>home</h1>",
                            "css/main.css": b"body { margin: 0 }"}
    assert ann.conflicts() == []
    [line] = ann.log("resolved")
    assert (line["path"], line["keep"], line["hub_user_id"]) == ("css/main.css", "local",
                                                                 ann.user_id)


def test_resolve_both_ways_while_watch_runs(tmp_path: Path, team: EmulatorThread) -> None:
    """With Ann's `watch` running, Bob changes two files remotely and Ann saves both: two
    conflicts, nothing overwritten. `resolve --keep remote` writes Bob's bytes into her
    file and nothing is uploaded for it; `resolve --keep local` pushes hers over Bob's."""
    ann = make_user(tmp_path, team, "ann", BASE)
    with ann.watching(tmp_path / "watch.txt") as session:
        wait_until(lambda: remote(team) == encoded(BASE), what="first push")
        team.edit_as(PORTAL, f"{DEST}/css/main.css", b"body { bob }", user_id=7002)
        team.edit_as(PORTAL, f"{DEST}/templates/home.html", b"<h1>bob</h1>", user_id=7002)
        # A save racing Bob's remote edit: the guard reads the remote before writing.
        (ann.root / "css/main.css").write_text("body { ann }")
        (ann.root / "templates/home.html").write_text("<h1>ann</h1>")
        wait_until(lambda: len(ann.log("conflict")) == 2, what="two conflicts")
        session.wait_for_output("not overwritten")
        assert remote(team) == {"css/main.css": b"body { bob }",
                                "templates/home.html": b"<h1>bob</h1>"}
        status = ann.run("status", "--json")
        assert "css/main.css" in status.stdout

        uploads = len(requests(team, "upload", ann.user_id))
        took = ann.run("resolve", "css/main.css", "--keep", "remote")
        assert took.returncode == 0, took.stderr
        assert (ann.root / "css/main.css").read_bytes() == b"body { bob }"
        kept = ann.run("resolve", str(ann.root / "templates/home.html"), "--keep", "local")
        assert kept.returncode == 0, kept.stderr
        wait_until(lambda: remote(team)["templates/home.html"] == b"<h1>ann</h1>",
                   what="keep local pushed")
        assert ann.run("flush").returncode == 0
        assert remote(team) == {"css/main.css": b"body { bob }",
                                "templates/home.html": b"<h1>ann</h1>"}
        assert len(requests(team, "upload", ann.user_id)) == uploads + 1
        assert ann.conflicts() == []
    assert sorted((line["path"], line["keep"]) for line in ann.log("resolved")) == [
        ("css/main.css", "remote"), ("templates/home.html", "local")]
    assert not list((ann.state / "conflicts").rglob("*.*"))


def test_resolve_keep_remote_offline_and_unknown_path(tmp_path: Path,
                                                      team: EmulatorThread) -> None:
    """With nothing running, `resolve --keep remote` writes the kept copy into the local
    file and records it as synced (the next push uploads nothing); a PATH that is not in
    conflict is a usage error (exit 64) that suggests the close one."""
    ann = make_user(tmp_path, team, "ann", BASE)
    assert ann.run("push").returncode == 0
    team.edit_as(PORTAL, f"{DEST}/css/main.css", b"body { bob }", user_id=7002)
    (ann.root / "css/main.css").write_text("body { ann }")
    assert ann.run("push").returncode == 1
    typo = ann.run("resolve", "css/mian.css", "--keep", "remote")
    assert typo.returncode == 64
    assert "did you mean 'css/main.css'" in typo.stderr
    took = ann.run("resolve", "css/main.css", "--keep", "remote")
    assert took.returncode == 0, took.stderr
    assert (ann.root / "css/main.css").read_bytes() == b"body { bob }"
    uploads = len(requests(team, "upload", ann.user_id))
    again = ann.run("push")
    assert again.returncode == 0, again.stderr
    assert "everything is in sync" in again.stdout
    assert len(requests(team, "upload", ann.user_id)) == uploads
    assert remote(team) == {"css/main.css": b"body { bob }",
                            "templates/home.html": b"<h1>home</h1>"}
    assert [line["keep"] for line in ann.log("resolved")] == ["remote"]


def test_guard_off_overwrites_as_before(tmp_path: Path, team: EmulatorThread) -> None:
    """`guard = false` (one person alone on a portal): no metadata read before a write,
    and a remote change is overwritten, as before the guard existed."""
    ann = make_user(tmp_path, team, "ann", BASE, guard=False)
    assert ann.run("push").returncode == 0
    team.edit_as(PORTAL, f"{DEST}/css/main.css", b"body { bob }", user_id=7002)
    (ann.root / "css/main.css").write_text("body { ann }")
    assert ann.run("push").returncode == 0
    assert remote(team)["css/main.css"] == b"body { ann }"
    assert requests(team, "meta", ann.user_id) == []
    assert ann.log("conflict") == []


def test_source_code_transport_guards_by_hash(tmp_path: Path, team: EmulatorThread) -> None:
    """On the Source Code API the version recorded after a write comes from the PUT's
    answer (no extra read) and includes its hash: a teammate's change is a conflict, an
    unchanged remote lets the next save through."""
    ann = make_user(tmp_path, team, "ann", BASE, transport="source-code")
    assert ann.run("push").returncode == 0
    # First contact: one listing per folder; the versions come from the PUT answers.
    assert sorted(requests(team, "v3_metadata", ann.user_id)) == [f"{DEST}/css",
                                                                  f"{DEST}/templates"]
    (ann.root / "templates/home.html").write_text("<h1>ann 2</h1>")
    team.edit_as(PORTAL, f"{DEST}/css/main.css", b"body { bob }", user_id=7002)
    (ann.root / "css/main.css").write_text("body { ann }")
    done = ann.run("push")
    assert done.returncode == 1
    assert remote(team) == {"css/main.css": b"body { bob }",
                            "templates/home.html": b"<h1>ann 2</h1>"}
    [line] = ann.log("conflict")
    assert (line["path"], line["kind"], line["remote_user_id"]) == ("css/main.css",
                                                                    "changed", 7002)
    assert line["remote_hash"]
