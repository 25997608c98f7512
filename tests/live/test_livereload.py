"""`hubsync watch --notify FILE`: the live-reload file names a batch only once every
account stored it. Real `hubsync watch` subprocesses against two emulators over HTTP, so
one account can answer slowly while the other has already stored the file."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from hubsync.emulator import Emulator, EmulatorThread
from tests.e2e.e2e_helpers import DEST
from tests.support.processes import (
    HUBSYNC,
    PORTALS,
    HubsyncProcess,
    hubsync_process,
    keys_env,
    wait_until,
    write_files,
)

pytestmark = pytest.mark.slow

SLOW_MS = 4000
"""The slow account's latency: far longer than the fast one needs to store a file."""


@pytest.fixture
def two_emulators() -> Iterator[tuple[EmulatorThread, EmulatorThread]]:
    """``sandbox`` (portal 111) and ``staging`` (portal 222), each on its own emulator."""
    fast, slow = Emulator(rate_limit=0), Emulator(rate_limit=0)
    fast.add_account("sandbox", portal_id=PORTALS["sandbox"], user_id=9001,
                     email="jane@example.com")
    slow.add_account("staging", portal_id=PORTALS["staging"], user_id=9002,
                     email="joe@example.com")
    with EmulatorThread(fast) as one, EmulatorThread(slow) as two:
        yield one, two


def _config(tmp_path: Path, fast: EmulatorThread, slow: EmulatorThread, root: Path,
            extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text("\n".join([
        "[settings]", f'state_dir = "{tmp_path / "state"}"', "debounce_ms = 50", extra,
        "[accounts.sandbox]", f"portal_id = {PORTALS['sandbox']}", f'api_base = "{fast.url}"',
        "[accounts.staging]", f"portal_id = {PORTALS['staging']}", f'api_base = "{slow.url}"',
        "[[watch]]", 'name = "theme"', f'src = "{root}"', f'dest = "{DEST}"',
        'accounts = ["sandbox", "staging"]', "delete_remote = true",
    ]) + "\n")
    return path


def _env(*emus: EmulatorThread) -> dict[str, str]:
    env = keys_env(emus[0])
    for emu in emus[1:]:
        env.update({k: v for k, v in keys_env(emu).items() if k.startswith("HUBSYNC_KEY_")})
    return env


def _stored(emu: EmulatorThread, remote_path: str) -> bool:
    return any(r.endpoint == "upload" and r.remote_path == remote_path
               and 200 <= r.status < 300 for r in emu.requests)


def _lines(notify: Path) -> list[str]:
    return notify.read_text().splitlines() if notify.exists() else []


_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (Changed|Removed): (/.+)$")


def _watch(config: Path, env: dict[str, str], out: Path,
           *args: str) -> AbstractContextManager[HubsyncProcess]:
    return hubsync_process(["--config", str(config), "watch", *args], env, out,
                           stop_signal=signal.SIGINT)


def _started(session: HubsyncProcess) -> None:
    session.wait_for_output("watching")


def _run(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HUBSYNC, "--config", str(config), *args], env=env,
                          capture_output=True, text=True, timeout=90, check=False)


def _paths(notify: Path) -> list[tuple[str, str]]:
    """(action, path) of every line, each checked against hs's line shape."""
    out = []
    for line in _lines(notify):
        match = _LINE.match(line)
        assert match is not None, line
        out.append((match.group(1), match.group(2)))
    return out


def test_notify_file_waits_for_the_slow_account(
    tmp_path: Path, two_emulators: tuple[EmulatorThread, EmulatorThread]
) -> None:
    """A save is stored at once by the fast account; while the slow account has not
    answered, the notify file does not name it; once both stored it, one line with the
    absolute local path appears, in hs's `<time> Changed: <path>` shape."""
    fast, slow = two_emulators
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}"})
    config = _config(tmp_path, fast, slow, root)
    notify = tmp_path / "reload.txt"
    env = _env(fast, slow)
    with _watch(config, env, tmp_path / "out.txt", "--notify", str(notify)) as session:
        _started(session)
        assert _run(config, env, "flush").returncode == 0
        assert _paths(notify) == [("Changed", str(root / "css" / "main.css"))]

        slow.set_faults(latency_ms=SLOW_MS)
        write_files(root, {"templates/home.html": "<h1>home</h1>"})
        remote = f"{DEST}/templates/home.html"
        # Barrier: the fast account has stored it; the slow one is still answering.
        wait_until(lambda: _stored(fast, remote), what="fast account stored the save")
        assert not _stored(slow, remote)
        assert str(root / "templates" / "home.html") not in notify.read_text()

        wait_until(lambda: _stored(slow, remote), timeout=30, what="slow account stored it")
        wait_until(lambda: len(_lines(notify)) == 2, what="the notify line")
        assert _paths(notify)[-1] == ("Changed", str(root / "templates" / "home.html"))
        slow.set_faults()


def test_notify_file_skips_failures_and_names_deletes(
    tmp_path: Path, two_emulators: tuple[EmulatorThread, EmulatorThread]
) -> None:
    """A template HubSpot refuses is never named (nothing new to reload); a delete that
    both accounts made is named `Removed:`. The notify file set in the config inside
    the watched folder is never pushed itself (it would notify forever)."""
    fast, slow = two_emulators
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}"})
    config = _config(tmp_path, fast, slow, root, extra='notify_file = "theme/live/reload.txt"')
    # .txt is an extension HubSpot takes: without hubsync's own ignore it would be pushed.
    notify = root / "live" / "reload.txt"
    env = _env(fast, slow)
    with _watch(config, env, tmp_path / "out.txt") as session:
        _started(session)
        assert _run(config, env, "flush").returncode == 0
        assert _paths(notify) == [("Changed", str(root / "css" / "main.css"))]

        write_files(root, {"templates/bad.html": "{{ unclosed"})
        # Barrier: both accounts refused it (the sync log says so), and flush is done.
        session.wait_for_output("✗ templates/bad.html -> staging")
        session.wait_for_output("✗ templates/bad.html -> sandbox")
        (root / "css" / "main.css").unlink()
        session.wait_for_output("css/main.css -> staging deleted")
        session.wait_for_output("css/main.css -> sandbox deleted")
        _run(config, env, "flush")
        wait_until(lambda: len(_lines(notify)) == 2, what="the delete's line")
        assert _paths(notify)[-1] == ("Removed", str(root / "css" / "main.css"))
        assert "bad.html" not in notify.read_text()
    for emu in (fast, slow):
        assert not any("reload.txt" in (r.remote_path or "") for r in emu.requests)
