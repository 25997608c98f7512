"""The sync engine: watcher -> coalescer -> probe -> outbox -> per-account workers.

One :class:`Engine` serves a whole configuration: every watch and every account in
it. It keeps each watch's remote folders equal to the local tree and writes one sync
log line per finished operation.

How a change travels::

    watchdog event ──> Coalescer (quiet period) ──> lstat + hash (probe)
         │                                              │
    reconcile walk (start, overflow, every few minutes) ┤
                                                        v
    planner (local vs last pushed, safety brake) ──> outbox (SQLite, UPSERT per path)
                                                        │
    per-account worker: ordering (meta.json first, one request per path)
         ──> pacer (rolling budget) ──> token manager ──> HubSpot ──> complete/retry/park

Events are only hints; what is on disk after the quiet period decides. The outbox is
both in memory (for scheduling) and in SQLite (so nothing is lost on a crash); a
"pushed" sha is recorded only after a 2xx, and only if the file still holds the
content that was sent.

Lifecycle: ``await engine.run(stop)`` (watch mode) or ``await engine.push_once()``.
Resources are acquired on an ``AsyncExitStack``, workers run in a ``TaskGroup``, and
setting ``stop`` drains in-flight requests for a bounded time; whatever is left stays
pending in the state for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from hubsync import localtree
from hubsync.auth import TokenManager
from hubsync.config import Account, Config, Watch
from hubsync.core import retry
from hubsync.core.ignore import IgnoreRules
from hubsync.core.ordering import PendingItem, dispatchable, upload_rank
from hubsync.core.paths import is_under, to_remote
from hubsync.core.plan import Delete, LocalFile, Plan, plan
from hubsync.errors import (
    AuthError,
    CredentialError,
    HubSpotError,
    HubsyncError,
    NotFound,
    RateLimited,
    ValidationFailed,
)
from hubsync.hubspot import ApiResult, HubSpotClient
from hubsync.journal import LOG_NAME, Event, Journal
from hubsync.localtree import CachedStat, Gone, Skipped
from hubsync.model import AccessToken, AuthState, Identity, Mode, OpKind
from hubsync.ratelimit import Pacer
from hubsync.state import AsyncStateStore, EnqueueItem, OutboxItem, OutboxState
from hubsync.watcher import Watcher

log = structlog.get_logger("hubsync.engine")

RECONCILE_INTERVAL_S = 300.0
"""Safety-net rescan period: catches whatever the watcher missed."""
DRAIN_TIMEOUT_S = 10.0
"""How long a stop waits for requests in flight before cancelling them."""
AUTH_RECHECK_S = 60.0
"""How often a held (unauthorized) account re-reads its key."""
PUSH_MAX_ATTEMPTS = 12
"""``push`` gives up on a file after this many failed attempts (it stays pending)."""
PUSH_BACKOFF_CAP_S = 8.0
"""``push`` runs unattended against a deadline: keep its backoff short."""
WATCH_BACKOFF_CAP_S = 300.0
CRASH_RETRY_S = 30.0
"""When an attempt fails in an unexpected way, try that item again after this long."""
DISPATCH_WINDOW_PER_SLOT = 20
"""Due items a worker considers per round, per concurrency slot."""

EventSink = Callable[["EngineEvent"], None]
_JOURNALED = frozenset(Event)
"""Events written to the sync log; others (``watching``) only reach the front end."""


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """What the engine tells its front end: a sync log line, or ``watching``."""

    event: str
    fields: Mapping[str, Any]


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
    held_reasons: tuple[str, ...]
    left_pending: int
    plans: Mapping[tuple[str, str], Plan] = field(default_factory=dict)
    """(watch, account) -> plan; what ``--dry-run`` prints."""

    @property
    def ok(self) -> bool:
        return not self.failures and not self.left_pending and not any(
            self.held_deletes.values()
        )


@dataclass(slots=True)
class _Work:
    """One outbox row as the scheduler sees it (the SQLite row is the durable copy)."""

    account: str
    remote_path: str
    watch: str
    rel: str
    op: OpKind
    sha256: str | None
    size: int | None
    folder: bool
    attempts: int = 0
    due: float = 0.0
    """Epoch seconds, like the state's ``next_attempt_at``."""
    state: OutboxState = OutboxState.PENDING
    gave_up: bool = False
    """``push`` stopped trying this run (it stays pending in the state)."""
    last_error: str | None = None


@dataclass(slots=True)
class _AccountRun:
    account: Account
    client: HubSpotClient
    tokens: TokenManager
    pacer: Pacer
    concurrency: int
    queue: dict[str, _Work] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    waiting: set[str] = field(default_factory=set)
    """Remote paths whose retry is due later."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    held: bool = False
    """Auth failed: nothing is sent until the key works again."""
    paused: bool = False
    last_push: float | None = None
    last_error: str | None = None
    pushed: int = 0
    deleted: int = 0


@dataclass(slots=True)
class _WatchRun:
    watch: Watch
    root: Path
    rules: IgnoreRules
    quiet_s: float
    dirty: dict[str, float] = field(default_factory=dict)
    dirty_dirs: set[str] = field(default_factory=set)
    local: dict[str, LocalFile] = field(default_factory=dict)
    stats: dict[str, CachedStat] = field(default_factory=dict)
    pushed: dict[str, dict[str, str]] = field(default_factory=dict)
    """account -> rel -> sha256 last acknowledged."""
    watcher: Watcher | None = None
    last_reconcile: float | None = None
    reported_skips: set[tuple[str, str]] = field(default_factory=set)


def user_label(identity: Identity | None) -> str:
    """How a console line names the HubSpot user: the email's local part, else the id."""
    if identity is None:
        return "?"
    if identity.email:
        return identity.email.split("@", 1)[0]
    return f"user {identity.user_id}"


