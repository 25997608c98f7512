"""The decision core's conflict rules: what follows from the guard's verdict, and from a
person's resolution. Part of :class:`hubsync.core.outbox.Outbox` (a base class, like
:mod:`hubsync.core.outcomes`). Pure.

A path with an unresolved conflict is owed nothing and sent nothing (``Outbox.observe``
skips it) until ``resolve`` says which side wins; everything else goes on.
"""

from __future__ import annotations

from typing import Any

from hubsync.core import retry
from hubsync.core.effects import UNKNOWN_CONTENT, Effects, Result, Seen
from hubsync.core.guard import RemoteView, Step, Verdict, judge
from hubsync.core.outbox_base import _Account
from hubsync.core.outcomes import OutcomeRules
from hubsync.model import Conflict, ConflictKind, OpKind, OutboxEntry, SyncedFile

KEEP_LOCAL = "local"
KEEP_REMOTE = "remote"


def iso_ms(epoch_ms: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 UTC (``2026-11-30T05:25:00.123Z``), None for None."""
    if epoch_ms is None:
        return None
    # Howard Hinnant's days-to-civil: the core imports no datetime (it reads no clock,
    # but the purity rule is by module).
    days, ms = divmod(epoch_ms, 86_400_000)
    z = days + 719_468
    era = (z if z >= 0 else z - 146_096) // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    seconds, milli = divmod(ms, 1000)
    return (f"{year:04d}-{month:02d}-{day:02d}T{seconds // 3600:02d}:"
            f"{seconds // 60 % 60:02d}:{seconds % 60:02d}.{milli:03d}Z")


def conflict_fields(conflict: Conflict) -> dict[str, Any]:
    """The sync log fields of a ``conflict`` line (docs/sync-log.md)."""
    remote = conflict.remote
    return {
        "watch": conflict.watch, "account": conflict.account, "path": conflict.rel,
        "remote_path": conflict.remote_path, "kind": str(conflict.kind),
        "sha256": conflict.local_sha256, "base_sha256": conflict.base_sha256,
        "remote_sha256": conflict.remote_sha256,
        "remote_hash": remote.hash if remote else None,
        "remote_updated_at": iso_ms(remote.updated_at_ms) if remote else None,
        "remote_user_id": remote.writer_user_id if remote else None,
        "copy": conflict.copy_path,
    }


class ConflictRules(OutcomeRules):
    """The guard's verdicts and resolutions (see the module docstring)."""

    def guard_verdict(self, sent: OutboxEntry, view: RemoteView, *, guard: bool = True,
                      user_id: int | None = None) -> Verdict:
        """:func:`hubsync.core.guard.judge` for ``sent`` (in flight) with what the core
        knows: its base row and ``--prefer local``. ``user_id``: the key's HubSpot user."""
        acc = self._accounts[sent.account]
        return judge(sent, acc.base.get(sent.remote_path), view, guard=guard,
                     prefer_local=self.policy.prefer_local, user_id=user_id)

    def on_guard(self, sent: OutboxEntry, verdict: Verdict, view: RemoteView,
                 now: float) -> Effects:
        """What follows when the guard decided not to send ``sent`` (in flight): a delete
        already done, an adoption, or a conflict. ``verdict.step`` is DONE, ADOPT or
        CONFLICT."""
        acc = self._accounts[sent.account]
        if verdict.step is Step.DONE and sent.remote_path in acc.base:
            return self.on_result(sent, Result(retry.Outcome.NOT_FOUND, status=404,
                                               fields={"note": "already gone remotely"}),
                                  now, jitter=0.0)
        acc.in_flight.pop(sent.remote_path, None)
        effects = Effects()
        if verdict.step is Step.DONE:
            # Never synced, and the upload that may have landed did not: nothing was
            # there to delete, so nothing is said (a "deleted" line would be untrue).
            self._settle_entry(acc, sent, now, effects)
            return effects
        if verdict.step is Step.ADOPT:
            self._adopt(acc, sent, view, now, effects)
        else:
            assert verdict.kind is not None
            self._conflict(acc, sent, verdict.kind, view, now, effects)
        return effects

    def _adopt(self, acc: _Account, sent: OutboxEntry, view: RemoteView, now: float,
               effects: Effects) -> None:
        assert sent.sha256 is not None
        row = SyncedFile(account=sent.account, remote_path=sent.remote_path, watch=sent.watch,
                         rel=sent.rel, sha256=sent.sha256, size=sent.size, synced_s=now,
                         remote=view.version)
        acc.base[sent.remote_path] = row
        effects.synced.append(row)
        self._settle_entry(acc, sent, now, effects)
        writer = view.version.writer_user_id if view.version else None
        effects.emit("adopted", watch=sent.watch, account=sent.account, path=sent.rel,
                     remote_path=sent.remote_path, sha256=sent.sha256, bytes=sent.size,
                     remote_user_id=writer,
                     remote_updated_at=iso_ms(view.version.updated_at_ms)
                     if view.version else None,
                     note="the remote already holds this content: recorded, not uploaded")

    def _conflict(self, acc: _Account, sent: OutboxEntry, kind: ConflictKind,
                  view: RemoteView, now: float, effects: Effects) -> None:
        base = acc.base.get(sent.remote_path)
        conflict = Conflict(
            account=sent.account, remote_path=sent.remote_path, watch=sent.watch,
            rel=sent.rel, kind=kind,
            local_sha256=sent.sha256 if sent.op is OpKind.UPLOAD else None,
            base_sha256=base.sha256 if base is not None else None,
            remote=view.version if view.exists else None,
            remote_sha256=view.content_sha256,
            copy_path=view.copy_path if view.content_sha256 is not None else None,
            detected_s=now)
        self.record(conflict, effects)

    def record(self, conflict: Conflict, effects: Effects) -> None:
        """Hold ``conflict``'s path (nothing owed or sent until resolved), store it, and log
        it. Also for conflicts found outside the guard (two-way watch's ``both``)."""
        acc = self._accounts[conflict.account]
        acc.conflicts[conflict.remote_path] = conflict
        effects.conflicts.append(conflict)
        if conflict.remote_path in acc.entries and conflict.remote_path not in acc.in_flight:
            self._drop(acc, conflict.remote_path, effects)
        effects.emit("conflict", **conflict_fields(conflict), note=_advice(conflict))

    def in_conflict(self, account: str, remote_path: str) -> Conflict | None:
        return self._accounts[account].conflicts.get(remote_path)

    def settle_conflict(self, acc: _Account, conflict: Conflict, local: Seen,
                        now: float, effects: Effects) -> bool:
        """The local file now equals the kept remote copy (merged by hand): the conflict
        is over, recorded as synced. False when it does not."""
        if conflict.remote_sha256 is None or local.sha256 != conflict.remote_sha256:
            return False
        self._rebase(acc, conflict, local.size, now, effects)
        effects.emit("resolved", **_resolved_fields(conflict), keep=KEEP_REMOTE,
                     note="the local file now equals the remote copy")
        return True

    def resolving(self, account: str, remote_path: str, on: bool) -> None:
        """Mark ``remote_path`` as being resolved (``hubsync resolve`` writing the kept
        copy into the local file) or not any more: meanwhile an observation of the file
        neither settles the conflict nor owes anything (the resolve decides)."""
        paths = self._accounts[account].resolving
        if on:
            paths.add(remote_path)
        else:
            paths.discard(remote_path)

    def resolve(self, conflict: Conflict, keep: str, now: float, *,
                remote_size: int | None = None) -> Effects:
        """A person's decision on ``conflict`` (``hubsync resolve``), ``keep`` being
        ``"local"`` or ``"remote"`` (ValueError otherwise).

        Either way the base becomes what the remote holds now, the version the person
        saw (``conflict.remote`` with the kept copy's sha256; no base row when the remote
        file was deleted), and the conflict is gone. Then the ordinary rules finish it:
        with ``remote`` the caller has written the copy (``remote_size`` bytes) into the
        local file, or removed it, so nothing is owed; with ``local`` the local file
        differs from that base, so it is owed (look at it again), and the guard lets it
        over exactly the version the person saw, and no newer one.
        """
        if keep not in (KEEP_LOCAL, KEEP_REMOTE):
            raise ValueError(f"keep must be {KEEP_LOCAL!r} or {KEEP_REMOTE!r}, not {keep!r}")
        effects = Effects()
        self._rebase(self._accounts[conflict.account], conflict, remote_size, now, effects)
        effects.emit("resolved", **_resolved_fields(conflict), keep=keep)
        return effects

    def _rebase(self, acc: _Account, conflict: Conflict, size: int | None, now: float,
                effects: Effects) -> None:
        """Forget ``conflict``; the base says what the remote holds (its kept copy)."""
        acc.conflicts.pop(conflict.remote_path, None)
        effects.resolved.append(conflict.key)
        if conflict.remote_path in acc.entries and conflict.remote_path not in acc.in_flight:
            self._drop(acc, conflict.remote_path, effects)
        if conflict.kind is ConflictKind.DELETED or conflict.remote is None:
            if acc.base.pop(conflict.remote_path, None) is not None:
                effects.unsynced.append(conflict.key)
            return
        row = SyncedFile(account=conflict.account, remote_path=conflict.remote_path,
                         watch=conflict.watch, rel=conflict.rel,
                         sha256=conflict.remote_sha256 or UNKNOWN_CONTENT, size=size,
                         synced_s=now, remote=conflict.remote)
        acc.base[conflict.remote_path] = row
        effects.synced.append(row)


def _resolved_fields(conflict: Conflict) -> dict[str, Any]:
    return {"watch": conflict.watch, "account": conflict.account, "path": conflict.rel,
            "remote_path": conflict.remote_path, "kind": str(conflict.kind),
            "remote_sha256": conflict.remote_sha256}


def _advice(conflict: Conflict) -> str:
    deleted_here = conflict.local_sha256 is None
    what = {ConflictKind.CHANGED: "changed remotely since hubsync last synced it",
            ConflictKind.DELETED: "deleted remotely since hubsync last synced it",
            ConflictKind.UNSYNCED: "deleted here, but the remote file is a version hubsync "
                                   "never synced" if deleted_here else
                                   "already exists remotely with other content",
            ConflictKind.BOTH: "changed on both sides since the last sync"}[conflict.kind]
    done = "not deleted" if deleted_here else "not overwritten"
    return (f"{what}; {done}. See `hubsync conflicts`, then `hubsync resolve "
            f"{conflict.rel} --keep local|remote`")


__all__ = ["KEEP_LOCAL", "KEEP_REMOTE", "ConflictRules", "conflict_fields", "iso_ms"]
