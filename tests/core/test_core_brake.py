"""The delete brake counts deletes over time, per account (``core.brake`` via
``Outbox.vet_deletes``): whatever the timing, a mass delete is held as one."""

from __future__ import annotations

import pytest

from hubsync.core import retry
from hubsync.core.brake import (
    DEFAULT_MAX_DELETES,
    DEFAULT_SETTLE_S,
    DeleteLedger,
    brake_reason,
)
from hubsync.core.effects import Effects, Policy, Result
from hubsync.core.outbox import Outbox
from hubsync.model import OpKind, OutboxEntry, OutboxState
from tests.core.outbox_helpers import (
    ACCOUNT,
    T0,
    WATCH,
    events,
    ok,
    outbox,
    remote,
    seen,
    seen_of,
    synced,
)

FILES = {f"css/f{i:03}.css": str(i) for i in range(200)}
"""200 synced files, as in issue 9's reproduction."""


def pushed_200(policy: Policy | None = None) -> Outbox:
    """An outbox whose account has the 200 files synced."""
    box = outbox(policy)
    synced(box, FILES)
    return box


def step(box: Outbox, now: float, sent: list[OutboxEntry]) -> list[Effects]:
    """What the worker does at ``now``: vet, then send whatever is due (answered OK)."""
    effects = [box.vet_deletes(ACCOUNT, now)]
    for entry in box.next_batch(ACCOUNT, now, 50):
        sent.append(entry)
        effects.append(box.on_result(entry, ok(seen_of(entry)), now, jitter=0))
    return effects


def test_120_deletes_5ms_apart_are_all_held_with_one_event() -> None:
    """``rm`` in a loop, 5 ms apart, with the worker looking after every one: none is
    sent, all 120 are held, and ONE ``held`` event reports the total."""
    box = pushed_200()
    now = T0
    sent: list[OutboxEntry] = []
    fx: list[Effects] = []
    for rel in sorted(FILES)[:120]:
        fx.append(box.observe(WATCH, {rel: None}, now))
        fx.extend(step(box, now, sent))
        now += 0.005
    for _ in range(5):  # time passes; the worker wakes at every next_wake
        wake = box.next_wake(ACCOUNT, now)
        now = max(now, wake if wake is not None else now + 60)
        fx.extend(step(box, now, sent))
    assert sent == []
    assert box.count(ACCOUNT, OutboxState.HELD) == 120
    assert [e["deletes"] for e in events(fx, "held")] == [120]


def test_120_deletes_at_once_are_all_held() -> None:
    """``rm -rf`` seen in one settle round: none is sent, all held."""
    box = pushed_200()
    sent: list[OutboxEntry] = []
    fx = [box.observe(WATCH, dict.fromkeys(sorted(FILES)[:120]), T0)]
    fx.extend(step(box, T0, sent))
    fx.extend(step(box, T0 + DEFAULT_SETTLE_S, sent))
    fx.extend(step(box, T0 + 3600, sent))
    assert sent == []
    assert box.held_files(ACCOUNT) == 120
    held = events(fx, "held")
    assert [e["deletes"] for e in held] == [120]
    assert "120 deletes" in str(held[0]["reason"])
    assert "hubsync deletes release" in str(held[0]["reason"])


def test_a_few_deletes_go_out_after_the_settle_time() -> None:
    """3 deletes are not sent at once, but as soon as the batch has been quiet for
    ``delete_settle_s``."""
    box = pushed_200()
    sent: list[OutboxEntry] = []
    box.observe(WATCH, dict.fromkeys(sorted(FILES)[:3]), T0)
    step(box, T0, sent)
    step(box, T0 + DEFAULT_SETTLE_S - 0.01, sent)
    assert sent == []
    assert box.next_wake(ACCOUNT, T0) == pytest.approx(T0 + DEFAULT_SETTLE_S)
    step(box, T0 + DEFAULT_SETTLE_S, sent)
    assert sorted(e.rel for e in sent) == sorted(FILES)[:3]
    assert len(box.base(ACCOUNT)) == 197


