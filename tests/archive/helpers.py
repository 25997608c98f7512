"""Helpers of the archive path tests: themes, one push, the sync log, what the emulator
saw and holds (in-process ``Emulator`` or ``EmulatorThread`` alike)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubsync.app import build_engine
from hubsync.config import Config
from hubsync.emulator import Emulator, EmulatorThread
from hubsync.engine import Summary
from hubsync.engine.bulk import ARCHIVE_PREFIX
from tests.support.processes import remote_tree, write_files

PORTAL = 111
DEST = "my-theme"

AnyEmulator = Emulator | EmulatorThread

__all__ = ["PORTAL", "assert_landed", "assert_no_archive_left", "assert_requests",
           "css_theme", "endpoints", "log_lines", "push_files", "push_landed", "remote_theme",
           "seen", "sync_log", "write_files"]


def css_theme(count: int, *, start: int = 0, folders: int = 4) -> dict[str, str]:
    """``count`` distinct CSS files spread over ``folders`` folders."""
    return {f"part{i % folders}/f{i:04}.css": f"/* file {i} */ body {{ margin: {i}px }}\n"
            for i in range(start, start + count)}


async def push_files(config: Config, files: Mapping[str, str] | None = None) -> Summary:
    """Write ``files`` (rel -> text) into the config's watch folder, then one
    ``push_once`` of a new engine: what ``hubsync push`` does, in this process."""
    if files:
        write_files(config.watches[0].src, files)
    return await build_engine(config).push_once()


async def push_landed(config: Config, emulator: AnyEmulator, files: Mapping[str, str]
                      ) -> Summary:
    """:func:`push_files`, which must succeed, after which the remote theme is exactly
    ``files`` (the theme folder holds nothing else)."""
    summary = await push_files(config, files)
    assert summary.ok, summary
    assert_landed(emulator, files)
    return summary


def sync_log(state_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state_dir / "sync.log").read_text().splitlines()]


def log_lines(config: Config, event: str) -> list[dict[str, Any]]:
    """The sync log's ``event`` lines of the config's state dir, oldest first."""
    return [line for line in sync_log(config.settings.state_dir) if line["event"] == event]


def endpoints(emulator: AnyEmulator) -> list[str]:
    """The endpoint of every request the emulator answered, oldest first."""
    return [str(r.endpoint) for r in emulator.requests]


def seen(emulator: AnyEmulator) -> Counter[str]:
    """How many requests the emulator answered per endpoint (``upload``, ``extract``...)."""
    return Counter(endpoints(emulator))


def assert_requests(emulator: AnyEmulator, **expected: int) -> Counter[str]:
    """The emulator answered exactly ``expected[endpoint]`` requests of each endpoint
    named (``extract=1, upload=0``); returns the counts of every endpoint."""
    counts = seen(emulator)
    assert {endpoint: counts[endpoint] for endpoint in expected} == expected, counts
    return counts


def remote_theme(emulator: AnyEmulator, environment: str = "published") -> dict[str, bytes]:
    """rel -> bytes of what ``my-theme`` holds in the emulated sandbox account."""
    return remote_tree(emulator, PORTAL, DEST, environment)


def assert_landed(emulator: AnyEmulator, theme: Mapping[str, str]) -> None:
    """``my-theme`` holds exactly ``theme`` (rel -> text), byte for byte."""
    assert remote_theme(emulator) == {rel: text.encode() for rel, text in theme.items()}


def assert_no_archive_left(emulator: AnyEmulator) -> None:
    """No archive of the archive path is stored, published or draft."""
    for environment in ("published", "draft"):
        left = [p for p in emulator.files(PORTAL, environment) if ARCHIVE_PREFIX in p]
        assert left == [], (environment, left)
