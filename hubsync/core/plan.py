"""What a dry run shows: the plan of one (watch, account), and the local file record.

Deciding is :mod:`hubsync.core.outbox`'s job; a :class:`Plan` is only a picture of the
outbox (``engine.report.plan_of``) for ``push --dry-run`` and ``watch --dry-run``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LocalFile:
    """One regular file of a watch as scanned: path, content hash, size in bytes."""

    rel: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove ``rel`` remotely; a folder delete is one recursive request."""

    rel: str
    folder: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do for one account. ``held_deletes`` wait for ``--allow-deletes``."""

    uploads: tuple[str, ...] = ()
    """Paths to upload, in upload order (module ``meta.json`` first)."""
    deletes: tuple[Delete, ...] = ()
    unchanged: int = 0
    """Local files whose content equals what was last pushed."""
    held_deletes: tuple[Delete, ...] = ()
    hold_reason: str | None = None
    """One sentence saying why deletes are held and how to let them through."""
    deleted_files: int = 0
    """How many pushed files ``deletes`` (or ``held_deletes``) remove in all."""
    conflicts: tuple[tuple[str, str], ...] = ()
    """(path, kind) the conflict guard would not send: someone else's version is there."""
    adopted: tuple[str, ...] = ()
    """Paths not uploaded: the remote already holds the same content."""

    @property
    def is_empty(self) -> bool:
        return not (self.uploads or self.deletes or self.held_deletes or self.conflicts)
