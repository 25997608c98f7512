"""Desktop notifications: problems of a background session reach the person editing.

Opt-in with ``settings.notifications = "desktop"``. Under the service a template error
or a held account is otherwise only in the journal, where nobody looks while editing.

What is told, once per problem (not per retry), until it is resolved:

=================  ==========================  ==============================
problem            dedup key                   resolved by
=================  ==========================  ==============================
a file refused     ("failed", account, path)   ``pushed``/``deleted`` of it
a held account     ("held", account)           ``released``/``discarded``
a refused key      ("auth", account)           ``auth_ok``
a conflict         ("conflict", account, path) ``resolved``/``pushed`` of it
=================  ==========================  ==============================

``retrying`` is never told: it resolves itself or becomes ``failed``.

Transport: the freedesktop Desktop Notifications spec 1.2
(specifications.freedesktop.org/notification-spec) over the session D-Bus
(``$DBUS_SESSION_BUS_ADDRESS``), with ``jeepney``: pure Python, no C extension or GLib
main loop, an asyncio API, maintained, and already installed with ``keyring``'s Secret
Service backend (SecretStorage depends on it). ``dbus-fast`` needs a compiled extension
for speed we do not need; ``desktop-notifier`` wraps ``dbus-fast`` and adds platforms a
Linux daemon does not use.

Never in the way of syncing: ``__call__`` only queues (bounded, drops when full); one
task sends. A missing bus or notification server is logged once (warning) and each
later problem is tried again quietly, so a desktop that logs in after the service
started still gets notified.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from hubsync.logs import redact_text
from hubsync.model import EngineEvent

log = structlog.get_logger("hubsync.desktop")

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"
APP_NAME = "hubsync"
SEND_TIMEOUT_S = 5.0
"""Longest one D-Bus call may take before the server counts as missing."""
QUEUE_SIZE = 100
"""Notifications waiting to be sent; more are dropped (a server that hangs)."""
_BODY_LINES = 8
BURST = 3
"""More notices than this waiting at once are sent as one summary (a checkout that
breaks 200 templates is one notification, not 200)."""
_AUTH_STATUSES = frozenset({401, 403})

Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification: the dedup key, a one-line summary and a plain-text body."""

    key: Key
    summary: str
    body: str
    urgency: int = 1
    """0 low, 1 normal, 2 critical (the spec's ``urgency`` hint)."""


def _lines(error: object) -> str:
    lines = str(error or "").strip().splitlines()
    kept = lines[:_BODY_LINES] + (["…"] if len(lines) > _BODY_LINES else [])
    return redact_text("\n".join(line.strip() for line in kept))


def _where(fields: Mapping[str, Any]) -> str:
    watch, path = fields.get("watch"), fields.get("path")
    return f"{watch}/{path}" if watch and path else str(path or "")


def problem(event: EngineEvent) -> Notice | None:
    """The notice one engine event calls for, or None (not a problem, or a retry)."""
    f = event.fields
    account = str(f.get("account") or "")
    if event.event == "failed" and f.get("path"):
        if f.get("status") in _AUTH_STATUSES:
            return None  # the account's refused key: its own auth_failed notice says it
        verb = "was refused by" if f.get("status") else "could not be pushed to"
        return Notice(("failed", account, _where(f)),
                      f"hubsync: {f.get('path')} {verb} {account}",
                      f"{_where(f)}\n{_lines(f.get('error'))}")
    if event.event == "held":
        return Notice(("held", account), f"hubsync: deletes held for {account}",
                      _lines(f.get("reason") or f.get("error"))
                      + "\nRun `hubsync deletes` to release or discard them.")
    if event.event == "auth_failed":
        return Notice(("auth", account), f"hubsync: the key of {account} stopped working",
                      _lines(f.get("error")) + "\nNothing is pushed to this account until "
                      f"`hubsync auth add {account}` stores a working key.", urgency=2)
    if event.event == "conflict":
        return Notice(("conflict", account, _where(f)),
                      f"hubsync: {f.get('path')} conflicts in {account}",
                      f"{_where(f)}\n{_lines(f.get('note') or f.get('kind'))}")
    return None


def resolved(event: EngineEvent) -> list[Key]:
    """The dedup keys an engine event resolves (the problem may be told again later)."""
    f = event.fields
    account = str(f.get("account") or "")
    if event.event in ("pushed", "deleted", "resolved"):
        return [("failed", account, _where(f)), ("conflict", account, _where(f))]
    if event.event == "auth_ok":
        return [("auth", account)]
    if event.event in ("released", "discarded"):
        return [("held", account)]
    return []


