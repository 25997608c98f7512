"""The per-account pacer on a fake clock: budget, learning from headers, 429 pauses."""

from __future__ import annotations

import asyncio

from hubsync.model import RateLimitInfo
from hubsync.ratelimit import Pacer


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def make(limit: int = 100, window_s: float = 10.0) -> tuple[Pacer, FakeClock]:
    clock = FakeClock()
    return Pacer(limit, window_s, clock=clock, sleep=clock.sleep), clock


async def test_budget_is_below_the_limit_and_the_window_rolls() -> None:
    """100/10 s gives 95 requests at once; the 96th waits until the first leaves the window."""
    pacer, clock = make()
    for _ in range(95):
        await pacer.acquire()
    assert clock.now == 1000.0
    await pacer.acquire()
    assert clock.now == 1010.0


async def test_sustained_rate_is_at_least_ninety_percent_and_never_over() -> None:
    """Over 60 s of constant demand the pacer sends >= 90 % of the limit and never more
    than the limit in any 10 s window."""
    pacer, clock = make()
    sent: list[float] = []
    while clock.now < 1060.0:
        await pacer.acquire()
        sent.append(clock.now)
    in_60s = [t for t in sent if t < 1060.0]
    assert len(in_60s) >= 0.9 * 600
    for i, start in enumerate(sent):
        window = [t for t in sent[i:] if t < start + 10.0]
        assert len(window) <= 100


async def test_headers_replace_the_configured_limit() -> None:
    """Max and Interval from X-HubSpot-RateLimit-* headers become the budget."""
    pacer, clock = make()
    pacer.learn(RateLimitInfo(max=20, remaining=19, interval_ms=2000))
    assert pacer.limit == 20
    assert pacer.window_s == 2.0
    for _ in range(18):
        await pacer.acquire()
    assert clock.now == 1000.0
    await pacer.acquire()
    assert clock.now > 1000.0


async def test_remaining_counts_requests_made_by_someone_else() -> None:
    """Remaining=10 of 100 while we sent nothing means others spent 90: we wait."""
    pacer, clock = make()
    pacer.learn(RateLimitInfo(max=100, remaining=10, interval_ms=10_000))
    for _ in range(5):
        await pacer.acquire()
    assert clock.now == 1000.0
    await pacer.acquire()
    assert clock.now == 1010.0


async def test_429_pauses_the_account_for_retry_after_then_paces_down() -> None:
    """A 429 with Retry-After 3 s blocks acquire for 3 s; afterwards the budget is halved
    and recovers over the following windows."""
    pacer, clock = make()
    full = pacer.budget()
    assert pacer.rate_limited(retry_after=3.0) == 3.0
    await pacer.acquire()
    assert clock.now == 1003.0
    assert pacer.budget() < full
    clock.now += 100.0
    assert pacer.budget() == full
    assert pacer.snapshot().rate_limited == 1


async def test_429_without_retry_after_waits_one_window() -> None:
    """No Retry-After: the pause is the rate window."""
    pacer, clock = make(limit=10, window_s=2.0)
    pacer.rate_limited(None)
    await pacer.acquire()
    assert clock.now == 1002.0
