"""A full disk under the state directory: nothing is sent that cannot be recorded.

`push` stops and exits 75 saying "disk full"; `watch` pauses sending, says so in `status`,
and goes on by itself when there is room again, with nothing lost. A real full disk: a
small tmpfs mounted for the state directory (root only, as CI runs).
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pytest

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import DEST, run_hubsync, watch_session, write_config
from tests.support.processes import local_tree, remote_tree, wait_until, write_files

pytestmark = pytest.mark.slow


@contextmanager
def small_disk(where: Path, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` for the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                   check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte; the filler file, to delete for room again."""
    filler = disk / "filler"
    # Unbuffered: a buffered file would keep the bytes that did not fit and raise
    # ENOSPC again when closed, outside pytest.raises.
    with filler.open("wb", buffering=0) as out, pytest.raises(OSError) as full:
        _write_forever(out)
    assert full.value.errno == errno.ENOSPC
    return filler


def _write_forever(out: BinaryIO) -> None:
    while True:
        out.write(b"\0" * 65536)


def test_push_on_a_full_disk_stops_and_exits_75_saying_disk_full(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """With the state's disk full, `push` of 40 changed files stops sending at once and
    exits 75 with "disk full" (the same code `daemon` uses); with room again the next push
    completes. No traceback, no megabytes of output."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}"})
    with small_disk(tmp_path / "disk") as disk:
        config = write_config(tmp_path / "config.toml", emu, root, disk / "state",
                              accounts=("sandbox",))
        assert run_hubsync(config, emu, "push").returncode == 0
        write_files(root, {f"css/f{i:02}.css": f"/* {i} */" * 50 for i in range(40)})
        emu.clear_requests()
        filler = fill(disk)
        result = run_hubsync(config, emu, "push")
        assert result.returncode == 75, result.stdout + result.stderr
        assert "disk full" in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stdout) + len(result.stderr) < 20_000
        uploads = [r for r in emu.requests if r.endpoint == "upload"]
        assert len(uploads) <= 5  # what was in flight when the first write failed

        filler.unlink()
        again = run_hubsync(config, emu, "push")
        assert again.returncode == 0, again.stdout + again.stderr
        assert remote_tree(emu, 111, DEST) == local_tree(root)


def test_watch_pauses_on_a_full_disk_says_so_and_resumes_with_room(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """Under `watch`, the disk fills up and files are edited: `status` shows the state
    error; once the filler is deleted, the edits reach the portal without a restart."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}"})
    with small_disk(tmp_path / "disk") as disk:
        config = write_config(tmp_path / "config.toml", emu, root, disk / "state",
                              accounts=("sandbox",))
        with watch_session(config, emu, tmp_path / "out.txt") as session:
            wait_until(lambda: "css/main.css" in remote_tree(emu, 111, DEST), what="first push")
            filler = fill(disk)
            write_files(root, {f"css/f{i:02}.css": f"/* {i} */" * 50 for i in range(20)})

            def state_error() -> str | None:
                status = json.loads(run_hubsync(config, emu, "status", "--json").stdout)
                error = status.get("state_error")
                return str(error) if error is not None else None

            wait_until(lambda: "disk full" in (state_error() or ""), timeout=30,
                       what="status showing the disk full")
            assert "disk full" in session.output()
            human = run_hubsync(config, emu, "status").stdout
            assert "sending paused: disk full" in human
            filler.unlink()
            wait_until(lambda: remote_tree(emu, 111, DEST) == local_tree(root), timeout=30,
                       what="the edits pushed once there is room")
            wait_until(lambda: state_error() is None, timeout=10, what="the error cleared")
