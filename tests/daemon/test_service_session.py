"""``hubsync.service`` in process: the watchdog guard and the STATUS= summary."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from hubsync.app import real_adapters
from hubsync.config import Config
from hubsync.credentials import env_var_name
from hubsync.emulator import Emulator
from hubsync.engine import Engine, EventSink
from hubsync.service import SessionKind, run_session, summarize
from tests.daemon.daemon_helpers import NotifySocket
from tests.support.processes import write_files


class _WatcherDies(Engine):
    """A real engine whose watcher thread is reported dead once ``dead`` is set.

    The one fault here not produced for real: killing watchdog's observer thread from
    outside needs the engine's private parts, and a crash inside it is what we guard.
    """

    dead = False

    def snapshot(self) -> dict[str, Any]:
        snap = super().snapshot()
        if self.dead:
            for watch in snap["watches"].values():
                watch["watcher_alive"] = False
        return snap


async def test_watchdog_pings_stop_while_a_watcher_thread_is_dead(
    tmp_path: Path, emulator: Emulator, notify: NotifySocket, runtime_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """WATCHDOG=1 flows while the watcher lives and stops when it dies (so systemd
    restarts the daemon), while the session itself still stops cleanly with 0."""
    for name, account in emulator.accounts.items():
        monkeypatch.setenv(env_var_name(name), account.key)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime_dir))
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify.path))
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}"})
    config = tmp_path / "config.toml"
    config.write_text(
        f'[settings]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[accounts.sandbox]\nportal_id = 111\napi_base = "{emulator.url}"\n'
        f'[[watch]]\nname = "theme"\nsrc = "{root}"\ndest = "my-theme"\n'
        'accounts = ["sandbox"]\n')
    engines: list[_WatcherDies] = []

    def factory(config: Config, watches: Sequence[str], sink: EventSink) -> Engine:
        engines.append(_WatcherDies(config, adapters=real_adapters(), watches=watches,
                                    on_event=sink))
        return engines[-1]

    session = asyncio.create_task(run_session(config, kind=SessionKind.DAEMON,
                                              engine_factory=factory))
    ready = asyncio.create_task(asyncio.to_thread(notify.wait_line, "READY=1"))
    await asyncio.wait({ready, session}, return_when=asyncio.FIRST_COMPLETED)
    assert not session.done()
    await ready

    def pings() -> int:
        return notify.lines().count("WATCHDOG=1")

    before = pings()
    await asyncio.sleep(0.5)
    assert pings() - before >= 3
    engines[-1].dead = True
    await asyncio.sleep(0.15)  # a ping already under way may still land
    before = pings()
    await asyncio.sleep(0.5)
    assert pings() == before

    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(session, 20) == 0
    assert "STOPPING=1" in notify.lines()


@pytest.mark.parametrize(("accounts", "expected"), [
    ({"sandbox": {"auth": "ok", "pending": 0, "in_flight": 0}},
     "1/1 accounts ok, 0 pending, nothing pushed by this session"),
    ({"sandbox": {"auth": "ok", "pending": 3, "in_flight": 2, "paused": True},
      "staging": {"auth": "unauthorized", "held": True, "pending": 4, "parked": 1}},
     "1/2 accounts ok, unauthorized: staging, paused: sandbox, 7 pending, 2 in flight, "
     "1 failed, nothing pushed by this session"),
    ({"sandbox": {"auth": "offline", "pending": 0}},
     "0/1 accounts ok, not ok yet: sandbox, 0 pending, nothing pushed by this session"),
])
def test_status_summary_names_accounts_pending_and_failures(
    accounts: dict[str, dict[str, Any]], expected: str
) -> None:
    """The STATUS= line counts ok accounts, names unauthorized and paused ones, and sums
    pending, in-flight and failed work across accounts."""
    assert summarize({"accounts": accounts, "watches": {}}) == expected


def test_status_summary_shows_the_latest_push_in_local_time() -> None:
    """The last push is the newest over all accounts, as local HH:MM:SS."""
    newest = time.mktime((2026, 11, 29, 10, 31, 2, 0, 0, -1))
    text = summarize({"accounts": {"a": {"auth": "ok", "last_push": newest - 60},
                                   "b": {"auth": "ok", "last_push": newest}}})
    assert text.endswith("last push 10:31:02")
