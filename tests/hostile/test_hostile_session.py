"""A hostile world around a running session: a state dir that is a file, a deleted lock
file, and control-socket clients that stall or flood."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hubsync import control
from hubsync.emulator import EmulatorThread
from hubsync.lock import LOCK_NAME
from tests.daemon.daemon_helpers import run_hubsync, write_config
from tests.support.processes import HUBSYNC, HubsyncProcess, hubsync_process
from tests.support.unprivileged import as_unprivileged, open_up, shared_folder


def _config(tmp_path: Path, emu: EmulatorThread, state_dir: Path) -> Path:
    root = tmp_path / "theme"
    (root / "css").mkdir(parents=True, exist_ok=True)
    (root / "css" / "main.css").write_text("body{}")
    return write_config(tmp_path / "hubsync.toml", emu, state_dir,
                        {"theme": (root, "my-theme", ("sandbox",))})


@contextmanager
def _watch(config: Path, env: dict[str, str], out: Path) -> Iterator[HubsyncProcess]:
    with hubsync_process(["--config", str(config), "watch"], env, out,
                         stop_signal=signal.SIGINT) as session:
        session.wait_for_output("watching")
        yield session


# --- the state dir ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["file", "under-a-file"])
def test_state_dir_that_is_a_file_is_named_by_every_command(
        shape: str, tmp_path: Path, emulator_thread: EmulatorThread,
        env: dict[str, str]) -> None:
    """check, doctor, push and watch all refuse a state_dir that is (or is under) a file:
    non-zero, naming settings.state_dir and what is wrong, never "internal error"."""
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    state_dir = blocker if shape == "file" else blocker / "state"
    config = _config(tmp_path, emulator_thread, state_dir)

    for command, code in [("check", 78), ("doctor", 1), ("push", 78), ("watch", 78)]:
        done = run_hubsync(config, env, command, timeout=60)
        said = done.stdout + done.stderr
        assert done.returncode == code, (command, said)
        assert "internal error" not in said, command
        assert "not a folder" in said, (command, said)
        if command != "doctor":
            assert "settings.state_dir" in said, (command, said)
    assert blocker.read_text() == "not a folder"


# --- the instance lock -------------------------------------------------------------------


def test_deleted_lock_file_does_not_let_a_second_watch_start(
        tmp_path: Path, emulator_thread: EmulatorThread, env: dict[str, str]) -> None:
    """With the lock file removed under a running watch, a second watch still exits 1 at
    once naming the first one's PID, and the first keeps its control socket."""
    state_dir = tmp_path / "state"
    config = _config(tmp_path, emulator_thread, state_dir)
    with _watch(config, env, tmp_path / "first.out") as first:
        (state_dir / LOCK_NAME).unlink()

        second = run_hubsync(config, env, "watch", timeout=60)

        assert second.returncode == 1, second.stdout + second.stderr
        assert f"already running (PID {first.pid})" in second.stderr
        status = run_hubsync(config, env, "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["pid"] == first.pid
        assert first.process.poll() is None


def test_removed_state_dir_does_not_let_a_second_watch_take_the_socket(
        tmp_path: Path, emulator_thread: EmulatorThread, env: dict[str, str]) -> None:
    """With the whole state dir removed under a running watch, a second watch may lock the
    new folder but refuses to take over the socket the first one still serves."""
    state_dir = tmp_path / "state"
    config = _config(tmp_path, emulator_thread, state_dir)
    with _watch(config, env, tmp_path / "first.out") as first:
        shutil.rmtree(state_dir)

        second = run_hubsync(config, env, "watch", timeout=60)

        assert second.returncode == 1, second.stdout + second.stderr
        assert "another process is serving" in second.stderr
        assert "internal error" not in second.stderr
        status = run_hubsync(config, env, "status", "--json")
        assert json.loads(status.stdout)["pid"] == first.pid
        assert first.process.poll() is None


# --- the control socket ------------------------------------------------------------------


def _connect(state_dir: Path) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(control.REQUEST_TIMEOUT_S + 10)
    client.connect(str(control.socket_path(state_dir)))
    return client


def _reply(client: socket.socket) -> dict[str, object]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = client.recv(65536)
        if not chunk:
            break
        data += chunk
    reply: dict[str, object] = json.loads(data)
    return reply


def test_control_socket_times_out_silent_clients_and_caps_lines(
        tmp_path: Path, emulator_thread: EmulatorThread, env: dict[str, str]) -> None:
    """A client that sends nothing gets an error reply and is hung up on after
    REQUEST_TIMEOUT_S; a line over 64 KiB gets an error reply; the session keeps answering
    meanwhile and logs no unhandled exception."""
    state_dir = tmp_path / "state"
    config = _config(tmp_path, emulator_thread, state_dir)
    with _watch(config, env, tmp_path / "watch.out") as session:
        idle = [_connect(state_dir) for _ in range(20)]
        began = time.monotonic()

        flood = _connect(state_dir)
        flood.sendall(b'{"cmd": "status", "pad": "' + b"x" * control.MAX_REQUEST_BYTES)
        assert _reply(flood) == {
            "ok": False, "error": f"request longer than {control.MAX_REQUEST_BYTES // 1024} KiB"}
        flood.close()
        status = run_hubsync(config, env, "status", "--json")
        assert status.returncode == 0, status.stderr  # idle clients block nobody

        for client in idle:
            assert _reply(client) == {
                "ok": False, "error": f"no request within {control.REQUEST_TIMEOUT_S:g} s"}
            assert client.recv(1) == b""  # and the server hung up
            client.close()
        assert time.monotonic() - began < control.REQUEST_TIMEOUT_S + 5

        late = _connect(state_dir)
        late.sendall(b'{"cmd": "status"}\n')
        assert _reply(late)["ok"] is True
        late.close()
        assert session.process.poll() is None
    output = session.output()
    assert "Traceback" not in output
    assert "exception" not in output.lower()


def test_state_dir_the_user_cannot_write_is_named(
        emulator_thread: EmulatorThread, env: dict[str, str]) -> None:
    """As a user the permission bits apply to, a state_dir under a folder it cannot write
    makes check and push exit 78 naming settings.state_dir, never "internal error"."""
    with shared_folder() as shared:
        config = _config(shared, emulator_thread, shared / "locked" / "state")
        (shared / "locked").mkdir()
        open_up(shared)
        (shared / "locked").chmod(0o555)
        child_env = {**env, "HOME": str(shared)}
        for command in ("check", "push"):
            done = subprocess.run(
                as_unprivileged([*HUBSYNC, "--config", str(config), command]),
                env=child_env, capture_output=True, text=True, timeout=60, check=False)
            said = done.stdout + done.stderr
            assert done.returncode == 78, (command, said)
            assert "settings.state_dir" in said, (command, said)
            assert f"{shared / 'locked'} is not writable" in said, (command, said)
            assert "internal error" not in said
