"""The decision core's side of the offline fixes (trial finding 2): an outage that ends
does not revive what `push` gave up on (it said "gave up" and then pushed the file as
attempt 13), and a transient retry is never sooner than the time the worker says nothing
can go before (the key exchange's next try)."""

from __future__ import annotations

from hubsync.core.effects import Policy
from hubsync.core.retry import Outcome
from tests.core.outbox_helpers import ACCOUNT, T0, WATCH, failed, outbox, seen

CSS = "css/main.css"


def test_an_outage_ending_does_not_send_a_given_up_file_again() -> None:
    """Three connection failures with ``give_up_after=3``: the file is given up on; the
    account coming back online (``reschedule_all(forgive=False)``) makes nothing
    sendable, while a flush (``forgive=True``, the default) still does."""
    box = outbox(Policy(give_up_after=3))
    box.observe(WATCH, {CSS: seen("a")}, T0)
    now = T0
    for _ in range(3):
        (sent,) = box.next_batch(ACCOUNT, now, 5)
        fx = box.on_result(sent, failed(Outcome.TRANSIENT, "network error"), now, jitter=0.0)
        now = fx.upsert[0].due_s
    assert [e.rel for e in box.gave_up(ACCOUNT)] == [CSS]
    box.reschedule_all(ACCOUNT, now, forgive=False)
    assert box.next_batch(ACCOUNT, now + 3600, 5) == []
    box.reschedule_all(ACCOUNT, now)
    assert [e.rel for e in box.next_batch(ACCOUNT, now, 5)] == [CSS]


def test_a_transient_retry_waits_at_least_what_the_worker_says() -> None:
    """A connection failure whose result says nothing can go for 14 s (the key exchange
    waits that long) is retried at 14 s, not at the first backoff of ~1 s: the
    `retrying` line's time is the true one."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("a")}, T0)
    (sent,) = box.next_batch(ACCOUNT, T0, 5)
    fx = box.on_result(sent, failed(Outcome.TRANSIENT, "network error", retry_after_s=14.0),
                       T0, jitter=0.0)
    assert fx.upsert[0].due_s == T0 + 14.0
    (line,) = [e.fields for e in fx.events if e.event == "retrying"]
    assert line["retry_in_ms"] == 14_000