def summarize(notices: list[Notice]) -> Notice:
    """One notice for a burst: how many problems, the first few summaries."""
    shown = [n.summary.removeprefix("hubsync: ") for n in notices[:5]]
    more = len(notices) - len(shown)
    body = "\n".join(shown + ([f"… and {more} more"] if more else [])
                     + ["`hubsync log --failed` lists them all."])
    return Notice(("burst",), f"hubsync: {len(notices)} problems", body,
                  urgency=max(n.urgency for n in notices))


class DesktopNotifier:
    """A :class:`hubsync.engine.SessionListener` sending one notification per problem.

    ``bus`` is a D-Bus address; None: :func:`session_bus_address` when the first notice
    is sent.
    """

    def __init__(self, bus: str | None = None) -> None:
        self._bus = bus
        self._open: set[Key] = set()
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(QUEUE_SIZE)
        self._sender: asyncio.Task[None] | None = None
        self._router: Any = None
        self._router_cm: Any = None
        self._markup: bool | None = None
        self._failed_once = False
        self.sent = 0
        """Notifications the server accepted (for tests and ``status``)."""

    def queued(self, rows: object) -> None:
        """Outbox rows say nothing about problems."""

    def __call__(self, event: EngineEvent) -> None:
        """Queue the notice ``event`` calls for, unless its problem was already told."""
        for key in resolved(event):
            self._open.discard(key)
        notice = problem(event)
        if notice is None or notice.key in self._open:
            return
        self._open.add(notice.key)
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            return
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(
                self._send_all(), name="desktop-notifications")

    async def idle(self) -> None:
        """Wait until every queued notice was sent or dropped (tests)."""
        await self._queue.join()

    async def aclose(self) -> None:
        """Send what is queued (bounded), then close the bus connection."""
        if self._sender is not None and not self._sender.done():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await self._queue.join()
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        await self._disconnect()

    # --- D-Bus --------------------------------------------------------------------------

    async def _send_all(self) -> None:
        while not self._queue.empty():
            waiting = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
            notices = waiting if len(waiting) <= BURST else [summarize(waiting)]
            for notice in notices:
                await self._send_one(notice)
            for _ in waiting:
                self._queue.task_done()

    async def _send_one(self, notice: Notice) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await self._send(notice)
            self.sent += 1
            self._failed_once = False
        except Exception as exc:  # a notification must never stop syncing
            await self._disconnect()
            if not self._failed_once:
                self._failed_once = True
                log.warning("desktop_notification_failed", error=_describe(exc),
                            note="no session D-Bus or notification server; problems "
                            "stay in the sync log (`hubsync log --failed`)")

    async def _send(self, notice: Notice) -> None:
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import unwrap_msg

        router = await self._connect()
        address = DBusAddress(OBJECT_PATH, bus_name=BUS_NAME, interface=BUS_NAME)
        if self._markup is None:
            capabilities = unwrap_msg(await router.send_and_get_reply(
                new_method_call(address, "GetCapabilities")))[0]
            self._markup = "body-markup" in capabilities
        body = html.escape(notice.body, quote=False) if self._markup else notice.body
        hints = {"urgency": ("y", notice.urgency), "desktop-entry": ("s", APP_NAME)}
        unwrap_msg(await router.send_and_get_reply(new_method_call(
            address, "Notify", "susssasa{sv}i",
            (APP_NAME, 0, "dialog-warning", notice.summary, body, [], hints, -1))))

    async def _connect(self) -> Any:
        from jeepney.io.asyncio import open_dbus_router

        if self._router is None:
            bus = self._bus or session_bus_address()
            if bus is None:
                raise LookupError("DBUS_SESSION_BUS_ADDRESS is not set and there is no "
                                  "$XDG_RUNTIME_DIR/bus")
            manager = open_dbus_router(bus)
            self._router = await manager.__aenter__()
            self._router_cm = manager
        return self._router

    async def _disconnect(self) -> None:
        manager, self._router, self._router_cm = self._router_cm, None, None
        self._markup = None
        if manager is not None:
            with contextlib.suppress(Exception):
                await manager.__aexit__(None, None, None)


def session_bus_address() -> str | None:
    """``$DBUS_SESSION_BUS_ADDRESS``, else the systemd user bus ``$XDG_RUNTIME_DIR/bus``
    when that socket exists (a user service may start without the variable), else None."""
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return address
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime, "bus").is_socket():
        return f"unix:path={Path(runtime, 'bus')}"
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {SEND_TIMEOUT_S:g} s"
    if isinstance(exc, LookupError):
        return str(exc)
    return redact_text(f"{type(exc).__name__}: {exc}")
