"""The budget rule: how many requests an account keeps in flight (``slots_for``), and
the pacer applying it to what it learns (latency, 429s, server errors) on a fake clock."""

from __future__ import annotations

import pytest

from hubsync.model import RateLimitInfo
from hubsync.ratelimit import Pacer, slots_for


@pytest.mark.parametrize(
    ("budget", "window_s", "latency_s", "base", "ceiling", "strained", "slots"),
    [
        # HubSpot's own limits (95 of 100 / 10 s, 237 of 250) need ~1-2 in flight at
        # 50 ms: the configured concurrency stays.
        (95, 10.0, 0.05, 5, 20, False, 5),
        (237, 10.0, 0.05, 5, 20, False, 5),
        # A slow server (a far region, 800 ms) with the capacity pack: 237/10 s x 0.8 s
        # x 1.5 = 28.4 -> the ceiling.
        (237, 10.0, 0.8, 5, 20, False, 20),
        # 400 ms: 23.7 x 0.4 x 1.5 = 14.2 -> 15.
        (237, 10.0, 0.4, 5, 20, False, 15),
        # A large budget at 50 ms: 950/s x 0.05 x 1.5 = 71 -> the ceiling.
        (9500, 10.0, 0.05, 5, 20, False, 20),
        # ... at 5 ms: 7.1 -> 8.
        (9500, 10.0, 0.005, 5, 20, False, 8),
        # The budget shrinks (learned 10/s): back to the configured concurrency.
        (10, 1.0, 0.05, 5, 20, False, 5),
        # No latency measured yet: the configured concurrency.
        (9500, 10.0, None, 5, 20, False, 5),
        # The rule off: max_concurrency at or below concurrency, or 0 (a pacer built
        # without it).
        (9500, 10.0, 0.05, 5, 5, False, 5),
        (9500, 10.0, 0.05, 5, 3, False, 5),
        (9500, 10.0, 0.05, 5, 0, False, 5),
        # Strained (a 429 or a server error in the last window): half, at least one,
        # whatever the budget says.
        (9500, 10.0, 0.05, 5, 20, True, 2),
        (9500, 10.0, 0.05, 1, 20, True, 1),
        (95, 10.0, 0.05, 8, 20, True, 4),
        # A configured concurrency of 0 or less is treated as 1.
        (95, 10.0, 0.05, 0, 20, False, 1),
    ],
)
def test_slots_table(budget: int, window_s: float, latency_s: float | None, base: int,
                     ceiling: int, strained: bool, slots: int) -> None:
    """(budget, window, latency, concurrency, max_concurrency, strained) -> slots."""
    assert slots_for(budget, window_s, latency_s, base=base, ceiling=ceiling,
                     strained=strained) == slots


class FakeClock:
    """A clock that only moves when told (or slept on)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def large_pacer(max_concurrency: int = 20) -> tuple[Pacer, FakeClock]:
    clock = FakeClock()
    pacer = Pacer(100, 10.0, clock=clock, sleep=clock.sleep, max_concurrency=max_concurrency)
    # The server announces a large budget: 10,000 per 10 s.
    pacer.learn(RateLimitInfo(max=10_000, remaining=9_999, interval_ms=10_000))
    return pacer, clock


def test_slow_answers_open_more_slots_fast_ones_close_them() -> None:
    """With a large learned budget, 50 ms answers take the account to the ceiling; the
    average follows faster answers back down to the configured concurrency."""
    pacer, _clock = large_pacer()
    assert pacer.slots(5) == 5  # nothing measured yet
    pacer.observe(0.05, 200)
    assert pacer.latency_s == pytest.approx(0.05)
    assert pacer.slots(5) == 20
    for _ in range(40):
        pacer.observe(0.0005, 200)
    assert pacer.latency_s is not None
    assert pacer.latency_s < 0.001
    assert pacer.slots(5) == 5


def test_a_shrinking_budget_falls_back() -> None:
    """The same latency with a budget learned down to HubSpot's 100 / 10 s gives the
    configured concurrency again."""
    pacer, _clock = large_pacer()
    pacer.observe(0.05, 200)
    assert pacer.slots(5) == 20
    pacer.learn(RateLimitInfo(max=100, remaining=90, interval_ms=10_000))
    assert pacer.slots(5) == 5


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, None])
def test_a_server_error_or_no_answer_strains_for_one_window(status: int | None) -> None:
    """A 5xx, a 408 or no answer at all halves the slots for one window, then the budget
    rule applies again; the failed request's latency is not averaged in."""
    pacer, clock = large_pacer()
    pacer.observe(0.05, 200)
    pacer.observe(30.0, status)
    assert pacer.latency_s == pytest.approx(0.05)
    assert pacer.slots(6) == 3
    clock.now += 9.9
    assert pacer.slots(6) == 3
    clock.now += 0.2
    assert pacer.slots(6) == 20


def test_a_429_strains_until_the_budget_has_recovered() -> None:
    """After a 429 the pacer runs at half its budget and recovers a tenth per window; the
    slots stay halved until the budget is whole again."""
    pacer, clock = large_pacer()
    pacer.observe(0.05, 200)
    pacer.rate_limited(retry_after=1.0)
    assert pacer.slots(5) == 2
    clock.now += 1.0 + 4 * 10.0  # the pause, then four windows: factor 0.9
    assert pacer.slots(5) == 2
    clock.now += 10.0
    assert pacer.slots(5) == 20


def test_without_max_concurrency_the_slots_are_fixed() -> None:
    """A pacer built without ``max_concurrency`` (tests' adapters, an old caller) keeps
    exactly the configured concurrency however slow the server is."""
    pacer = Pacer(10_000, 10.0)
    pacer.observe(2.0, 200)
    assert pacer.slots(4) == 4


async def test_a_request_counts_from_its_answer() -> None:
    """Limit 3 / 10 s (budget 2): two requests let through at t=0 and answered at t=3 and
    t=4 free their places at t=13 and t=14, not t=10, so a window that reached HubSpot
    late is never overtaken by the next one."""
    clock = FakeClock()
    pacer = Pacer(3, 10.0, clock=clock, sleep=clock.sleep)
    start = clock.now
    await pacer.acquire()
    await pacer.acquire()
    clock.now = start + 3.0
    pacer.answered()
    clock.now = start + 4.0
    pacer.answered()
    await pacer.acquire()
    assert clock.now == pytest.approx(start + 13.0)
    await pacer.acquire()
    assert clock.now == pytest.approx(start + 14.0)
    assert pacer.snapshot().used == 2


async def test_unanswered_requests_and_others_requests_still_count() -> None:
    """A request never answered counts from when it was let through (as before); requests
    HubSpot counted that we did not send (``Remaining``) count from when we learnt of
    them; ``answered`` with nothing in flight changes nothing."""
    clock = FakeClock()
    pacer = Pacer(11, 10.0, clock=clock, sleep=clock.sleep)  # budget 10
    pacer.answered()
    start = clock.now
    await pacer.acquire()
    clock.now = start + 2.0
    pacer.learn(RateLimitInfo(max=11, remaining=2, interval_ms=10_000))  # 9 used there
    assert pacer.snapshot().used == 9
    await pacer.acquire()  # the 10th
    assert clock.now == pytest.approx(start + 2.0)
    await pacer.acquire()  # waits for the unanswered first one to leave (t=10)
    assert clock.now == pytest.approx(start + 10.0)
