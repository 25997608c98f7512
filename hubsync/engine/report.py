"""What a session reports: the ``push`` summary, dry-run plans, and the typed status.

Everything here is read from the decision core and the workers; nothing decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from hubsync.core.ordering import upload_rank
from hubsync.core.outbox import Outbox
from hubsync.core.paths import to_remote
from hubsync.core.plan import Delete, Plan
from hubsync.model import (
    AccountStatus,
    Conflict,
    EngineEvent,
    OpKind,
    OutboxState,
    RateStatus,
    SessionStatus,
    WatchStatus,
)

if TYPE_CHECKING:
    from hubsync.engine.tracker import Observed, WatchTracker
    from hubsync.engine.worker import AccountWorker


@dataclass(frozen=True, slots=True)
class Failure:
    """One file that did not reach one account in a ``push``."""

    watch: str
    account: str
    path: str
    error: str


@dataclass(frozen=True, slots=True)
class Summary:
    """The outcome of ``push_once``; ``ok`` means every file reached every account."""

    pushed: Mapping[str, int]
    deleted: Mapping[str, int]
    unchanged: int
    failures: tuple[Failure, ...]
    skipped: tuple[tuple[str, str, str], ...]
    """(watch, path, reason) of files left out by the rules: reported, not failures."""
    held_deletes: Mapping[str, int]
    """account -> files its held deletes would remove."""
    held_reasons: tuple[str, ...]
    left_pending: int
    plans: Mapping[tuple[str, str], Plan] = field(default_factory=dict)
    """(watch, account) -> plan; what ``--dry-run`` prints."""
    interrupted: bool = False
    """The push was stopped (Ctrl-C) before it was done; what is left stays pending."""
    conflicts: tuple[Conflict, ...] = ()
    """Files the conflict guard did not send (someone else's version is there)."""
    remote_only: tuple[str, ...] = ()
    """``account: remote path`` of files in remote folders the guard listed (first
    contact) that hubsync never synced and has no local file for: left alone."""
    pending: Mapping[str, int] = field(default_factory=dict)
    """account -> changes still owed to it after this run (``left_pending`` per account)."""
    bytes_pushed: Mapping[str, int] = field(default_factory=dict)
    """account -> bytes of the files pushed in this run (filled by the front end, which
    counts the ``pushed`` events; empty when nobody counted)."""
    elapsed_s: float | None = None
    """Wall-clock seconds of the run, as the front end measured it (None: not measured)."""
    adopted: Mapping[str, int] = field(default_factory=dict)
    """account -> files found already there with this content (recorded, not uploaded),
    as the front end counted the ``adopted`` events."""
    archived: Mapping[str, int] = field(default_factory=dict)
    """account -> files of ``pushed`` that went inside one archive (``bulk``)."""
    open_conflicts: tuple[Conflict, ...] = ()
    """Conflicts found before this run and still unresolved (the state's): their files
    were not sent either, so the run is not in sync."""

    @property
    def ok(self) -> bool:
        return not self.failures and not self.left_pending and not any(
            self.held_deletes.values()) and not self.conflicts and not self.open_conflicts


def plan_of(outbox: Outbox, watch: str, account: str, *, unchanged: int,
            hold_reason: str | None) -> Plan:
    """The outbox entries of one (watch, account) as a plan (for ``--dry-run``)."""
    entries = [e for e in outbox.entries(account) if e.watch == watch]
    uploads = sorted((e.rel for e in entries if e.op is OpKind.UPLOAD
                      and e.state is OutboxState.PENDING), key=upload_rank)
    deletes = tuple(Delete(e.rel, e.folder) for e in entries
                    if e.op is OpKind.DELETE and e.state is OutboxState.PENDING)
    held = tuple(Delete(e.rel, e.folder) for e in entries if e.state is OutboxState.HELD)
    return Plan(uploads=tuple(uploads), deletes=deletes, unchanged=unchanged,
                held_deletes=held, hold_reason=hold_reason if held else None,
                deleted_files=len(deletes) + len(held))


def account_status(worker: AccountWorker, outbox: Outbox) -> AccountStatus:
    name = worker.name
    tokens = worker.tokens
    identity = tokens.identity
    conditions = worker.conditions
    pace = worker.pacer.snapshot()
    auth = str(tokens.state)
    if conditions.blocked and auth == "ok":
        auth = "unauthorized"
    return AccountStatus(
        name=name, portal_id=worker.account.portal_id, auth=auth,
        hub_user_id=identity.user_id if identity else None,
        hub_user_email=identity.email if identity else None,
        token_expires_at=tokens.token_expires_at, blocked=conditions.blocked is not None,
        paused=conditions.paused, offline=conditions.offline_since is not None,
        pending=outbox.count(name, OutboxState.PENDING),
        parked=outbox.count(name, OutboxState.PARKED),
        held_deletes=outbox.held_files(name), in_flight=outbox.in_flight(name),
        last_push=conditions.last_push_s,
        last_error=conditions.blocked or conditions.last_error or tokens.last_error,
        rate=RateStatus(pace.limit, pace.window_ms, pace.budget, pace.used,
                        pace.paused_for_ms, pace.rate_limited),
    )


def watch_status(tracker: WatchTracker) -> WatchStatus:
    watch = tracker.watch
    return WatchStatus(name=watch.name, root=str(tracker.root), dest=watch.dest,
                       accounts=tuple(watch.accounts), files=len(tracker.local),
                       last_reconcile=tracker.last_reconcile_s,
                       watcher_alive=tracker.watcher_alive())


def session_status(workers: Mapping[str, AccountWorker], trackers: Mapping[str, WatchTracker],
                   outbox: Outbox, state_error: str | None) -> SessionStatus:
    return SessionStatus(
        accounts=tuple(account_status(w, outbox) for w in workers.values()),
        watches=tuple(watch_status(t) for t in trackers.values()),
        state_error=state_error,
    )


def build_summary(outbox: Outbox, workers: Mapping[str, AccountWorker],
                  trackers: Mapping[str, WatchTracker], *, unchanged: int,
                  skipped: list[tuple[str, str, str]], hold_reasons: list[str],
                  plans: Mapping[tuple[str, str], Plan], interrupted: bool = False) -> Summary:
    """How a ``push`` went: totals, failures (parked, given up, blocked, unreadable)."""
    failures: list[Failure] = []
    left = 0
    pending_by_account: dict[str, int] = {}
    for name, worker in workers.items():
        for entry in outbox.entries(name):
            if entry.state is OutboxState.PARKED:
                failures.append(Failure(entry.watch, name, entry.rel,
                                        entry.last_error or "failed"))
        for entry in outbox.gave_up(name):
            failures.append(Failure(entry.watch, name, entry.rel,
                                    f"gave up: {entry.last_error}"))
        pending = [e for e in outbox.entries(name)
                   if e.state is OutboxState.PENDING]
        if worker.conditions.blocked:
            failures.extend(Failure(e.watch, name, e.rel, worker.conditions.blocked)
                            for e in pending)
        else:
            # A file given up on is still pending (kept for the next run): the account's
            # line says so, not "0 pushed" alone.
            pending_by_account[name] = len(pending)
            left += len(pending)
    for tracker in trackers.values():
        failures.extend(Failure(tracker.watch.name, account, item.rel, item.reason)
                        for item in tracker.unreadable.values()
                        for account in tracker.spec.accounts)
    totals = {name: outbox.totals(name) for name in workers}
    return Summary(
        pushed={n: t[0] for n, t in totals.items()},
        deleted={n: t[1] for n, t in totals.items()},
        unchanged=unchanged, failures=tuple(failures), skipped=tuple(skipped),
        held_deletes={n: outbox.held_files(n) for n in workers},
        held_reasons=tuple(dict.fromkeys(hold_reasons)), left_pending=max(0, left),
        plans=dict(plans), interrupted=interrupted, pending=pending_by_account,
    )


def reconciled_counts(outbox: Outbox, tracker: WatchTracker, observed: Observed,
                      account: str) -> dict[str, int]:
    """The ``reconciled`` line's counts for one account after a whole-tree look."""
    name = tracker.watch.name
    entries = [e for e in outbox.entries(account) if e.watch == name]
    unchanged = sum(1 for rel, seen in observed.files.items() if seen is not None
                    and outbox.synced_sha(account, to_remote(tracker.watch.dest, rel))
                    == seen.sha256)
    uploads = sum(1 for e in entries
                  if e.op is OpKind.UPLOAD and e.state is OutboxState.PENDING)
    deletes = sum(1 for e in entries
                  if e.op is OpKind.DELETE and e.state is OutboxState.PENDING)
    held = sum(1 for e in entries if e.state is OutboxState.HELD)
    return {"uploads": uploads, "deletes": deletes, "held": held, "unchanged": unchanged,
            "queued": uploads + deletes}


def with_real_waits(events: list[EngineEvent], paused_s: float) -> list[EngineEvent]:
    """``events`` with each ``retrying`` line's ``retry_in_ms`` raised to ``paused_s``.

    The core's backoff says when an entry is due again; while the account's pacer is
    paused (a 429 window, ``Pacer.paused_for``) nothing is sent before the pause ends,
    so the real wait is the larger of the two. Said wrongly, a console line read
    "retrying in 2.1 s" and the request went 10 s later.
    """
    floor_ms = round(paused_s * 1000)
    if floor_ms <= 0:
        return events
    return [replace(e, fields={**e.fields, "retry_in_ms": max(
                int(e.fields.get("retry_in_ms") or 0), floor_ms)})
            if e.event == "retrying" else e for e in events]
