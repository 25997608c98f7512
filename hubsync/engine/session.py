"""The :class:`Engine` facade and one session's lifecycle (see :mod:`hubsync.engine`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import structlog

from hubsync.auth import TokenManager
from hubsync.config import Account, Config, Settings
from hubsync.core.conflicts import KEEP_LOCAL, KEEP_REMOTE
from hubsync.core.effects import Effects, Policy, Result
from hubsync.core.guard import Step
from hubsync.core.outbox import Outbox
from hubsync.core.paths import to_remote
from hubsync.engine.commit import Committer
from hubsync.engine.guard import Guarded
from hubsync.engine.local import LocalSide
from hubsync.engine.poller import start_pollers
from hubsync.engine.report import (
    Summary,
    build_summary,
    session_status,
    with_real_waits,
)
from hubsync.engine.resolve import (
    Resolved,
    apply_remote_copy,
    check_keep,
    find_conflict,
    with_local_copy,
)
from hubsync.engine.selection import select_watches
from hubsync.engine.tracker import WatchTracker
from hubsync.engine.worker import AccountWorker
from hubsync.errors import CredentialError, UsageError, cause_of
from hubsync.journal import LOG_NAME, Event, Journal
from hubsync.model import (
    Conflict,
    ConflictKind,
    EngineEvent,
    OutboxEntry,
    OutboxState,
    SessionStatus,
)
from hubsync.ports import Clock, RemoteApi, WatcherFactory
from hubsync.ratelimit import Pacer
from hubsync.state import AsyncStateStore, drop_remote_copy

log = structlog.get_logger("hubsync.engine")

RECONCILE_INTERVAL_S = 300.0
"""Safety-net rescan period: catches whatever the watcher missed."""
DRAIN_TIMEOUT_S = 10.0
"""How long a stop waits for requests in flight before cancelling them."""
AUTH_RECHECK_S = 60.0
"""How often a blocked (unauthorized) account re-reads its key."""
PUSH_GIVE_UP_AFTER = 12
"""``push`` stops trying a file after this many failed attempts (it stays pending)."""
PUSH_BACKOFF_CAP_S = 8.0
"""``push`` runs unattended against a deadline: keep its backoff short."""
WATCH_BACKOFF_CAP_S = 300.0


class SessionListener(Protocol):
    """Something beside the front end that follows a watch session (the live-reload
    file, desktop notifications): built per session by ``Adapters.make_listeners``."""

    def queued(self, rows: Sequence[OutboxEntry]) -> None:
        """The outbox rows one state write made (what a settle asked each account)."""

    def __call__(self, event: EngineEvent) -> None:
        """Every engine event, after the front end's sink; must not block or raise."""

    async def aclose(self) -> None:
        """The session ends: release what it holds (a bus connection)."""


def no_listeners(config: Config) -> list[SessionListener]:
    """The default ``make_listeners``: nothing follows the session."""
    return []


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
    make_listeners: Callable[[Config], list[SessionListener]] = no_listeners
    """What follows a watch session besides ``on_event`` (``watch``/``daemon`` only)."""


