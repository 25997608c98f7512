"""The sync engine: thin I/O around one pure decision core.

How a change travels (``docs/architecture.md`` has the picture)::

    watchdog ─> WatchTracker (coalesce, probe settled paths) ─┐
    reconcile walk (start, overflow, root replaced, timer) ───┤ observe
                                                              v
                                  core.outbox.Outbox (pure) ──> Effects
                                       ^          │ next_batch     │
                               result  │          v                v
    AccountWorker: pacer -> token -> HubSpot ─────┘      Committer: state (one
                                                        transaction) -> sync log -> front end

:class:`Engine` is the facade the front ends use (``watch``, ``daemon``, ``push``, the
demo): ``run(stop)``, ``push_once()``, ``status()``, ``pause``/``resume``/``flush``,
``release_deletes``/``discard_deletes``, ``reload_keys``, ``apply_config``. It owns the
session's lifecycle; every decision is the core's, every adapter comes from
:mod:`hubsync.app` (the composition root) through :class:`Adapters`.
"""

from __future__ import annotations

from collections.abc import Callable

from hubsync.engine.report import Failure, Summary
from hubsync.engine.session import Adapters, Engine, SessionListener
from hubsync.model import EngineEvent

EventSink = Callable[[EngineEvent], None]
"""Receives every engine event on the loop thread (the console, the service's status)."""

__all__ = ["Adapters", "Engine", "EngineEvent", "EventSink", "Failure", "SessionListener",
           "Summary"]
