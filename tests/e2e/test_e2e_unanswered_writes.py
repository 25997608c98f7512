"""A write the server applied whose answer never reached hubsync (the process was killed,
the connection died): the next run must take that remote content for its own write, not
for a teammate's, whatever happened to the local file meanwhile.

The emulator applies each write and withholds its answer (``withhold_answers``), so the
kill lands exactly between "stored remotely" and "recorded in the state", every time.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import DEST, run_hubsync, write_config
from tests.support.processes import (
    hubsync_process,
    keys_env,
    local_tree,
    remote_tree,
    wait_until,
    write_files,
)

pytestmark = pytest.mark.slow

PORTAL = 111
TEAMMATE = 9999
FILES = {f"css/f{i:02}.css": f"/* version 1 of {i} */" for i in range(40)}
"""Enough files that deleting a few of them stays under the delete brake's quarter."""


def _theme(tmp_path: Path, emu: EmulatorThread) -> tuple[Path, Path]:
    """The ``FILES`` theme and a one-account config that sends file by file: (root,
    config)."""
    root = tmp_path / "theme"
    write_files(root, FILES)
    config = write_config(tmp_path / "config.toml", emu, root, tmp_path / "state",
                          accounts=("sandbox",), bulk="files",
                          extra_settings="rate_limit = 10000")
    return root, config


def _kill_while_unanswered(tmp_path: Path, emu: EmulatorThread, config: Path) -> None:
    """Run ``push`` until the emulator holds at least one applied, unanswered write (an
    upload or a delete) and SIGKILL it there."""
    emu.withhold_answers(True)
    try:
        with hubsync_process(["--config", str(config), "push"], keys_env(emu),
                             tmp_path / "killed.txt", stop_signal=signal.SIGKILL) as session:
            wait_until(lambda: emu.withheld >= 1, timeout=60, what="an unanswered write")
            session.process.send_signal(signal.SIGKILL)
            session.process.wait(10)
    finally:
        emu.withhold_answers(False)


def _kill_with_writes_unanswered(tmp_path: Path, emu: EmulatorThread, config: Path,
                                 root: Path) -> list[str]:
    """:func:`_kill_while_unanswered` during uploads; returns the local paths whose
    content the remote now holds."""
    _kill_while_unanswered(tmp_path, emu, config)
    remote = remote_tree(emu, PORTAL, DEST)
    local = local_tree(root)
    written = sorted(rel for rel, data in local.items() if remote.get(rel) == data)
    assert written, "the kill left no write applied remotely"
    return written


@pytest.mark.parametrize("history", ["first push", "synced before"])
@pytest.mark.parametrize("then", ["edited", "deleted"])
def test_an_unanswered_write_is_hubsyncs_own_on_the_next_run(
    tmp_path: Path, emulator_thread: EmulatorThread, history: str, then: str
) -> None:
    """Kill ``push`` after the server applied a write and before its answer came; edit
    (or delete) that file while hubsync is down; the next ``push`` sends the edit (or the
    delete) with no conflict, and the remote ends equal to the local tree, byte for byte.
    Before the fix the remote copy was "a version hubsync never synced": the edit became
    an ``unsynced`` conflict, the delete left the file remotely."""
    emu = emulator_thread
    root, config = _theme(tmp_path, emu)
    if history == "synced before":
        assert run_hubsync(config, emu, "push").returncode == 0
        write_files(root, {rel: f"/* version 2 of {rel} */" for rel in FILES})
    written = _kill_with_writes_unanswered(tmp_path, emu, config, root)
    # The brake holds deletes of more than a quarter of the files: delete a few.
    for rel in written if then == "edited" else written[:3]:
        if then == "edited":
            (root / rel).write_text(f"/* edited while hubsync was down: {rel} */")
        else:
            (root / rel).unlink()

    result = run_hubsync(config, emu, "push")

    assert result.returncode == 0, result.stdout + result.stderr
    assert remote_tree(emu, PORTAL, DEST) == local_tree(root)
    listed = run_hubsync(config, emu, "conflicts", "--json")
    assert json.loads(listed.stdout)["conflicts"] == [], listed.stdout


def test_a_teammates_file_at_an_unanswered_path_is_still_a_conflict(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """The same kill, then a teammate overwrites that path before the next run: the
    remote holds neither hubsync's content nor the local one, so the next ``push``
    refuses to overwrite it (a conflict), and the teammate's bytes stay."""
    emu = emulator_thread
    root, config = _theme(tmp_path, emu)
    written = _kill_with_writes_unanswered(tmp_path, emu, config, root)
    rel = written[0]
    teammate = b"/* the teammate's version */"
    emu.edit_as(PORTAL, f"{DEST}/{rel}", teammate, user_id=TEAMMATE)
    (root / rel).write_text("/* edited while hubsync was down */")

    result = run_hubsync(config, emu, "push")

    assert result.returncode == 1, result.stdout + result.stderr
    assert remote_tree(emu, PORTAL, DEST)[rel] == teammate
    listed = json.loads(run_hubsync(config, emu, "conflicts", "--json").stdout)["conflicts"]
    assert [(c["path"], c["remote_user_id"]) for c in listed] == [(rel, TEAMMATE)], listed


@pytest.mark.parametrize("content", ["same", "new"])
def test_an_unanswered_delete_then_the_file_back_is_recreated(
    tmp_path: Path, emulator_thread: EmulatorThread, content: str
) -> None:
    """Kill ``push`` after the server applied a delete and before its answer came; put
    the file back (as it was, or edited) while hubsync is down; the next ``push``
    re-creates it with no `deleted` conflict: the remote lost it to hubsync's own delete."""
    emu = emulator_thread
    root, config = _theme(tmp_path, emu)
    assert run_hubsync(config, emu, "push").returncode == 0
    rel = "css/f07.css"
    (root / rel).unlink()
    _kill_while_unanswered(tmp_path, emu, config)
    assert rel not in remote_tree(emu, PORTAL, DEST)
    write_files(root, {rel: FILES[rel] if content == "same" else "/* back, edited */"})

    result = run_hubsync(config, emu, "push")

    assert result.returncode == 0, result.stdout + result.stderr
    assert remote_tree(emu, PORTAL, DEST) == local_tree(root)


def test_a_teammates_same_bytes_at_an_unanswered_path_are_not_deleted(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """The same kill, then a teammate uploads the very bytes hubsync had sent (the
    remote names the teammate as writer), and the file is deleted here: the next ``push``
    does not delete the teammate's upload (found in a trial: hubsync took it for its own
    unanswered write); it is a conflict."""
    emu = emulator_thread
    root, config = _theme(tmp_path, emu)
    written = _kill_with_writes_unanswered(tmp_path, emu, config, root)
    rel = written[0]
    emu.edit_as(PORTAL, f"{DEST}/{rel}", (root / rel).read_bytes(), user_id=TEAMMATE)
    (root / rel).unlink()

    result = run_hubsync(config, emu, "push")

    assert result.returncode == 1, result.stdout + result.stderr
    assert rel in remote_tree(emu, PORTAL, DEST)
    listed = json.loads(run_hubsync(config, emu, "conflicts", "--json").stdout)["conflicts"]
    assert [(c["path"], c["remote_user_id"]) for c in listed] == [(rel, TEAMMATE)], listed
