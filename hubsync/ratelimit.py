"""Per-account pacing under HubSpot's rolling rate limit.

One :class:`Pacer` per account, shared by every watch that pushes to it. Each request
first ``await pacer.acquire()``. The pacer keeps the send times of the last window and
lets a request through only while fewer than the *budget* (the limit minus a safety
margin) were sent in it, so a steady stream runs just under the limit instead of
hitting it and bouncing off 429s.

It learns: ``X-HubSpot-RateLimit-Max`` and ``-Interval-Milliseconds`` replace the
configured limit and window, and ``-Remaining`` reveals requests made by someone else
with the same account (the ``hs`` CLI, another machine), which then count against our
window too. On a 429 the whole account pauses until ``Retry-After`` (or one window),
then resumes at a reduced budget that recovers window by window.

It also says how many requests to keep in flight (``slots``): the configured
concurrency, or more when the budget is large and the server slow (:func:`slots_for`,
up to ``max_concurrency``), fewer for a window after a 429 or a server error. The pacer
still gates every request, so more slots never mean more than the budget.

Every request to HubSpot, read or write, goes through :func:`paced` (the account
worker's uploads, deletes and guard reads, the archive path, ``pull``/``ls``/``resolve``
reads and the two-way poller's): it acquires, calls, says when the answer came and
pauses the account on a 429. The rate-limit headers of every answer, a 429's included,
reach :meth:`Pacer.learn` through the HubSpot client's ``on_rate_limit`` (wired in
``app.py``), which sees every HTTP response whatever the caller.

Time is injectable (``clock``, ``sleep``) so the tests run on a fake clock::

    pacer = Pacer(limit=100, window_s=10.0, max_concurrency=20)
    await pacer.acquire()          # returns at once, or when the window has room
    pacer.answered()               # its answer came (or it failed)
    pacer.learn(result.rate_limit) # after each response
    pacer.observe(0.05, 200)       # each answer's latency (s) and status (None: no answer)
    pacer.rate_limited(retry_after=2.0)  # on 429
    pacer.slots(5)                 # requests to keep in flight, 5 configured
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from hubsync.errors import RateLimited
from hubsync.model import RateLimitInfo

T = TypeVar("T")

SAFETY_FRACTION = 0.05
"""Share of the limit never used, so clock skew and network jitter do not cause 429s."""
BACKOFF_FACTOR = 0.5
"""After a 429 the budget drops to this share of the limit ..."""
RECOVERY_STEP = 0.1
"""... and recovers by this share per window without a 429."""
LATENCY_HEADROOM = 1.5
"""More slots than the budget needs at the measured latency exactly: latency varies, and
an answer must still be read and recorded before its slot is free again."""
LATENCY_WEIGHT = 0.2
"""Weight of the newest answer in the moving average of latency."""


def slots_for(budget: int, window_s: float, latency_s: float | None, *, base: int,
              ceiling: int, strained: bool = False) -> int:
    """How many requests to keep in flight for one account.

    ``budget`` requests per ``window_s`` seconds (the pacer's, after the safety margin)
    at ``latency_s`` seconds per request (None: not measured yet) need
    ``budget / window_s * latency_s`` requests in flight to be used fully (Little's
    law), times LATENCY_HEADROOM. The answer is that, but never below ``base`` (the
    configured ``concurrency``) nor above ``ceiling`` (``max_concurrency``; at or below
    ``base`` the rule is off). ``strained`` (a 429 or a server error in the last window)
    gives half of ``base``, at least 1: a struggling server gets fewer connections.

    >>> slots_for(9500, 10.0, 0.05, base=5, ceiling=20)   # 950/s at 50 ms
    20
    >>> slots_for(95, 10.0, 0.05, base=5, ceiling=20)     # HubSpot's 100/10 s
    5
    """
    base = max(1, base)
    if strained:
        return max(1, base // 2)
    if latency_s is None or latency_s <= 0 or window_s <= 0 or ceiling <= base:
        return base
    need = math.ceil(budget / window_s * latency_s * LATENCY_HEADROOM)
    return max(base, min(ceiling, need))


@dataclass(frozen=True, slots=True)
class PacerSnapshot:
    """What the pacer knows now, for ``hubsync status``."""

    limit: int
    window_ms: int
    budget: int
    used: int
    paused_for_ms: int
    rate_limited: int
    """How many 429s this pacer has seen."""


class Pacer:
    """A rolling-window request budget for one account."""

    def __init__(
        self,
        limit: int = 100,
        window_s: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_concurrency: int = 0,
    ) -> None:
        self.max_concurrency = max_concurrency
        """The most requests ``slots`` allows in flight; 0 (or at most the configured
        concurrency) keeps the configured concurrency."""
        self.latency_s: float | None = None
        """Moving average of answered requests' latency (seconds); None before any."""
        self._strained_until = float("-inf")
        self._limit = max(1, limit)
        self._window = max(0.001, window_s)
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        """When each request still unanswered was let through (oldest first)."""
        self._answered: deque[float] = deque()
        """When each answered request was answered, and when others' requests were seen
        (oldest first): the moments that count for those in the window."""
        self._paused_until = 0.0
        self._factor = 1.0
        self._factor_updated = clock()
        self._lock = asyncio.Lock()
        self.rate_limited_count = 0

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def window_s(self) -> float:
        return self._window

    def budget(self) -> int:
        """Requests allowed per window right now (limit minus margin, reduced after a 429)."""
        self._recover()
        margin = max(1, math.ceil(self._limit * SAFETY_FRACTION)) if self._limit > 1 else 0
        return max(1, math.floor((self._limit - margin) * self._factor))

    def _recover(self) -> None:
        now = self._clock()
        if self._factor >= 1.0 or now < self._paused_until:
            return
        windows = int((now - self._factor_updated) / self._window)
        if windows > 0:
            self._factor = min(1.0, self._factor + RECOVERY_STEP * windows)
            self._factor_updated += windows * self._window

    def _expire(self, now: float) -> None:
        horizon = now - self._window
        for stamps in (self._sent, self._answered):
            while stamps and stamps[0] <= horizon:
                stamps.popleft()

    def _used(self) -> int:
        return len(self._sent) + len(self._answered)

    def _oldest(self) -> float:
        return min(stamps[0] for stamps in (self._sent, self._answered) if stamps)

    async def acquire(self) -> None:
        """Wait until one more request fits in the window, then count it as sent."""
        # The lock makes waiters first-come first-served; the holder only sleeps until
        # a computed moment (room in the window, or the end of a pause), never polls.
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await self._sleep(self._paused_until - now)
                    continue
                self._expire(now)
                if self._used() < self.budget():
                    self._sent.append(now)
                    return
                await self._sleep(max(0.0, self._oldest() + self._window - now))

    def answered(self) -> None:
        """A request let through by ``acquire`` has its answer (or failed): from now on it
        counts from this moment, not from when it was let through.

        HubSpot counts a request when it arrives, somewhere between the two. Counting from
        the answer keeps our window behind HubSpot's whatever the delays on the way (a
        busy machine, a new connection, a token refresh): the first requests of a window
        can reach HubSpot later than the next window's first ones, and counted from the
        start they would leave our window while HubSpot's still holds them (a 429)."""
        if self._sent:
            # Stamps are interchangeable counts: moving the oldest unanswered one to now
            # only ever moves a stamp later, so the window stays on the safe side.
            self._sent.popleft()
            self._answered.append(self._clock())

    def learn(self, info: RateLimitInfo | None) -> None:
        """Adopt the limit HubSpot announces and count requests made by others."""
        if info is None:
            return
        if info.max is not None and info.max > 0:
            self._limit = info.max
        if info.interval_ms is not None and info.interval_ms > 0:
            self._window = info.interval_ms / 1000
        if info.max is not None and info.remaining is not None:
            now = self._clock()
            self._expire(now)
            used_by_server = info.max - info.remaining
            # Someone else spends this account's budget too: treat their requests as
            # ours, stamped now (later than they really were, so on the safe side).
            for _ in range(used_by_server - self._used()):
                self._answered.append(now)

    def rate_limited(self, retry_after: float | None = None) -> float:
        """HubSpot said 429: pause the account and pace down. Returns the pause in seconds."""
        self.rate_limited_count += 1
        now = self._clock()
        pause = retry_after if retry_after is not None and retry_after > 0 else self._window
        self._paused_until = max(self._paused_until, now + pause)
        self._factor = BACKOFF_FACTOR
        self._factor_updated = self._paused_until
        return pause

    def observe(self, latency_s: float, status: int | None) -> None:
        """One request's answer: its latency (seconds, send to answer read) and status
        (None when no answer came: refused, reset, timed out). A server error (5xx, 408)
        or no answer strains the account for one window (``slots``)."""
        if status is None or status == 408 or status >= 500:
            self._strained_until = self._clock() + self._window
            return
        if self.latency_s is None:
            self.latency_s = latency_s
        else:
            self.latency_s += LATENCY_WEIGHT * (latency_s - self.latency_s)

    def slots(self, base: int) -> int:
        """Requests to keep in flight now, ``base`` configured (:func:`slots_for` of this
        pacer's budget, window, measured latency and recent trouble)."""
        budget = self.budget()  # first: it lets the factor recover
        strained = self._factor < 1.0 or self._clock() < self._strained_until
        return slots_for(budget, self._window, self.latency_s, base=base,
                         ceiling=self.max_concurrency, strained=strained)

    def paused_for(self) -> float:
        """Seconds until the current pause ends (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def snapshot(self) -> PacerSnapshot:
        now = self._clock()
        self._expire(now)
        return PacerSnapshot(
            limit=self._limit,
            window_ms=round(self._window * 1000),
            budget=self.budget(),
            used=self._used(),
            paused_for_ms=round(self.paused_for() * 1000),
            rate_limited=self.rate_limited_count,
        )


class Limiter(Protocol):
    """What :func:`paced` needs of a pacer: :class:`Pacer` itself, or a wrapper of it that
    spaces one reader's requests further (``engine.poller.ShareLimiter``)."""

    async def acquire(self) -> None: ...

    def answered(self) -> None: ...

    def rate_limited(self, retry_after: float | None = None) -> float: ...


async def paced(limiter: Limiter, call: Callable[[], Awaitable[T]], *,
                acquire: Callable[[], Awaitable[None]] | None = None) -> T:
    """One request under the account's pacer: the one way hubsync sends a request.

    Waits for room (``acquire``, the limiter's own unless given: the worker's also stops
    waiting when the session stops), awaits ``call()`` (typically
    ``tokens.call(fn)``), then tells the limiter the answer came (``answered``, also when
    the call raised, so the request counts from its answer on), and on a 429 pauses the
    whole account (``rate_limited`` with the answer's Retry-After, seconds) before the
    ``RateLimited`` goes on to the caller, which decides whether to try again. Returns what
    ``call`` returns; raises what it raises, and what ``acquire`` raises (then nothing was
    sent and nothing is told). The headers are learned by the client (module docstring).
    """
    await (limiter.acquire if acquire is None else acquire)()
    try:
        return await call()
    except RateLimited as exc:
        limiter.rate_limited(exc.retry_after)
        raise
    finally:
        limiter.answered()
