"""The decision core's bookkeeping: each account's entries, base and in-flight paths.

:class:`OutboxBase` holds the data and the few operations every rule uses (put, drop,
queries); the rules themselves are in :mod:`hubsync.core.outcomes` (what follows from an
answer) and :mod:`hubsync.core.outbox` (observations, the delete brake, dispatch).
Pure, like the rest of ``core``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from hubsync.core.brake import DeleteLedger
from hubsync.core.effects import MAYBE_DELETED, Effects, Policy
from hubsync.core.ordering import upload_rank
from hubsync.model import Conflict, OpKind, OutboxEntry, OutboxState, SyncedFile


def _maybe_sent(entry: OutboxEntry) -> str | None:
    """What a loaded entry's last session may have done remotely before it stopped: put
    the upload's content there, or applied an approved delete (one never approved, or
    held, was never sent)."""
    if entry.op is OpKind.UPLOAD:
        return entry.sha256
    if entry.approved and entry.state is OutboxState.PENDING:
        return MAYBE_DELETED
    return None


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
    conflicts: dict[str, Conflict] = field(default_factory=dict)
    """remote path -> a conflict not resolved yet: nothing is owed or sent for the path."""
    resolving: set[str] = field(default_factory=set)
    """Remote paths whose conflict ``hubsync resolve`` is settling right now."""
    said_held: dict[str, str] = field(default_factory=dict)
    """remote path -> the last local content a save was told is held by its conflict."""
    left_remote: set[str] = field(default_factory=set)
    """Remote paths hubsync stopped tracking after a local delete it did not send
    (``delete_remote = false``, discarded held deletes), in this session or an earlier
    one (the state's ``left_remote``): the remote copy stays on purpose, so a two-way
    poll must not bring the file back. A path synced again (in ``base``) is not left."""
    deletes: set[str] = field(default_factory=set)
    """Remote paths whose entry is a delete: what the folder rules look at
    (:mod:`hubsync.core.folders`) without scanning every entry after every answer."""
    busy_folders: set[str] = field(default_factory=set)
    """Remote folders a folder delete is being worked on for: nothing under them is
    dispatched meanwhile (a new file there must not land before the folder goes)."""
    pushed: int = 0
    deleted: int = 0
    wake: tuple[float, float | None] | None = None
    """``next_wake``'s last answer for entries: (``now`` it was asked at, the earliest
    ``due_s`` after it, or None). Forgotten whenever an entry or ``gave_up`` changes."""


class OutboxBase:
    """Every account's owed operations and base (see :class:`hubsync.core.outbox.Outbox`)."""

    def __init__(self, accounts: Iterable[str], policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self._accounts: dict[str, _Account] = {}
        self._ranks: dict[str, tuple[int, str]] = {}
        for name in accounts:
            self._accounts[name] = _Account(ledger=DeleteLedger(
                window_s=self.policy.brake_window_s, settle_s=self.policy.delete_settle_s))

    # --- loading and queries -------------------------------------------------------------

    def load(self, entries: Iterable[OutboxEntry], base: Iterable[SyncedFile],
             conflicts: Iterable[Conflict] = (),
             left_remote: Iterable[tuple[str, str]] = ()) -> None:
        """Take the durable state (from the last session) of the known accounts.

        A loaded upload may have been in flight when its process stopped: the remote may
        hold its content with no base row saying so. Its ``sent_sha256`` keeps that
        content, so the guard takes it for hubsync's own write, and a local delete of the
        file still deletes what hubsync may have put there.
        """
        for account_name, remote_path in left_remote:
            if account_name in self._accounts:
                self._accounts[account_name].left_remote.add(remote_path)
        for conflict in conflicts:
            if conflict.account in self._accounts:
                self._accounts[conflict.account].conflicts[conflict.remote_path] = conflict
        for row in base:
            if row.account in self._accounts:
                self._accounts[row.account].base[row.remote_path] = row
        for entry in sorted(entries, key=lambda e: (e.enqueued_s, upload_rank(e.rel))):
            account = self._accounts.get(entry.account)
            if account is None:
                continue
            if entry.sent_sha256 is None:
                entry = replace(entry, sent_sha256=_maybe_sent(entry))
            account.entries[entry.remote_path] = entry
            account.wake = None
            if entry.op is OpKind.DELETE:
                account.deletes.add(entry.remote_path)
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

    def conflicts(self, account: str) -> list[Conflict]:
        """The account's unresolved conflicts, oldest detection first (a copy)."""
        return sorted(self._accounts[account].conflicts.values(),
                      key=lambda c: (c.detected_s, c.remote_path))

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

    def _put(self, acc: _Account, entry: OutboxEntry, effects: Effects) -> None:
        # A new want for a queued path keeps its place: the dict keeps the first insertion.
        old = acc.entries.get(entry.remote_path)
        acc.entries[entry.remote_path] = entry
        acc.gave_up.discard(entry.remote_path)
        if entry.op is OpKind.DELETE:
            acc.deletes.add(entry.remote_path)
        else:
            acc.deletes.discard(entry.remote_path)
        self._rewake(acc, old, entry)
        if self.policy.write_before_send:
            acc.unwritten[entry.remote_path] = entry
        effects.upsert.append(entry)

    @staticmethod
    def _leave_remote(acc: _Account, account: str, remote_path: str, now: float,
                      effects: Effects) -> None:
        """Stop tracking ``remote_path`` (no base row) and remember, durably, that its
        remote copy stays there on purpose."""
        acc.left_remote.add(remote_path)
        effects.unsynced.append((account, remote_path))
        effects.left_remote.append(((account, remote_path), now))

    def _drop(self, acc: _Account, remote_path: str, effects: Effects) -> None:
        entry = acc.entries.pop(remote_path, None)
        acc.gave_up.discard(remote_path)
        acc.deletes.discard(remote_path)
        self._rewake(acc, entry, None)
        acc.unwritten.pop(remote_path, None)
        if entry is not None:
            effects.remove.append(entry.key)

    @staticmethod
    def _tracked(acc: _Account) -> int:
        """Remote files hubsync put there, as far as it knows: the synced ones, and those
        an unrecorded send may have put there (``sent_sha256``): the brake's whole."""
        maybe = sum(1 for path, e in acc.entries.items()
                    if e.sent_sha256 is not None and path not in acc.base)
        return len(acc.base) + maybe

    def _files_deleted(self, acc: _Account, entry: OutboxEntry) -> int:
        if not entry.folder:
            return 1
        prefix = entry.remote_path + "/"
        return max(1, sum(1 for path in acc.base if path.startswith(prefix)))

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
