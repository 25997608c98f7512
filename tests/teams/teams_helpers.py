"""Two people on one emulated portal, each with their own hubsync (config, state folder,
theme folder, key) run as a subprocess: Ann (user 7001) and Bob (user 7002) on portal 333.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubsync.emulator import EmulatorThread
from tests.support.processes import HUBSYNC, HubsyncProcess, hubsync_process, keys_env

PORTAL = 333
DEST = "field-theme"
USERS = {"ann": 7001, "bob": 7002}


@dataclass(frozen=True, slots=True)
class User:
    """One teammate's machine: their hubsync config, theme folder and state folder."""

    name: str
    user_id: int
    root: Path
    state: Path
    config: Path
    emu: EmulatorThread

    def run(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """``hubsync --config CONFIG ARGS`` as this user (their key in the environment)."""
        return subprocess.run([*HUBSYNC, "--config", str(self.config), *args],
                              env=keys_env(self.emu), capture_output=True, text=True,
                              timeout=timeout, check=False, cwd=self.root)

    def log(self, event: str | None = None) -> list[dict[str, Any]]:
        """This user's sync log lines (of ``event`` only, when given)."""
        path = self.state / "sync.log"
        if not path.exists():
            return []
        lines = [json.loads(line) for line in path.read_text().splitlines() if line]
        return [line for line in lines if event is None or line["event"] == event]

    def conflicts(self) -> list[dict[str, Any]]:
        done = self.run("conflicts", "--json")
        assert done.returncode in (0, 1), done.stderr
        found: list[dict[str, Any]] = json.loads(done.stdout)["conflicts"]
        return found

    @contextmanager
    def watching(self, out: Path, *extra: str) -> Iterator[HubsyncProcess]:
        """``hubsync watch`` as this user until the block ends (then SIGINT)."""
        with hubsync_process(["--config", str(self.config), "watch", *extra],
                             keys_env(self.emu), out, stop_signal=signal.SIGINT) as session:
            session.wait_for_output("watching")
            yield session


def make_user(tmp_path: Path, emu: EmulatorThread, name: str, files: Mapping[str, str | bytes],
              *, delete_remote: bool = True, guard: bool = True,
              transport: str = "filemapper") -> User:
    """``name``'s machine with ``files`` in their theme folder and a config for it."""
    base = tmp_path / name
    root = base / "theme"
    root.mkdir(parents=True)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    state = base / "state"
    config = base / "config.toml"
    config.write_text("\n".join([
        "[settings]", f'state_dir = "{state}"', "debounce_ms = 50",
        f"[accounts.{name}]", f"portal_id = {PORTAL}", f'api_base = "{emu.url}"',
        f"guard = {str(guard).lower()}", f'transport = "{transport}"', 'bulk = "files"',
        "[[watch]]", 'name = "theme"', f'src = "{root}"', f'dest = "{DEST}"',
        f'accounts = ["{name}"]', f"delete_remote = {str(delete_remote).lower()}",
    ]) + "\n")
    return User(name, USERS[name], root, state, config, emu)


def remote(emu: EmulatorThread) -> dict[str, bytes]:
    """The portal's published files under DEST, relative to it."""
    prefix = DEST + "/"
    return {path.removeprefix(prefix): stored.content
            for path, stored in emu.files(PORTAL).items() if path.startswith(prefix)}


def writers(emu: EmulatorThread) -> dict[str, int]:
    """Who last wrote each remote file (user id)."""
    prefix = DEST + "/"
    return {path.removeprefix(prefix): stored.user_id
            for path, stored in emu.files(PORTAL).items() if path.startswith(prefix)}


def requests(emu: EmulatorThread, endpoint: str, user_id: int | None = None) -> list[str]:
    """Remote paths of the logged requests to ``endpoint`` (by ``user_id`` when given)."""
    return [r.remote_path or "" for r in emu.requests if r.endpoint == endpoint
            and (user_id is None or r.user_id == user_id)]
