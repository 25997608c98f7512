"""Fixtures for hostile-world session tests: a short private runtime dir (Unix socket
paths are limited to about 100 bytes) and the environment pointing hubsync at it."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.daemon.daemon_helpers import base_env


@pytest.fixture
def runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An owner-only ``$XDG_RUNTIME_DIR`` for the test and the hubsync processes it starts."""
    folder = Path(tempfile.mkdtemp(prefix="hsh-"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def env(emulator_thread: EmulatorThread, runtime_dir: Path) -> dict[str, str]:
    """Environment for hubsync processes: the emulator's keys and the private runtime dir."""
    return base_env(emulator_thread, runtime_dir)
