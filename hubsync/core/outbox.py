"""The sync engine's one decision core: what is owed to each account, sent next, and
what follows from each answer.

Inputs, as mutagen's ``Reconcile(ancestor, alpha, beta)`` takes them:

- the **local** side: what the tracker saw on disk for some paths (a settled burst) or for
  the whole tree (a reconcile), as ``rel -> LocalFile`` or ``rel -> None`` (gone);
- the **base**: per account and remote path, the content hubsync last synced there
  (:class:`~hubsync.model.SyncedFile`);
- the **remote** view: per remote path, what the remote holds now
  (:class:`~hubsync.model.RemoteVersion`), or ``None`` when unknown. Today every caller
  passes ``None``; remote awareness fills it, and conflicts become decisions made here;
- the **outbox**: the operations owed (:class:`~hubsync.model.OutboxEntry`), and which are
  in flight;
- an **outcome** of a request, and ``now``.

Outputs are :class:`Effects`: rows to write (outbox and base, applied by the state in one
transaction), events to log, paths to look at again, accounts to stop. Nothing here does
I/O or reads a clock, so every rule has table tests and Hypothesis properties
(``tests/core/test_core_outbox*.py``): no file lost or sent twice, newest content wins,
never two requests in flight on one path, a module's ``meta.json`` acknowledged first,
the delete brake holds whatever the timing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import replace

from hubsync.core.brake import brake_reason
from hubsync.core.conflicts import ConflictRules
from hubsync.core.effects import Effects, Policy, Result, Seen, WatchSpec
from hubsync.core.folders import FolderRules
from hubsync.core.ordering import PendingItem, dispatchable, upload_rank
from hubsync.core.outbox_base import _Account
from hubsync.core.paths import to_local, to_remote
from hubsync.model import Conflict, OpKind, OutboxEntry, OutboxState, RemoteVersion

DISPATCH_WINDOW_PER_SLOT = 20
"""Due entries a batch considers per free slot: the head of an account's queue is where
ready work is (a reconcile enqueues in upload order), so sorting the whole backlog each
time a slot frees is not needed."""


class Outbox(FolderRules, ConflictRules):
    """Every account's owed operations and base, and the rules over them: observations,
    the delete brake and dispatch here; answers in :class:`OutcomeRules`; the guard's
    verdicts and resolutions in :class:`ConflictRules`."""

    # --- local observations --------------------------------------------------------------

    def observe(
        self,
        watch: WatchSpec,
        files: Mapping[str, Seen | None],
        now: float,
        *,
        complete: bool = False,
        root_ok: bool = True,
        remote: Mapping[str, RemoteVersion | None] | None = None,
        unknown: Iterable[str] = (),
        left_out: Iterable[str] = (),
    ) -> Effects:
        """What the tracker saw: ``rel -> Seen`` (a file) or ``rel -> None`` (gone).

        ``complete`` means ``files`` holds the whole tree (a reconcile): every synced path
        of the watch that is not in it is gone. ``root_ok`` is False when the watch root is
        missing or holds no file (an unmounted disk): deletes are then held. ``remote`` is
        the remote view (None: unknown); it is taken by remote awareness and ignored today.
        ``unknown`` are paths (files or folders, ``""`` for the root) that exist but could
        not be read: nothing at or under them is judged gone, so nothing is deleted.
        ``left_out`` are paths the rules now leave out (an ``.hsignore`` pattern, a symlink
        leaving the root): nothing is owed for them any more, and nothing is deleted
        either: ignoring a file is not deleting it.
        """
        del remote  # reserved: the remote view, filled by remote awareness
        blind = (*unknown, *left_out)
        effects = Effects()
        for account in watch.accounts:
            acc = self._accounts[account]
            for rel, local in self._judged(acc, watch, files, complete, blind).items():
                remote_path = to_remote(watch.dest, rel)
                if self._held_by_conflict(acc, remote_path, local, now, effects,
                                          say=not complete):
                    continue
                if local is None:
                    self._gone(acc, watch, account, rel, remote_path, now, effects)
                else:
                    self._present(acc, watch, account, rel, remote_path, local, now, effects)
            self._forget_left_out(acc, watch, tuple(left_out), effects)
            if not root_ok:
                self._hold_all_new(acc, account, watch, effects, root_missing_or_empty=True)
        return effects

    def _held_by_conflict(self, acc: _Account, remote_path: str, local: Seen | None,
                          now: float, effects: Effects, *, say: bool) -> bool:
        """Whether an unresolved conflict holds ``remote_path`` (nothing is owed for it);
        a local file made equal to the kept remote copy ends the conflict. ``say``: a
        save (not a reconcile, whose summary lists open conflicts) of new content is
        told it was not sent, once per content."""
        conflict = acc.conflicts.get(remote_path)
        if conflict is None:
            return False
        if remote_path in acc.resolving:
            return True  # `hubsync resolve` decides, and looks at the file again after
        if local is not None and not self.settle_conflict(acc, conflict, local, now,
                                                          effects) and say:
            self._say_held(acc, conflict, local, effects)
        return True

    @staticmethod
    def _say_held(acc: _Account, conflict: Conflict, local: Seen, effects: Effects) -> None:
        if local.sha256 in (conflict.local_sha256, acc.said_held.get(conflict.remote_path)):
            return
        acc.said_held[conflict.remote_path] = local.sha256
        effects.emit("skipped", watch=conflict.watch, account=conflict.account,
                     path=conflict.rel, remote_path=conflict.remote_path,
                     reason="not sent: in conflict with a remote version hubsync did not "
                     f"write; decide with `hubsync resolve {conflict.rel} --keep "
                     "local|remote`")

    @staticmethod
    def _judged(acc: _Account, watch: WatchSpec, files: Mapping[str, Seen | None],
                complete: bool, blind: tuple[str, ...]) -> dict[str, Seen | None]:
        seen: dict[str, Seen | None] = {rel: local for rel, local in files.items()
                                        if local is not None or not _within(rel, blind)}
        if complete:
            # Whatever is synced or owed under the watch and not on disk is gone.
            for remote_path in [*acc.base, *acc.entries]:
                rel = to_local(watch.dest, remote_path)
                if rel is not None and rel not in seen and not _within(rel, blind):
                    seen[rel] = None
        return seen

    def _forget_left_out(self, acc: _Account, watch: WatchSpec, left_out: tuple[str, ...],
                         effects: Effects) -> None:
        if not left_out:
            return
        for remote_path, entry in list(acc.entries.items()):
            if (entry.watch == watch.name and entry.op is OpKind.UPLOAD
                    and remote_path not in acc.in_flight and _within(entry.rel, left_out)):
                self._drop(acc, remote_path, effects)

    def _present(self, acc: _Account, watch: WatchSpec, account: str, rel: str,
                 remote_path: str, local: Seen, now: float, effects: Effects) -> None:
        current = acc.entries.get(remote_path)
        synced = acc.base.get(remote_path)
        in_flight = remote_path in acc.in_flight
        if current is not None and current.op is OpKind.DELETE and not in_flight:
            self._withdraw_delete(acc, current, now)
        sent = current.sent_sha256 if current is not None else None
        if (synced is not None and synced.sha256 == local.sha256 and not in_flight
                and sent in (None, synced.sha256)):
            # Nothing is owed: the content went back to what is remote (or never left).
            if current is not None:
                self._drop(acc, remote_path, effects)
            return
        if (current is not None and current.op is OpKind.UPLOAD
                and current.sha256 == local.sha256):
            return  # already owed (pending, parked for this content, or in flight)
        entry = OutboxEntry(
            account=account, remote_path=remote_path, watch=watch.name, rel=rel,
            op=OpKind.UPLOAD, sha256=local.sha256, size=local.size, due_s=now,
            enqueued_s=current.enqueued_s if current is not None else now, sent_sha256=sent,
        )
        self._put(acc, entry, effects)

    def _gone(self, acc: _Account, watch: WatchSpec, account: str, rel: str,
              remote_path: str, now: float, effects: Effects) -> None:
        current = acc.entries.get(remote_path)
        synced = acc.base.get(remote_path)
        in_flight = acc.in_flight.get(remote_path)
        sent = current.sent_sha256 if current is not None else None
        if synced is None and sent is None and (
                in_flight is None or in_flight.op is OpKind.DELETE):
            # Never synced, and no earlier send may have landed: nothing remote is ours.
            if current is not None and current.op is OpKind.UPLOAD:
                self._drop(acc, remote_path, effects)
            return
        if not watch.delete_remote:
            self._keep_remote(acc, watch, account, rel, remote_path, now, effects)
            return
        if current is not None and current.op is OpKind.DELETE:
            return
        held = any(e.state is OutboxState.HELD for e in acc.entries.values())
        entry = OutboxEntry(
            account=account, remote_path=remote_path, watch=watch.name, rel=rel,
            op=OpKind.DELETE, due_s=now, enqueued_s=now,
            approved=self.policy.allow_deletes,
            state=OutboxState.HELD if held and not self.policy.allow_deletes
            else OutboxState.PENDING, sent_sha256=sent,
        )
        self._put(acc, entry, effects)
        if not entry.approved and entry.state is OutboxState.PENDING:
            acc.ledger.queued(now)

    def left_remote(self, account: str, remote_path: str) -> bool:
        """Whether hubsync stopped tracking ``remote_path`` after a local delete it did not
        send (``delete_remote = false``, discarded held deletes; in this session or an
        earlier one) and has not synced it since: the remote copy stays on purpose, and a
        two-way poll must not write it back."""
        acc = self._accounts[account]
        return remote_path in acc.left_remote and remote_path not in acc.base

    def _keep_remote(self, acc: _Account, watch: WatchSpec, account: str, rel: str,
                     remote_path: str, now: float, effects: Effects) -> None:
        """A local delete under ``delete_remote = false``: the remote copy stays, hubsync
        stops tracking it (said once), and anything still owed for the path is dropped."""
        current = acc.entries.get(remote_path)
        if current is not None and remote_path not in acc.in_flight:
            self._drop(acc, remote_path, effects)
        synced = acc.base.pop(remote_path, None) is not None
        if synced or (current is not None and current.sent_sha256 is not None):
            self._leave_remote(acc, account, remote_path, now, effects)
            effects.emit("skipped", watch=watch.name, account=account, path=rel,
                         remote_path=remote_path,
                         reason="deleted here; delete_remote is off for this watch, so "
                         "the remote copy stays")

    # --- the delete brake ----------------------------------------------------------------

    def _unvetted(self, acc: _Account) -> list[OutboxEntry]:
        return [e for e in acc.entries.values()
                if e.op is OpKind.DELETE and e.state is OutboxState.PENDING and not e.approved]

    def vet_deletes(self, account: str, now: float) -> Effects:
        """Judge the account's open delete batch once it has gone quiet (``brake``)."""
        acc = self._accounts[account]
        effects = Effects()
        settles_at = acc.ledger.settles_at()
        if settles_at is None or now < settles_at:
            return effects
        acc.ledger.vetted()
        batch = self._unvetted(acc)
        if not batch:
            return effects
        held_before = any(e.state is OutboxState.HELD for e in acc.entries.values())
        approved_pending = self._approved_files(acc)
        deleting = sum(self._files_deleted(acc, e) for e in batch)
        earlier = approved_pending + acc.ledger.sent_within_window(now)
        reason = None if self.policy.allow_deletes else brake_reason(
            deleting, self._tracked(acc), max_deletes=self.policy.max_deletes,
            root_missing_or_empty=False, earlier=earlier, window_s=self.policy.brake_window_s)
        if reason is None and not held_before:
            for entry in batch:
                self._put(acc, replace(entry, approved=True), effects)
            return effects
        self._hold(acc, account, batch, reason, effects)
        return effects

    def _withdraw_delete(self, acc: _Account, entry: OutboxEntry, now: float) -> None:
        """The file of a queued delete is back. If the delete was sent before and its
        answer left open whether it deleted, the brake counts it as sent: it was counted
        while approved and waiting, and must not vanish from the window."""
        if entry.approved and entry.attempts > 0:
            acc.ledger.record_sent(now, self._files_deleted(acc, entry))

    def _approved_files(self, acc: _Account) -> int:
        """Files that approved deletes not yet answered may remove: the ones waiting, and
        every one in flight, including one whose entry a newer want replaced (it may
        still delete the file)."""
        waiting = sum(self._files_deleted(acc, e) for e in acc.entries.values()
                      if e.op is OpKind.DELETE and e.approved
                      and e.remote_path not in acc.in_flight)
        flying = sum(self._files_deleted(acc, e) for e in acc.in_flight.values()
                     if e.op is OpKind.DELETE)
        return waiting + flying

    def _hold_all_new(self, acc: _Account, account: str, watch: WatchSpec, effects: Effects,
                      *, root_missing_or_empty: bool) -> None:
        if self.policy.allow_deletes:
            return
        batch = [e for e in self._unvetted(acc) if e.watch == watch.name]
        if not batch:
            return
        acc.ledger.vetted()
        deleting = sum(self._files_deleted(acc, e) for e in batch)
        reason = brake_reason(deleting, self._tracked(acc), max_deletes=self.policy.max_deletes,
                              window_s=self.policy.brake_window_s,
                              root_missing_or_empty=root_missing_or_empty)
        self._hold(acc, account, batch, reason, effects)

    def _hold(self, acc: _Account, account: str, batch: list[OutboxEntry],
              reason: str | None, effects: Effects) -> None:
        for entry in batch:
            self._put(acc, replace(entry, state=OutboxState.HELD), effects)
        held = self.held_files(account)
        if reason is None:
            reason = brake_reason(held, self._tracked(acc), max_deletes=self.policy.max_deletes,
                                  window_s=self.policy.brake_window_s,
                                  root_missing_or_empty=False) or (
                f"holding {held} deletes: earlier deletes of this account are held")
        watches = sorted({e.watch for e in batch})
        effects.emit("held", account=account, watch=watches[0] if len(watches) == 1 else None,
                     deletes=held, reason=reason)

    def release_holds(self, account: str | None, now: float) -> Effects:
        """Let every held delete of ``account`` (None: all) go out now."""
        effects = Effects()
        for name in self._select(account):
            acc = self._accounts[name]
            held = [e for e in acc.entries.values() if e.state is OutboxState.HELD]
            for entry in held:
                self._put(acc, replace(entry, state=OutboxState.PENDING, approved=True,
                                       due_s=now), effects)
            if held:
                effects.emit("released", account=name, deletes=len(held))
        return effects

    def discard_holds(self, account: str | None, now: float = 0.0) -> Effects:
        """Forget every held delete of ``account`` (None: all): the remote files stay, and
        hubsync stops tracking them (they are no longer in its base). ``now``: epoch
        seconds, recorded with each file left on the remote."""
        effects = Effects()
        for name in self._select(account):
            acc = self._accounts[name]
            held = [e for e in acc.entries.values() if e.state is OutboxState.HELD]
            for entry in held:
                self._drop(acc, entry.remote_path, effects)
                for path in self._covered(acc, entry):
                    del acc.base[path]
                    self._leave_remote(acc, name, path, now, effects)
            if held:
                effects.emit("discarded", account=name, deletes=len(held))
        return effects

    # --- dispatch ------------------------------------------------------------------------

    def next_batch(self, account: str, now: float, limit: int) -> list[OutboxEntry]:
        """Up to ``limit`` entries to send now, marked in flight (deletes first, then
        upload order; one request per path; a module file after its ``meta.json``)."""
        acc = self._accounts[account]
        if limit <= 0:
            return []
        window = DISPATCH_WINDOW_PER_SLOT * max(limit, 1)
        due: list[OutboxEntry] = []
        for entry in acc.entries.values():
            if self._due(entry, acc, now):
                due.append(entry)
                if len(due) >= window:
                    break
        if not due:
            return []
        due.sort(key=self._send_rank)
        items = [PendingItem(e.remote_path, e.op, e.sha256, e.folder) for e in due]
        by_path = {e.remote_path: e for e in due}
        # A folder being folder-deleted is busy: nothing under it starts meanwhile.
        busy = acc.in_flight.keys() | acc.busy_folders if acc.busy_folders \
            else acc.in_flight.keys()
        chosen = dispatchable(items, busy, _Waiting(acc), limit=limit)
        batch = [by_path[item.rel] for item in chosen]
        for entry in batch:
            acc.in_flight[entry.remote_path] = entry
        return batch

    def _send_rank(self, entry: OutboxEntry) -> tuple[int, tuple[int, str]]:
        """Deletes first, then ``upload_rank``; remembered per path (sorted again every
        time a slot frees)."""
        rank = self._ranks.get(entry.rel)
        if rank is None:
            rank = self._ranks[entry.rel] = upload_rank(entry.rel)
        return (0 if entry.op is OpKind.DELETE else 1, rank)

    def _due(self, entry: OutboxEntry, acc: _Account, now: float) -> bool:
        if not self._sendable(entry, acc) or entry.due_s > now:
            return False
        if entry.remote_path in acc.in_flight or entry.remote_path in acc.unwritten:
            return False
        return entry.op is OpKind.UPLOAD or entry.approved

    def written(self, rows: Iterable[OutboxEntry]) -> None:
        """The state has written ``rows`` (an ``Effects.upsert``): those entries may be
        sent now. A row replaced by a newer want meanwhile stays unwritten until its own
        write is reported (identity, not path, decides)."""
        for row in rows:
            acc = self._accounts.get(row.account)
            if acc is not None and acc.unwritten.get(row.remote_path) is row:
                del acc.unwritten[row.remote_path]

    def next_wake(self, account: str, now: float) -> float | None:
        """When something of ``account`` that is not due yet becomes due (a retry's
        backoff, or a delete batch settling); None when nothing waits for a time."""
        acc = self._accounts[account]
        times = [t for t in (self._entries_wake(acc, now), acc.ledger.settles_at())
                 if t is not None]
        return min(times) if times else None

def _within(rel: str, folders: tuple[str, ...]) -> bool:
    """Whether ``rel`` is one of ``folders`` or under one (``""`` is the whole tree)."""
    return any(f == "" or rel == f or rel.startswith(f + "/") for f in folders)


class _Waiting(AbstractSet[str]):
    """Remote paths with a sendable entry: a live view for ``dispatchable``'s meta rule."""

    __slots__ = ("_acc",)

    def __init__(self, acc: _Account) -> None:
        self._acc = acc

    def __contains__(self, path: object) -> bool:
        entry = self._acc.entries.get(path) if isinstance(path, str) else None
        return (entry is not None and entry.state is OutboxState.PENDING
                and path not in self._acc.gave_up)

    def __iter__(self) -> Iterator[str]:
        return (p for p in list(self._acc.entries) if p in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


__all__ = ["Effects", "Outbox", "Policy", "Result", "Seen", "WatchSpec"]
