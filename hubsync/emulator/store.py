"""The emulated remote tree: files and folders per portal and environment.

In memory, guarded by the server's lock; the optional on-disk mirror is written by the
server (one writer thread), so this module does no I/O beyond ``load_mirror``.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from pathlib import Path


class Environment(enum.StrEnum):
    """Which copy of the Design Manager tree a request reads or writes."""

    DRAFT = "draft"
    """The buffer written by ``buffer=true`` uploads."""
    PUBLISHED = "published"
    """What is live; ``buffer=false`` uploads write here and to the draft."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One stored file and who wrote it last."""

    content: bytes = field(repr=False)
    sha256: str
    size: int
    user_id: int
    """The HubSpot user whose token uploaded it: the attribution the tests check."""
    updated_at_ms: int
    before_meta: bool = False
    """Written inside a ``*.module`` folder before that module's ``meta.json`` existed."""
    created_at_ms: int = 0

    @classmethod
    def build(cls, content: bytes, *, user_id: int, now_ms: int, before_meta: bool = False,
              created_at_ms: int | None = None) -> StoredFile:
        """A record for ``content`` written now by ``user_id``."""
        return cls(
            content=content,
            sha256=hashlib.sha256(content).hexdigest(),
            size=len(content),
            user_id=user_id,
            updated_at_ms=now_ms,
            before_meta=before_meta,
            created_at_ms=now_ms if created_at_ms is None else created_at_ms,
        )


@dataclass(frozen=True, slots=True)
class Node:
    """What ``meta/`` says about one path."""

    name: str
    path: str
    folder: bool
    children: tuple[str, ...]
    created_at_ms: int
    updated_at_ms: int
    writer_user_id: int | None = None
    """The last writer of a file (None for folders, and for files loaded from a mirror)."""


def normalize_path(raw: str) -> str | None:
    """The stored form of a decoded remote path (no leading or trailing ``/``).

    ``None`` for a path HubSpot could not store: empty, ``.``/``..`` or empty segments.
    The root itself is ``""`` and only valid where the caller allows it.
    """
    path = raw.strip("/")
    if not path:
        return ""
    segments = path.split("/")
    if any(seg in ("", ".", "..") or "\\" in seg or "\x00" in seg for seg in segments):
        return None
    return path


def module_meta_path(path: str) -> str | None:
    """The ``meta.json`` of the innermost ``*.module`` folder holding ``path``, if any."""
    segments = path.split("/")
    for index in range(len(segments) - 2, -1, -1):
        if segments[index].lower().endswith(".module"):
            return "/".join([*segments[: index + 1], "meta.json"])
    return None


@dataclass(slots=True)
class RemoteTree:
    """One portal's files in one environment. Folders exist explicitly, as in HubSpot:
    created implicitly by an upload, kept when their last file is deleted."""

    files: dict[str, StoredFile] = field(default_factory=dict)
    folders: dict[str, int] = field(default_factory=dict)
    """Folder path -> created at (epoch ms)."""

    def put(self, path: str, stored: StoredFile) -> None:
        """Store a file, creating its parent folders."""
        segments = path.split("/")
        for depth in range(1, len(segments)):
            self.folders.setdefault("/".join(segments[:depth]), stored.updated_at_ms)
        self.files[path] = stored

    def delete(self, path: str) -> bool:
        """Remove a file or a folder and everything under it; ``False`` if nothing was there."""
        if path in self.files:
            del self.files[path]
            return True
        if path not in self.folders:
            return False
        prefix = path + "/"
        for name in [p for p in self.files if p.startswith(prefix)]:
            del self.files[name]
        for name in [p for p in self.folders if p == path or p.startswith(prefix)]:
            del self.folders[name]
        return True

    def node(self, path: str) -> Node | None:
        """Metadata of a file, a folder, or the root (``""``); ``None`` if absent."""
        name = path.rsplit("/", 1)[-1]
        stored = self.files.get(path)
        if stored is not None:
            return Node(name, path, False, (), stored.created_at_ms, stored.updated_at_ms,
                        stored.user_id or None)
        if path and path not in self.folders:
            return None
        prefix = f"{path}/" if path else ""
        children = sorted(
            {p[len(prefix):].split("/", 1)[0] for p in [*self.files, *self.folders]
             if p.startswith(prefix) and p != path}
        )
        inside = [f.updated_at_ms for p, f in self.files.items() if p.startswith(prefix)]
        created = self.folders.get(path, min(self.folders.values(), default=0))
        return Node(name, path, True, tuple(children), created, max(inside, default=created))


def load_mirror(root: Path) -> dict[tuple[int, Environment], RemoteTree]:
    """Trees mirrored under ``root/<portal>/<env>/`` by an earlier run (writer unknown: 0)."""
    trees: dict[tuple[int, Environment], RemoteTree] = {}
    if not root.is_dir():
        return trees
    for portal_dir in root.iterdir():
        if not portal_dir.name.isdigit():
            continue
        for env in Environment:
            env_dir = portal_dir / env.value
            if not env_dir.is_dir():
                continue
            tree = trees.setdefault((int(portal_dir.name), env), RemoteTree())
            for item in sorted(env_dir.rglob("*")):
                rel = item.relative_to(env_dir).as_posix()
                mtime_ms = int(item.stat().st_mtime * 1000)
                if item.is_dir():
                    tree.folders.setdefault(rel, mtime_ms)
                elif item.is_file():
                    tree.put(rel, StoredFile.build(item.read_bytes(), user_id=0, now_ms=mtime_ms))
    return trees
