"""Shared set-up of the pull tests: a remote theme seeded as a teammate would leave it."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import DEST
from tests.support.processes import HubsyncProcess, hubsync_process, keys_env

TEAMMATE = 7777
"""The HubSpot user id of the teammate editing in the Design Manager."""

THEME: dict[str, bytes] = {
    "theme.json": b'{"label": "Field theme"}\n',
    "templates/home.html": b"<h1>{{ content.title }}</h1>\n",
    "css/main.css": b"body { color: #123456; }\n",
    "modules/hero.module/meta.json": b'{"label": "Hero"}\n',
    "modules/hero.module/module.html": b"<div class=hero>hi</div>\n",
    "images/dot.png": bytes(range(256)) * 4,
    "caf\u00e9 notes.md": "accents \u00e9\u00e8\n".encode(),
}


def seed_remote(emu: EmulatorThread, portal: int, files: dict[str, bytes] | None = None,
                *, dest: str = DEST, user_id: int = TEAMMATE) -> None:
    """Store ``files`` (default ``THEME``) under ``dest`` as ``user_id`` would."""
    for rel, content in (files or THEME).items():
        emu.edit_as(portal, f"{dest}/{rel}", content, user_id=user_id)


def log_lines(state_dir: Path, event: str | None = None) -> list[dict[str, Any]]:
    """The sync log's lines (of ``event`` only, when given)."""
    path = state_dir / "sync.log"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if event is None or line["event"] == event]


@contextmanager
def watch_session(config: Path, emu: EmulatorThread, out: Path,
                  extra: Sequence[str] = ()) -> Iterator[HubsyncProcess]:
    """``hubsync watch EXTRA...`` until "watching" is printed; SIGINT at the end."""
    with hubsync_process(["--config", str(config), "watch", *extra], keys_env(emu), out,
                         stop_signal=signal.SIGINT) as session:
        session.wait_for_output("watching")
        yield session
