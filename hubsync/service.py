"""The lifecycle of a long-running session (``hubsync daemon``, and ``hubsync watch``).

One :func:`run_session` call is the whole life of the process, built as a stack::

    signal handlers (SIGTERM/SIGINT stop, SIGHUP reloads)
      └── config                 ConfigError -> exit 78: the unit must not restart-loop
          └── InstanceLock       a second instance exits 1 at once, naming the PID
              └── ControlServer  status / pause / resume / flush over a Unix socket
                  └── TaskGroup  engine (restarted in place on a structural reload),
                                 watchdog timer, STATUS timer, reloader

and talks to the service manager with sd_notify (``hubsync.notify``):

- ``READY=1`` once the engine says config, keys, state and watcher are up and the
  first reconcile is queued; again after each reload, applied or refused;
- ``STATUS=`` a one-line summary (accounts ok/unauthorized, pending, last push),
  re-sent when it changes (engine events wake it; a timer catches the rest);
- ``WATCHDOG=1`` every ``WATCHDOG_USEC/2``, sent from the event loop itself (so a
  blocked loop sends none) and only while every watcher thread is alive;
- ``STOPPING=1`` on SIGTERM/SIGINT, ``RELOADING=1`` on SIGHUP.

Stopping drains: the engine lets requests in flight finish for a bounded time and
keeps the rest pending in the state for the next start. Exit codes: 0 clean stop,
78 bad config, 75 temporary failure (state directory, keyring), 1 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

from hubsync import control, notify
from hubsync.app import build_engine
from hubsync.config import Config, load_config
from hubsync.engine import Engine, EngineEvent, EventSink
from hubsync.errors import (
    EX_OK,
    ConfigError,
    ControlError,
    HubsyncError,
    cause_of,
)
from hubsync.lock import InstanceLock
from hubsync.logs import journal_attached

log = structlog.get_logger("hubsync.service")

STOP_TIMEOUT_S = 15.0
"""Longest a stop waits for the engine to drain and close; under the unit's TimeoutStopSec=20s."""
STATUS_INTERVAL_S = 5.0
"""``STATUS=`` is recomputed at least this often (engine events wake it sooner)."""
STATUS_MIN_GAP_S = 1.0
"""A busy push burst re-sends ``STATUS=`` at most once per this many seconds."""
FLUSH_TIMEOUT_S = 60.0
"""``flush`` waits this long by default for everything pending to be pushed."""
SECOND_INTERRUPT_EXIT = 130
"""Exit status when a second Ctrl-C skips the drain (128 + SIGINT)."""

EngineFactory = Callable[[Config, Sequence[str], EventSink], Engine]
"""Builds the engine for a config and a watch selection (empty: all); the sink receives
every engine event."""


class SessionKind(enum.StrEnum):
    """Which command runs the session (``hubsync status`` shows it)."""

    DAEMON = "daemon"
    """``hubsync daemon``, under a service manager."""
    WATCH = "watch"
    """``hubsync watch``, in a terminal."""


def default_engine(config: Config, watches: Sequence[str], sink: EventSink) -> Engine:
    """The default ``EngineFactory``: an ``Engine`` on the real adapters."""
    return build_engine(config, watches=watches, on_event=sink)


async def run_session(
    config_path: Path | None,
    *,
    kind: SessionKind,
    watches: Sequence[str] = (),
    engine_factory: EngineFactory = default_engine,
    on_event: EventSink | None = None,
    on_ready: Callable[[], None] | None = None,
    on_stopping: Callable[[], None] | None = None,
    stop: asyncio.Event | None = None,
    hold_lock: bool = True,
) -> int:
    """Run one session until SIGTERM/SIGINT (or ``stop`` is set); return the exit status.

    The one runner of ``watch``, ``daemon`` and both demo modes: signals (a second Ctrl-C
    quits at once), the instance lock (unless the caller holds it: ``hold_lock=False``),
    the control socket, SIGHUP reload, and one drain timeout.

    ``config_path`` None means ``default_config_path()``, re-read on every SIGHUP.
    ``watches`` limits the session to those watches (default: all, including watches
    a reload adds).
    ``on_event`` sees every engine event (the watch console), ``on_ready`` is called
    once when the first engine is ready, ``on_stopping`` when a stop signal arrives.
    Failures are reported here (one line on stderr, journal priority when stderr is
    the journal) and turned into the exit status; nothing is raised.
    """
    session = _Session(
        config_path, kind=kind, watches=tuple(watches), engine_factory=engine_factory,
        on_event=on_event, on_ready=on_ready, on_stopping=on_stopping,
        external_stop=stop, hold_lock=hold_lock,
    )
    try:
        await session.run()
    except HubsyncError as exc:
        return _report_failure(exc)
    except BaseExceptionGroup as group:  # the TaskGroup wraps what the engine raised
        cause = cause_of(group)
        if isinstance(cause, HubsyncError):
            return _report_failure(cause)
        # Not ours: let the CLI's funnel report the cause itself.
        raise cause from group
    return EX_OK


