"""The delete brake under `hubsync watch`: it counts deletes over time, not per settle
round, and a running session can release or discard what it holds."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import DEST, run_hubsync, watch_session, write_config
from tests.support.processes import file_deletes, local_tree, remote_tree, wait_until, write_files

pytestmark = pytest.mark.slow

FILES = {f"css/f{i:03}.css": f"/* {i} */" for i in range(80)} | {
    f"doomed/d{i:03}.css": f"/* doomed {i} */" for i in range(120)}


def _start(tmp_path: Path, emu: EmulatorThread) -> tuple[Path, Path, Path]:
    root = tmp_path / "theme"
    write_files(root, FILES)
    state = tmp_path / "state"
    config = write_config(tmp_path / "config.toml", emu, root, state, accounts=("sandbox",),
                          extra_settings="rate_limit = 10000")
    return root, state, config


def _log(state: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (state / "sync.log").read_text().splitlines()]


def _pushed(state: Path) -> int:
    """``pushed`` lines in the sync log: files hubsync has recorded as synced."""
    return sum(1 for line in _log(state) if line["event"] == "pushed")


def _deletes(emu: EmulatorThread) -> int:
    return len(file_deletes(emu))


def _hold_settled(config: Path, emu: EmulatorThread, state: Path) -> None:
    """Wait for the brake's one decision, then for the session to be idle (flush)."""
    wait_until(lambda: any(line["event"] == "held" for line in _log(state)), timeout=30,
               what="the held line")
    flushed = run_hubsync(config, emu, "flush", "--timeout", "20")
    assert flushed.returncode == 1, flushed.stdout + flushed.stderr  # deletes are held
    assert "120 held deletes" in flushed.stderr


def test_deletes_one_by_one_5ms_apart_are_all_held_then_released(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """200 files pushed; 120 deleted one by one, 5 ms apart: not one delete is sent, ONE
    `held` line counts 120, status says 120; `hubsync deletes release` sends them all."""
    emu = emulator_thread
    root, state, config = _start(tmp_path, emu)
    with watch_session(config, emu, tmp_path / "out.txt") as session:
        # Recorded by hubsync, not only stored remotely (an archive's files are stored
        # before hubsync records them).
        wait_until(lambda: _pushed(state) == 200, what="first push")
        emu.clear_requests()
        for i in range(120):
            (root / "doomed" / f"d{i:03}.css").unlink()
            time.sleep(0.005)
        _hold_settled(config, emu, state)
        assert _deletes(emu) == 0
        held = [line for line in _log(state) if line["event"] == "held"]
        assert len(held) == 1, held
        assert held[0]["deletes"] == 120
        status = json.loads(run_hubsync(config, emu, "status", "--json").stdout)
        assert [a["held_deletes"] for a in status["accounts"]] == [120]
        assert session.output().count("holding") == 1

        shown = run_hubsync(config, emu, "deletes")
        assert "sandbox: 120 deletes held" in shown.stdout
        released = run_hubsync(config, emu, "deletes", "release", "sandbox")
        assert released.returncode == 0, released.stderr
        assert "released 120" in released.stdout
        wait_until(lambda: remote_tree(emu, 111, DEST) == local_tree(root),
                   what="the released deletes")
        assert _deletes(emu) == 120
        assert run_hubsync(config, emu, "flush").returncode == 0


def test_instant_rm_rf_lets_no_delete_through_and_discard_keeps_the_remote(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """`rm -rf` of a 120-file folder: no delete slips out before the hold; `hubsync deletes
    discard` keeps the remote files, and the session no longer wants to delete them."""
    emu = emulator_thread
    root, state, config = _start(tmp_path, emu)
    with watch_session(config, emu, tmp_path / "out.txt"):
        # Recorded by hubsync, not only stored remotely (an archive's files are stored
        # before hubsync records them).
        wait_until(lambda: _pushed(state) == 200, what="first push")
        emu.clear_requests()
        shutil.rmtree(root / "doomed")
        _hold_settled(config, emu, state)
        assert _deletes(emu) == 0
        discarded = run_hubsync(config, emu, "deletes", "discard")
        assert discarded.returncode == 0, discarded.stderr
        assert "discarded 120" in discarded.stdout
        flushed = run_hubsync(config, emu, "flush")
        assert flushed.returncode == 0, flushed.stderr
        assert _deletes(emu) == 0
        assert len(remote_tree(emu, 111, DEST)) == 200
    events = [line["event"] for line in _log(state)]
    assert events.count("discarded") == 1


def test_deletes_works_with_nothing_running(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """Deletes held by a `push`: `hubsync deletes` shows them from the state, `deletes
    discard` keeps the remote files with no session running, and the next push is in sync;
    held again, `deletes release` lets the next push send them."""
    emu = emulator_thread
    root, state, config = _start(tmp_path, emu)
    assert run_hubsync(config, emu, "push").returncode == 0
    shutil.rmtree(root / "doomed")
    held = run_hubsync(config, emu, "push")
    assert held.returncode == 1, held.stdout + held.stderr
    shown = run_hubsync(config, emu, "deletes")
    assert "sandbox: 120 deletes held" in shown.stdout, shown.stdout + shown.stderr
    discarded = run_hubsync(config, emu, "deletes", "discard")
    assert discarded.returncode == 0, discarded.stderr
    assert "discarded 120" in discarded.stdout
    again = run_hubsync(config, emu, "push")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _deletes(emu) == 0
    assert len(remote_tree(emu, 111, DEST)) == 200
    assert "discarded" in [line["event"] for line in _log(state)]


def test_deletes_answers_while_the_watch_folder_is_missing(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """The watch folder disappears under a running watch (an unmounted disk): the deletes
    are held, and `hubsync deletes` still works although the config now names a missing
    folder: the one case the brake exists for."""
    emu = emulator_thread
    root, state, config = _start(tmp_path, emu)
    with watch_session(config, emu, tmp_path / "out.txt"):
        # Recorded by hubsync, not only stored remotely (an archive's files are stored
        # before hubsync records them).
        wait_until(lambda: _pushed(state) == 200, what="first push")
        root.rename(tmp_path / "theme.away")
        wait_until(lambda: any(line["event"] == "held" for line in _log(state)), timeout=30,
                   what="the held line")
        shown = run_hubsync(config, emu, "deletes")
        assert "sandbox: 200 deletes held" in shown.stdout, shown.stdout + shown.stderr
        discarded = run_hubsync(config, emu, "deletes", "discard")
        assert discarded.returncode == 0, discarded.stderr
        assert _deletes(emu) == 0
