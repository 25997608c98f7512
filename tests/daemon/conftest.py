"""Fixtures for daemon tests: a short private runtime dir and a notify socket in it.

Unix socket paths are limited to about 100 bytes and pytest's ``tmp_path`` can be long,
so the runtime dir (control socket, notify socket) lives in a short folder under /tmp.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.daemon.daemon_helpers import NotifySocket, base_env


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """An owner-only folder standing in for ``$XDG_RUNTIME_DIR``."""
    folder = Path(tempfile.mkdtemp(prefix="hsd-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def notify(runtime_dir: Path) -> Iterator[NotifySocket]:
    """The datagram socket a test daemon sends sd_notify messages to."""
    sock = NotifySocket(runtime_dir / "notify.sock")
    yield sock
    sock.close()


@pytest.fixture
def env(emulator_thread: EmulatorThread, runtime_dir: Path) -> dict[str, str]:
    """Environment for hubsync processes: the emulator's keys and the private runtime dir."""
    return base_env(emulator_thread, runtime_dir)