class Engine:
    """Keeps every watch of ``config`` in sync with its accounts."""

    def __init__(
        self,
        config: Config,
        *,
        watches: Sequence[str] = (),
        dry_run: bool = False,
        allow_deletes: bool = False,
        on_event: EventSink | None = None,
        reconcile_interval_s: float = RECONCILE_INTERVAL_S,
        drain_timeout_s: float = DRAIN_TIMEOUT_S,
    ) -> None:
        self.config = config
        self.dry_run = dry_run
        self.allow_deletes = allow_deletes or config.settings.allow_deletes
        self._on_event = on_event
        self._reconcile_interval_s = reconcile_interval_s
        self._drain_timeout_s = drain_timeout_s
        selected = list(watches) or [w.name for w in config.watches]
        unknown = [name for name in selected if name not in {w.name for w in config.watches}]
        if unknown:
            known = ", ".join(w.name for w in config.watches) or "none"
            raise HubsyncError(
                f"no watch named {', '.join(map(repr, unknown))} in {config.path} "
                f"(configured: {known})"
            )
        self._watch_defs = [config.watch(name) for name in selected]
        self._state: AsyncStateStore | None = None
        self._journal: Journal | None = None
        self._accounts: dict[str, _AccountRun] = {}
        self._watches: dict[str, _WatchRun] = {}
        self._stopping = False
        self._once = False
        self._idle = asyncio.Event()
        self._dirty_wake = asyncio.Event()
        self._reconcile_wanted: set[str] = set()
        self._requests: set[asyncio.Task[None]] = set()
        self._failures: list[Failure] = []
        self._held_reasons: list[str] = []
        self._skipped: list[tuple[str, str, str]] = []
        self._unchanged = 0
        self._plans: dict[tuple[str, str], Plan] = {}

    # --- public surface ----------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, ready: Callable[[], None] | None = None) -> None:
        """Watch and push until ``stop`` is set; then drain and return."""
        await self._session(stop, ready=ready, watch=True)

    async def push_once(self) -> Summary:
        """Reconcile, push everything pending, wait for it, and say how it went."""
        self._once = True
        stop = asyncio.Event()
        if self.dry_run:
            await self._dry_run()
        else:
            await self._session(stop, ready=None, watch=False)
        return self._summary()

    def snapshot(self) -> dict[str, Any]:
        """Plain data about every account and watch (for ``hubsync status``)."""
        accounts: dict[str, Any] = {}
        for name, run in self._accounts.items():
            identity = run.tokens.identity
            pending = sum(1 for w in run.queue.values() if w.state is OutboxState.PENDING)
            pace = run.pacer.snapshot()
            accounts[name] = {
                "portal_id": run.account.portal_id,
                "hub_user_id": identity.user_id if identity else None,
                "hub_user_email": identity.email if identity else None,
                "auth": str(run.tokens.state),
                "token_expires_at": run.tokens.token_expires_at,
                "held": run.held,
                "paused": run.paused,
                "pending": pending,
                "parked": sum(1 for w in run.queue.values() if w.state is OutboxState.PARKED),
                "held_deletes": sum(
                    1 for w in run.queue.values() if w.state is OutboxState.HELD
                ),
                "in_flight": len(run.in_flight),
                "last_push": run.last_push,
                "last_error": run.last_error or run.tokens.last_error,
                "rate": {"limit": pace.limit, "window_ms": pace.window_ms,
                         "budget": pace.budget, "used": pace.used,
                         "paused_for_ms": pace.paused_for_ms,
                         "rate_limited": pace.rate_limited},
            }
        watches = {
            name: {
                "root": str(run.root),
                "dest": run.watch.dest,
                "accounts": list(run.watch.accounts),
                "files": len(run.local),
                "last_reconcile": run.last_reconcile,
                "watcher_alive": run.watcher.is_alive() if run.watcher else None,
            }
            for name, run in self._watches.items()
        }
        return {"accounts": accounts, "watches": watches}

    def pause(self, account: str | None = None) -> None:
        """Stop starting new requests for one account (or all); in-flight ones finish."""
        for run in self._select(account):
            run.paused = True

    def resume(self, account: str | None = None) -> None:
        """Undo ``pause``."""
        for run in self._select(account):
            run.paused = False
            run.wake.set()

    async def flush(self) -> None:
        """Settle every dirty path now, make all pending work due, and wait until idle."""
        for run in self._watches.values():
            for rel in list(run.dirty):
                run.dirty[rel] = 0.0
        await self._settle(force=True)
        now = time.time()
        for account in self._accounts.values():
            for work in account.queue.values():
                if work.state is OutboxState.PENDING:
                    work.due = min(work.due, now)
            account.wake.set()
        self._check_idle()
        await self._idle.wait()

    async def apply_config(self, new_config: Config) -> None:
        """Take new settings that need no restart; watches/accounts changes need one.

        Returns after the next reconcile of every watch was queued.
        """
        self.config = new_config
        self.allow_deletes = self.allow_deletes or new_config.settings.allow_deletes
        for name in self._watches:
            self._reconcile_wanted.add(name)
        self._dirty_wake.set()

    def _select(self, account: str | None) -> list[_AccountRun]:
        if account is None:
            return list(self._accounts.values())
        if account not in self._accounts:
            raise HubsyncError(f"no account named {account!r} in this session")
        return [self._accounts[account]]

    # --- events ------------------------------------------------------------------------

    def _emit(self, event: str, **fields: Any) -> None:
        """Write a sync log line (when not a dry run) and tell the front end."""
        clean = {k: v for k, v in fields.items() if v is not None}
        if self._journal is not None and not self.dry_run and event in _JOURNALED:
            self._journal.write(event, **clean)
        if self._on_event is not None:
            self._on_event(EngineEvent(event, clean))

    def _identity_fields(self, account: str) -> dict[str, Any]:
        run = self._accounts[account]
        identity = run.tokens.identity
        return {
            "account": account,
            "portal_id": run.account.portal_id,
            "hub_user_id": identity.user_id if identity else None,
            "hub_user_email": identity.email if identity else None,
        }

    # --- session -----------------------------------------------------------------------

    async def _open(self, stack: contextlib.AsyncExitStack) -> None:
        settings = self.config.settings
        state_dir = settings.state_dir
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._state = await AsyncStateStore.open(state_dir)
        stack.push_async_callback(self._state.close)
        self._journal = Journal(state_dir / LOG_NAME)
        stack.callback(self._journal.close)
        needed = sorted({a for w in self._watch_defs for a in w.accounts})
        for name in needed:
            account = self.config.accounts[name]
            pacer = Pacer(settings.rate_limit, settings.rate_window_ms / 1000)
            client = HubSpotClient(
                account.base_url, account.portal_id,
                max_connections=settings.concurrency, on_rate_limit=pacer.learn,
                transport=account.transport,
            )
            stack.push_async_callback(client.close)
            self._accounts[name] = _AccountRun(
                account=account, client=client, tokens=TokenManager(account, client),
                pacer=pacer, concurrency=settings.concurrency,
            )
        for watch in self._watch_defs:
            root = watch.src
            rules = await asyncio.to_thread(localtree.load_rules, root, watch.ignore)
            self._watches[watch.name] = _WatchRun(
                watch=watch, root=root, rules=rules, quiet_s=settings.debounce_ms / 1000,
            )

    async def _session(self, stop: asyncio.Event, *, ready: Callable[[], None] | None,
                       watch: bool) -> None:
        started = time.monotonic()
        async with contextlib.AsyncExitStack() as stack:
            await self._open(stack)
            assert self._state is not None
            mode = "watch" if watch else "push"
            self._emit(Event.SESSION_STARTED, mode=mode,
                       watches=[w.name for w in self._watch_defs],
                       accounts=sorted(self._accounts), pid=os.getpid())
            error: str | None = None
            try:
                await self._load_outbox()
                if self.allow_deletes:
                    await self._state.release_holds()
                    for account in self._accounts.values():
                        for work in account.queue.values():
                            if work.state is OutboxState.HELD:
                                work.state = OutboxState.PENDING
                await asyncio.gather(*(self._authenticate(a) for a in self._accounts.values()))
                if watch:
                    for run in self._watches.values():
                        await self._start_watcher(run, stack)
                for run in self._watches.values():
                    await self._reconcile(run)
                if watch:
                    self._emit("watching", watches=list(self._watches))
                    if ready is not None:
                        ready()
                await self._work(stop, watch=watch)
            except BaseException as exc:
                error = f"{type(exc).__name__}: {exc}" if not isinstance(
                    exc, asyncio.CancelledError) else "cancelled"
                raise
            finally:
                left = sum(
                    1 for a in self._accounts.values() for w in a.queue.values()
                    if w.state is OutboxState.PENDING
                )
                self._emit(Event.SESSION_STOPPED, mode=mode, pending=left, error=error,
                           duration_ms=round((time.monotonic() - started) * 1000))

    async def _start_watcher(self, run: _WatchRun, stack: contextlib.AsyncExitStack) -> None:
        if not run.root.is_dir():
            log.warning("watch_root_missing", watch=run.watch.name, root=str(run.root))
            return
        name = run.watch.name

        def on_dirty(rel: str, is_dir: bool) -> None:
            self._mark_dirty(name, rel, is_dir)

        def on_overflow() -> None:
            log.warning("watcher_overflow", watch=name)
            self._reconcile_wanted.add(name)
            self._dirty_wake.set()

        run.watcher = Watcher(run.root, on_dirty, on_overflow)
        await run.watcher.start()
        stack.push_async_callback(run.watcher.stop)

    async def _load_outbox(self) -> None:
        assert self._state is not None
        for row in await self._state.outbox():
            account = self._accounts.get(row.account)
            if account is None or row.watch not in self._watches:
                continue
            account.queue[row.remote_path] = self._work_from_row(row)
            account.waiting.add(row.remote_path)

    @staticmethod
    def _work_from_row(row: OutboxItem) -> _Work:
        return _Work(
            account=row.account, remote_path=row.remote_path, watch=row.watch, rel=row.rel,
            op=row.op, sha256=row.sha256, size=row.size, folder=row.folder,
            attempts=row.attempts, due=row.next_attempt_at, state=row.state,
            last_error=row.last_error,
        )

    async def _authenticate(self, account: _AccountRun) -> None:
        name = account.account.name
        try:
            await account.tokens.token()
        except HubsyncError as exc:
            account.held = isinstance(exc, AuthError | CredentialError)
            account.last_error = str(exc)
            self._emit(Event.AUTH_FAILED, account=name, portal_id=account.account.portal_id,
                       error=str(exc))
            return
        identity = account.tokens.identity
        self._emit(Event.AUTH_OK, **self._identity_fields(name),
                   hub_name=identity.hub_name if identity else None,
                   account_type=identity.account_type if identity else None)

    # --- reconcile and dirty paths -----------------------------------------------------

    def _mark_dirty(self, watch: str, rel: str, is_dir: bool) -> None:
        run = self._watches.get(watch)
        if run is None or self._stopping:
            return
        run.dirty.pop(rel, None)
        run.dirty[rel] = time.monotonic()
        if is_dir:
            run.dirty_dirs.add(rel)
        self._dirty_wake.set()

    async def _reconcile(self, run: _WatchRun) -> None:
        """Walk the tree, compare with what was pushed, enqueue the difference."""
        assert self._state is not None
        began = time.monotonic()
        name = run.watch.name
        # Dirty marks older than the walk are answered by it.
        run.dirty.clear()
        run.dirty_dirs.clear()
        if not run.stats:
            run.stats = await self._state.stat_cache(name)
        result = await asyncio.to_thread(
            localtree.scan, run.root, run.rules, run.stats, now_ns=time.time_ns()
        )
        run.local = dict(result.files)
        # Write only what changed: on a big theme in sync that is nothing at all.
        changed = {rel: entry for rel, entry in result.stats.items()
                   if run.stats.get(rel) != entry}
        removed = [rel for rel in run.stats if rel not in result.stats]
        run.stats = dict(result.stats)
        if changed or removed:
            await self._state.save_stats(name, changed, removed)
        self._report_skips(run, result.skipped)
        for account in run.watch.accounts:
            run.pushed[account] = await self._state.pushed(account, run.watch.dest)
        counts = await self._enqueue_plans(run, root_missing_or_empty=not result.root_ok,
                                           reconcile=True)
        run.last_reconcile = time.time()
        for account, (the_plan, queued) in counts.items():
            self._emit(
                Event.RECONCILED, watch=name, **self._identity_fields(account),
                files=len(run.local), uploads=len(the_plan.uploads),
                deletes=len(the_plan.deletes), held=len(the_plan.held_deletes),
                unchanged=the_plan.unchanged, queued=queued,
                skipped=len(result.skipped),
                duration_ms=round((time.monotonic() - began) * 1000),
            )

    def _report_skips(self, run: _WatchRun, skipped: Iterable[Any]) -> None:
        for item in skipped:
            rel, reason = item.rel, item.reason
            if (rel, reason) in run.reported_skips:
                continue
            run.reported_skips.add((rel, reason))
            self._skipped.append((run.watch.name, rel, reason))
            self._emit(Event.SKIPPED, watch=run.watch.name, path=rel, error=reason)

    async def _enqueue_plans(self, run: _WatchRun, *, root_missing_or_empty: bool,
                             reconcile: bool) -> dict[str, tuple[Plan, int]]:
        """Plan every account of ``run`` and put the work in the outbox."""
        assert self._state is not None
        settings = self.config.settings
        local = {rel: f.sha256 for rel, f in run.local.items()}
        out: dict[str, tuple[Plan, int]] = {}
        items: list[EnqueueItem] = []
        holds: list[tuple[str, list[str], str]] = []
        for account_name in run.watch.accounts:
            account = self._accounts[account_name]
            pushed = run.pushed.setdefault(account_name, {})
            the_plan = plan(
                local, pushed, delete_remote=run.watch.delete_remote,
                max_deletes=settings.max_deletes, allow_deletes=self.allow_deletes,
                root_missing_or_empty=root_missing_or_empty,
            )
            queued = 0
            for rel in the_plan.uploads:
                file = run.local[rel]
                if self._want(account, run, rel, OpKind.UPLOAD, file.sha256):
                    items.append(self._item(account_name, run, rel, OpKind.UPLOAD,
                                            file.sha256, file.size))
                    queued += 1
            for delete in the_plan.deletes:
                if self._want(account, run, delete.rel, OpKind.DELETE, None):
                    items.append(self._item(account_name, run, delete.rel, OpKind.DELETE,
                                            None, None, folder=delete.folder))
                    queued += 1
            if the_plan.held_deletes:
                fresh = [d for d in the_plan.held_deletes
                         if self._want(account, run, d.rel, OpKind.DELETE, None, held=True)]
                for delete in fresh:
                    items.append(self._item(account_name, run, delete.rel, OpKind.DELETE,
                                            None, None, folder=delete.folder, held=True))
                if fresh or reconcile:
                    reason = the_plan.hold_reason or "deletes held"
                    holds.append((account_name, [d.rel for d in the_plan.held_deletes], reason))
            # A path whose content went back to what was pushed needs nothing any more.
            for remote, work in list(account.queue.items()):
                if (work.watch == run.watch.name and work.op is OpKind.UPLOAD
                        and remote not in account.in_flight
                        and pushed.get(work.rel) is not None
                        and local.get(work.rel) == pushed.get(work.rel)):
                    del account.queue[remote]
                    await self._state.cancel(account_name, remote)
            out[account_name] = (the_plan, queued)
            self._plans[(run.watch.name, account_name)] = the_plan
            if reconcile:
                self._unchanged += the_plan.unchanged
        if items:
            await self._state.enqueue(items)
            now = time.time()
            for item in items:
                account = self._accounts[item.account]
                existing = account.queue.get(item.remote_path)
                if (existing is not None and existing.op is item.op
                        and existing.sha256 == item.sha256):
                    if item.held:
                        existing.state = OutboxState.HELD
                    continue
                if existing is None:
                    account.queue[item.remote_path] = _Work(
                        account=item.account, remote_path=item.remote_path, watch=item.watch,
                        rel=item.rel, op=item.op, sha256=item.sha256, size=item.size,
                        folder=item.folder, due=now,
                        state=OutboxState.HELD if item.held else OutboxState.PENDING,
                    )
                else:
                    # New content for a queued path: keep its place, newest content wins.
                    existing.op, existing.sha256, existing.size = item.op, item.sha256, item.size
                    existing.folder, existing.rel = item.folder, item.rel
                    existing.watch, existing.attempts, existing.due = item.watch, 0, now
                    existing.gave_up = False
                    existing.state = OutboxState.HELD if item.held else OutboxState.PENDING
            for account in self._accounts.values():
                account.wake.set()
        for account_name, rels, reason in holds:
            self._held_reasons.append(reason)
            self._emit(Event.HELD, watch=run.watch.name, **self._identity_fields(account_name),
                       deletes=len(rels), error=reason)
        self._check_idle()
        return out

    def _want(self, account: _AccountRun, run: _WatchRun, rel: str, op: OpKind,
              sha256: str | None, *, held: bool = False) -> bool:
        remote = to_remote(run.watch.dest, rel)
        work = account.queue.get(remote)
        if work is None:
            return True
        if work.op is not op or work.sha256 != sha256:
            return True
        # Same content already queued (pending, parked after a 400, or held): keep it.
        return held and work.state is not OutboxState.HELD

    @staticmethod
    def _item(account: str, run: _WatchRun, rel: str, op: OpKind, sha256: str | None,
              size: int | None, *, folder: bool = False, held: bool = False) -> EnqueueItem:
        return EnqueueItem(account=account, remote_path=to_remote(run.watch.dest, rel),
                           watch=run.watch.name, rel=rel, op=op, sha256=sha256, size=size,
                           folder=folder, held=held)

    async def _settler(self, stop: asyncio.Event) -> None:
        """Waits for dirty paths to settle (or a reconcile request) and handles them."""
        last_full = time.monotonic()
        while not stop.is_set():
            deadline = self._next_settle()
            next_full = last_full + self._reconcile_interval_s
            wake_at = next_full if deadline is None else min(deadline, next_full)
            self._dirty_wake.clear()
            await _wait(self._dirty_wake, max(0.0, wake_at - time.monotonic()))
            if stop.is_set():
                return
            if time.monotonic() >= next_full:
                self._reconcile_wanted.update(self._watches)
                last_full = time.monotonic()
            for name in sorted(self._reconcile_wanted):
                self._reconcile_wanted.discard(name)
                await self._reconcile(self._watches[name])
            await self._settle(force=False)

    def _next_settle(self) -> float | None:
        deadlines = [
            next(iter(run.dirty.values())) + run.quiet_s
            for run in self._watches.values() if run.dirty
        ]
        return min(deadlines) if deadlines else None

    async def _settle(self, *, force: bool) -> None:
        now = time.monotonic()
        for run in self._watches.values():
            ready = [rel for rel, marked in run.dirty.items()
                     if force or marked + run.quiet_s <= now]
            if not ready:
                continue
            dirs = {rel for rel in ready if rel in run.dirty_dirs}
            for rel in ready:
                del run.dirty[rel]
                run.dirty_dirs.discard(rel)
            await self._probe(run, ready, dirs)

    async def _probe(self, run: _WatchRun, rels: list[str], dirs: set[str]) -> None:
        """lstat (and hash if needed) what the events pointed at, then plan again."""
        assert self._state is not None
        if "" in rels or "" in dirs:
            # The root itself changed (moved, deleted, recreated): walk it all.
            await self._reconcile(run)
            return
        known: set[str] = set(run.local)
        for pushed in run.pushed.values():
            known.update(pushed)
        results = await asyncio.to_thread(
            _probe_all, run.root, rels, dirs, known, run.rules, dict(run.stats),
            time.time_ns(),
        )
        changed_stats: dict[str, CachedStat] = {}
        removed: list[str] = []
        skipped: list[Any] = []
        for rel, outcome, entry in results:
            if isinstance(outcome, LocalFile):
                run.local[rel] = outcome
                if entry is not None and run.stats.get(rel) != entry:
                    changed_stats[rel] = entry
                    run.stats[rel] = entry
            elif isinstance(outcome, Skipped):
                run.local.pop(rel, None)
                skipped.append(outcome)
            else:
                run.local.pop(rel, None)
                if run.stats.pop(rel, None) is not None:
                    removed.append(rel)
        if changed_stats or removed:
            await self._state.save_stats(run.watch.name, changed_stats, removed)
        self._report_skips(run, skipped)
        root_ok = run.root.is_dir() and bool(run.local)
        await self._enqueue_plans(run, root_missing_or_empty=not root_ok, reconcile=False)

    # --- workers -----------------------------------------------------------------------

    async def _work(self, stop: asyncio.Event, *, watch: bool) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            workers = [group.create_task(self._dispatcher(a, stop), name=f"worker-{n}")
                       for n, a in self._accounts.items()]
            helpers: list[asyncio.Task[None]] = []
            if watch:
                helpers.append(group.create_task(self._settler(stop), name="settler"))
                helpers.append(group.create_task(self._auth_rechecker(stop), name="auth"))
            else:
                helpers.append(group.create_task(self._stop_when_idle(stop), name="idle"))
            await stop.wait()
            self._stopping = True
            for account in self._accounts.values():
                account.wake.set()
            self._dirty_wake.set()
            await asyncio.gather(*workers, return_exceptions=True)
            if self._requests:
                _done, still = await asyncio.wait(self._requests, timeout=self._drain_timeout_s)
                if still:
                    log.warning("drain_timeout", cancelled=len(still),
                                note="they stay pending in the state for the next start")
                    for task in still:
                        task.cancel()
            for task in helpers:
                task.cancel()

    async def _stop_when_idle(self, stop: asyncio.Event) -> None:
        self._check_idle()
        await self._idle.wait()
        stop.set()

    def _check_idle(self) -> None:
        """Set ``_idle`` when no account has work it could still do in this session."""
        for account in self._accounts.values():
            if account.in_flight:
                self._idle.clear()
                return
            if account.held:
                continue
            for work in account.queue.values():
                if work.state is OutboxState.PENDING and not work.gave_up:
                    self._idle.clear()
                    return
        if any(run.dirty for run in self._watches.values()):
            self._idle.clear()
            return
        self._idle.set()

    async def _auth_rechecker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _wait(stop, AUTH_RECHECK_S)
            for account in self._accounts.values():
                if not account.held or stop.is_set():
                    continue
                state = await account.tokens.recheck()
                if state is AuthState.OK:
                    account.held = False
                    account.last_error = None
                    identity = account.tokens.identity
                    self._emit(Event.AUTH_OK, **self._identity_fields(account.account.name),
                               hub_name=identity.hub_name if identity else None)
                    account.wake.set()

    async def _dispatcher(self, account: _AccountRun, stop: asyncio.Event) -> None:
        """Starts requests for one account as ordering, concurrency and pacing allow."""
        while not stop.is_set():
            account.wake.clear()
            next_due = self._dispatch_round(account)
            timeout = None if next_due is None else max(0.0, next_due - time.time())
            await _wait(account.wake, timeout)

    def _dispatch_round(self, account: _AccountRun) -> float | None:
        """Start what may start now; return when the next not-yet-due item becomes due."""
        now = time.time()
        next_due: float | None = None
        # Only retries wait for a future time; they are few, so track them apart and
        # keep each round from walking a backlog of thousands.
        for remote in list(account.waiting):
            work = account.queue.get(remote)
            if work is None or work.due <= now or work.state is not OutboxState.PENDING:
                account.waiting.discard(remote)
            else:
                next_due = work.due if next_due is None else min(next_due, work.due)
        if account.held or account.paused or self._stopping:
            return next_due
        free = account.concurrency - len(account.in_flight)
        if free <= 0:
            return next_due
        due: list[_Work] = []
        # Reconcile enqueues in upload order (module meta.json first), so the head of
        # the queue is where ready work is; a window a few times the concurrency is
        # enough to find it without sorting the whole backlog every time.
        window = DISPATCH_WINDOW_PER_SLOT * account.concurrency
        for work in account.queue.values():
            if (work.state is OutboxState.PENDING and not work.gave_up and work.due <= now
                    and work.remote_path not in account.in_flight):
                due.append(work)
                if len(due) >= window:
                    break
        if not due:
            return next_due
        due.sort(key=lambda w: (0 if w.op is OpKind.DELETE else 1, upload_rank(w.rel)))
        items = [PendingItem(w.remote_path, w.op, w.sha256, w.folder) for w in due]
        by_path = {w.remote_path: w for w in due}
        for item in dispatchable(items, account.in_flight, _PendingPaths(account.queue),
                                 limit=free):
            work = by_path[item.rel]
            account.in_flight.add(work.remote_path)
            task = self._group.create_task(self._request(account, work),
                                           name=f"push-{work.remote_path}")
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)
        return next_due

    async def _request(self, account: _AccountRun, work: _Work) -> None:
        try:
            await self._attempt(account, work)
        except Exception as exc:
            # A bug or an unexpected local failure must not take every account down with
            # the task group: the item stays pending and is tried again later.
            log.exception("push_crashed", account=account.account.name, path=work.rel,
                          error=f"{type(exc).__name__}: {exc}")
            work.due = time.time() + CRASH_RETRY_S
            account.waiting.add(work.remote_path)
        finally:
            account.in_flight.discard(work.remote_path)
            account.wake.set()
            self._check_idle()

    async def _attempt(self, account: _AccountRun, work: _Work) -> None:
        """One request for one outbox item, and what follows from its outcome."""
        assert self._state is not None
        name = account.account.name
        run = self._watches[work.watch]
        local_path = run.root / work.rel
        sha = work.sha256
        size = work.size
        attempt = work.attempts + 1
        if work.op is OpKind.UPLOAD:
            current = await self._look(run, work.rel)
            if current is None:
                # Gone or no longer a regular file: the probe/reconcile decides on a delete.
                await self._drop(account, work)
                self._mark_dirty(run.watch.name, work.rel, False)
                return
            if current.sha256 != sha:
                # The file changed since it was queued: push what is there now.
                sha, size = current.sha256, current.size
                await self._state.enqueue([self._item(name, run, work.rel, OpKind.UPLOAD,
                                                      sha, size)])
                work.sha256, work.size, work.attempts, attempt = sha, size, 0, 1
                if run.pushed.get(name, {}).get(work.rel) == sha:
                    account.queue.pop(work.remote_path, None)
                    return
        began = time.monotonic()
        result: ApiResult | None = None
        error: BaseException | None = None
        try:
            await account.pacer.acquire()
            began = time.monotonic()
            if work.op is OpKind.UPLOAD:
                publish = run.watch.mode is Mode.PUBLISH

                async def send(token: AccessToken) -> ApiResult:
                    return await account.client.upload(token, work.remote_path, local_path,
                                                       publish=publish)
            else:

                async def send(token: AccessToken) -> ApiResult:
                    return await account.client.delete(token, work.remote_path)

            result = await account.tokens.call(send)
        except (HubSpotError, HubsyncError) as exc:
            error = exc
        except OSError as exc:  # the file vanished between hash and open
            error = exc
        duration_ms = round((time.monotonic() - began) * 1000)
        base = {
            "watch": run.watch.name, **self._identity_fields(name), "path": work.rel,
            "remote_path": work.remote_path, "mode": str(run.watch.mode),
            "attempt": attempt, "duration_ms": duration_ms,
        }
        if work.op is OpKind.UPLOAD:
            base.update(bytes=size, sha256=sha)
        if error is None and result is not None and work.op is OpKind.UPLOAD:
            after = await self._look(run, work.rel)
            if after is None or after.sha256 != sha:
                # It changed during the upload: what arrived is unknown; send it again.
                log.info("changed_during_upload", account=name, path=work.rel)
                work.due = time.time()
                if after is not None:
                    await self._state.enqueue([self._item(name, run, work.rel, OpKind.UPLOAD,
                                                          after.sha256, after.size)])
                    work.sha256, work.size, work.attempts = after.sha256, after.size, 0
                else:
                    await self._drop(account, work)
                    self._mark_dirty(run.watch.name, work.rel, False)
                return
        if isinstance(error, NotFound) and work.op is OpKind.DELETE:
            error, result = None, None
            base["status"] = 404
        if error is None:
            await self._succeeded(account, run, work, sha, size, result, base)
            return
        await self._failed(account, run, work, error, attempt, sha, base)

    async def _look(self, run: _WatchRun, rel: str) -> LocalFile | None:
        """The file's content right now (stat key, hash if it changed); None if not a file."""
        outcome, entry = await asyncio.to_thread(
            localtree.probe_with_stat, run.root, rel, run.rules, run.stats.get(rel),
            now_ns=time.time_ns(),
        )
        if entry is not None:
            run.stats[rel] = entry
        return outcome if isinstance(outcome, LocalFile) else None

    async def _drop(self, account: _AccountRun, work: _Work) -> None:
        assert self._state is not None
        if account.queue.get(work.remote_path) is work:
            del account.queue[work.remote_path]
        await self._state.cancel(account.account.name, work.remote_path)

    async def _succeeded(self, account: _AccountRun, run: _WatchRun, work: _Work,
                         sha: str | None, size: int | None, result: ApiResult | None,
                         base: dict[str, Any]) -> None:
        assert self._state is not None
        name = account.account.name
        await self._state.complete(name, work.remote_path, work.op, sha, size=size,
                                   watch=run.watch.name, rel=work.rel)
        pushed = run.pushed.setdefault(name, {})
        if work.op is OpKind.UPLOAD:
            assert sha is not None
            pushed[work.rel] = sha
            account.pushed += 1
        else:
            for rel in [r for r in pushed if r == work.rel or is_under(r, work.rel)]:
                del pushed[rel]
            for remote, other in list(account.queue.items()):
                if (other.op is OpKind.DELETE and is_under(remote, work.remote_path)
                        and remote not in account.in_flight):
                    del account.queue[remote]
            account.deleted += 1
        current = account.queue.get(work.remote_path)
        if current is not None and current.op is work.op and current.sha256 == sha:
            del account.queue[work.remote_path]
        account.last_push = time.time()
        account.last_error = None
        if result is not None:
            base.update(status=result.status, correlation_id=result.correlation_id)
        self._emit(Event.PUSHED if work.op is OpKind.UPLOAD else Event.DELETED,
                   **base, folder=work.folder or None)

    async def _failed(self, account: _AccountRun, run: _WatchRun, work: _Work,
                      error: BaseException, attempt: int, sha: str | None,
                      base: dict[str, Any]) -> None:
        assert self._state is not None
        name = account.account.name
        status = getattr(error, "status", None)
        correlation_id = getattr(error, "correlation_id", None)
        message = error.describe() if isinstance(error, HubSpotError) else str(error)
        base.update(status=status, correlation_id=correlation_id, error=message)
        outcome = retry.outcome_of(error if isinstance(error, HubSpotError) else None) \
            if isinstance(error, HubSpotError) else retry.Outcome.TRANSIENT
        if isinstance(error, AuthError | CredentialError):
            outcome = retry.Outcome.AUTH
        retry_after = error.retry_after if isinstance(error, RateLimited) else None
        if isinstance(error, RateLimited):
            account.pacer.rate_limited(retry_after)
        now = time.time()
        decision = retry.decide(outcome, op=work.op, attempt=attempt, now=now,
                                retry_after=retry_after, window_s=account.pacer.window_s,
                                jitter=random.random(),  # noqa: S311 - jitter, not crypto
                                cap_s=PUSH_BACKOFF_CAP_S if self._once else WATCH_BACKOFF_CAP_S)
        account.last_error = message.splitlines()[0] if message else type(error).__name__
        current = account.queue.get(work.remote_path)
        same = current is work and work.sha256 == sha
        if decision.kind is retry.DecisionKind.PARK or isinstance(error, ValidationFailed):
            await self._state.park(name, work.remote_path, sha, message)
            if same:
                work.state = OutboxState.PARKED
                work.last_error = message
            self._failures.append(Failure(run.watch.name, name, work.rel, message))
            self._emit(Event.FAILED, **base)
            return
        if decision.kind is retry.DecisionKind.HOLD_ACCOUNT:
            account.held = True
            await self._state.reschedule(name, work.remote_path, sha, attempt, now, message)
            if same:
                work.attempts, work.due = attempt, now
            self._emit(Event.FAILED, **base)
            self._emit(Event.AUTH_FAILED, **self._identity_fields(name), error=message)
            return
        if decision.kind is retry.DecisionKind.DONE:
            await self._succeeded(account, run, work, sha, work.size, None, base)
            return
        at = decision.at if decision.at is not None else now
        await self._state.reschedule(name, work.remote_path, sha, attempt, at, message)
        if same:
            work.attempts, work.due, work.last_error = attempt, at, message
            account.waiting.add(work.remote_path)
            if self._once and attempt >= PUSH_MAX_ATTEMPTS:
                work.gave_up = True
                self._failures.append(Failure(run.watch.name, name, work.rel,
                                              f"gave up after {attempt} attempts: {message}"))
                self._emit(Event.FAILED, **base, note="still pending for the next run")
                return
        self._emit(Event.RETRYING, **base, retry_in_ms=round((at - now) * 1000))
        level = retry.log_level(attempt)
        getattr(log, level)("push_retrying", account=name, path=work.rel, attempt=attempt,
                            status=status, reason=decision.reason)

    # --- dry run and summary -----------------------------------------------------------

    async def _dry_run(self) -> None:
        """Plan every watch and account from the state; change nothing."""
        settings = self.config.settings
        state_dir = settings.state_dir
        async with contextlib.AsyncExitStack() as stack:
            if (state_dir / "state.db").exists():
                self._state = await AsyncStateStore.open(state_dir)
                stack.push_async_callback(self._state.close)
            for watch in self._watch_defs:
                root = watch.src
                rules = await asyncio.to_thread(localtree.load_rules, root, watch.ignore)
                cache = (await self._state.stat_cache(watch.name)
                         if self._state else {})
                result = await asyncio.to_thread(localtree.scan, root, rules, cache,
                                                 now_ns=time.time_ns())
                for item in result.skipped:
                    self._skipped.append((watch.name, item.rel, item.reason))
                local = {rel: f.sha256 for rel, f in result.files.items()}
                for account in watch.accounts:
                    pushed = (await self._state.pushed(account, watch.dest)
                              if self._state else {})
                    the_plan = plan(local, pushed, delete_remote=watch.delete_remote,
                                    max_deletes=settings.max_deletes,
                                    allow_deletes=self.allow_deletes,
                                    root_missing_or_empty=not result.root_ok)
                    self._plans[(watch.name, account)] = the_plan
                    self._unchanged += the_plan.unchanged
                    if the_plan.hold_reason:
                        self._held_reasons.append(the_plan.hold_reason)
        self._state = None

    def _summary(self) -> Summary:
        pushed = {name: run.pushed for name, run in self._accounts.items()}
        deleted = {name: run.deleted for name, run in self._accounts.items()}
        held = {
            name: sum(1 for w in run.queue.values() if w.state is OutboxState.HELD)
            for name, run in self._accounts.items()
        }
        failures = list(self._failures)
        left = 0
        for name, run in self._accounts.items():
            for work in run.queue.values():
                if work.state is OutboxState.PENDING and not work.gave_up:
                    left += 1
                    if run.held:
                        failures.append(Failure(work.watch, name, work.rel,
                                                run.last_error or "account unauthorized"))
        if self.dry_run:
            held = {f"{w}:{a}": len(p.held_deletes) for (w, a), p in self._plans.items()}
        return Summary(
            pushed=pushed, deleted=deleted, unchanged=self._unchanged,
            failures=tuple(failures), skipped=tuple(self._skipped), held_deletes=held,
            held_reasons=tuple(dict.fromkeys(self._held_reasons)), left_pending=left,
            plans=dict(self._plans),
        )


