"""Two-way watch: `hubsync watch --two-way` (or `two_way = true`) as a subprocess while a
teammate edits in the Design Manager (the emulator's `edit_as` / `delete_as`)."""

from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path

from hubsync.emulator import EmulatorThread
from hubsync.model import Conflict, ConflictKind, Target
from hubsync.state import StateStore
from tests.e2e.e2e_helpers import DEST, run_hubsync, uploads_of, write_config
from tests.pull.pull_helpers import TEAMMATE, THEME, log_lines, seed_remote, watch_session
from tests.support.processes import PORTALS, remote_tree, wait_until, write_files

SANDBOX = PORTALS["sandbox"]


def _conflicts(state: Path, emu: EmulatorThread) -> list[Conflict]:
    """The conflicts the state records for sandbox (read after the session stopped)."""
    with StateStore.open(state) as store:
        store.bind({"sandbox": Target(SANDBOX, emu.url)})
        return store.conflicts()

# 1000 requests per 10 s: the poller's 10 % share is one read per 0.1 s, so a poll of
# the test theme takes about a second.
FAST_SETTINGS = "rate_limit = 1000"


def _pulled_theme(tmp_path: Path, emu: EmulatorThread, *,
                  in_config: bool = False) -> tuple[Path, Path, Path]:
    """A config for one watch of sandbox whose folder holds the pulled ``THEME``."""
    root = tmp_path / "theme"
    root.mkdir()
    state = tmp_path / "state"
    config = write_config(tmp_path / "config.toml", emu, root, state, accounts=("sandbox",),
                          extra_settings=FAST_SETTINGS)
    if in_config:
        config.write_text(config.read_text() + "two_way = true\n")
    seed_remote(emu, SANDBOX)
    pulled = run_hubsync(config, emu, "pull")
    assert pulled.returncode == 0, pulled.stderr
    return config, root, state