def _report_failure(error: HubsyncError) -> int:
    # The exit status is the error class's: the same for every command (a StateError,
    # a full disk or an unmounted home, is 75 so the service manager restarts us).
    code = error.exit_code
    log.debug("session_failed", exc_info=error)
    notify.status(f"failed: {error}")
    # journald reads "<3>" as priority err, so `journalctl -p warning` shows the reason.
    prefix = "<3>" if journal_attached(sys.stderr) else ""
    lines = str(error).splitlines() or [type(error).__name__]
    print(f"{prefix}hubsync: error: {lines[0]}", file=sys.stderr)
    for line in lines[1:]:
        print(f"{prefix}{line}", file=sys.stderr)
    sys.stderr.flush()
    return code


class _Session:
    """The state of one running session; see the module docstring for its shape."""

    def __init__(
        self,
        config_path: Path | None,
        *,
        kind: SessionKind,
        watches: tuple[str, ...],
        engine_factory: EngineFactory,
        on_event: EventSink | None,
        on_ready: Callable[[], None] | None,
        on_stopping: Callable[[], None] | None,
        external_stop: asyncio.Event | None = None,
        hold_lock: bool = True,
    ) -> None:
        self._config_path = config_path
        self._external_stop = external_stop
        self._hold_lock = hold_lock
        self._kind = kind
        self._selection = watches
        self._factory = engine_factory
        self._on_event = on_event
        self._on_ready = on_ready
        self._on_stopping = on_stopping
        self._config: Config | None = None
        self._engine: Engine | None = None
        self._stop = asyncio.Event()
        self._engine_stop = asyncio.Event()
        self._engine_ready = asyncio.Event()
        self._reload_wanted = asyncio.Event()
        self._status_wake = asyncio.Event()
        self._replacement: Engine | None = None
        self._ready_once = False
        self._paused: set[str] = set()
        """Accounts paused over the control socket; re-applied to a restarted engine."""
        self._reload_failure: str | None = None
        self._dead_watchers_logged = False
        self._started_at = time.time()
        self._background: set[asyncio.Task[Any]] = set()

    # --- the stack -----------------------------------------------------------------------

    async def run(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            # Signals first: a SIGTERM while the config loads must still stop us cleanly.
            self._install_signal_handlers(stack)
            self._config = await asyncio.to_thread(load_config, self._config_path)
            self._config_path = self._config.path
            state_dir = self._config.settings.state_dir
            if self._hold_lock:
                stack.enter_context(InstanceLock(state_dir))
            await stack.enter_async_context(
                control.ControlServer(control.socket_path(state_dir), self._handle)
            )
            stack.callback(self._cancel_background)
            first = self._factory(self._config, self._selection, self._sink)
            async with asyncio.TaskGroup() as group:
                helpers = [
                    group.create_task(self._watchdog(), name="watchdog"),
                    group.create_task(self._status_loop(), name="status"),
                    group.create_task(self._reloader(), name="reloader"),
                ]
                if self._external_stop is not None:
                    helpers.append(group.create_task(self._stop_when(self._external_stop),
                                                     name="external-stop"))
                try:
                    await self._run_engines(first)
                finally:
                    for task in helpers:
                        task.cancel()
            log.info("session_ended", kind=str(self._kind))

    def _install_signal_handlers(self, stack: contextlib.AsyncExitStack) -> None:
        loop = asyncio.get_running_loop()
        handlers: Mapping[signal.Signals, Callable[[], None]] = {
            signal.SIGTERM: lambda: self._request_stop(signal.SIGTERM),
            signal.SIGINT: lambda: self._request_stop(signal.SIGINT),
            signal.SIGHUP: self._request_reload,
        }
        for signum, handler in handlers.items():
            loop.add_signal_handler(signum, handler)
            stack.callback(loop.remove_signal_handler, signum)

    def _cancel_background(self) -> None:
        for task in self._background:
            task.cancel()

    # --- signals -------------------------------------------------------------------------

    def _request_stop(self, signum: signal.Signals) -> None:
        if self._stop.is_set():
            if signum is signal.SIGINT:
                # Ctrl-C twice: the user means it. No drain; the state is crash-safe.
                sys.stdout.flush()
                os._exit(SECOND_INTERRUPT_EXIT)
            log.info("already_stopping", signal=signum.name)
            return
        log.info("stopping", signal=signum.name)
        notify.stopping()
        notify.status("stopping: finishing pushes in flight")
        self._stop.set()
        self._engine_stop.set()
        if self._on_stopping is not None:
            self._on_stopping()

    async def _stop_when(self, event: asyncio.Event) -> None:
        """The caller (the scripted demo) ends the session by setting ``event``."""
        await event.wait()
        if not self._stop.is_set():
            log.info("stopping", reason="asked by the caller")
            self._stop.set()
            self._engine_stop.set()

    def _request_reload(self) -> None:
        if self._stop.is_set():
            return
        self._reload_wanted.set()

    # --- engines -------------------------------------------------------------------------

    async def _run_engines(self, engine: Engine) -> None:
        """Run ``engine``; when a reload replaces it, run the replacement, until stopped."""
        while not self._stop.is_set():
            # ``_engine_ready`` is fresh here: made in __init__, or by the reload that
            # asked for this engine (the reloader waits on that very event).
            self._engine = engine
            await self._run_engine(engine)
            if self._stop.is_set():
                return
            if self._replacement is None:
                raise HubsyncError("the sync engine stopped on its own; see the log above")
            engine, self._replacement = self._replacement, None
            self._engine_stop = asyncio.Event()
            log.info("engine_restarted", reason="config reload")

    async def _run_engine(self, engine: Engine) -> None:
        """``engine.run`` until its stop is set; then at most STOP_TIMEOUT_S for the drain."""
        running = asyncio.create_task(
            engine.run(self._engine_stop, ready=self._engine_is_ready), name="engine"
        )
        stop_asked = asyncio.create_task(self._engine_stop.wait(), name="engine-stop")
        try:
            await asyncio.wait({running, stop_asked}, return_when=asyncio.FIRST_COMPLETED)
            if not running.done():
                done, _ = await asyncio.wait({running}, timeout=STOP_TIMEOUT_S)
                if not done:
                    log.warning("stop_timeout", seconds=STOP_TIMEOUT_S,
                                note="cancelled; pending work stays in the state")
                    running.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await running
                    return
            running.result()
        finally:
            stop_asked.cancel()
            if not running.done():
                running.cancel()

    def _engine_is_ready(self) -> None:
        """The engine's ``ready`` callback: config, keys, state, watcher up; reconcile queued."""
        engine = self._engine
        assert engine is not None
        for name in sorted(self._paused & set(engine.snapshot()["accounts"])):
            engine.pause(name)
        self._engine_ready.set()
        notify.ready(self._summary())
        self._status_wake.set()
        if not self._ready_once:
            self._ready_once = True
            log.info("ready", kind=str(self._kind), pid=os.getpid())
            if self._on_ready is not None:
                self._on_ready()
        else:
            log.info("ready", kind=str(self._kind), after="reload")

    def _sink(self, event: EngineEvent) -> None:
        self._status_wake.set()
        if self._on_event is not None:
            self._on_event(event)

    # --- reload --------------------------------------------------------------------------

    async def _reloader(self) -> None:
        while True:
            await self._reload_wanted.wait()
            self._reload_wanted.clear()
            await self._reload()
            # A restarted engine must be up before the next SIGHUP is looked at.
            await self._engine_ready.wait()

    async def _reload(self) -> None:
        """SIGHUP: re-read the config (and so the keys); apply it, or keep the old one."""
        notify.reloading()
        old, engine = self._config, self._engine
        assert old is not None
        assert engine is not None
        log.info("reloading", config=str(old.path))
        try:
            new = await asyncio.to_thread(load_config, old.path)
            if _resolved(new.settings.state_dir) != _resolved(old.settings.state_dir):
                raise ConfigError(new.path, (
                    "settings.state_dir changed while running; restart hubsync to use "
                    f"{new.settings.state_dir} (still using {old.settings.state_dir})"))
            # Built now so an unknown watch name is refused before anything is stopped.
            candidate = self._factory(new, self._selection, self._sink)
        except HubsyncError as exc:
            self._reload_failure = " ".join(str(exc).split())
            log.error("config_reload_failed", error=str(exc), note="keeping the old config")
            notify.ready(f"config reload failed: {self._reload_failure}")
            return
        self._reload_failure = None
        await engine.apply_config(new)
        self._config = new
        if _engine_serves(engine.snapshot(), old, new, self._selection):
            log.info("config_reloaded", restarted=False)
            notify.ready(self._summary())
            return
        # The running engine cannot take this change in place: stop it (pending work is
        # in the state) and start the new one, which re-reads the keys and reconciles.
        log.info("config_reloaded", restarted=True)
        self._engine_ready = asyncio.Event()
        self._replacement = candidate
        self._engine_stop.set()

    # --- timers --------------------------------------------------------------------------

    async def _watchdog(self) -> None:
        """``WATCHDOG=1`` from the loop itself: a blocked loop or a dead watcher sends none."""
        interval = notify.watchdog_interval()
        if interval is None:
            return
        while True:
            await asyncio.sleep(interval)
            dead = self._dead_watchers()
            if dead:
                if not self._dead_watchers_logged:
                    self._dead_watchers_logged = True
                    log.error("watcher_dead", watches=dead,
                              note="withholding WATCHDOG=1 so the service manager restarts us")
                continue
            notify.watchdog()

    def _dead_watchers(self) -> list[str]:
        if self._engine is None:
            return []
        watches = self._engine.snapshot()["watches"]
        # None means no watcher was started (root missing): nothing that could die.
        return [name for name, info in watches.items() if info.get("watcher_alive") is False]

    async def _status_loop(self) -> None:
        last: str | None = None
        while True:
            text = self._summary()
            if text != last:
                notify.status(text)
                last = text
                await asyncio.sleep(STATUS_MIN_GAP_S)
            self._status_wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STATUS_INTERVAL_S):
                    await self._status_wake.wait()

    def _summary(self) -> str:
        if self._stop.is_set():
            return "stopping: finishing pushes in flight"
        if self._engine is None or not self._engine_ready.is_set():
            text = "starting: reading config, keys and state"
        else:
            text = summarize(self._engine.snapshot())
        if self._reload_failure:
            text += f"; config reload failed: {self._reload_failure}"
        return text

    # --- control socket ------------------------------------------------------------------

    async def _handle(self, request: dict[str, Any]) -> Any:
        command = request["cmd"]
        engine = self._engine
        if engine is None:
            raise ControlError("hubsync is still starting; try again in a moment")
        try:
            if command == "status":
                return self._status(engine)
            if command == "pause":
                engine.pause(_account_param(request))
                self._remember_pauses(engine)
                return self._status(engine)
            if command == "resume":
                engine.resume(_account_param(request))
                self._remember_pauses(engine)
                return self._status(engine)
            if command == "flush":
                return await self._flush(engine, request.get("timeout"))
            if command == "deletes":
                return self._deletes(engine, request)
            if command == "conflicts":
                return {"conflicts": [c.to_json() for c in
                                      engine.conflicts(_account_param(request))]}
            if command == "resolve":
                resolved = await engine.resolve(str(request.get("account")),
                                                str(request.get("remote_path")),
                                                str(request.get("keep")))
                self._status_wake.set()
                return {"resolved": resolved.to_json(), "keep": request.get("keep")}
            if command == "reload":
                self._request_reload()
                return self._status(engine)
        except ControlError:
            raise
        except HubsyncError as exc:
            raise ControlError(str(exc)) from exc
        raise ControlError(f"unknown command {command!r}")

    def _remember_pauses(self, engine: Engine) -> None:
        accounts = engine.snapshot()["accounts"]
        self._paused -= set(accounts)
        self._paused |= {name for name, info in accounts.items() if info.get("paused")}
        self._status_wake.set()

    def _status(self, engine: Engine) -> dict[str, Any]:
        assert self._config is not None
        snapshot = engine.snapshot()
        return {
            "running": True,
            "pid": os.getpid(),
            "kind": str(self._kind),
            "ready": self._engine_ready.is_set(),
            "config": str(self._config.path),
            "state_dir": str(self._config.settings.state_dir),
            "started_at": self._started_at,
            "summary": self._summary(),
            "reload_error": self._reload_failure,
            "state_error": snapshot.get("state_error"),
            "conflicts": snapshot.get("conflicts", []),
            "accounts": [{"name": name, **info}
                         for name, info in snapshot["accounts"].items()],
            "watches": [{"name": name, "src": info.get("root"), **info}
                        for name, info in snapshot["watches"].items()],
        }

    def _deletes(self, engine: Engine, request: Mapping[str, Any]) -> dict[str, Any]:
        """Release or discard the deletes the brake holds, for one account or all."""
        action = request.get("action")
        account = _account_param(request)
        if action == "release":
            count = engine.release_deletes(account)
        elif action == "discard":
            count = engine.discard_deletes(account)
        else:
            raise ControlError("'action' must be \"release\" or \"discard\"")
        self._status_wake.set()
        return {**self._status(engine), "action": action, "deletes": count}

    async def _flush(self, engine: Engine, requested_s: object) -> dict[str, Any]:
        """Push everything pending now; say what is left when done or after ``requested_s``."""
        seconds = FLUSH_TIMEOUT_S if requested_s is None else _positive_seconds(requested_s)
        deadline = time.monotonic() + seconds
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._engine_ready.wait()
        # A reload may have replaced the engine while we waited.
        engine = self._engine or engine
        # Not cancelled on timeout: a flush cut off mid-settle could drop dirty marks.
        # Left running, it only waits for the engine to go idle.
        flushing = asyncio.create_task(engine.flush(), name="flush")
        self._background.add(flushing)
        flushing.add_done_callback(self._background.discard)
        remaining = max(0.0, deadline - time.monotonic())
        done, _ = await asyncio.wait({flushing}, timeout=remaining)
        if flushing in done and not flushing.cancelled() and flushing.exception() is not None:
            raise ControlError(f"flush failed: {flushing.exception()}")
        status = self._status(engine)
        left = {
            key: sum(int(a.get(key) or 0) for a in status["accounts"])
            for key in ("pending", "in_flight", "parked", "held_deletes")
        }
        return {**status, "timed_out": flushing not in done, **left}