class _PendingPaths(AbstractSet[str]):
    """The paths with work pending, as a live view of a queue (no copy per round)."""

    def __init__(self, queue: dict[str, _Work]) -> None:
        self._queue = queue

    def __contains__(self, path: object) -> bool:
        work = self._queue.get(path) if isinstance(path, str) else None
        return work is not None and work.state is OutboxState.PENDING and not work.gave_up

    def __iter__(self) -> Iterator[str]:
        return (path for path in list(self._queue) if path in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _probe_all(root: Path, rels: list[str], dirs: set[str], known: set[str], rules: Any,
               stats: dict[str, CachedStat], now_ns: int,
               ) -> list[tuple[str, LocalFile | Gone | Skipped, CachedStat | None]]:
    """Probe each dirty path (runs in a thread).

    A folder (an event said so, it is one on disk, or it vanished with known files
    under it) stands for every file under it: those we knew and those there now.
    """
    wanted: set[str] = set()
    for rel in rels:
        path = root / rel
        try:
            is_dir = stat.S_ISDIR(path.lstat().st_mode)
        except OSError:
            is_dir = False
        under = [k for k in known if is_under(k, rel)] if (is_dir or rel in dirs
                                                           or rel not in known) else []
        if not (is_dir or rel in dirs or under):
            wanted.add(rel)
            continue
        wanted.update(under)
        if not is_dir:
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            dirnames[:] = [d for d in dirnames
                           if not rules.ignores(f"{rel_dir}/{d}", is_dir=True)]
            wanted.update(f"{rel_dir}/{name}" for name in filenames)
    return [(rel, *localtree.probe_with_stat(root, rel, rules, stats.get(rel), now_ns=now_ns))
            for rel in sorted(wanted)]


async def _wait(event: asyncio.Event, seconds: float | None) -> None:
    """Wait for ``event`` at most ``seconds`` (None: no limit)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


__all__ = [
    "Delete",
    "Engine",
    "EngineEvent",
    "Failure",
    "Summary",
    "user_label",
]