def test_a_slow_trickle_within_the_window_still_trips_the_brake() -> None:
    """One delete every 30 s: each is vetted alone, but the ones sent within the window
    count, so the one over ``max_deletes`` is held."""
    box = pushed_200()
    sent: list[OutboxEntry] = []
    fx: list[Effects] = []
    now = T0
    for rel in sorted(FILES)[:DEFAULT_MAX_DELETES + 5]:
        fx.append(box.observe(WATCH, {rel: None}, now))
        fx.extend(step(box, now + DEFAULT_SETTLE_S, sent))
        now += 30
    assert len(sent) == DEFAULT_MAX_DELETES
    assert box.count(ACCOUNT, OutboxState.HELD) == 5
    held = events(fx, "held")
    assert held
    assert held[0]["deletes"] == 1


def test_the_window_forgets_old_deletes() -> None:
    """Deletes sent longer ago than ``brake_window_s`` no longer count."""
    box = pushed_200(Policy(brake_window_s=100.0))
    sent: list[OutboxEntry] = []
    now = T0
    for rel in sorted(FILES)[:60]:
        box.observe(WATCH, {rel: None}, now)
        step(box, now + DEFAULT_SETTLE_S, sent)
        now += 10  # at most 10 deletes within any 100 s
    assert len(sent) == 60
    assert box.count(ACCOUNT, OutboxState.HELD) == 0


def test_new_deletes_join_held_ones_and_release_sends_all() -> None:
    """While deletes are held, a new one is held too (one decision, one count); a
    release lets every one of them go."""
    box = pushed_200()
    sent: list[OutboxEntry] = []
    box.observe(WATCH, dict.fromkeys(sorted(FILES)[:30]), T0)
    step(box, T0 + 5, sent)
    box.observe(WATCH, {sorted(FILES)[40]: None}, T0 + 10)
    step(box, T0 + 20, sent)
    assert sent == []
    assert box.held_files(ACCOUNT) == 31
    box.release_holds(ACCOUNT, T0 + 30)
    step(box, T0 + 30, sent)
    assert len(sent) == 31


def test_missing_root_holds_every_delete_at_once() -> None:
    """The watch root is missing or empty (unmounted disk): even 3 deletes are held at
    once, with the reason saying so."""
    box = pushed_200()
    sent: list[OutboxEntry] = []
    fx = box.observe(WATCH, dict.fromkeys(sorted(FILES)[:3]), T0, root_ok=False)
    step(box, T0 + 3600, sent)
    assert sent == []
    assert box.count(ACCOUNT, OutboxState.HELD) == 3
    assert "missing or empty" in str(events(fx, "held")[0]["reason"])


def test_allow_deletes_skips_the_brake() -> None:
    """``allow_deletes``: 120 deletes are approved and sent at once."""
    box = pushed_200(Policy(allow_deletes=True))
    sent: list[OutboxEntry] = []
    box.observe(WATCH, dict.fromkeys(sorted(FILES)[:120]), T0)
    for _ in range(3):
        step(box, T0, sent)
    assert len(sent) == 120


def test_uploads_are_never_braked() -> None:
    """Uploads flow while deletes are held."""
    box = pushed_200()
    sent: list[OutboxEntry] = []
    box.observe(WATCH, dict.fromkeys(sorted(FILES)[:50]), T0)
    box.observe(WATCH, {"new.css": seen("n")}, T0)
    step(box, T0 + 5, sent)
    assert [(e.op, e.rel) for e in sent] == [(OpKind.UPLOAD, "new.css")]
    assert box.synced_sha(ACCOUNT, remote("new.css")) == seen("n").sha256


@pytest.mark.parametrize(("deleting", "total", "held"), [
    (20, 1000, False), (21, 1000, True), (4, 4, False), (5, 20, False), (5, 19, True)])
def test_brake_reason_limits(deleting: int, total: int, held: bool) -> None:
    """Held above ``max_deletes``, or above a quarter of the synced files for batches of
    at least 5 files."""
    reason = brake_reason(deleting, total, max_deletes=20, root_missing_or_empty=False)
    assert (reason is not None) is held


def test_ledger_settles_and_forgets() -> None:
    """The ledger's batch settles ``settle_s`` after the last queued delete; deletes
    older than the window no longer count."""
    ledger = DeleteLedger(window_s=60, settle_s=2)
    assert ledger.settles_at() is None
    ledger.queued(100)
    ledger.queued(101)
    assert ledger.settles_at() == 103
    ledger.vetted()
    assert ledger.settles_at() is None
    ledger.record_sent(100, 3)
    ledger.record_sent(150, 2)
    assert ledger.sent_within_window(155) == 5
    assert ledger.sent_within_window(161) == 2


