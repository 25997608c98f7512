"""(local snapshot, last-pushed state) -> what to upload and delete for one account.

Both inputs map a watch-relative path to a sha256. A file hubsync never pushed counts
as changed, so the first run uploads the theme once and a restart with nothing
changed uploads nothing. Deletes happen only when the watch says ``delete_remote``,
and a safety brake holds them when a batch looks like an accident (an unmounted
disk, an aborted checkout) rather than an edit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from hubsync.core.ordering import upload_order
from hubsync.core.paths import ancestors

DEFAULT_MAX_DELETES = 20
FRACTION_RULE_MIN_FILES = 5
"""The "more than a quarter of the tree" rule ignores smaller batches, or deleting one
file of a three-file theme would always be held."""


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

    @property
    def is_empty(self) -> bool:
        return not (self.uploads or self.deletes or self.held_deletes)


def collapse_deletes(gone: set[str], local: Mapping[str, object]) -> list[Delete]:
    """Deletes for the ``gone`` files, one folder delete per vanished folder.

    A gone file is covered by the outermost folder above it that holds no local file;
    when that folder covers two or more gone files it becomes one folder delete
    (HubSpot deletes folders recursively), otherwise the file is deleted alone.
    """
    local_dirs: set[str] = set()
    for rel in local:
        local_dirs.update(ancestors(rel))
    groups: dict[str | None, list[str]] = defaultdict(list)
    for rel in gone:
        top = next((folder for folder in ancestors(rel) if folder not in local_dirs), None)
        groups[top].append(rel)
    deletes: list[Delete] = []
    for folder, files in groups.items():
        if folder is not None and len(files) >= 2:
            deletes.append(Delete(folder, folder=True))
        else:
            deletes.extend(Delete(rel) for rel in files)
    deletes.sort(key=lambda d: d.rel)
    return deletes


def brake_reason(deleting: int, remote_total: int, *, max_deletes: int,
                 root_missing_or_empty: bool) -> str | None:
    """Why a batch of ``deleting`` files out of ``remote_total`` must be held, or None."""
    advice = "run `hubsync push --allow-deletes` or set settings.allow_deletes = true to go on"
    if root_missing_or_empty:
        return (f"holding {deleting} deletes: the watch folder is missing or empty "
                f"(unmounted disk or aborted checkout?); {advice}")
    if deleting > max_deletes:
        return (f"holding {deleting} deletes: more than {max_deletes} files in one batch; "
                f"{advice}")
    if deleting >= FRACTION_RULE_MIN_FILES and deleting * 4 > remote_total:
        return (f"holding {deleting} deletes: more than a quarter of the {remote_total} "
                f"files pushed; {advice}")
    return None


def plan(
    local: Mapping[str, str],
    pushed: Mapping[str, str],
    *,
    delete_remote: bool,
    max_deletes: int = DEFAULT_MAX_DELETES,
    allow_deletes: bool = False,
    root_missing_or_empty: bool = False,
) -> Plan:
    """Compare ``local`` (rel -> sha256) with ``pushed`` (rel -> sha256 last pushed)."""
    changed = [rel for rel, sha in local.items() if pushed.get(rel) != sha]
    unchanged = len(local) - len(changed)
    uploads = tuple(upload_order(changed))
    if not delete_remote:
        return Plan(uploads=uploads, unchanged=unchanged)
    gone = set(pushed).difference(local)
    if not gone:
        return Plan(uploads=uploads, unchanged=unchanged)
    deletes = tuple(collapse_deletes(gone, local))
    reason = None if allow_deletes else brake_reason(
        len(gone), len(pushed), max_deletes=max_deletes,
        root_missing_or_empty=root_missing_or_empty,
    )
    if reason is not None:
        return Plan(uploads=uploads, unchanged=unchanged, held_deletes=deletes,
                    hold_reason=reason, deleted_files=len(gone))
    return Plan(uploads=uploads, deletes=deletes, unchanged=unchanged,
                deleted_files=len(gone))
