"""sd_notify against a real datagram socket, and the single-instance lock across processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubsync import notify
from hubsync.errors import AlreadyRunning
from hubsync.lock import InstanceLock, lock_holder, lock_path


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A bound AF_UNIX datagram socket named by NOTIFY_SOCKET, as systemd provides."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def test_sd_notify_sends_one_datagram(notify_socket: socket.socket) -> None:
    """All lines go in one datagram, newline-separated."""
    assert notify.sd_notify("READY=1", "STATUS=watching 2 accounts")
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=watching 2 accounts"


def test_helpers_send_the_protocol_words(notify_socket: socket.socket) -> None:
    """ready/status/reloading/stopping/watchdog send what systemd expects; STATUS is one line."""
    assert notify.ready("3 accounts\nok")
    assert notify_socket.recv(4096) == b"READY=1\nSTATUS=3 accounts ok"
    assert notify.status("12 pending")
    assert notify_socket.recv(4096) == b"STATUS=12 pending"
    assert notify.reloading()
    reload_message = notify_socket.recv(4096).decode().split("\n")
    assert reload_message[0] == "RELOADING=1"
    assert reload_message[1].startswith("MONOTONIC_USEC=")
    assert notify.stopping()
    assert notify_socket.recv(4096) == b"STOPPING=1"
    assert notify.watchdog()
    assert notify_socket.recv(4096) == b"WATCHDOG=1"


def test_sd_notify_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """An address starting with @ is in the abstract namespace."""
    name = f"hubsync-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify.sd_notify("READY=1")
        assert sock.recv(4096) == b"READY=1"


@pytest.mark.parametrize("value", [None, "", "vsock:2:1234", "relative/path"])
def test_sd_notify_is_a_no_op_outside_systemd(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    """Unset, empty, or a socket kind we do not speak: nothing is sent and False returned."""
    if value is None:
        monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    else:
        monkeypatch.setenv("NOTIFY_SOCKET", value)
    assert notify.sd_notify("READY=1") is False


def test_sd_notify_survives_a_vanished_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket that no longer exists returns False instead of raising."""
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    assert notify.sd_notify("WATCHDOG=1") is False


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        (None, None, None),
        ("0", None, None),
        ("junk", None, None),
        ("10000000", None, 5.0),
        ("10000000", "self", 5.0),
        ("10000000", "1", None),
        ("3000000", "self", 1.5),
    ],
)
def test_watchdog_interval(
    monkeypatch: pytest.MonkeyPatch, usec: str | None, pid: str | None, expected: float | None
) -> None:
    """Half of WATCHDOG_USEC, only when WATCHDOG_PID is unset or ours."""
    for name, value in (("WATCHDOG_USEC", usec),
                        ("WATCHDOG_PID", str(os.getpid()) if pid == "self" else pid)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert notify.watchdog_interval() == expected


_HOLDER = """
import sys
from pathlib import Path
from hubsync.lock import InstanceLock
with InstanceLock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_second_process_is_refused_naming_the_running_pid(tmp_path: Path) -> None:
    """While one process holds the lock, another gets AlreadyRunning with its PID at once;
    after the holder is killed (no clean release), the lock is free again."""
    state = tmp_path / "state"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(state)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(AlreadyRunning) as refused, InstanceLock(state):
            pass
        assert refused.value.pid == holder.pid
        assert refused.value.lock_path == lock_path(state)
        assert f"PID {holder.pid}" in str(refused.value)
        assert lock_holder(state) == holder.pid
        second = subprocess.run([sys.executable, "-c", _HOLDER, str(state)], input="",
                                capture_output=True, text=True, timeout=60, check=False)
        assert second.returncode != 0
        assert f"PID {holder.pid}" in second.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        if holder.stdin is not None:
            holder.stdin.close()
        if holder.stdout is not None:
            holder.stdout.close()
    assert lock_holder(state) is None or lock_holder(state) != holder.pid
    with InstanceLock(state) as lock:
        assert lock.held
        assert lock_holder(state) == os.getpid()


def test_lock_is_exclusive_within_one_process_and_released_on_exit(tmp_path: Path) -> None:
    """A second InstanceLock in the same process is refused; after release the file is empty."""
    with InstanceLock(tmp_path) as first:
        assert lock_path(tmp_path).read_text().strip() == str(os.getpid())
        with pytest.raises(AlreadyRunning), InstanceLock(tmp_path):
            pass
        assert first.held
    assert lock_path(tmp_path).read_text() == ""
    assert lock_holder(tmp_path) is None
    with InstanceLock(tmp_path):
        pass
