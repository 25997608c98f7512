"""Trial 2, finding 13: `pull --force` and `resolve --keep remote` never lose the local
file they replace or remove. It is kept first under `<state_dir>/overwritten/<watch>/
<UTC time>/<path>` (never in the watch folder), and the console and the sync log line
(`local_copy`) say where. Ann and Bob run hubsync as subprocesses on one emulated portal,
with and without a running watch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.teams.teams_helpers import User, make_user, remote

pytestmark = pytest.mark.slow

THEME = {"css/main.css": "body { color: black }", "templates/home.html": "<h1>home</h1>",
         "theme.json": '{"label": "Field"}'}
ANNS = "body { color: red } /* ann's unsent work */"
BOBS = "body { color: blue } /* bob */"
STAMP = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")


def _copies(user: User) -> dict[str, bytes]:
    """Every kept local file of ``user``: path relative to <state>/overwritten -> bytes."""
    base = user.state / "overwritten"
    if not base.exists():
        return {}
    return {p.relative_to(base).as_posix(): p.read_bytes()
            for p in base.rglob("*") if p.is_file()}


def _kept_at(user: User, rel: str) -> Path:
    """The one kept copy of ``rel`` (watch "theme"), checked to be where the docs say."""
    found = [name for name in _copies(user) if name.endswith("/" + rel)]
    assert len(found) == 1, _copies(user)
    watch, stamp, *rest = found[0].split("/")
    assert watch == "theme"
    assert STAMP.match(stamp)
    assert "/".join(rest) == rel
    return user.state / "overwritten" / found[0]


def _synced_then_bob_changes(tmp_path: Path, team: EmulatorThread) -> tuple[User, User]:
    """Both pushed THEME; then Bob pushes his css/main.css."""
    ann = make_user(tmp_path, team, "ann", THEME)
    bob = make_user(tmp_path, team, "bob", THEME)
    assert ann.run("push").returncode == 0
    assert bob.run("push").returncode == 0
    (bob.root / "css/main.css").write_text(BOBS)
    assert bob.run("push").returncode == 0
    return ann, bob


def test_pull_force_keeps_the_local_file_it_overwrites(tmp_path: Path,
                                                       team: EmulatorThread) -> None:
    """Ann changed css/main.css locally; Bob changed it remotely. `pull --force` writes
    Bob's version into her file and first keeps hers under her state folder: the console
    names the copy, the writer first ("written by user 7002") and her account last, and
    the `pulled` line carries `local_copy`. Nothing lands in the watch folder."""
    ann, _ = _synced_then_bob_changes(tmp_path, team)
    (ann.root / "css/main.css").write_text(ANNS)
    before = set(p.relative_to(ann.root) for p in ann.root.rglob("*"))

    refused = ann.run("pull")
    assert refused.returncode == 1
    assert _copies(ann) == {}  # a refused pull writes and keeps nothing

    forced = ann.run("pull", "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert (ann.root / "css/main.css").read_text() == BOBS
    copy = _kept_at(ann, "css/main.css")
    assert copy.read_text() == ANNS
    assert f"your local version kept at {copy}" in forced.stdout
    assert "css/main.css: written by user 7002; pulled via account ann" in forced.stdout
    assert "css/main.css <- ann" not in forced.stdout
    assert "1 local file --force overwrote is kept under" in forced.stdout
    assert set(p.relative_to(ann.root) for p in ann.root.rglob("*")) == before
    [line] = [x for x in ann.log("pulled") if x["path"] == "css/main.css"]
    assert line["forced"] is True
    assert line["local_copy"] == str(copy)


def test_resolve_keep_remote_keeps_the_local_file_offline(tmp_path: Path,
                                                          team: EmulatorThread) -> None:
    """With nothing running, Ann's push of her css/main.css hits Bob's change: `resolve
    --keep remote` writes his version into her file, keeps hers under overwritten/, says
    where, and the `resolved` line carries it. A remote delete taken the same way keeps
    the local file it removes."""
    ann, bob = _synced_then_bob_changes(tmp_path, team)
    (ann.root / "css/main.css").write_text(ANNS)
    assert ann.run("push").returncode == 1

    kept = ann.run("resolve", "css/main.css", "--keep", "remote")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert (ann.root / "css/main.css").read_text() == BOBS
    copy = _kept_at(ann, "css/main.css")
    assert copy.read_text() == ANNS
    assert f"your local version is kept at {copy}" in kept.stdout
    [line] = ann.log("resolved")
    assert line["keep"] == "remote"
    assert line["local_copy"] == str(copy)

    (bob.root / "templates/home.html").unlink()
    assert bob.run("push", "--allow-deletes").returncode == 0
    (ann.root / "templates/home.html").write_text("<h1>ann's home</h1>")
    assert ann.run("push").returncode == 1
    gone = ann.run("resolve", "templates/home.html", "--keep", "remote")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert not (ann.root / "templates/home.html").exists()
    assert _kept_at(ann, "templates/home.html").read_text() == "<h1>ann's home</h1>"
    assert "your local version is kept at" in gone.stdout


def test_resolve_keep_remote_through_a_running_watch_keeps_the_local_file(
        tmp_path: Path, team: EmulatorThread) -> None:
    """The same through Ann's running watch (the control socket): her file is kept
    before the session writes Bob's version, and `resolve` prints where."""
    ann, _ = _synced_then_bob_changes(tmp_path, team)
    (ann.root / "css/main.css").write_text(ANNS)
    assert ann.run("push").returncode == 1
    with ann.watching(tmp_path / "watch.out"):
        kept = ann.run("resolve", "css/main.css", "--keep", "remote")
        assert kept.returncode == 0, kept.stdout + kept.stderr
        assert ann.run("flush").returncode == 0
    assert (ann.root / "css/main.css").read_text() == BOBS
    assert remote(team)["css/main.css"] == BOBS.encode()
    copy = _kept_at(ann, "css/main.css")
    assert copy.read_text() == ANNS
    assert f"your local version is kept at {copy}" in kept.stdout
    assert [line["local_copy"] for line in ann.log("resolved")] == [str(copy)]
