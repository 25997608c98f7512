"""The :class:`Engine` facade and one session's lifecycle (see :mod:`hubsync.engine`)."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import structlog

from hubsync.auth import TokenManager
from hubsync.config import Account, Config, Settings, Watch
from hubsync.core.effects import Effects, Policy, Result
from hubsync.core.outbox import Outbox
from hubsync.core.paths import to_remote
from hubsync.core.plan import Plan
from hubsync.engine.commit import Committer
from hubsync.engine.report import Failure, Summary, plan_of, session_status
from hubsync.engine.tracker import Observed, WatchTracker
from hubsync.engine.worker import AccountWorker
from hubsync.errors import AuthError, CredentialError, HubsyncError, UsageError
from hubsync.journal import LOG_NAME, Event, Journal
from hubsync.model import (
    Api,
    AuthState,
    EngineEvent,
    OpKind,
    OutboxEntry,
    OutboxState,
    SessionStatus,
    Target,
)
from hubsync.ports import Clock, RemoteApi, WatcherFactory
from hubsync.ratelimit import Pacer
from hubsync.state import AsyncStateStore

log = structlog.get_logger("hubsync.engine")

RECONCILE_INTERVAL_S = 300.0
"""Safety-net rescan period: catches whatever the watcher missed."""
DRAIN_TIMEOUT_S = 10.0
"""How long a stop waits for requests in flight before cancelling them."""
AUTH_RECHECK_S = 60.0
"""How often a blocked (unauthorized) account re-reads its key."""
ROOT_CHECK_S = 2.0
"""How often each watch root is checked for having been replaced (``mv``, ``git clone``)."""
PUSH_GIVE_UP_AFTER = 12
"""``push`` stops trying a file after this many failed attempts (it stays pending)."""
PUSH_BACKOFF_CAP_S = 8.0
"""``push`` runs unattended against a deadline: keep its backoff short."""
WATCH_BACKOFF_CAP_S = 300.0


@dataclass(frozen=True, slots=True)
class Adapters:
    """Everything the engine builds its I/O from; :func:`hubsync.app.adapters` gives the
    real ones, :mod:`hubsync.testing` the twins."""

    clock: Clock
    open_state: Callable[[Path], Awaitable[AsyncStateStore]]
    open_journal: Callable[[Path], Journal]
    make_pacer: Callable[[Settings], Pacer]
    make_api: Callable[[Account, Settings, Pacer], RemoteApi]
    make_tokens: Callable[[Account, RemoteApi], TokenManager]
    make_watcher: WatcherFactory
    jitter: Callable[[], float]
    """A number in [0, 1] for retry jitter."""


class Engine:
    """Keeps every selected watch of ``config`` in sync with its accounts."""

    def __init__(self, config: Config, *, adapters: Adapters, watches: Sequence[str] = (),
                 accounts: Sequence[str] = (), dry_run: bool = False,
                 allow_deletes: bool = False,
                 on_event: Callable[[EngineEvent], None] | None = None,
                 reconcile_interval_s: float = RECONCILE_INTERVAL_S,
                 drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Raises UsageError for a watch or account name that is not configured."""
        self.config = config
        self.adapters = adapters
        self.clock = adapters.clock
        self.dry_run = dry_run
        self.allow_deletes = allow_deletes or config.settings.allow_deletes
        self._on_event = on_event
        self._reconcile_interval_s = reconcile_interval_s
        self._drain_timeout_s = drain_timeout_s
        self._watch_defs = _select(config, watches, accounts)
        self.outbox = Outbox(())
        self._trackers: dict[str, WatchTracker] = {}
        self._workers: dict[str, AccountWorker] = {}
        self._committer: Committer | None = None
        self._store: AsyncStateStore | None = None
        self._once = False
        self._stopping = False
        self._idle = asyncio.Event()
        self._dirty = asyncio.Event()
        self._skipped: list[tuple[str, str, str]] = []
        self._unchanged = 0
        self._hold_reasons: list[str] = []
        self._plans: dict[tuple[str, str], Plan] = {}
        self._looks: set[asyncio.Task[None]] = set()

    # --- public surface --------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, ready: Callable[[], None] | None = None) -> None:
        """Watch and push until ``stop`` is set; then drain and return.

        Raises StateError when the state cannot be opened, UsageError for bad names.
        """
        await self._session(stop, ready=ready, watch=True)

    async def push_once(self) -> Summary:
        """Reconcile, push everything pending, wait for it, and say how it went.

        Raises StateError (``StateDiskFull`` on a full disk) when the state cannot be
        written: nothing is sent that could not be recorded.
        """
        self._once = True
        await self._session(asyncio.Event(), ready=None, watch=False)
        return self._summary()

    def status(self) -> SessionStatus:
        fault = self._committer.fault if self._committer is not None else None
        return session_status(self._workers, self._trackers, self.outbox,
                              str(fault) if fault is not None else None)

    def snapshot(self) -> dict[str, Any]:
        """``status()`` as the control socket's JSON."""
        return self.status().to_json()

    def pause(self, account: str | None = None) -> None:
        """Stop starting new requests for one account (or all); in-flight ones finish."""
        for worker in self._select_workers(account):
            worker.conditions.paused = True

    def resume(self, account: str | None = None) -> None:
        """Undo ``pause``."""
        for worker in self._select_workers(account):
            worker.conditions.paused = False
            worker.wake.set()

    async def flush(self) -> None:
        """Settle every dirty path now, make all pending work due, and wait until idle."""
        for tracker in self._trackers.values():
            await self._observe(tracker, await tracker.settle(force=True,
                                                              known=self._known(tracker)))
        now = self.clock.time()
        for worker in self._workers.values():
            self.outbox.reschedule_all(worker.name, now)
            worker.wake.set()
        self._check_idle()
        await self._idle.wait()
        if self._committer is not None:
            await self._committer.settled()

    def release_deletes(self, account: str | None = None) -> int:
        """Let the held deletes of ``account`` (None: all) go out; returns how many."""
        self._select_workers(account)
        effects = self.outbox.release_holds(account, self.clock.time())
        self.commit(effects)
        return len(effects.upsert)

    def discard_deletes(self, account: str | None = None) -> int:
        """Drop the held deletes of ``account`` (None: all): the remote files stay."""
        self._select_workers(account)
        effects = self.outbox.discard_holds(account)
        self.commit(effects)
        return len(effects.remove)

    async def reload_keys(self) -> None:
        """Re-read every account's key (a rotated key is used at once)."""
        await asyncio.gather(*(self._recheck(w) for w in self._workers.values()))

    async def apply_config(self, new_config: Config) -> None:
        """Take new settings that need no restart (watches/accounts changes need one),
        re-read keys, and reconcile every watch."""
        self.config = new_config
        self.allow_deletes = self.allow_deletes or new_config.settings.allow_deletes
        self.outbox.policy = self._policy()
        for tracker in self._trackers.values():
            tracker.reconcile_wanted = True
        self._dirty.set()
        await self.reload_keys()

    # --- hooks for workers and trackers ----------------------------------------------------

    def tracker(self, watch: str) -> WatchTracker:
        return self._trackers[watch]

    @property
    def sending_stopped(self) -> bool:
        """Nothing is sent while stopping or while the state cannot be written."""
        fault = self._committer is not None and self._committer.fault is not None
        return self._stopping or fault

    def commit(self, effects: Effects) -> None:
        """Carry out ``effects``: live conditions now, rows and events via the committer."""
        self._hold_reasons.extend(str(e.fields.get("reason", "")) for e in effects.events
                                  if e.event == Event.HELD)
        for account, reason in effects.block:
            worker = self._workers[account]
            if worker.conditions.blocked is None:
                worker.conditions.blocked = reason
                self._emit(Event.AUTH_FAILED, account=account, error=reason)
        for watch, rel in effects.reprobe:
            self._look_again(watch, rel)
        if self._committer is not None:
            self._committer.submit(effects)
        if effects.upsert:
            for worker in self._workers.values():
                worker.wake.set()
        self._check_idle()

    def finish(self, sent: OutboxEntry, result: Result) -> None:
        """The answer to ``sent`` (from its worker)."""
        jitter = self.adapters.jitter()
        self.commit(self.outbox.on_result(sent, result, self.clock.time(), jitter=jitter))

    def unsent(self, sent: OutboxEntry) -> None:
        self.outbox.unsent(sent)
        self._look_again(sent.watch, sent.rel)
        self._check_idle()

    def _look_again(self, watch: str, rel: str) -> None:
        """Have ``rel`` looked at again: after the quiet period while watching (it may be
        mid-write), at once in ``push`` (no watcher runs to say when it settles)."""
        if self._stopping:
            return
        tracker = self._trackers[watch]
        if tracker.watcher is not None:
            tracker.mark(rel, False)
            return
        task = asyncio.create_task(self._look_now(tracker, rel), name=f"look-{rel}")
        self._looks.add(task)
        task.add_done_callback(self._looked)

    async def _look_now(self, tracker: WatchTracker, rel: str) -> None:
        self._observe_now(tracker, await tracker.look_now([rel], known=self._known(tracker)))

    def _looked(self, task: asyncio.Task[None]) -> None:
        self._looks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("look_failed", error=repr(task.exception()))
        self._check_idle()

    # --- the session -----------------------------------------------------------------------

    async def _session(self, stop: asyncio.Event, *, ready: Callable[[], None] | None,
                       watch: bool) -> None:
        started = self.clock.monotonic()
        mode = "watch" if watch else ("dry-run" if self.dry_run else "push")
        async with contextlib.AsyncExitStack() as stack, asyncio.TaskGroup() as group:
            await self._open(stack)
            committer = self._committer
            assert committer is not None
            committer_stop = asyncio.Event()
            committer_task = group.create_task(committer.run(committer_stop), name="commit")
            self._emit(Event.SESSION_STARTED, mode=mode, watches=list(self._trackers),
                       accounts=sorted(self._workers), pid=os.getpid())
            error: str | None = None
            try:
                await self._start(stack, watch=watch)
                if ready is not None:
                    ready()
                if not self.dry_run:
                    await self._work(stop, group, watch=watch)
            except BaseException as exc:
                error = "cancelled" if isinstance(exc, asyncio.CancelledError) else (
                    f"{type(exc).__name__}: {exc}")
                raise
            finally:
                left = sum(self.outbox.count(a, OutboxState.PENDING) for a in self._workers)
                self._emit(Event.SESSION_STOPPED, mode=mode, pending=left, error=error,
                           duration_ms=round((self.clock.monotonic() - started) * 1000))
                committer_stop.set()
                committer.submit(Effects())
                await asyncio.wait({committer_task}, timeout=self._drain_timeout_s)
                await committer.flush_now()

    async def _open(self, stack: contextlib.AsyncExitStack) -> None:
        adapters = self.adapters
        settings = self.config.settings
        needed = sorted({a for w in self._watch_defs for a in w.accounts})
        self.outbox = Outbox(needed, self._policy())
        store: AsyncStateStore | None = None
        journal: Journal | None = None
        state_file = settings.state_dir / "state.db"
        if not self.dry_run or state_file.exists():
            store = await adapters.open_state(settings.state_dir)
            stack.push_async_callback(store.close)
            await store.bind({name: _target(self.config.accounts[name]) for name in needed})
            entries, base = await store.load()
            self.outbox.load(entries, base)
        if not self.dry_run:
            journal = adapters.open_journal(settings.state_dir / LOG_NAME)
            stack.callback(journal.close)
        self._store = store if not self.dry_run else None
        # A dry run tells nobody anything as it goes: the plan it returns is its answer.
        self._committer = Committer(self._store, journal, self.clock, self._decorate,
                                    None if self.dry_run else self._on_event)
        self._committer.give_up_on_fault = self._once
        self._committer.on_recovered = self._wake_all
        for name in needed:
            account = self.config.accounts[name]
            pacer = adapters.make_pacer(settings)
            api = adapters.make_api(account, settings, pacer)
            stack.push_async_callback(api.close)
            tokens = adapters.make_tokens(account, api)
            self._workers[name] = AccountWorker(self, account, api, tokens, pacer,
                                                settings.concurrency)
        for spec in self._watch_defs:
            self._trackers[spec.name] = WatchTracker(
                spec, quiet_s=settings.debounce_ms / 1000, store=self._store, clock=self.clock,
                make_watcher=adapters.make_watcher, on_dirty=self._dirty.set)

    def _policy(self) -> Policy:
        settings = self.config.settings
        return Policy(
            max_deletes=settings.max_deletes, allow_deletes=self.allow_deletes,
            give_up_after=PUSH_GIVE_UP_AFTER if self._once else None,
            backoff_cap_s=PUSH_BACKOFF_CAP_S if self._once else WATCH_BACKOFF_CAP_S,
            # push sees the whole tree at once: nothing to wait for before judging deletes.
            delete_settle_s=0.0 if self._once else Policy().delete_settle_s,
        )

    async def _start(self, stack: contextlib.AsyncExitStack, *, watch: bool) -> None:
        if self.allow_deletes and not self.dry_run:
            self.commit(self.outbox.release_holds(None, self.clock.time()))
        if not self.dry_run:
            await asyncio.gather(*(self._authenticate(w) for w in self._workers.values()))
        if watch:
            for tracker in self._trackers.values():
                await tracker.start_watching()
                stack.push_async_callback(tracker.stop_watching)
        for tracker in self._trackers.values():
            await self._reconcile(tracker)
        if watch:
            self._emit("watching", watches=list(self._trackers))

    async def _reconcile(self, tracker: WatchTracker) -> None:
        began = self.clock.monotonic()
        observed = await tracker.reconcile()
        self._observe_now(tracker, observed)
        if self.dry_run:
            now = float("inf")  # judge deletes as the session would once they settle
            for account in tracker.spec.accounts:
                self.outbox.vet_deletes(account, now)
        for account in tracker.spec.accounts:
            self._report_reconciled(tracker, observed, account, began)

    def _report_reconciled(self, tracker: WatchTracker, observed: Observed, account: str,
                           began: float) -> None:
        name = tracker.watch.name
        entries = [e for e in self.outbox.entries(account) if e.watch == name]
        unchanged = sum(1 for rel, seen in observed.files.items() if seen is not None
                        and self.outbox.synced_sha(account, _remote(tracker, rel)) == seen.sha256)
        uploads = sum(1 for e in entries if e.op is OpKind.UPLOAD
                      and e.state is OutboxState.PENDING)
        deletes = sum(1 for e in entries if e.op is OpKind.DELETE
                      and e.state is OutboxState.PENDING)
        held = sum(1 for e in entries if e.state is OutboxState.HELD)
        self._unchanged += unchanged
        if self.dry_run:
            reason = next(iter(self._hold_reasons), None)
            self._plans[(name, account)] = plan_of(self.outbox, name, account,
                                                   unchanged=unchanged, hold_reason=reason)
        self._emit(Event.RECONCILED, watch=name, account=account, files=len(tracker.local),
                   uploads=uploads, deletes=deletes, held=held, unchanged=unchanged,
                   queued=uploads + deletes, skipped=len(observed.skipped),
                   duration_ms=round((self.clock.monotonic() - began) * 1000))

    def _observe_now(self, tracker: WatchTracker, observed: Observed) -> None:
        name = tracker.watch.name
        for item in tracker.new_skips(observed.skipped):
            self._skipped.append((name, item.rel, item.reason))
            self._emit(Event.SKIPPED, watch=name, path=item.rel, reason=item.reason)
        for item in tracker.new_skips(observed.unreadable):
            # A failure, not a rule: said once per account, retried when it changes.
            for account in tracker.spec.accounts:
                self._emit(Event.FAILED, watch=name, account=account, path=item.rel,
                           error=item.reason, note="retried when it can be read")
        self.commit(self.outbox.observe(
            tracker.spec, observed.files, self.clock.time(), complete=observed.complete,
            root_ok=observed.root_ok, unknown=[u.rel for u in observed.unreadable]))

    async def _observe(self, tracker: WatchTracker, observed: Observed | None) -> None:
        if observed is not None:
            self._observe_now(tracker, observed)

    def _known(self, tracker: WatchTracker) -> set[str]:
        """The watch-relative paths synced for ``tracker``'s watch, in any of its accounts."""
        prefix = tracker.watch.dest.strip("/") + "/"
        known: set[str] = set()
        for account in tracker.spec.accounts:
            known.update(p[len(prefix):] for p in self.outbox.base(account)
                         if p.startswith(prefix))
        return known

    # --- workers and helpers ---------------------------------------------------------------

    async def _work(self, stop: asyncio.Event, group: asyncio.TaskGroup, *, watch: bool) -> None:
        workers = [group.create_task(w.run(stop, group), name=f"worker-{w.name}")
                   for w in self._workers.values()]
        helpers = [group.create_task(self._settler(stop), name="settler"),
                   group.create_task(self._auth_rechecker(stop), name="auth")] if watch else [
            group.create_task(self._stop_when_idle(stop), name="idle")]
        await stop.wait()
        self._stopping = True
        self._wake_all()
        self._dirty.set()
        await asyncio.gather(*workers, return_exceptions=True)
        cancelled = 0
        for worker in self._workers.values():
            cancelled += await worker.drain(self._drain_timeout_s)
        if cancelled:
            log.warning("drain_timeout", cancelled=cancelled,
                        note="they stay pending in the state for the next start")
        for task in helpers:
            task.cancel()

    async def _stop_when_idle(self, stop: asyncio.Event) -> None:
        self._check_idle()
        await self._idle.wait()
        assert self._committer is not None
        await self._committer.settled()
        stop.set()

    def _check_idle(self) -> None:
        """Set ``_idle`` when no account has work it could still do in this session."""
        busy = any(not w.conditions.blocked and self.outbox.has_sendable(w.name)
                   for w in self._workers.values())
        if busy or self._looks or any(t.dirty for t in self._trackers.values()):
            self._idle.clear()
        else:
            self._idle.set()

    async def _settler(self, stop: asyncio.Event) -> None:
        """Settles dirty paths, reconciles when asked, checks the roots; watch mode only."""
        next_full = self.clock.monotonic() + self._reconcile_interval_s
        next_root_check = self.clock.monotonic() + ROOT_CHECK_S
        while not stop.is_set():
            deadlines = [t.next_deadline() for t in self._trackers.values()]
            wake_at = min([d for d in deadlines if d is not None]
                          + [next_full, next_root_check])
            self._dirty.clear()
            await self.clock.wait(self._dirty, max(0.0, wake_at - self.clock.monotonic()))
            if stop.is_set():
                return
            now = self.clock.monotonic()
            if now >= next_full:
                next_full = now + self._reconcile_interval_s
                for tracker in self._trackers.values():
                    tracker.reconcile_wanted = True
            if now >= next_root_check:
                next_root_check = now + ROOT_CHECK_S
                for tracker in self._trackers.values():
                    await tracker.check_root()
                    tracker.readable_again()
            for tracker in self._trackers.values():
                if tracker.reconcile_wanted:
                    await self._reconcile(tracker)
                await self._observe(tracker, await tracker.settle(
                    force=False, known=self._known(tracker)))
            self._check_idle()

    async def _authenticate(self, worker: AccountWorker) -> None:
        try:
            await worker.tokens.token()
        except HubsyncError as exc:
            if isinstance(exc, AuthError | CredentialError):
                worker.conditions.blocked = str(exc)
            worker.conditions.last_error = str(exc)
            self._emit(Event.AUTH_FAILED, account=worker.name, error=str(exc))
            return
        identity = worker.tokens.identity
        self._emit(Event.AUTH_OK, account=worker.name,
                   hub_name=identity.hub_name if identity else None,
                   account_type=identity.account_type if identity else None)

    async def _recheck(self, worker: AccountWorker) -> None:
        state = await worker.tokens.recheck()
        if state is AuthState.OK and worker.conditions.blocked:
            worker.conditions.blocked = None
            worker.conditions.last_error = None
            identity = worker.tokens.identity
            self._emit(Event.AUTH_OK, account=worker.name,
                       hub_name=identity.hub_name if identity else None)
            worker.wake.set()

    async def _auth_rechecker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.clock.wait(stop, AUTH_RECHECK_S)
            for worker in self._workers.values():
                if worker.conditions.blocked and not stop.is_set():
                    await self._recheck(worker)

    def _wake_all(self) -> None:
        for worker in self._workers.values():
            worker.wake.set()

    def _select_workers(self, account: str | None) -> list[AccountWorker]:
        if account is None:
            return list(self._workers.values())
        if account not in self._workers:
            raise UsageError(f"no account named {account!r} in this session "
                             f"(it has: {', '.join(sorted(self._workers)) or 'none'})")
        return [self._workers[account]]

    def _emit(self, event: str, **fields: Any) -> None:
        if self._committer is not None:
            self._committer.emit_now(event, **fields)

    def _decorate(self, event: EngineEvent) -> EngineEvent:
        """Add the account's identity (portal, HubSpot user) to an event naming one."""
        name = event.fields.get("account")
        worker = self._workers.get(name) if isinstance(name, str) else None
        if worker is None:
            return event
        identity = worker.tokens.identity
        extra = {"portal_id": worker.account.portal_id,
                 "hub_user_id": identity.user_id if identity else None,
                 "hub_user_email": identity.email if identity else None}
        fields = {**event.fields, **{k: v for k, v in extra.items() if v is not None}}
        return replace(event, fields=fields)

    def _summary(self) -> Summary:
        failures: list[Failure] = []
        left = 0
        for name, worker in self._workers.items():
            for entry in self.outbox.entries(name):
                if entry.state is OutboxState.PARKED:
                    failures.append(Failure(entry.watch, name, entry.rel,
                                            entry.last_error or "failed"))
            for entry in self.outbox.gave_up(name):
                failures.append(Failure(entry.watch, name, entry.rel,
                                        f"gave up: {entry.last_error}"))
            pending = [e for e in self.outbox.entries(name)
                       if e.state is OutboxState.PENDING]
            if worker.conditions.blocked:
                failures.extend(Failure(e.watch, name, e.rel, worker.conditions.blocked)
                                for e in pending)
            else:
                left += len(pending) - len(self.outbox.gave_up(name))
        for tracker in self._trackers.values():
            failures.extend(Failure(tracker.watch.name, account, item.rel, item.reason)
                            for item in tracker.unreadable.values()
                            for account in tracker.spec.accounts)
        totals = {name: self.outbox.totals(name) for name in self._workers}
        return Summary(
            pushed={n: t[0] for n, t in totals.items()},
            deleted={n: t[1] for n, t in totals.items()},
            unchanged=self._unchanged, failures=tuple(failures), skipped=tuple(self._skipped),
            held_deletes={n: self.outbox.held_files(n) for n in self._workers},
            held_reasons=tuple(dict.fromkeys(self._hold_reasons)), left_pending=max(0, left),
            plans=dict(self._plans),
        )


