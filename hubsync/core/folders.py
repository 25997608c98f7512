"""Scoped folder deletes: when a removed local folder may become ONE remote folder delete.

Part of the decision core (pure: no I/O, no clock). Issue 10: "hubsync only ever deletes
remote files it synced and whose remote version is still the one it synced. A local
folder removal becomes one folder delete only when the remote folder holds nothing else
(verified by listing it); otherwise one delete per synced file. The brake counts files,
not requests."

A folder delete is recursive on HubSpot (hubspot-api.md §3): it takes every file under
the folder, a teammate's too. So the rules here only ever *narrow* what per-file deletes
would do, never widen it:

1. **Grouping** (:func:`whole_folders`): the per-file deletes the outbox already owes
   (approved by the delete brake, which counted them one file each, and due) form a
   *whole folder* F when F is gone locally, every file hubsync synced under F has such a
   delete, and nothing else is owed, in flight, in conflict or being folder-deleted
   under F. The outermost such folder is taken.
2. **Verdict** (:func:`decide`): the worker lists F recursively (filemapper ``meta/`` of
   F and of each sub-folder: names only) and asks the conflict guard about every file
   (:func:`hubsync.core.guard.judge`, one metadata read each, as for a per-file delete).
   ONE folder delete is decided only when the listing holds exactly the synced files
   (no other file at any depth; empty sub-folders hold nothing) and the guard would send
   every one of them. Anything else: the per-file deletes go as usual, each guarded.
3. **The answer** (:func:`folder_results`): one :class:`~hubsync.core.effects.Result`
   per file, with the folder delete's outcome, so the outcome rules
   (:mod:`hubsync.core.outcomes`) treat each file exactly as if it had been deleted on
   its own: its base row goes, the brake's ledger counts one file, the sync log gets one
   ``deleted`` line (``via: "folder"``, ``remote_folder``), and a failure that may have
   applied leaves the file's remote content unknown, so a later per-file delete reads
   it first.

:class:`FolderRules` is the part of :class:`hubsync.core.outbox.Outbox` that takes a
group (its entries in flight, the folder busy so nothing is dispatched under it) and
gives it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

from hubsync.core.effects import Result
from hubsync.core.outbox_base import OutboxBase, _Account
from hubsync.core.paths import ancestors, is_under
from hubsync.model import OpKind, OutboxEntry, OutboxState

VIA_FOLDER = "folder"
"""The ``via`` field of a ``deleted`` sync log line whose file went in a folder delete."""


@dataclass(frozen=True, slots=True)
class FolderGroup:
    """Per-file deletes that together remove every synced file of one remote folder.

    ``remote_folder`` is the Design Manager folder (``field-theme/modules/hero.module``),
    ``rel`` the same folder relative to the watch root; ``entries`` the per-file delete
    entries (sorted by remote path), in flight while the group is worked on.
    """

    account: str
    watch: str
    rel: str
    remote_folder: str
    entries: tuple[OutboxEntry, ...]

    @property
    def synced(self) -> frozenset[str]:
        """The remote paths of the files hubsync synced under the folder (all of them)."""
        return frozenset(e.remote_path for e in self.entries)


@dataclass(frozen=True, slots=True)
class Listing:
    """What a recursive listing of a remote folder found: remote paths of every file at
    any depth, and of every sub-folder (the folder itself included)."""

    files: frozenset[str]
    folders: frozenset[str] = frozenset()


def remote_dest(entry: OutboxEntry) -> str:
    """The watch's ``dest`` an entry's remote path was made from (``dest/rel``)."""
    return entry.remote_path[: len(entry.remote_path) - len(entry.rel)].rstrip("/")


def _join(dest: str, rel: str) -> str:
    return f"{dest}/{rel}" if dest else rel


def candidate_folders(deletes: Iterable[OutboxEntry]) -> set[tuple[str, str]]:
    """``(watch, rel folder)`` of every folder strictly above a delete, below the watch
    root: the folders whose local absence the caller checks (the root never qualifies:
    a missing root holds every delete, ``Outbox.observe``)."""
    return {(d.watch, folder) for d in deletes for folder in ancestors(d.rel)}


def whole_folders(deletes: Iterable[OutboxEntry], *, gone: AbstractSet[tuple[str, str]],
                  base: Iterable[str], owed: Iterable[str] = (),
                  conflicts: Iterable[str] = (), busy: Iterable[str] = (),
                  ) -> list[FolderGroup]:
    """The whole folders among ``deletes`` (see the module docstring), outermost first.

    ``deletes``: one account's sendable per-file deletes (approved, due, not in flight).
    ``gone``: ``(watch, rel folder)`` missing locally. ``base``: every remote path the
    account has synced. ``owed``: remote paths of every other entry or request of the
    account (uploads, held or unapproved deletes, anything in flight). ``conflicts``:
    remote paths with an open conflict. ``busy``: remote folders being folder-deleted.
    Every delete is in at most one group; a group holds every synced file of its folder.
    """
    deletes = sorted(deletes, key=lambda d: d.remote_path)
    folder_of: dict[str, tuple[str, str]] = {}
    for d in deletes:
        dest = remote_dest(d)
        for rel in ancestors(d.rel):
            if (d.watch, rel) in gone:
                folder_of.setdefault(_join(dest, rel), (d.watch, rel))
    if not folder_of:
        return []
    blocked: set[str] = set()
    for path in (*owed, *conflicts):
        blocked.update(_within(path, folder_of))
    busy = tuple(busy)
    blocked.update(f for f in folder_of
                   if any(f == b or is_under(f, b) or is_under(b, f) for b in busy))
    synced_under: dict[str, set[str]] = {}
    for path in base:
        for folder in _within(path, folder_of):
            synced_under.setdefault(folder, set()).add(path)
    members: dict[str, list[OutboxEntry]] = {}
    for d in deletes:
        for folder in _within(d.remote_path, folder_of):
            members.setdefault(folder, []).append(d)
    whole = {f for f, (watch, _rel) in folder_of.items()
             if f not in blocked and f in members
             and {d.remote_path for d in members[f]} == synced_under.get(f, set())
             and all(d.watch == watch for d in members[f])}
    groups: list[FolderGroup] = []
    taken: set[str] = set()
    for folder in sorted(whole, key=lambda f: (f.count("/"), f)):
        if any(is_under(folder, t) for t in taken):
            continue  # inside an outer whole folder: deleted with it
        taken.add(folder)
        watch, rel = folder_of[folder]
        entries = tuple(members[folder])
        groups.append(FolderGroup(entries[0].account, watch, rel, folder, entries))
    return groups


def _within(path: str, folders: Mapping[str, object]) -> list[str]:
    """The folders of ``folders`` that ``path`` lies strictly inside."""
    return [a for a in ancestors(path) if a in folders]


def decide(group: FolderGroup, listing: Listing | None, sendable: Mapping[str, bool]
           ) -> bool:
    """Whether ONE delete of ``group.remote_folder`` may go: only when ``listing`` (None:
    the listing failed) holds exactly the synced files, and the guard would send the
    delete of every one of them (``sendable[remote path]``; a file missing from it was
    not judged, or its read failed)."""
    if listing is None or listing.files != group.synced:
        return False
    return all(sendable.get(path, False) for path in group.synced)


def folder_results(group: FolderGroup, result: Result) -> list[tuple[OutboxEntry, Result]]:
    """One result per file from the answer to the folder delete: the same outcome for
    each (a 404 is "already gone", as for a file), marked ``via: "folder"`` with the
    folder's remote path, so the outcome rules log, unsync and count each file."""
    fields = {**result.fields, "via": VIA_FOLDER, "remote_folder": group.remote_folder}
    each = replace(result, fields=fields)
    return [(entry, each) for entry in group.entries]