def summarize(snapshot: Mapping[str, Any]) -> str:
    """The one-line ``STATUS=``: accounts ok/unauthorized, pending, in flight, last push."""
    from hubsync.render import counted

    accounts: Mapping[str, Mapping[str, Any]] = snapshot.get("accounts", {})
    ok = [name for name, a in accounts.items() if a.get("auth") == "ok" and not a.get("held")]
    unauthorized = [name for name, a in accounts.items() if a.get("held")]
    other = [name for name in accounts if name not in ok and name not in unauthorized]
    parts = [f"{len(ok)}/{len(accounts)} accounts ok"]
    if unauthorized:
        parts.append(f"unauthorized: {', '.join(unauthorized)}")
    if other:
        parts.append(f"not ok yet: {', '.join(other)}")
    paused = [name for name, a in accounts.items() if a.get("paused")]
    if paused:
        parts.append(f"paused: {', '.join(paused)}")
    pending = sum(int(a.get("pending") or 0) for a in accounts.values())
    parts.append(f"{pending} pending")
    in_flight = sum(int(a.get("in_flight") or 0) for a in accounts.values())
    if in_flight:
        parts.append(f"{in_flight} in flight")
    parked = sum(int(a.get("parked") or 0) for a in accounts.values())
    if parked:
        parts.append(f"{parked} failed")
    conflicts = snapshot.get("conflicts") or ()
    if conflicts:
        parts.append(f"{counted(len(conflicts), 'conflict')} open")
    pushes = [a["last_push"] for a in accounts.values() if a.get("last_push")]
    if pushes:
        parts.append("last push " + time.strftime("%H:%M:%S", time.localtime(max(pushes))))
    else:
        # A two-way session may have pulled files: it only has not pushed any itself.
        parts.append("nothing pushed by this session")
    return ", ".join(parts)


