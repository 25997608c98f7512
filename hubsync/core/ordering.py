"""In what order a batch is uploaded, and which pending items a worker may start now.

HubSpot needs a ``*.module`` folder's ``meta.json`` stored (2xx received) before any
other file of that module arrives, or a new module gets a wrong id and meta
(hubspot-api.md section 3). JSON that references other files (``theme.json``,
``fields.json``) is safest after what it references. And one path never has two
requests in flight, so an older save can never land after a newer one.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from hubsync.core.paths import ancestors, is_module_meta, module_meta_of, overlaps
from hubsync.model import OpKind

REFERENCING_JSON: frozenset[str] = frozenset({"theme.json", "fields.json"})
"""File names whose content points at other files: sent after the rest of a batch."""


def upload_rank(rel: str) -> tuple[int, str]:
    """Sort key: module ``meta.json`` first, referencing JSON last, then by path."""
    if is_module_meta(rel):
        group = 0
    elif posixpath.basename(rel) in REFERENCING_JSON:
        group = 2
    else:
        group = 1
    return (group, rel)


def upload_order(rels: Iterable[str]) -> list[str]:
    """``rels`` in upload order; deterministic for any input order."""
    return sorted(rels, key=upload_rank)


@dataclass(frozen=True, slots=True)
class PendingItem:
    """One operation waiting for a worker, keyed by its watch-relative or remote path.

    Callers use one kind of path consistently (the engine uses remote paths); the
    rules below only compare paths with each other.
    """

    rel: str
    op: OpKind
    sha256: str | None = None
    folder: bool = False


def _blocked_by_meta(item: PendingItem, busy: AbstractSet[str],
                     pending_paths: AbstractSet[str], started: AbstractSet[str]) -> bool:
    if item.op is not OpKind.UPLOAD:
        return False
    meta = module_meta_of(item.rel)
    if meta is None:
        return False
    # A meta.json started in this same round is not acknowledged yet either.
    return meta in busy or meta in pending_paths or meta in started


def _conflicts(rel: str, folder: bool, busy: AbstractSet[str],
               busy_folders: AbstractSet[str]) -> bool:
    if rel in busy:
        return True
    if any(a in busy_folders for a in ancestors(rel)):
        return True
    # Only a folder can have busy paths below it; scanning is fine since folder
    # deletes are rare and ``busy`` is as small as the concurrency limit.
    return folder and any(overlaps(other, rel) for other in busy)


def dispatchable(
    pending: Sequence[PendingItem],
    in_flight: AbstractSet[str],
    pending_paths: AbstractSet[str],
    *,
    limit: int | None = None,
) -> list[PendingItem]:
    """The items of ``pending`` (in its order) that may start now, at most ``limit``.

    - at most one request in flight per path (also within the returned list);
    - an upload of a module file waits while ``M/meta.json`` is pending or in flight;
    - a folder delete waits while anything under it is in flight, and anything under
      a folder delete in flight waits for it;
    - among pending items whose paths overlap, the earlier one goes first.

    ``in_flight`` holds the paths being sent now; ``pending_paths`` every path with
    work waiting (including ``pending``'s own, and items not yet due).
    """
    chosen: list[PendingItem] = []
    busy: set[str] = set(in_flight)
    # in_flight carries no kinds: treat each as possibly a folder for the "under" test.
    busy_folders: set[str] = set(in_flight)
    # Paths of earlier items that could not start: later overlapping items must wait.
    waiting: set[str] = set()
    waiting_folders: set[str] = set()
    started: set[str] = set()
    for item in pending:
        if limit is not None and len(chosen) >= limit:
            break
        blocked = (
            _conflicts(item.rel, item.folder, busy, busy_folders)
            or _conflicts(item.rel, item.folder, waiting, waiting_folders)
            or _blocked_by_meta(item, in_flight, pending_paths, started)
        )
        if blocked:
            waiting.add(item.rel)
            if item.folder:
                waiting_folders.add(item.rel)
            continue
        chosen.append(item)
        started.add(item.rel)
        busy.add(item.rel)
        if item.folder:
            busy_folders.add(item.rel)
    return chosen
