"""The :class:`Committer`: the decision core's effects made durable, then told.

Effects arrive from every worker and tracker; the committer writes what has gathered in
ONE state transaction, then the sync log lines of those effects, then tells the front end.
So "pushed" is in the state before it is in the sync log, and a burst of completions costs
one transaction, not one each (a 2,000-file push spent 14 % of its CPU on per-file
transactions).

A write that fails (a full disk) keeps the effects, stops sending (``fault``), and is
tried again every :data:`STATE_RETRY_S` until it goes through, so nothing is lost and
nothing is sent that could not be recorded. ``push`` gives up at the first failure instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from hubsync.core.effects import Effects
from hubsync.errors import StateError
from hubsync.journal import Event, Journal
from hubsync.model import EngineEvent, OutboxEntry
from hubsync.ports import Clock
from hubsync.state import AsyncStateStore

log = structlog.get_logger("hubsync.engine")

STATE_RETRY_S = 5.0
"""How often a failed state write is tried again (seconds)."""
CHECKPOINT_ROWS = 1000
GATHER_S = 0.010
"""A batch of completions only (no new outbox rows, which a worker waits for before
sending) waits this long (seconds, real time) for more to join it: a bulk push then
writes one transaction and one run of sync log lines per few files, not per file."""
INLINE_LINES = 64
"""Sync log batches up to this many lines are written on the loop (see ``_tell``)."""
"""Rows written since the last WAL checkpoint before the next quiet moment takes one."""
_JOURNALED = frozenset(Event)


class Committer:
    """Applies effects in batches: state first, then sync log, then the front end."""

    def __init__(self, store: AsyncStateStore | None, journal: Journal | None, clock: Clock,
                 decorate: Callable[[EngineEvent], EngineEvent],
                 on_event: Callable[[EngineEvent], None] | None) -> None:
        self._store = store  # None in a dry run
        self._journal = journal
        self._clock = clock
        self._decorate = decorate  # adds the account's identity fields
        self._on_event = on_event
        self._pending: list[Effects] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.fault: StateError | None = None
        """The last failed state write, while it has not gone through yet."""
        self.give_up_on_fault = False
        """``push``: the first failed write ends the session (raised from ``run``)."""
        self.on_recovered: Callable[[], None] = lambda: None
        self._stop = asyncio.Event()
        self.on_written: Callable[[list[OutboxEntry]], None] = lambda rows: None
        """Told the outbox rows just written (in a dry run, at once): they may be sent."""
        self._rows_since_checkpoint = 0

    def submit(self, effects: Effects) -> None:
        """Queue ``effects`` (called on the loop; returns at once)."""
        if not (effects.durable or effects.events):
            return
        self._pending.append(effects)
        self._idle.clear()
        self._wake.set()

    async def settled(self) -> None:
        """Wait until everything submitted so far is written and told."""
        await self._idle.wait()

    def emit_now(self, event: str, **fields: Any) -> None:
        """An event with no state change (session, auth, skips): sync log and front end."""
        effects = Effects()
        effects.emit(event, **fields)
        self.submit(effects)

    async def run(self, stop: asyncio.Event) -> None:
        """Write batches until ``stop``; then write what is left, unless writes are
        failing: a stop must not wait for disk space (the next session's reconcile finds
        what could not be recorded)."""
        self._stop = stop
        while True:
            self._wake.clear()
            if self._pending and not (stop.is_set() and self.fault is not None):
                await self._gather(stop)
                await self._write_batch()
                continue
            await self._checkpoint_if_due()
            self._idle.set()
            if stop.is_set():
                return
            await self._clock.wait(self._wake, None)
            if stop.is_set() and not self._pending:
                return

    async def flush_now(self) -> None:
        """Write what is pending now (at the end of a session, after the loop stopped)."""
        while self._pending and self.fault is None:
            await self._write_batch()
        self._rows_since_checkpoint = max(self._rows_since_checkpoint, CHECKPOINT_ROWS)
        await self._checkpoint_if_due()
        self._idle.set()

    async def _gather(self, stop: asyncio.Event) -> None:
        """Let more completions join the pending batch (GATHER_S), unless something in it
        is waited for: a new outbox row (not sent before it is written), a stop."""
        if stop.is_set() or self.fault is not None or len(self._pending) >= INLINE_LINES:
            return
        if any(effects.upsert for effects in self._pending):
            return
        # Real time even under a fake clock: a few milliseconds of batching, never a
        # timer a test has to advance.
        await asyncio.sleep(GATHER_S)

    async def _checkpoint_if_due(self) -> None:
        """Fold the write-ahead log back into the database once things are quiet after a
        burst: a WAL left at tens of MB makes the next start several times slower."""
        if self._rows_since_checkpoint < CHECKPOINT_ROWS or self._store is None:
            return
        self._rows_since_checkpoint = 0
        try:
            await self._store.checkpoint()
        except StateError as exc:
            log.warning("state_checkpoint_failed", error=str(exc))

    async def _write_batch(self) -> None:
        batch, self._pending = self._pending, []
        merged = Effects()
        for effects in batch:
            merged.extend(effects)
        if merged.durable and self._store is not None:
            try:
                # Each decision in order: merged lists lose a remove-then-upsert order.
                await self._store.apply(*batch)
                self._rows_since_checkpoint += (len(merged.upsert) + len(merged.remove)
                                                + len(merged.synced) + len(merged.unsynced))
            except StateError as exc:
                self._pending[:0] = batch
                await self._faulted(exc)
                return
            if self.fault is not None:
                log.info("state_writable_again")
                self.fault = None
                self.on_recovered()
        if merged.upsert:
            self.on_written(merged.upsert)
        await self._tell(merged.events)

    async def _faulted(self, exc: StateError) -> None:
        first = self.fault is None
        self.fault = exc
        if first:
            log.error("state_write_failed", error=str(exc),
                      note="sending is paused until the state can be written")
            self._tell_front_end(EngineEvent("state_error", {"error": str(exc)}))
        if self.give_up_on_fault:
            raise exc
        await self._clock.wait(self._stop, STATE_RETRY_S)

    async def _tell(self, events: list[EngineEvent]) -> None:
        decorated = [self._decorate(e) for e in events]
        journaled = [e for e in decorated if e.event in _JOURNALED]
        if journaled and self._journal is not None:
            try:
                if len(journaled) <= INLINE_LINES:
                    # A few appended lines cost less on the loop than a trip to a thread
                    # and back (a bulk push made one such trip per file).
                    _write_lines(self._journal, journaled)
                else:
                    await asyncio.to_thread(_write_lines, self._journal, journaled)
            except OSError as exc:
                # The state holds the truth; a sync log that cannot be written (full disk)
                # must not stop syncing. Say so once per failure.
                log.error("sync_log_write_failed", error=str(exc), lines=len(journaled))
        for event in decorated:
            self._tell_front_end(event)

    def _tell_front_end(self, event: EngineEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)


def _write_lines(journal: Journal, events: list[EngineEvent]) -> None:
    for event in events:
        journal.write(event.event, **event.fields)
