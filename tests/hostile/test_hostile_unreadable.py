"""Unreadable files and folders are failures, never rules, and never deletes: `push` exits
non-zero naming them, a synced file that turns unreadable stays remote, and `watch`
pushes a folder the moment it becomes readable. A replaced watch root is re-attached."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import DEST, run_hubsync, watch_session, write_config
from tests.support.processes import (
    file_deletes,
    keys_env,
    remote_tree,
    wait_until,
    write_files,
)
from tests.support.unprivileged import as_unprivileged, open_up, shared_folder

pytestmark = pytest.mark.slow


def _push(config: Path, emu: EmulatorThread) -> subprocess.CompletedProcess[str]:
    argv = as_unprivileged([sys.executable, "-m", "hubsync", "--config", str(config), "push"])
    return subprocess.run(argv, env=keys_env(emu), capture_output=True, text=True,
                          timeout=90, check=False)


def _events(state: Path, event: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in (state / "sync.log").read_text().splitlines()]
    return [line for line in lines if line["event"] == event]


def test_push_fails_on_unreadable_paths_and_never_deletes_them(
    emulator_thread: EmulatorThread,
) -> None:
    """First push with a chmod-000 file and folder: the rest is pushed, exit 1, both named
    as failures (not "left out by the rules"). Then a synced file and a synced folder turn
    unreadable: the next push deletes neither remotely, and still exits 1."""
    emu = emulator_thread
    with shared_folder() as shared:
        root, state = shared / "theme", shared / "state"
        write_files(root, {"ok.css": "ok", "secret.css": "s", "locked/inner.css": "i",
                           "later/a.css": "a", "later/b.css": "b", "plain.css": "p"})
        config = write_config(shared / "config.toml", emu, root, state,
                              accounts=("sandbox",))
        open_up(shared)
        (root / "secret.css").chmod(0)
        (root / "locked").chmod(0)

        first = _push(config, emu)
        assert first.returncode == 1, first.stdout + first.stderr
        assert "secret.css" in first.stderr
        assert "locked" in first.stderr
        assert "cannot be read" in first.stderr
        assert "left out by the rules" not in first.stdout
        assert set(remote_tree(emu, 111, DEST)) == {"ok.css", "later/a.css", "later/b.css",
                                                     "plain.css"}
        failed = {str(line["path"]) for line in _events(state, "failed")}
        assert {"secret.css", "locked"} <= failed

        (root / "plain.css").chmod(0)
        (root / "later").chmod(0)
        second = _push(config, emu)
        assert second.returncode == 1, second.stdout + second.stderr
        assert not file_deletes(emu)
        assert {"plain.css", "later/a.css", "later/b.css"} <= set(remote_tree(emu, 111, DEST))


def test_watch_pushes_a_folder_once_it_becomes_readable(
    emulator_thread: EmulatorThread,
) -> None:
    """A folder unreadable when `watch` starts is reported, and its files arrive within
    seconds of `chmod` making it readable (no event, no restart, no 5-minute rescan)."""
    emu = emulator_thread
    with shared_folder() as shared:
        root, state = shared / "theme", shared / "state"
        write_files(root, {"ok.css": "ok", "locked/inner.css": "inner"})
        config = write_config(shared / "config.toml", emu, root, state,
                              accounts=("sandbox",))
        open_up(shared)
        (root / "locked").chmod(0)
        argv = as_unprivileged([sys.executable, "-m", "hubsync", "--config", str(config),
                                "watch"])
        with _watch(argv, emu, shared / "out.txt") as proc:
            wait_until(lambda: "ok.css" in remote_tree(emu, 111, DEST), what="first push")
            wait_until(lambda: "cannot be read" in (shared / "out.txt").read_text(),
                       what="the unreadable folder reported")
            (root / "locked").chmod(0o777)
            wait_until(lambda: remote_tree(emu, 111, DEST).get("locked/inner.css")
                       == b"inner", timeout=15, what="the folder pushed once readable")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 0


@contextmanager
def _watch(argv: list[str], emu: EmulatorThread, out: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` (prefixed by setpriv as root) as a process writing to ``out``; killed at
    the end if it still runs."""
    with out.open("wb") as sink:
        proc = subprocess.Popen(argv, env=keys_env(emu), stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_watch_reattaches_when_the_root_is_replaced_by_a_copy(
    tmp_path: Path, emulator_thread: EmulatorThread,
) -> None:
    """`mv theme theme.old && cp -a theme.old theme` under a running watch: the new root is
    watched within seconds (not at the 5-minute rescan), a file added to it arrives, and an
    edit made in the copy is pushed; `status` says the watcher is alive on the new root."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}", "js/app.js": "1"})
    config = write_config(tmp_path / "config.toml", emu, root, tmp_path / "state",
                          accounts=("sandbox",))
    with watch_session(config, emu, tmp_path / "out.txt"):
        wait_until(lambda: len(remote_tree(emu, 111, DEST)) == 2, what="first push")
        root.rename(tmp_path / "theme.old")
        shutil.copytree(tmp_path / "theme.old", root, symlinks=True)
        write_files(root, {"css/new.css": "new"})
        wait_until(lambda: remote_tree(emu, 111, DEST).get("css/new.css") == b"new",
                   timeout=15, what="a file added to the new root")
        (root / "js" / "app.js").write_text("2")
        wait_until(lambda: remote_tree(emu, 111, DEST).get("js/app.js") == b"2",
                   timeout=15, what="an edit in the new root")
        status = json.loads(run_hubsync(config, emu, "status", "--json").stdout)
        assert [w["watcher_alive"] for w in status["watches"]] == [True]