class FolderRules(OutboxBase):
    """The outbox's folder-delete bookkeeping (see the module docstring)."""

    def folder_candidates(self, account: str, now: float) -> set[tuple[str, str]]:
        """``(watch, rel folder)`` above the account's sendable deletes: the caller
        checks which are gone locally, then calls :meth:`take_folders`. Cheap when
        nothing is to be deleted (only delete entries are looked at)."""
        return candidate_folders(self._sendable_deletes(self._accounts[account], now))

    def take_folders(self, account: str, now: float, gone: AbstractSet[tuple[str, str]]
                     ) -> list[FolderGroup]:
        """The whole folders of ``account`` now, their entries marked in flight and the
        folders busy (nothing under them is dispatched) until :meth:`folder_done`."""
        acc = self._accounts[account]
        deletes = self._sendable_deletes(acc, now)
        if not deletes:
            return []
        chosen = {e.remote_path for e in deletes}
        owed = [p for p in acc.entries if p not in chosen]
        owed.extend(acc.in_flight)
        groups = whole_folders(deletes, gone=gone, base=acc.base, owed=owed,
                               conflicts=acc.conflicts, busy=acc.busy_folders)
        for group in groups:
            acc.busy_folders.add(group.remote_folder)
            for entry in group.entries:
                acc.in_flight[entry.remote_path] = entry
        return groups

    def folder_done(self, group: FolderGroup) -> None:
        """The group's folder is no longer worked on: paths under it may be sent again.
        Every entry of the group must have been answered or given back by then."""
        self._accounts[group.account].busy_folders.discard(group.remote_folder)

    def _sendable_deletes(self, acc: _Account, now: float) -> list[OutboxEntry]:
        found: list[OutboxEntry] = []
        for path in acc.deletes:
            entry = acc.entries.get(path)
            if (entry is not None and entry.op is OpKind.DELETE and entry.approved
                    and not entry.folder and entry.state is OutboxState.PENDING
                    and entry.due_s <= now and path not in acc.in_flight
                    and path not in acc.unwritten and path not in acc.gave_up):
                found.append(entry)
        return found


__all__ = ["VIA_FOLDER", "FolderGroup", "FolderRules", "Listing", "candidate_folders",
           "decide", "folder_results", "remote_dest", "whole_folders"]