def _engine_serves(snapshot: Mapping[str, Any], old: Config, new: Config,
                   selection: Sequence[str]) -> bool:
    """Whether the engine, after ``apply_config(new)``, serves exactly what ``new`` says.

    Judged from what the engine reports (so an engine that learns to add and remove
    watches in place is used as such), plus: any watch or account whose definition
    changed in place needs a restart, since a snapshot cannot show e.g. its ignores.
    """
    served = set(snapshot.get("watches", {}))
    if served != (set(selection) or {w.name for w in new.watches}):
        return False
    for name in served:
        try:
            before, after = old.watch(name), new.watch(name)
        except KeyError:
            return False
        if before != after:
            return False
    needed = {a for name in served for a in new.watch(name).accounts}
    if set(snapshot.get("accounts", {})) != needed:
        return False
    return all(old.accounts.get(name) == new.accounts.get(name) for name in needed)


def _resolved(path: Path) -> Path:
    return path.expanduser().resolve()


def _account_param(request: Mapping[str, Any]) -> str | None:
    account = request.get("account")
    if account is not None and not isinstance(account, str):
        raise ControlError("'account' must be a string")
    return account


def _positive_seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ControlError("'timeout' must be a positive number of seconds")
    return float(value)


__all__ = [
    "EngineFactory",
    "SessionKind",
    "default_engine",
    "run_session",
    "summarize",
]
