"""Helpers of the archive path tests: themes, the sync log, what the emulator saw."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hubsync.emulator import Emulator
from hubsync.engine.bulk import ARCHIVE_PREFIX

PORTAL = 111


def css_theme(count: int, *, start: int = 0, folders: int = 4) -> dict[str, str]:
    """``count`` distinct CSS files spread over ``folders`` folders."""
    return {f"part{i % folders}/f{i:04}.css": f"/* file {i} */ body {{ margin: {i}px }}\n"
            for i in range(start, start + count)}


def write_files(root: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def sync_log(state_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state_dir / "sync.log").read_text().splitlines()]


def endpoints(emulator: Emulator) -> list[str]:
    """The endpoint of every request the emulator answered, oldest first."""
    return [str(r.endpoint) for r in emulator.requests]


def remote_theme(emulator: Emulator, environment: str = "published") -> dict[str, bytes]:
    """rel -> bytes of what ``my-theme`` holds in the emulated sandbox account."""
    return {path.removeprefix("my-theme/"): stored.content
            for path, stored in emulator.files(PORTAL, environment).items()
            if path.startswith("my-theme/")}


def assert_no_archive_left(emulator: Emulator) -> None:
    """No archive of the archive path is stored, published or draft."""
    for environment in ("published", "draft"):
        left = [p for p in emulator.files(PORTAL, environment) if ARCHIVE_PREFIX in p]
        assert left == [], (environment, left)
