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
from dataclasses import dataclass, field, replace
from typing import Any

from hubsync.core import retry
from hubsync.core.brake import DeleteLedger, brake_reason
from hubsync.core.effects import UNKNOWN_CONTENT, Effects, Policy, Result, Seen, WatchSpec
from hubsync.core.ordering import PendingItem, dispatchable, upload_rank
from hubsync.core.paths import to_local, to_remote
from hubsync.model import OpKind, OutboxEntry, OutboxState, RemoteVersion, SyncedFile

UNCERTAIN = frozenset({retry.Outcome.TRANSIENT, retry.Outcome.UNEXPECTED})
"""Failures after which the request may have been applied (a 5xx after the write, a
timeout, a dropped connection): the remote content at that path becomes unknown."""

DISPATCH_WINDOW_PER_SLOT = 20
"""Due entries a batch considers per free slot: the head of an account's queue is where
ready work is (a reconcile enqueues in upload order), so sorting the whole backlog each
time a slot frees is not needed."""


@dataclass(slots=True)
class _Account:
    entries: dict[str, OutboxEntry] = field(default_factory=dict)
    """remote path -> the newest wanted operation; insertion order is send order."""
    in_flight: dict[str, OutboxEntry] = field(default_factory=dict)
    """remote path -> the entry as it was sent."""
    base: dict[str, SyncedFile] = field(default_factory=dict)
    gave_up: set[str] = field(default_factory=set)
    unwritten: dict[str, OutboxEntry] = field(default_factory=dict)
    """remote path -> an entry whose row the state has not written yet: not sent before
    it is (nothing goes out that the state could not record)."""
    ledger: DeleteLedger = field(default_factory=DeleteLedger)
    pushed: int = 0
    deleted: int = 0
    wake: tuple[float, float | None] | None = None
    """``next_wake``'s last answer for entries: (``now`` it was asked at, the earliest
    ``due_s`` after it, or None). Forgotten whenever an entry or ``gave_up`` changes."""


