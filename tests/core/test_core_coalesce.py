"""The coalescer: bursts of events settle once, after the last mark plus the quiet time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hubsync.core.coalesce import Coalescer


def test_rapid_saves_settle_once_after_the_last() -> None:
    """50 marks in 100 ms give one settled path, quiet_s after the last mark."""
    coalescer = Coalescer(0.3)
    for i in range(50):
        coalescer.mark("theme.css", i * 0.002)
    last = 49 * 0.002
    assert coalescer.settled(last + 0.29) == []
    assert coalescer.next_deadline() == last + 0.3
    assert coalescer.settled(last + 0.3) == ["theme.css"]
    assert coalescer.settled(last + 10) == []
    assert len(coalescer) == 0


def test_both_paths_of_a_move_settle() -> None:
    """A move marks both paths; each settles on its own schedule, oldest first."""
    coalescer = Coalescer(0.5)
    coalescer.mark("theme.css", 1.0)
    coalescer.mark("theme.css~", 1.0)
    coalescer.mark("theme.css", 1.2)
    assert coalescer.settled(1.5) == ["theme.css~"]
    assert "theme.css" in coalescer
    assert coalescer.settled(1.7) == ["theme.css"]


def test_next_deadline_empty_and_discard() -> None:
    """No dirty path, no deadline; discard forgets a path."""
    coalescer = Coalescer(1.0)
    assert coalescer.next_deadline() is None
    coalescer.mark("a", 5.0)
    coalescer.discard("a")
    assert coalescer.next_deadline() is None
    assert len(coalescer) == 0


def test_clock_stepping_back_never_settles_early() -> None:
    """A mark with an older timestamp is treated as the newest seen."""
    coalescer = Coalescer(1.0)
    coalescer.mark("a", 10.0)
    coalescer.mark("b", 5.0)
    assert coalescer.settled(10.5) == []
    assert coalescer.settled(11.0) == ["a", "b"]


MARKS = st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]),
                           st.floats(min_value=0, max_value=2, allow_nan=False)),
                 max_size=40)


@given(MARKS, st.floats(min_value=0.01, max_value=1.0))
def test_each_path_settles_once_after_its_last_mark(marks: list[tuple[str, float]],
                                                    quiet: float) -> None:
    """Polling at every deadline, each marked path settles exactly once, never before
    its last mark + quiet, and no later than the first poll after that."""
    coalescer = Coalescer(quiet)
    now = 0.0
    last: dict[str, float] = {}
    settled_at: dict[str, list[float]] = {}
    for path, gap in marks:
        now += gap
        for done in coalescer.settled(now):
            settled_at.setdefault(done, []).append(now)
        coalescer.mark(path, now)
        last[path] = now
        settled_at.pop(path, None)  # a new mark starts a new settle
    while (deadline := coalescer.next_deadline()) is not None:
        for done in coalescer.settled(deadline):
            settled_at.setdefault(done, []).append(deadline)
    assert set(settled_at) == set(last)
    for path, times in settled_at.items():
        assert len(times) == 1
        assert times[0] >= last[path] + quiet


def test_a_complete_mark_settles_at_once_and_the_burst_after_it_waits() -> None:
    """A close-after-write settles at once; 29 more saves within 100 ms wait out the
    quiet period after the last one, so the burst is two looks, the last content last."""
    coalescer = Coalescer(0.3)
    coalescer.mark("theme.css", 0.0)  # modified
    coalescer.mark("theme.css", 0.0, complete=True)  # closed after write
    assert coalescer.next_deadline() == 0.0
    assert coalescer.settled(0.001) == ["theme.css"]
    for i in range(1, 30):
        coalescer.mark("theme.css", i * 0.0033, complete=True)
    last = 29 * 0.0033
    assert coalescer.settled(last + 0.29) == []
    assert coalescer.next_deadline() == last + 0.3
    assert coalescer.settled(last + 0.3) == ["theme.css"]
    assert len(coalescer) == 0


def test_a_plain_mark_after_a_complete_one_waits() -> None:
    """A file changed again after it was complete is no longer known to be whole."""
    coalescer = Coalescer(0.3)
    coalescer.mark("a.css", 1.0, complete=True)
    coalescer.mark("a.css", 1.01)
    assert coalescer.settled(1.02) == []
    assert coalescer.settled(1.31) == ["a.css"]


def test_the_fast_path_comes_back_after_the_quiet_period() -> None:
    """Saves further apart than the quiet period each settle at once; other paths are
    not slowed by one path's cool-down."""
    coalescer = Coalescer(0.3)
    for t in (0.0, 0.5, 1.0):
        coalescer.mark("a.css", t, complete=True)
        coalescer.mark("b.css", t + 0.01, complete=True)
        assert coalescer.settled(t + 0.02) == ["a.css", "b.css"]
    # A reconcile settles everything with now = infinity: the cool-down still ends.
    coalescer.mark("c.css", 2.0, complete=True)
    assert coalescer.settled(float("inf")) == ["c.css"]
    coalescer.mark("c.css", 2.4, complete=True)
    assert coalescer.settled(2.4) == ["c.css"]


def test_a_long_burst_stays_coalesced_until_it_is_quiet() -> None:
    """Saves every 50 ms for 2 s with a 300 ms quiet period: one look at once, one at
    the end, however long the burst; then the next save is fast again."""
    coalescer = Coalescer(0.3)
    looks = 0
    for i in range(41):
        coalescer.mark("main.js", i * 0.05, complete=True)
        looks += len(coalescer.settled(i * 0.05))
    assert looks == 1
    assert coalescer.settled(2.0 + 0.3) == ["main.js"]
    coalescer.mark("main.js", 2.0 + 0.3 + 0.31, complete=True)
    assert coalescer.settled(2.61) == ["main.js"]
