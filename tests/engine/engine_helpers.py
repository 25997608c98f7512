"""Shared helpers of the engine tests (imported by name: tests/engine is on sys.path)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def write_theme(root: Path, files: Mapping[str, bytes | str]) -> None:
    """Create ``files`` (rel -> content) under ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)