class Outbox:
    """Every account's owed operations and base, and the rules over them."""

    def __init__(self, accounts: Iterable[str], policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self._accounts: dict[str, _Account] = {}
        self._ranks: dict[str, tuple[int, str]] = {}
        for name in accounts:
            self._accounts[name] = _Account(ledger=DeleteLedger(
                window_s=self.policy.brake_window_s, settle_s=self.policy.delete_settle_s))

    # --- loading and queries -------------------------------------------------------------

    def load(self, entries: Iterable[OutboxEntry], base: Iterable[SyncedFile]) -> None:
        """Take the durable state (from the last session) of the known accounts."""
        for row in base:
            if row.account in self._accounts:
                self._accounts[row.account].base[row.remote_path] = row
        for entry in sorted(entries, key=lambda e: (e.enqueued_s, upload_rank(e.rel))):
            account = self._accounts.get(entry.account)
            if account is None:
                continue
            account.entries[entry.remote_path] = entry
            account.wake = None
            if entry.op is OpKind.DELETE and entry.state is OutboxState.PENDING \
                    and not entry.approved:
                account.ledger.queued(entry.enqueued_s)

    @property
    def accounts(self) -> tuple[str, ...]:
        return tuple(self._accounts)

    def entries(self, account: str) -> list[OutboxEntry]:
        """The account's entries in send order (a copy)."""
        return list(self._accounts[account].entries.values())

    def base(self, account: str) -> Mapping[str, SyncedFile]:
        """remote path -> what hubsync last synced there (read-only view)."""
        return self._accounts[account].base

    def synced_sha(self, account: str, remote_path: str) -> str | None:
        row = self._accounts[account].base.get(remote_path)
        return row.sha256 if row is not None else None

    def in_flight(self, account: str) -> int:
        return len(self._accounts[account].in_flight)

    def count(self, account: str, state: OutboxState) -> int:
        """Entries of ``account`` in ``state`` (gave-up entries count as pending)."""
        return sum(1 for e in self._accounts[account].entries.values() if e.state is state)

    def held_files(self, account: str) -> int:
        """Remote files the account's held deletes would remove."""
        acc = self._accounts[account]
        return sum(self._files_deleted(acc, e) for e in acc.entries.values()
                   if e.state is OutboxState.HELD)

    def gave_up(self, account: str) -> list[OutboxEntry]:
        acc = self._accounts[account]
        return [acc.entries[p] for p in acc.gave_up if p in acc.entries]

    def totals(self, account: str) -> tuple[int, int]:
        """(uploads, deletes) completed in this session."""
        acc = self._accounts[account]
        return acc.pushed, acc.deleted

    def has_sendable(self, account: str) -> bool:
        """Whether anything of ``account`` is in flight or could still be sent."""
        acc = self._accounts[account]
        if acc.in_flight:
            return True
        return any(self._sendable(e, acc) for e in acc.entries.values())

    def _sendable(self, entry: OutboxEntry, acc: _Account) -> bool:
        return (entry.state is OutboxState.PENDING
                and entry.remote_path not in acc.gave_up)

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
                if local is None:
                    self._gone(acc, watch, account, rel, remote_path, now, effects)
                else:
                    self._present(acc, watch, account, rel, remote_path, local, now, effects)
            self._forget_left_out(acc, watch, tuple(left_out), effects)
            if not root_ok:
                self._hold_all_new(acc, account, watch, effects, root_missing_or_empty=True)
        return effects

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
        if synced is not None and synced.sha256 == local.sha256 and not in_flight:
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
            enqueued_s=current.enqueued_s if current is not None else now,
        )
        self._put(acc, entry, effects)

    def _gone(self, acc: _Account, watch: WatchSpec, account: str, rel: str,
              remote_path: str, now: float, effects: Effects) -> None:
        current = acc.entries.get(remote_path)
        synced = acc.base.get(remote_path)
        in_flight = acc.in_flight.get(remote_path)
        if synced is None and (in_flight is None or in_flight.op is OpKind.DELETE):
            if current is not None and current.op is OpKind.UPLOAD:
                self._drop(acc, remote_path, effects)
            return
        if not watch.delete_remote:
            self._keep_remote(acc, watch, account, rel, remote_path, effects)
            return
        if current is not None and current.op is OpKind.DELETE:
            return
        held = any(e.state is OutboxState.HELD for e in acc.entries.values())
        entry = OutboxEntry(
            account=account, remote_path=remote_path, watch=watch.name, rel=rel,
            op=OpKind.DELETE, due_s=now, enqueued_s=now,
            approved=self.policy.allow_deletes,
            state=OutboxState.HELD if held and not self.policy.allow_deletes
            else OutboxState.PENDING,
        )
        self._put(acc, entry, effects)
        if not entry.approved and entry.state is OutboxState.PENDING:
            acc.ledger.queued(now)

    def _keep_remote(self, acc: _Account, watch: WatchSpec, account: str, rel: str,
                     remote_path: str, effects: Effects) -> None:
        """A local delete under ``delete_remote = false``: the remote copy stays, hubsync
        stops tracking it (said once), and anything still owed for the path is dropped."""
        current = acc.entries.get(remote_path)
        if current is not None and remote_path not in acc.in_flight:
            self._drop(acc, remote_path, effects)
        if acc.base.pop(remote_path, None) is not None:
            effects.unsynced.append((account, remote_path))
            effects.emit("skipped", watch=watch.name, account=account, path=rel,
                         remote_path=remote_path,
                         reason="deleted here; delete_remote is off for this watch, so "
                         "the remote copy stays")

    def _put(self, acc: _Account, entry: OutboxEntry, effects: Effects) -> None:
        # A new want for a queued path keeps its place: the dict keeps the first insertion.
        old = acc.entries.get(entry.remote_path)
        acc.entries[entry.remote_path] = entry
        acc.gave_up.discard(entry.remote_path)
        self._rewake(acc, old, entry)
        if self.policy.write_before_send:
            acc.unwritten[entry.remote_path] = entry
        effects.upsert.append(entry)

    def _drop(self, acc: _Account, remote_path: str, effects: Effects) -> None:
        entry = acc.entries.pop(remote_path, None)
        acc.gave_up.discard(remote_path)
        self._rewake(acc, entry, None)
        acc.unwritten.pop(remote_path, None)
        if entry is not None:
            effects.remove.append(entry.key)

    # --- the delete brake ----------------------------------------------------------------

    def _files_deleted(self, acc: _Account, entry: OutboxEntry) -> int:
        if not entry.folder:
            return 1
        prefix = entry.remote_path + "/"
        return max(1, sum(1 for path in acc.base if path.startswith(prefix)))

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
            deleting, len(acc.base), max_deletes=self.policy.max_deletes,
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
        reason = brake_reason(deleting, len(acc.base), max_deletes=self.policy.max_deletes,
                              window_s=self.policy.brake_window_s,
                              root_missing_or_empty=root_missing_or_empty)
        self._hold(acc, account, batch, reason, effects)

    def _hold(self, acc: _Account, account: str, batch: list[OutboxEntry],
              reason: str | None, effects: Effects) -> None:
        for entry in batch:
            self._put(acc, replace(entry, state=OutboxState.HELD), effects)
        held = self.held_files(account)
        if reason is None:
            reason = brake_reason(held, len(acc.base), max_deletes=self.policy.max_deletes,
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

    def discard_holds(self, account: str | None) -> Effects:
        """Forget every held delete of ``account`` (None: all): the remote files stay, and
        hubsync stops tracking them (they are no longer in its base)."""
        effects = Effects()
        for name in self._select(account):
            acc = self._accounts[name]
            held = [e for e in acc.entries.values() if e.state is OutboxState.HELD]
            for entry in held:
                self._drop(acc, entry.remote_path, effects)
                for path in self._covered(acc, entry):
                    del acc.base[path]
                    effects.unsynced.append((name, path))
            if held:
                effects.emit("discarded", account=name, deletes=len(held))
        return effects

    def _select(self, account: str | None) -> list[str]:
        if account is None:
            return list(self._accounts)
        if account not in self._accounts:
            raise KeyError(account)
        return [account]

    @staticmethod
    def _covered(acc: _Account, entry: OutboxEntry) -> list[str]:
        prefix = entry.remote_path + "/"
        return [p for p in acc.base if p == entry.remote_path or p.startswith(prefix)]

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
        chosen = dispatchable(items, acc.in_flight.keys(), _Waiting(acc), limit=limit)
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

    def _rewake(self, acc: _Account, old: OutboxEntry | None, new: OutboxEntry | None,
                ) -> None:
        """Keep ``next_wake``'s remembered answer true when ``old`` (None: nothing) is
        replaced by ``new`` (None: removed or no longer sendable) in ``acc``."""
        cached = acc.wake
        if cached is None:
            return
        at, earliest = cached
        if old is not None and earliest is not None and old.due_s == earliest:
            acc.wake = None  # it may have been the earliest: look again
            return
        if new is not None and self._sendable(new, acc) and new.due_s > at:
            acc.wake = (at, new.due_s if earliest is None else min(earliest, new.due_s))

    def _entries_wake(self, acc: _Account, now: float) -> float | None:
        # Asked after every answer: a scan of every entry each time made a bulk push
        # quadratic. The last answer holds while no entry changed, time did not go back,
        # and the earliest time it found is still ahead (no entry can have become due
        # before it).
        cached = acc.wake
        if cached is not None and cached[0] <= now and (cached[1] is None or cached[1] > now):
            return cached[1]
        times = [e.due_s for e in acc.entries.values()
                 if self._sendable(e, acc) and e.due_s > now]
        earliest = min(times) if times else None
        acc.wake = (now, earliest)
        return earliest

    # --- outcomes ------------------------------------------------------------------------

    def unsent(self, sent: OutboxEntry) -> None:
        """``sent`` was not sent after all (cancelled, or the file vanished before it
        was read): it is no longer in flight, and nothing else changes."""
        self._accounts[sent.account].in_flight.pop(sent.remote_path, None)

    def on_result(self, sent: OutboxEntry, result: Result, now: float, *,
                  jitter: float) -> Effects:
        """What follows from the answer to ``sent`` (which must be in flight)."""
        acc = self._accounts[sent.account]
        acc.in_flight.pop(sent.remote_path, None)
        effects = Effects()
        outcome = result.outcome
        if outcome is retry.Outcome.NOT_FOUND and sent.op is OpKind.DELETE:
            outcome = retry.Outcome.OK
        if outcome is retry.Outcome.OK:
            if sent.op is OpKind.UPLOAD:
                self._uploaded(acc, sent, result, now, effects)
            else:
                self._deleted(acc, sent, result, now, effects)
            return effects
        self._failed(acc, sent, result, now, jitter, effects)
        return effects

    def _fields(self, sent: OutboxEntry, result: Result, attempt: int) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "watch": sent.watch, "account": sent.account, "path": sent.rel,
            "remote_path": sent.remote_path, "attempt": attempt,
            "status": result.status, "correlation_id": result.correlation_id,
        }
        if sent.op is OpKind.UPLOAD:
            fields.update(sha256=sent.sha256, bytes=sent.size)
        fields.update(result.fields)
        return fields

    def _uploaded(self, acc: _Account, sent: OutboxEntry, result: Result, now: float,
                  effects: Effects) -> None:
        assert sent.sha256 is not None
        if result.after is None or result.after.sha256 != sent.sha256:
            # Changed (or gone) during the upload: what arrived is unknown. The tracker
            # looks again and the newest content is queued; the base says "unknown", so
            # even a change back to the old synced content is sent (and a file gone
            # meanwhile is deleted), never left differing from the local tree.
            self._mark_unknown(acc, sent, now, effects)
            effects.reprobe.append((sent.watch, sent.rel))
            current = acc.entries.get(sent.remote_path)
            if current is not None and current.sha256 == sent.sha256:
                self._drop(acc, sent.remote_path, effects)
            return
        row = SyncedFile(account=sent.account, remote_path=sent.remote_path, watch=sent.watch,
                         rel=sent.rel, sha256=sent.sha256, size=sent.size, synced_s=now,
                         remote=result.remote)
        acc.base[sent.remote_path] = row
        effects.synced.append(row)
        acc.pushed += 1
        self._settle_entry(acc, sent, now, effects)
        effects.emit("pushed", **self._fields(sent, result, sent.attempts + 1))

    def _mark_unknown(self, acc: _Account, sent: OutboxEntry, now: float,
                      effects: Effects) -> None:
        """The remote at ``sent``'s path holds something hubsync sent, content unknown."""
        previous = acc.base.get(sent.remote_path)
        if previous is not None and previous.sha256 == UNKNOWN_CONTENT:
            return
        row = SyncedFile(account=sent.account, remote_path=sent.remote_path,
                         watch=sent.watch, rel=sent.rel, sha256=UNKNOWN_CONTENT,
                         synced_s=now)
        acc.base[sent.remote_path] = row
        effects.synced.append(row)

    def _deleted(self, acc: _Account, sent: OutboxEntry, result: Result, now: float,
                 effects: Effects) -> None:
        covered = self._covered(acc, sent)
        for path in covered:
            del acc.base[path]
            effects.unsynced.append((sent.account, path))
        acc.ledger.record_sent(now, max(1, len(covered)))
        acc.deleted += 1
        self._settle_entry(acc, sent, now, effects)
        effects.emit("deleted", **self._fields(sent, result, sent.attempts + 1),
                     folder=sent.folder or None)

    def _settle_entry(self, acc: _Account, sent: OutboxEntry, now: float,
                      effects: Effects) -> None:
        """After a success: drop the entry if it still wants what was sent; otherwise a
        newer want arrived meanwhile and goes next."""
        current = acc.entries.get(sent.remote_path)
        if current is None:
            return
        same = current.op is sent.op and current.sha256 == sent.sha256
        now_synced = current.op is OpKind.UPLOAD and current.sha256 == self.synced_sha(
            sent.account, sent.remote_path)
        if same or now_synced:
            self._drop(acc, sent.remote_path, effects)
        else:
            self._put(acc, replace(current, due_s=now, attempts=0), effects)

    def _failed(self, acc: _Account, sent: OutboxEntry, result: Result, now: float,
                jitter: float, effects: Effects) -> None:
        attempt = sent.attempts + 1
        if result.outcome in UNCERTAIN and not sent.folder:
            # It may have landed: an upload may have stored its bytes, a delete removed
            # the file. Until an answer says otherwise, the remote content is unknown.
            self._mark_unknown(acc, sent, now, effects)
        fields = self._fields(sent, result, attempt)
        fields["error"] = result.error
        current = acc.entries.get(sent.remote_path)
        superseded = current is None or current.op is not sent.op \
            or current.sha256 != sent.sha256
        decision = retry.decide(
            result.outcome, op=sent.op, attempt=attempt, now=now,
            retry_after=result.retry_after_s, jitter=jitter, cap_s=self.policy.backoff_cap_s)
        if (result.outcome is retry.Outcome.UNEXPECTED
                and attempt >= self.policy.unexpected_max_attempts):
            decision = retry.Decision(retry.DecisionKind.PARK,
                                      reason=f"gave up after {attempt} attempts")
        if superseded:
            if sent.op is OpKind.DELETE and result.outcome in UNCERTAIN:
                # No retry follows, yet it may have deleted: the brake counts it.
                acc.ledger.record_sent(now, self._files_deleted(acc, sent))
            self._superseded(acc, sent, current, now, effects)
            return
        assert current is not None
        if decision.kind is retry.DecisionKind.PARK:
            self._put(acc, replace(current, state=OutboxState.PARKED, attempts=attempt,
                                   last_error=result.error), effects)
            effects.emit("failed", **fields, note=_note(decision, result))
            return
        if decision.kind is retry.DecisionKind.HOLD_ACCOUNT:
            self._put(acc, replace(current, due_s=now, last_error=result.error), effects)
            effects.block.append((sent.account, result.error or decision.reason))
            effects.emit("failed", **fields)
            return
        at = decision.at if decision.at is not None else now
        self._put(acc, replace(current, attempts=attempt, due_s=at,
                               last_error=result.error), effects)
        limit = self.policy.give_up_after
        if limit is not None and attempt >= limit:
            acc.gave_up.add(sent.remote_path)
            self._rewake(acc, acc.entries.get(sent.remote_path), None)
            effects.emit("failed", **fields,
                         note=f"gave up after {attempt} attempts; still pending for the next run")
            return
        effects.emit("retrying", **fields, retry_in_ms=round((at - now) * 1000))

    def _superseded(self, acc: _Account, sent: OutboxEntry, current: OutboxEntry | None,
                    now: float, effects: Effects) -> None:
        """A newer want replaced ``sent`` while it failed in flight: it goes next, unless
        it wants what the base already holds (the failure changed nothing remotely; an
        uncertain one has made the base UNKNOWN_CONTENT before this)."""
        if current is None:
            return
        if current.op is OpKind.UPLOAD and current.sha256 == self.synced_sha(
                sent.account, sent.remote_path):
            self._drop(acc, sent.remote_path, effects)
            return
        self._put(acc, replace(current, due_s=now), effects)

    def reschedule_all(self, account: str, now: float) -> None:
        """Make every pending entry of ``account`` due now (after an outage ends, or a
        ``flush``): backoff that grew while the server was away must not delay catching up.
        Not durable: the rows keep their times until the next outcome rewrites them."""
        acc = self._accounts[account]
        for path, entry in list(acc.entries.items()):
            if entry.state is OutboxState.PENDING and entry.due_s > now:
                acc.entries[path] = replace(entry, due_s=now)
        acc.gave_up.clear()
        acc.wake = None


def _within(rel: str, folders: tuple[str, ...]) -> bool:
    """Whether ``rel`` is one of ``folders`` or under one (``""`` is the whole tree)."""
    return any(f == "" or rel == f or rel.startswith(f + "/") for f in folders)


def _note(decision: retry.Decision, result: Result) -> str | None:
    """A parked entry's note: only when it is not the usual HubSpot refusal."""
    if result.outcome is retry.Outcome.VALIDATION:
        return None
    return f"{decision.reason}; retried when the file changes"


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
