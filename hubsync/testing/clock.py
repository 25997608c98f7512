"""``FakeClock``: a :class:`hubsync.ports.Clock` that moves only when a test says so."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_EPOCH_S = 1_800_000_000.0
"""Where ``time()`` starts: 2027-01-15, a fixed, realistic epoch time."""
DEFAULT_MONOTONIC_S = 10_000.0
"""Where ``monotonic()`` starts: any positive number (a real one is time since boot)."""


@dataclass(slots=True)
class _Sleeper:
    deadline: float
    """On the monotonic scale."""
    woken: asyncio.Future[None]
    event: asyncio.Event


class FakeClock:
    """Time for tests: ``time()`` and ``monotonic()`` advance only by :meth:`advance`.

    ``wait(event, seconds)`` returns as soon as ``event`` is set, or once :meth:`advance`
    has moved the clock to or past its deadline; nothing ever sleeps for real. A test
    that needs the code under test to be waiting before it moves time uses the barrier
    ``await clock.sleepers(n)``::

        clock = FakeClock()
        task = asyncio.create_task(engine.run(stop))
        await clock.sleepers(1)      # the engine waits for its next deadline
        clock.advance(2.0)           # ... which is now due; it wakes up

    Times are seconds (floats). Use one clock per test and one event loop with it.
    """

    def __init__(self, start: float = DEFAULT_EPOCH_S,
                 monotonic_start: float = DEFAULT_MONOTONIC_S) -> None:
        self._time = float(start)
        self._monotonic = float(monotonic_start)
        self._sleepers: list[_Sleeper] = []
        self._watchers: list[tuple[int, asyncio.Future[None]]] = []

    # --- the Clock protocol --------------------------------------------------------------

    def time(self) -> float:
        """Epoch seconds (moved by :meth:`advance` and :meth:`set`)."""
        return self._time

    def monotonic(self) -> float:
        """Interval seconds (moved by :meth:`advance` only; never goes back)."""
        return self._monotonic

    async def wait(self, event: asyncio.Event, seconds: float | None) -> None:
        """Return when ``event`` is set or ``seconds`` of fake time have passed.

        ``seconds`` None waits for the event only; ``<= 0`` returns at once, as
        :class:`hubsync.ports.SystemClock` does. Cancellation propagates.
        """
        if event.is_set() or (seconds is not None and seconds <= 0):
            return
        deadline = float("inf") if seconds is None else self._monotonic + seconds
        loop = asyncio.get_running_loop()
        sleeper = _Sleeper(deadline, loop.create_future(), event)
        event_task: asyncio.Future[Any] = asyncio.ensure_future(event.wait())
        self._sleepers.append(sleeper)
        self._notify()
        try:
            pending: set[asyncio.Future[Any]] = {event_task, sleeper.woken}
            await asyncio.wait(pending,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            event_task.cancel()
            if sleeper in self._sleepers:
                self._sleepers.remove(sleeper)
            if not sleeper.woken.done():
                sleeper.woken.cancel()

    # --- driving it ----------------------------------------------------------------------

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of fake time (a :meth:`wait` on an event nobody sets)."""
        await self.wait(asyncio.Event(), seconds)

    def advance(self, seconds: float) -> int:
        """Move both clocks forward by ``seconds`` (>= 0) and wake every waiter whose
        deadline has come. Returns how many were woken; they run at the loop's next turn
        (``await asyncio.sleep(0)`` or any other await lets them). ValueError if negative.
        """
        if seconds < 0:
            raise ValueError(f"a clock only advances: seconds must be >= 0, not {seconds}")
        self._time += seconds
        self._monotonic += seconds
        woken = 0
        for sleeper in list(self._sleepers):
            if sleeper.deadline <= self._monotonic and not sleeper.woken.done():
                sleeper.woken.set_result(None)
                self._sleepers.remove(sleeper)
                woken += 1
        return woken

    def set(self, epoch_s: float) -> None:
        """Step the wall clock to ``epoch_s`` (may go back, like an NTP step); the
        monotonic clock and every waiter's deadline are unaffected."""
        self._time = float(epoch_s)

    @property
    def waiting(self) -> int:
        """How many ``wait``/``sleep`` calls are blocked on this clock now."""
        return len(self._sleepers)

    @property
    def blocked(self) -> int:
        """How many ``wait``/``sleep`` calls are blocked for real now: neither woken by
        :meth:`advance` nor with their event set (such a waiter is about to run, even if
        the loop has not let it yet). ``blocked == n`` for the ``n`` tasks of a system is
        what "nothing happens until time moves" means."""
        return sum(1 for s in self._sleepers
                   if not s.woken.done() and not s.event.is_set())

    async def quiescent(self, n: int, *, also: Callable[[], bool] = lambda: True,
                        poll_s: float = 0.001) -> None:
        """Return once ``n`` waiters are :attr:`blocked` and ``also()`` is true, twice in a
        row across loop turns: the barrier before asserting that nothing happened, or
        before :meth:`advance`. Polls (``poll_s`` real seconds) because work in a thread
        (``asyncio.to_thread``) wakes nobody on this clock; it waits for a state to be
        reached, it never proves an absence by sleeping. Bound it with ``asyncio.timeout``.
        """
        stable = 0
        while stable < 2:
            await _let_loop_run()
            if self.blocked >= n and also():
                stable += 1
                continue
            stable = 0
            await asyncio.sleep(poll_s)

    def next_deadline(self) -> float | None:
        """Seconds from now until the earliest waiter's deadline; None if none has one."""
        finite = [s.deadline for s in self._sleepers if s.deadline != float("inf")]
        return min(finite) - self._monotonic if finite else None

    async def sleepers(self, n: int = 1) -> None:
        """Return once at least ``n`` calls are waiting on this clock: the barrier a test
        awaits before :meth:`advance`, instead of sleeping. Wrap it in
        ``asyncio.timeout`` to bound it."""
        if len(self._sleepers) >= n:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watchers.append((n, future))
        try:
            await future
        finally:
            self._watchers = [(k, f) for k, f in self._watchers if f is not future]

    async def run_until_idle(self, *, max_steps: int = 10_000) -> float:
        """Advance to each waiter's deadline in turn until nobody waits with a deadline.

        Between steps the loop runs until the woken code waits again. Returns the fake
        seconds that passed. RuntimeError after ``max_steps`` (a timer that always
        re-arms, e.g. a periodic reconcile, never becomes idle: advance by hand there).
        """
        passed = 0.0
        for _ in range(max_steps):
            await _let_loop_run()
            step = self.next_deadline()
            if step is None:
                return passed
            step = max(0.0, step)
            self.advance(step)
            passed += step
        raise RuntimeError(f"still busy after {max_steps} steps of the fake clock")

    def _notify(self) -> None:
        count = len(self._sleepers)
        for n, future in self._watchers:
            if count >= n and not future.done():
                future.set_result(None)


async def _let_loop_run(turns: int = 20) -> None:
    # Woken tasks need a few loop turns to reach their next wait (each await of a
    # completed future, each task hand-off is one turn).
    for _ in range(turns):
        await asyncio.sleep(0)
