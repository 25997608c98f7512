"""A small project for the everyday-use tests: a theme folder, a config, keys in the env."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import write_config
from tests.support.processes import HUBSYNC, keys_env, write_files


@dataclass
class Project:
    """A theme ``root``, its ``config`` and ``state`` dir, and the emulator it pushes to."""

    tmp: Path
    emu: EmulatorThread
    root: Path
    config: Path
    state: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = keys_env(self.emu)
        # No keyring daemon is needed: a call to it fails loudly instead of hanging.
        env.update(PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
                   HOME=str(self.tmp / "home"), XDG_CONFIG_HOME=str(self.tmp / "xdg-config"),
                   XDG_DATA_HOME=str(self.tmp / "xdg-data"))
        env.pop("NO_COLOR", None)
        env.update(extra)
        return env

    def run(self, *args: str, env: Mapping[str, str] | None = None,
            timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """``hubsync --config CONFIG ARGS``; its exit code, stdout and stderr."""
        return subprocess.run([*HUBSYNC, "--config", str(self.config), *args],
                              env=dict(env) if env is not None else self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)


def make_project(tmp_path: Path, emu: EmulatorThread, *, files: int = 3,
                 accounts: tuple[str, ...] = ("sandbox", "staging")) -> Project:
    """A theme with ``theme.json`` and ``files`` CSS files, configured for ``accounts``."""
    root = tmp_path / "theme"
    write_files(root, {"theme.json": '{"label": "t"}',
                       **{f"css/f{i:04d}.css": f"/* {i} */" for i in range(files)}})
    state = tmp_path / "state"
    config = write_config(tmp_path / "config.toml", emu, root, state, accounts=accounts)
    return Project(tmp_path, emu, root, config, state)


def run_in_pty(argv: list[str], env: Mapping[str, str], timeout: float = 90) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr on a pseudo terminal; (exit code, all output)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(argv, env=dict(env), stdin=subprocess.DEVNULL,
                               stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(leader)
    code = process.wait(timeout=10)
    return code, b"".join(chunks).decode("utf-8", "replace")


PYTHON = sys.executable