class Engine:
    """Keeps every selected watch of ``config`` in sync with its accounts."""

    def __init__(self, config: Config, *, adapters: Adapters, watches: Sequence[str] = (),
                 accounts: Sequence[str] = (), dry_run: bool = False,
                 allow_deletes: bool = False, prefer_local: bool = False,
                 on_event: Callable[[EngineEvent], None] | None = None,
                 reconcile_interval_s: float = RECONCILE_INTERVAL_S,
                 drain_timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Raises UsageError for a watch or account name that is not configured."""
        self.config = config
        self.adapters = adapters
        self.clock = adapters.clock
        self.dry_run = dry_run
        self.allow_deletes = allow_deletes or config.settings.allow_deletes
        self.prefer_local = prefer_local
        """``--prefer local``: first contact overwrites differing remote files."""
        self._on_event = on_event
        self._drain_timeout_s = drain_timeout_s
        self._watch_defs = select_watches(config, watches, accounts)
        self.outbox = Outbox(())
        self.local = LocalSide(self, reconcile_interval_s=reconcile_interval_s)
        self._workers: dict[str, AccountWorker] = {}
        self._committer: Committer | None = None
        self._store: AsyncStateStore | None = None
        self._once = False
        self.stopping = False
        """Set once the stop was asked for: nothing new is started."""
        self._idle = asyncio.Event()
        self.hold_reasons: list[str] = []
        self._new_conflicts: list[Conflict] = []
        """Conflicts the guard found in this session (the push summary lists them)."""
        self._stop = asyncio.Event()
        self._interrupted = False
        self._listeners: list[SessionListener] = []

    # --- public surface --------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, ready: Callable[[], None] | None = None) -> None:
        """Watch and push until ``stop`` is set; then drain and return.

        Raises StateError when the state cannot be opened, UsageError for bad names.
        """
        self._stop = stop
        await self._session(stop, ready=ready, watch=True)

    async def push_once(self) -> Summary:
        """Reconcile, push everything pending, wait for it, and say how it went.

        Raises StateError (``StateDiskFull`` on a full disk) when the state cannot be
        written: nothing is sent that could not be recorded.
        """
        self._once = True
        await self._session(self._stop, ready=None, watch=False)
        summary = build_summary(self.outbox, self._workers, self.local.trackers,
                                unchanged=self.local.unchanged, skipped=self.local.skipped,
                                hold_reasons=self.hold_reasons, plans=self.local.plans,
                                interrupted=self._interrupted)
        new = {c.key for c in self._new_conflicts}
        return replace(summary, conflicts=tuple(self._new_conflicts),
                       remote_only=tuple(self._remote_only()),
                       open_conflicts=tuple(c for c in self.conflicts() if c.key not in new))

    def _remote_only(self) -> list[str]:
        """``account: remote path`` of the files in folders the guard listed that are
        neither synced nor local (a teammate's): reported, never touched. A child name
        that is a folder prefix of a local file is a folder, not such a file."""
        found: list[str] = []
        for name, worker in self._workers.items():
            base = self.outbox.base(name)
            owed = {e.remote_path for e in self.outbox.entries(name)}
            local = {to_remote(t.watch.dest, rel) for t in self.local.trackers.values()
                     if name in t.spec.accounts for rel in t.local}
            for folder, children in worker.guard.listed().items():
                for child in sorted(children):
                    path = f"{folder}/{child}" if folder else child
                    if path in base or path in owed or path in local or any(
                            p.startswith(path + "/") for p in local):
                        continue
                    found.append(f"{name}: {path}")
        return found

    def missing_keys(self) -> list[CredentialError]:
        """Why each account whose key was nowhere to be found could not start (empty
        when every account has its key); ``push`` exits with the first one's code."""
        return [w.missing_key for w in self._workers.values() if w.missing_key is not None]

    def stop(self) -> None:
        """End the session as soon as requests in flight are done (a first Ctrl-C):
        what is left stays pending in the state, and ``push_once``'s summary says so."""
        if not self._stop.is_set():
            self._interrupted = self._once
            self._stop.set()

    def status(self) -> SessionStatus:
        fault = self._committer.fault if self._committer is not None else None
        status = session_status(self._workers, self.local.trackers, self.outbox,
                                str(fault) if fault is not None else None)
        return replace(status, conflicts=tuple(self.conflicts()))

    def conflicts(self, account: str | None = None) -> list[Conflict]:
        """Unresolved conflicts of ``account`` (None: every account of the session)."""
        names = [w.name for w in self._select_workers(account)]
        return sorted((c for name in names for c in self.outbox.conflicts(name)),
                      key=lambda c: (c.detected_s, c.account, c.remote_path))

    async def resolve(self, account: str, remote_path: str, keep: str) -> Resolved:
        """Resolve one conflict (``hubsync resolve`` through the control socket).

        ``keep="remote"``: the local file is kept under ``<state_dir>/overwritten/``
        (``Resolved.local_copy``), then the kept remote copy is written into it (or it is
        removed, for a remote delete) and recorded as synced, so nothing is uploaded.
        ``keep="local"``: the local file is pushed over the remote version the conflict
        recorded (the guard still refuses a newer one). Raises UsageError for an
        unknown account, conflict or ``keep``; ResolveError/OSError for the local file.
        """
        check_keep(keep)
        self._select_workers(account)
        conflict = find_conflict(self.outbox.conflicts(account), account, remote_path)
        if conflict.watch not in self.local.trackers:
            raise UsageError(
                f"{conflict.rel} belongs to watch {conflict.watch!r}, which this session does "
                "not run; stop the session and run `hubsync resolve` again (it then works on "
                "the state)")
        size: int | None = None
        local_copy = None
        if keep == KEEP_REMOTE:
            tracker = self.tracker(conflict.watch)
            # The local file is kept under <state_dir>/overwritten/ before it is replaced.
            applied = await asyncio.to_thread(
                apply_remote_copy, tracker.root, conflict,
                convert_fields=tracker.fields.enabled,
                keep_in=self.config.settings.state_dir, now=self.clock.time())
            size, local_copy = applied.size, applied.local_copy
        # The watcher may have seen the written file meanwhile: a local file equal to the
        # kept copy settles the conflict by itself (one `resolved` line, not two).
        if self.outbox.in_conflict(account, remote_path) is not None:
            self.commit(with_local_copy(
                self.outbox.resolve(conflict, keep, self.clock.time(), remote_size=size),
                local_copy))
        if self._committer is not None:
            await self._committer.settled()
        await asyncio.to_thread(drop_remote_copy, self.config.settings.state_dir,
                                conflict.copy_path)
        if keep == KEEP_LOCAL:
            self.local.look_again(conflict.watch, conflict.rel)
        return Resolved(conflict, local_copy)

    def snapshot(self) -> dict[str, Any]:
        """``status()`` as the control socket's JSON."""
        return self.status().to_json()

    def pause(self, account: str | None = None) -> None:
        """Stop starting new requests for one account (or all); in-flight ones finish."""
        for worker in self._select_workers(account):
            worker.conditions.paused = True
        self.check_idle()

    def resume(self, account: str | None = None) -> None:
        """Undo ``pause``."""
        for worker in self._select_workers(account):
            worker.conditions.paused = False
            worker.wake.set()
        self.check_idle()

    async def flush(self) -> None:
        """Settle every dirty path now, make all pending work due, and wait until idle."""
        for tracker in self.local.trackers.values():
            await self.local.observe(tracker, await tracker.settle(
                force=True, known=self.local.known(tracker)))
        now = self.clock.time()
        for worker in self._workers.values():
            self.outbox.reschedule_all(worker.name, now)
            worker.wake.set()
        self.check_idle()
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
        effects = self.outbox.discard_holds(account, self.clock.time())
        self.commit(effects)
        return len(effects.remove)

    async def reload_keys(self) -> None:
        """Re-read every account's key (a rotated key is used at once)."""
        await asyncio.gather(*(w.recheck() for w in self._workers.values()))

    async def apply_config(self, new_config: Config) -> None:
        """Take new settings that need no restart (watches/accounts changes need one),
        re-read keys, and reconcile every watch."""
        self.config = new_config
        self.allow_deletes = self.allow_deletes or new_config.settings.allow_deletes
        self.outbox.policy = self._policy()
        for tracker in self.local.trackers.values():
            tracker.reconcile_wanted = True
        self.local.dirty.set()
        await self.reload_keys()

    # --- hooks for workers and trackers ----------------------------------------------------

    def tracker(self, watch: str) -> WatchTracker:
        return self.local.trackers[watch]

    @property
    def sending_stopped(self) -> bool:
        """Nothing is sent while stopping or while the state cannot be written."""
        fault = self._committer is not None and self._committer.fault is not None
        return self.stopping or fault

    def commit(self, effects: Effects) -> None:
        """Carry out ``effects``: live conditions now, rows and events via the committer."""
        # Named by account: a summary's "held:" line must say whose deletes wait.
        self.hold_reasons.extend(f"{e.fields.get('account')}: {e.fields.get('reason', '')}"
                                 for e in effects.events if e.event == Event.HELD)
        for account, reason in effects.block:
            worker = self._workers[account]
            if worker.conditions.blocked is None:
                worker.conditions.blocked = reason
                self.emit(Event.AUTH_FAILED, account=account, error=reason)
        for watch, rel in effects.reprobe:
            self.local.look_again(watch, rel)
        if self._committer is not None:
            self._committer.submit(effects)
        if effects.upsert:
            for worker in self._workers.values():
                worker.wake.set()
        self.check_idle()

    def finish(self, sent: OutboxEntry, result: Result) -> None:
        """The answer to ``sent`` (from its worker)."""
        jitter = self.adapters.jitter()
        effects = self.outbox.on_result(sent, result, self.clock.time(), jitter=jitter)
        # The retry time said is the real one: a paused account sends nothing sooner.
        effects.events = with_real_waits(effects.events,
                                         self._workers[sent.account].pacer.paused_for())
        self.commit(effects)

    def finish_guarded(self, sent: OutboxEntry, guarded: Guarded) -> None:
        """The guard decided not to send ``sent`` (from its worker): done, adopted or a
        conflict."""
        effects = self.outbox.on_guard(sent, guarded.verdict, guarded.view,
                                       self.clock.time())
        self._new_conflicts.extend(effects.conflicts)
        self.commit(effects)

    async def _dry_guard(self) -> None:
        """``--dry-run``: ask the guard about every planned upload and delete, reading
        only (metadata, listings, downloads; nothing kept or written), so the plan shows
        what would be a conflict or adopted instead of sent. Needs each account's key;
        an account whose key does not work keeps its plan as it is."""
        for (watch, account), plan in list(self.local.plans.items()):
            worker = self._workers[account]
            entries = [e for e in self.outbox.entries(account) if e.watch == watch
                       and e.state is OutboxState.PENDING and worker.guard.enabled]
            if not entries or not await worker.authenticate_quietly():
                continue
            verdicts = await asyncio.gather(*(worker.guard.check(e, dry=True)
                                              for e in entries), return_exceptions=True)
            conflicts: list[tuple[str, str]] = []
            adopted: list[str] = []
            for entry, guarded in zip(entries, verdicts, strict=True):
                if isinstance(guarded, BaseException) or guarded is None:
                    continue
                if guarded.verdict.kind is not None:
                    conflicts.append((entry.rel, str(guarded.verdict.kind)))
                elif guarded.verdict.step is Step.ADOPT:
                    adopted.append(entry.rel)
            held = {rel for rel, _ in conflicts} | set(adopted)
            self.local.plans[(watch, account)] = replace(
                plan, uploads=tuple(r for r in plan.uploads if r not in held),
                deletes=tuple(d for d in plan.deletes if d.rel not in held),
                conflicts=tuple(conflicts), adopted=tuple(adopted))

    def unsent(self, sent: OutboxEntry) -> None:
        self.outbox.unsent(sent)
        self.local.look_again(sent.watch, sent.rel)
        self.check_idle()

    # --- the session -----------------------------------------------------------------------

    async def _session(self, stop: asyncio.Event, *, ready: Callable[[], None] | None,
                       watch: bool) -> None:
        """One session; what went wrong is raised as itself, not as a TaskGroup's group."""
        try:
            await self._session_in_group(stop, ready=ready, watch=watch)
        except BaseExceptionGroup as group:
            raise cause_of(group) from group

    async def _session_in_group(self, stop: asyncio.Event, *,
                                ready: Callable[[], None] | None, watch: bool) -> None:
        started = self.clock.monotonic()
        mode = "watch" if watch else ("dry-run" if self.dry_run else "push")
        async with contextlib.AsyncExitStack() as stack, asyncio.TaskGroup() as group:
            await self._open(stack)
            committer = self._committer
            assert committer is not None
            committer_stop = asyncio.Event()
            committer_task = group.create_task(committer.run(committer_stop), name="commit")
            self.emit(Event.SESSION_STARTED, mode=mode, watches=list(self.local.trackers),
                       accounts=sorted(self._workers), pid=os.getpid())
            error: str | None = None
            try:
                await self._start(stack, watch=watch)
                if ready is not None:
                    ready()
                if not self.dry_run:
                    await self._work(stop, group, watch=watch)
                else:
                    await self._dry_guard()
            except BaseException as exc:
                error = "cancelled" if isinstance(exc, asyncio.CancelledError) else (
                    f"{type(exc).__name__}: {exc}")
                raise
            finally:
                left = sum(self.outbox.count(a, OutboxState.PENDING) for a in self._workers)
                self.emit(Event.SESSION_STOPPED, mode=mode, pending=left, error=error,
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
            await store.bind({name: self.config.accounts[name].target for name in needed})
            entries, base = await store.load()
            self.outbox.load(entries, base, await store.conflicts(), await store.left_remote())
        if not self.dry_run:
            journal = adapters.open_journal(settings.state_dir / LOG_NAME)
            stack.callback(journal.close)
        self._store = store if not self.dry_run else None
        # A dry run tells nobody anything as it goes: the plan it returns is its answer.
        self._committer = Committer(self._store, journal, self.clock, self._decorate,
                                    None if self.dry_run else self._tell)
        self._committer.give_up_on_fault = self._once
        self._committer.on_recovered = self._wake_all
        self._committer.on_written = self._written
        for name in needed:
            account = self.config.accounts[name]
            pacer = adapters.make_pacer(settings)
            api = adapters.make_api(account, settings, pacer)
            stack.push_async_callback(api.close)
            tokens = adapters.make_tokens(account, api)
            self._workers[name] = AccountWorker(self, account, api, tokens, pacer,
                                                settings.concurrency)
        for spec in self._watch_defs:
            self.local.trackers[spec.name] = WatchTracker(
                spec, quiet_s=settings.debounce_ms / 1000, store=self._store, clock=self.clock,
                make_watcher=adapters.make_watcher, on_dirty=self.local.dirty.set,
                settle_on_close=settings.settle_on_close)

    def _policy(self) -> Policy:
        settings = self.config.settings
        return Policy(
            max_deletes=settings.max_deletes, allow_deletes=self.allow_deletes,
            prefer_local=self.prefer_local,
            give_up_after=PUSH_GIVE_UP_AFTER if self._once else None,
            backoff_cap_s=PUSH_BACKOFF_CAP_S if self._once else WATCH_BACKOFF_CAP_S,
            # push sees the whole tree at once: nothing to wait for before judging deletes.
            delete_settle_s=0.0 if self._once else Policy().delete_settle_s,
        )

    async def _start(self, stack: contextlib.AsyncExitStack, *, watch: bool) -> None:
        if watch and not self.dry_run:
            # Before the first key exchange: a refused key is the first thing to tell.
            self._listeners = self.adapters.make_listeners(self.config)
            for listener in self._listeners:
                stack.push_async_callback(listener.aclose)
        if self.allow_deletes and not self.dry_run:
            self.commit(self.outbox.release_holds(None, self.clock.time()))
        if not self.dry_run:
            await asyncio.gather(*(w.authenticate() for w in self._workers.values()))
            missing = self.missing_keys()
            if self._once and missing and len(missing) == len(self._workers):
                # A push can reach no account: say so with the key's exit code (78, or 75
                # for a locked keyring) before walking a folder or running fields.js.
                raise missing[0]
            if self.prefer_local:
                await self._prefer_local_over_unsynced()
        if watch:
            for tracker in self.local.trackers.values():
                await tracker.start_watching()
                stack.push_async_callback(tracker.stop_watching)
        for tracker in self.local.trackers.values():
            await self.local.reconcile(tracker)
        if watch:
            self.emit("watching", watches=list(self.local.trackers),
                      conflicts=len(self.conflicts()))

    async def _prefer_local_over_unsynced(self) -> None:
        """``--prefer local`` promises "yours wins" over remote files hubsync never synced:
        the open ``unsynced`` conflicts of this session's watches (found by an earlier push)
        are resolved ``--keep local`` before the reconcile, so it pushes them, over exactly
        the remote version each conflict recorded (the guard still refuses a newer one).
        Other kinds (a teammate's change to a synced file) stay conflicts."""
        for conflict in self.conflicts():
            if conflict.kind is not ConflictKind.UNSYNCED or conflict.local_sha256 is None \
                    or conflict.watch not in self.local.trackers:
                continue
            self.commit(self.outbox.resolve(conflict, KEEP_LOCAL, self.clock.time()))
            if self._committer is not None:
                await self._committer.settled()
            await asyncio.to_thread(drop_remote_copy, self.config.settings.state_dir,
                                    conflict.copy_path)

    # --- workers and helpers ---------------------------------------------------------------

    async def _work(self, stop: asyncio.Event, group: asyncio.TaskGroup, *, watch: bool) -> None:
        workers = [group.create_task(w.run(stop, group), name=f"worker-{w.name}")
                   for w in self._workers.values()]
        helpers = [group.create_task(self.local.run(stop), name="settler"),
                   group.create_task(self._auth_rechecker(stop), name="auth")] if watch else [
            group.create_task(self._stop_when_idle(stop), name="idle")]
        if watch:
            helpers += start_pollers(self, self.local.trackers.values(), self._workers, group,
                                     stop)
        await stop.wait()
        self.stopping = True
        self._wake_all()
        self.local.dirty.set()
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
        self.check_idle()
        await self._idle.wait()
        assert self._committer is not None
        await self._committer.settled()
        stop.set()

    def check_idle(self) -> None:
        """Set ``_idle`` when no account has work it could still do in this session."""
        # A blocked or paused account cannot make progress: waiting for it (a flush, the
        # end of a push) would only wait out the timeout.
        busy = any(not w.conditions.blocked and not w.conditions.paused
                   and self.outbox.has_sendable(w.name) for w in self._workers.values())
        if busy or self.local.busy:
            self._idle.clear()
        else:
            self._idle.set()

    async def _auth_rechecker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.clock.wait(stop, AUTH_RECHECK_S)
            for worker in self._workers.values():
                if worker.conditions.blocked and not stop.is_set():
                    await worker.recheck()

    def _written(self, rows: list[OutboxEntry]) -> None:
        self.outbox.written(rows)
        self._wake_all()
        for listener in self._listeners:
            listener.queued(rows)

    def _tell(self, event: EngineEvent) -> None:
        """The committer's sink: the front end first, then each session listener."""
        if self._on_event is not None:
            self._on_event(event)
        for listener in self._listeners:
            listener(event)

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

    def emit(self, event: str, **fields: Any) -> None:
        """A sync log line with no state change (session, auth, skips), and the console's."""
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