def test_the_reason_names_the_window_in_force() -> None:
    """A policy window of 2 minutes is what the held reason names (not the default)."""
    box = pushed_200(Policy(brake_window_s=120.0))
    fx = box.observe(WATCH, dict.fromkeys(sorted(FILES)[:30]), T0)
    fx.extend(box.vet_deletes(ACCOUNT, T0 + DEFAULT_SETTLE_S))
    assert "more than 20 files within 2 minutes" in str(events(fx, "held")[0]["reason"])
    assert "within 10 minutes" in str(brake_reason(30, 1000, max_deletes=20,
                                                   root_missing_or_empty=False))
    assert "within 90 seconds" in str(brake_reason(30, 1000, max_deletes=20,
                                                   root_missing_or_empty=False, window_s=90))


def test_a_delete_in_flight_counts_even_when_its_file_came_back() -> None:
    """3 deletes approved and in flight; one file is recreated (its entry becomes an
    upload) while its delete is still on the wire. A 4th delete must still count all 3
    in flight: with max_deletes=3 it is held."""
    box = outbox(Policy(max_deletes=3))
    synced(box, {f"f{i}.css": "x" for i in range(20)})
    box.observe(WATCH, dict.fromkeys(["f0.css", "f1.css", "f2.css"]), T0)
    box.vet_deletes(ACCOUNT, T0 + DEFAULT_SETTLE_S)
    in_flight = box.next_batch(ACCOUNT, T0 + DEFAULT_SETTLE_S, 10)
    assert len(in_flight) == 3
    box.observe(WATCH, {"f1.css": seen("x")}, T0 + 3)
    box.observe(WATCH, {"f9.css": None}, T0 + 3)
    fx = box.vet_deletes(ACCOUNT, T0 + 3 + DEFAULT_SETTLE_S)
    assert box.count(ACCOUNT, OutboxState.HELD) == 1
    assert [e["deletes"] for e in events(fx, "held")] == [1]


def test_a_delete_that_timed_out_counts_even_when_its_file_came_back() -> None:
    """max_deletes=3: 3 deletes sent; one times out (it may have deleted) while its file
    is recreated, so no retry follows. The brake still counts it: a 4th is held."""
    box = outbox(Policy(max_deletes=3))
    synced(box, {f"f{i}.css": "x" for i in range(20)})
    box.observe(WATCH, dict.fromkeys(["f0.css", "f1.css", "f2.css"]), T0)
    box.vet_deletes(ACCOUNT, T0 + DEFAULT_SETTLE_S)
    sent = box.next_batch(ACCOUNT, T0 + DEFAULT_SETTLE_S, 10)
    box.observe(WATCH, {"f1.css": seen("x")}, T0 + 3)
    for entry in sent:
        outcome = retry.Outcome.TRANSIENT if entry.rel == "f1.css" else retry.Outcome.OK
        box.on_result(entry, Result(outcome, error="timeout"), T0 + 3, jitter=0)
    box.observe(WATCH, {"f9.css": None}, T0 + 4)
    box.vet_deletes(ACCOUNT, T0 + 4 + DEFAULT_SETTLE_S)
    assert box.count(ACCOUNT, OutboxState.HELD) == 1


def test_a_retried_delete_withdrawn_later_still_counts() -> None:
    """Same, but the timed-out delete waits for its retry when the file comes back."""
    box = outbox(Policy(max_deletes=3))
    synced(box, {f"f{i}.css": "x" for i in range(20)})
    box.observe(WATCH, dict.fromkeys(["f0.css", "f1.css", "f2.css"]), T0)
    box.vet_deletes(ACCOUNT, T0 + DEFAULT_SETTLE_S)
    for entry in box.next_batch(ACCOUNT, T0 + DEFAULT_SETTLE_S, 10):
        outcome = retry.Outcome.TRANSIENT if entry.rel == "f1.css" else retry.Outcome.OK
        box.on_result(entry, Result(outcome, error="timeout"), T0 + 3, jitter=0)
    box.observe(WATCH, {"f1.css": seen("x")}, T0 + 3.5)
    box.observe(WATCH, {"f9.css": None}, T0 + 4)
    box.vet_deletes(ACCOUNT, T0 + 4 + DEFAULT_SETTLE_S)
    assert box.count(ACCOUNT, OutboxState.HELD) == 1