def _remote(tracker: WatchTracker, rel: str) -> str:
    return to_remote(tracker.watch.dest, rel)


def _target(account: Account) -> Target:
    return Target(account.portal_id, account.base_url, Api(account.transport))


def _select(config: Config, watches: Sequence[str], accounts: Sequence[str]) -> list[Watch]:
    """The watches to run, each limited to ``accounts`` when given."""
    names = [w.name for w in config.watches]
    unknown = [n for n in watches if n not in names]
    if unknown:
        raise UsageError(_unknown("watch", unknown, names, config.path))
    chosen = [config.watch(n) for n in (watches or names)]
    if not accounts:
        return chosen
    configured = sorted(config.accounts)
    missing = [a for a in accounts if a not in configured]
    if missing:
        raise UsageError(_unknown("account", missing, configured, config.path))
    limited = [replace(w, accounts=tuple(a for a in w.accounts if a in accounts))
               for w in chosen]
    return [w for w in limited if w.accounts]


def _unknown(kind: str, names: list[str], known: list[str], path: Path | None) -> str:
    hints = [m for n in names for m in difflib.get_close_matches(n, known, n=1)]
    hint = f"; did you mean {hints[0]!r}?" if hints else ""
    return (f"no {kind} named {', '.join(map(repr, names))} in {path} "
            f"(configured: {', '.join(known) or 'none'}){hint}")
