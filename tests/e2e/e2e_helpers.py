"""The e2e tests' config: one watch ``theme`` of a local root to ``DEST`` in both accounts."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hubsync.emulator import EmulatorThread
from tests.support.processes import (
    HUBSYNC,
    PORTALS,
    HubsyncProcess,
    hubsync_process,
    keys_env,
)

DEST = "my-theme"


def write_config(path: Path, emu: EmulatorThread, root: Path, state_dir: Path, *,
                 accounts: tuple[str, ...] = ("sandbox", "staging"), debounce_ms: int = 50,
                 delete_remote: bool = True, extra_settings: str = "",
                 bulk: str | None = None) -> Path:
    """A config for a watch ``theme`` of ``root`` to ``DEST`` in the given accounts
    (``bulk``: every account's ``bulk`` setting, when given)."""
    text = [
        "[settings]",
        f'state_dir = "{state_dir}"',
        f"debounce_ms = {debounce_ms}",
        extra_settings,
    ]
    for name in accounts:
        text += [f"[accounts.{name}]", f"portal_id = {PORTALS[name]}",
                 f'api_base = "{emu.url}"']
        if bulk is not None:
            text.append(f'bulk = "{bulk}"')
    quoted = ", ".join(f'"{a}"' for a in accounts)
    text += ["[[watch]]", 'name = "theme"', f'src = "{root}"', f'dest = "{DEST}"',
             f"accounts = [{quoted}]", f"delete_remote = {str(delete_remote).lower()}"]
    path.write_text("\n".join(text) + "\n")
    return path


def run_hubsync(config: Path, emu: EmulatorThread, *args: str,
                timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HUBSYNC, "--config", str(config), *args], env=keys_env(emu),
                          capture_output=True, text=True, timeout=timeout, check=False)


@contextmanager
def watch_session(config: Path, emu: EmulatorThread, out: Path) -> Iterator[HubsyncProcess]:
    """Start ``hubsync watch``, wait for "watching", and stop it with SIGINT at the end."""
    with hubsync_process(["--config", str(config), "watch"], keys_env(emu), out,
                         stop_signal=signal.SIGINT) as session:
        session.wait_for_output("watching")
        yield session


def uploads_of(emu: EmulatorThread, remote_path: str, portal: int | None = None) -> int:
    return sum(1 for r in emu.requests if r.endpoint == "upload"
               and r.remote_path == remote_path and 200 <= r.status < 300
               and (portal is None or r.portal_id == portal))


def requests_of(emu: EmulatorThread, endpoint: str, remote_path: str) -> int:
    return sum(1 for r in emu.requests if r.endpoint == endpoint
               and r.remote_path == remote_path)