def test_design_manager_edit_arrives_locally_and_is_not_pushed_back(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """While `watch --two-way` runs, a teammate's edit comes down into the local file, is
    a `pulled` line naming the teammate as the remote writer, and (flush as the barrier)
    is not uploaded again; a local save still goes up."""
    emu = emulator_thread
    config, root, state = _pulled_theme(tmp_path, emu)
    remote_path = f"{DEST}/css/main.css"
    with watch_session(config, emu, tmp_path / "watch.out", extra=("--two-way",)):
        emu.edit_as(SANDBOX, remote_path, b"body { color: teal; }\n", user_id=TEAMMATE)
        wait_until(lambda: (root / "css/main.css").read_bytes() == b"body { color: teal; }\n",
                   30, "the teammate's edit in the local file")
        wait_until(lambda: len(log_lines(state, "pulled")) == len(THEME) + 1, 10,
                   "the pulled line")
        flushed = run_hubsync(config, emu, "flush")
        assert flushed.returncode == 0, flushed.stderr
        assert uploads_of(emu, remote_path) == 0

        write_files(root, {"templates/home.html": "<h1>local</h1>\n"})
        assert run_hubsync(config, emu, "flush").returncode == 0
        assert uploads_of(emu, f"{DEST}/templates/home.html") == 1

    line = log_lines(state, "pulled")[-1]
    assert line["path"] == "css/main.css"
    assert line["remote_user_id"] == TEAMMATE
    assert line["hub_user_id"] == 9001
    assert remote_tree(emu, SANDBOX, DEST)["css/main.css"] == b"body { color: teal; }\n"


def test_change_on_both_sides_is_a_conflict_and_nothing_is_overwritten(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A local edit held back (the account paused) and a teammate's edit of the same file:
    a `conflict` line of kind `both`, listed by `hubsync conflicts` while the watch runs;
    the local file keeps the local edit, the remote keeps the teammate's, and the
    teammate's version is kept in the state folder."""
    emu = emulator_thread
    config, root, state = _pulled_theme(tmp_path, emu, in_config=True)
    remote_path = f"{DEST}/templates/home.html"
    with watch_session(config, emu, tmp_path / "watch.out"):
        assert run_hubsync(config, emu, "pause", "sandbox").returncode == 0
        write_files(root, {"templates/home.html": "<h1>mine</h1>\n"})

        def pending() -> int:
            status = json.loads(run_hubsync(config, emu, "status", "--json").stdout)
            return int(status["accounts"][0]["pending"])
        wait_until(lambda: pending() == 1, 20, "the local edit pending")
        emu.edit_as(SANDBOX, remote_path, b"<h1>theirs</h1>\n", user_id=TEAMMATE)
        wait_until(lambda: bool(log_lines(state, "conflict")), 30, "a conflict line")

        conflict = log_lines(state, "conflict")[0]
        assert conflict["kind"] == "both"
        assert conflict["path"] == "templates/home.html"
        assert conflict["remote_user_id"] == TEAMMATE
        assert (root / "templates/home.html").read_bytes() == b"<h1>mine</h1>\n"
        assert remote_tree(emu, SANDBOX, DEST)["templates/home.html"] == b"<h1>theirs</h1>\n"
        kept = state / "conflicts" / "sandbox" / DEST / "templates" / "home.html"
        assert conflict["copy"] == str(kept)
        assert kept.read_bytes() == b"<h1>theirs</h1>\n"
        listed = run_hubsync(config, emu, "conflicts", "--json")
        assert listed.returncode == 1
        shown = json.loads(listed.stdout)["conflicts"]
        assert [(c["path"], c["kind"], c["remote_user_id"]) for c in shown] == [
            ("templates/home.html", "both", TEAMMATE)]
    recorded = _conflicts(state, emu)
    assert [(c.remote_path, c.kind) for c in recorded] == [(remote_path, ConflictKind.BOTH)]
    assert recorded[0].remote_sha256 == hashlib.sha256(b"<h1>theirs</h1>\n").hexdigest()


def test_remote_delete_is_a_conflict_and_the_local_file_stays(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A teammate deletes a synced file: a `deleted` conflict, said once, and the local
    file is left in place."""
    emu = emulator_thread
    config, root, state = _pulled_theme(tmp_path, emu, in_config=True)
    with watch_session(config, emu, tmp_path / "watch.out"):
        assert emu.delete_as(SANDBOX, f"{DEST}/css/main.css")
        wait_until(lambda: bool(log_lines(state, "conflict")), 30, "a conflict line")
        conflict = log_lines(state, "conflict")[0]
        assert conflict["kind"] == "deleted"
        assert conflict["path"] == "css/main.css"
        assert (root / "css/main.css").read_bytes() == THEME["css/main.css"]
    assert [(c.rel, c.kind) for c in _conflicts(state, emu)] == [
        ("css/main.css", ConflictKind.DELETED)]


def _holds(path: Path, body: bytes) -> bool:
    return path.read_bytes() == body


def test_a_file_left_remote_on_purpose_is_not_pulled_back_by_a_later_session(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`delete_remote = false`: a file deleted locally and pushed (its remote copy stays
    on purpose) is not written back by a two-way watch started later, in a new process;
    the teammate's edits of other files still come down (the barrier: two of them, so a
    whole poll ran between them)."""
    emu = emulator_thread
    config, root, state = _pulled_theme(tmp_path, emu)
    config.write_text(config.read_text().replace("delete_remote = true",
                                                 "delete_remote = false"))
    (root / "css/main.css").unlink()
    pushed = run_hubsync(config, emu, "push")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert [line["path"] for line in log_lines(state, "skipped")] == ["css/main.css"]
    home = f"{DEST}/templates/home.html"
    with watch_session(config, emu, tmp_path / "watch.out", extra=("--two-way",)):
        for n in (1, 2):
            body = f"<h1>teammate {n}</h1>\n".encode()
            emu.edit_as(SANDBOX, home, body, user_id=TEAMMATE)
            wait_until(partial(_holds, root / "templates/home.html", body), 30,
                       f"the teammate's edit {n}")
    assert not (root / "css/main.css").exists()
    assert "css/main.css" in remote_tree(emu, SANDBOX, DEST)
