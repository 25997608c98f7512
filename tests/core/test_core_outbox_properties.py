"""Properties of the decision core under random interleavings (a Hypothesis state machine).

The machine plays tracker, worker and HubSpot around one ``Outbox``: files are written,
deleted and reverted (each observed at once, as a settled burst), batches are sent,
answers arrive in any order with any outcome (or the file changes during its upload),
time advances, a reconcile runs, a user releases held deletes. HubSpot is modelled as
a dict; a refused request (4xx) changes nothing there, a 5xx or timeout may have.

Checked after every step or at every send: never two requests in flight on one path; a
module file never sent while its ``meta.json`` is pending or in flight; no upload of
content already synced; the brake
never lets more than ``max_deletes`` files of deletes out within ``brake_window_s``
unless a user released them. At quiescence (holds released, everything answered OK):
the base equals the local tree, and so does the remote (no file lost, none left behind,
the newest content wins).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from hubsync.core import retry
from hubsync.core.effects import Effects, Policy, Result
from hubsync.core.outbox import Outbox
from hubsync.core.paths import module_meta_of
from hubsync.model import OpKind, OutboxEntry, OutboxState
from tests.core.outbox_helpers import ACCOUNT, T0, WATCH, remote, seen, synced

RELS = ("a.css", "dir/c.css", "m.module/meta.json", "m.module/x.css", "n.module/y.js")
CONTENTS = ("1", "2")
"""Few paths and contents, so that writes collide, revert and race often."""
POLICY = Policy(max_deletes=3, brake_window_s=60.0, delete_settle_s=2.0,
                unexpected_max_attempts=3)
FAILURES = (retry.Outcome.TRANSIENT, retry.Outcome.RATE_LIMITED, retry.Outcome.VALIDATION,
            retry.Outcome.UNEXPECTED, retry.Outcome.NOT_FOUND, retry.Outcome.TOKEN_EXPIRED,
            retry.Outcome.FORBIDDEN)
UNCERTAIN = (retry.Outcome.TRANSIENT, retry.Outcome.UNEXPECTED)
"""Outcomes after which the client cannot know whether HubSpot applied the request
(a 5xx after the write, a timeout); the model draws whether it did."""


def test_hypothesis_profile_has_no_deadline() -> None:
    """tests/conftest.py loaded a profile without a per-example deadline."""
    assert settings().deadline is None


@dataclass
class Flight:
    """One request on the wire: the entry, and the bytes read when it was sent."""

    entry: OutboxEntry
    content: str | None


class OutboxMachine(RuleBasedStateMachine):
    """Tracker + worker + HubSpot around one Outbox, driven by Hypothesis."""

    @initialize(tree=st.dictionaries(st.sampled_from(RELS), st.sampled_from(CONTENTS)))
    def start(self, tree: dict[str, str]) -> None:
        """An earlier session synced ``tree``: it is local, remote and the base."""
        self.box = Outbox([ACCOUNT], replace(POLICY, write_before_send=False))
        synced(self.box, tree)
        self.now = T0
        self.local: dict[str, str] = dict(tree)
        self.remote: dict[str, str] = dict(tree)
        self.flights: list[Flight] = []
        self.deletes_out: dict[tuple[str, float], float] = {}
        """(rel, enqueued_s) -> when first sent, of each delete that no user released (a
        retry of the same delete is not another file deleted)."""
        self.released: set[tuple[str, float]] = set()

    # --- the tracker -------------------------------------------------------------------------

    def _apply(self, effects: Effects) -> None:
        for watch, rel in effects.reprobe:
            assert watch == WATCH.name
            self._observe({rel})

    def _observe(self, rels: set[str], *, complete: bool = False) -> None:
        files = {rel: seen(self.local[rel]) if rel in self.local else None for rel in rels}
        self._apply(self.box.observe(WATCH, files, self.now, complete=complete))

    @rule(rel=st.sampled_from(RELS), content=st.sampled_from(CONTENTS))
    def write(self, rel: str, content: str) -> None:
        """A save (a revert when the content is an earlier one)."""
        self.local[rel] = content
        self._observe({rel})

    @rule(rel=st.sampled_from(RELS))
    def delete(self, rel: str) -> None:
        """A local delete (of a file that may not exist)."""
        self.local.pop(rel, None)
        self._observe({rel})

    @rule()
    def reconcile(self) -> None:
        """A whole-tree look (start, overflow, periodic)."""
        self._observe(set(self.local), complete=True)

    @rule(seconds=st.sampled_from((0.0, 0.005, 0.5, 2.5, 30.0, 700.0)))
    def advance(self, seconds: float) -> None:
        """Time passes."""
        self.now += seconds

    @rule()
    def release(self) -> None:
        """A user runs ``hubsync deletes release``."""
        held = {(e.rel, e.enqueued_s) for e in self.box.entries(ACCOUNT)
                if e.state is OutboxState.HELD}
        self.released |= held
        self._apply(self.box.release_holds(ACCOUNT, self.now))

    # --- the worker -----------------------------------------------------------------------

    @rule(limit=st.integers(min_value=1, max_value=4))
    def send(self, limit: int) -> None:
        """Vet deletes, then send a batch (bytes are read now)."""
        self._apply(self.box.vet_deletes(ACCOUNT, self.now))
        batch = self.box.next_batch(ACCOUNT, self.now, limit)
        flying = {f.entry.remote_path for f in self.flights}
        self.flights.extend(Flight(entry, self.local.get(entry.rel)) for entry in batch)
        assert len({e.remote_path for e in batch}) == len(batch), "one path twice in a batch"
        for entry in batch:
            self._check_send(entry, batch, flying)
            key = (entry.rel, entry.enqueued_s)
            if entry.op is OpKind.DELETE and key not in self.released:
                self.deletes_out.setdefault(key, self.now)
        self._check_brake()

    def _check_send(self, entry: OutboxEntry, batch: list[OutboxEntry],
                    flying: set[str]) -> None:
        assert entry.remote_path not in flying, f"two requests in flight on {entry.rel}"
        meta = module_meta_of(entry.rel)
        if entry.op is OpKind.UPLOAD and meta is not None:
            meta_path = remote(meta)
            assert meta_path not in flying, f"{entry.rel} sent while {meta} in flight"
            assert meta_path not in {e.remote_path for e in batch}, \
                f"{entry.rel} sent with {meta} in the same batch"
            waiting = [e for e in self.box.entries(ACCOUNT)
                       if e.remote_path == meta_path and e.state is OutboxState.PENDING
                       and e not in batch]
            assert not waiting, f"{entry.rel} sent while {meta} is pending"
        if entry.op is OpKind.UPLOAD:
            assert entry.sha256 != self.box.synced_sha(ACCOUNT, entry.remote_path), \
                f"upload of {entry.rel} whose content is already synced"

    def _check_brake(self) -> None:
        recent = [rel for (rel, _), when in self.deletes_out.items()
                  if when > self.now - POLICY.brake_window_s]
        assert len(recent) <= POLICY.max_deletes, f"the brake let {recent} out"

    @precondition(lambda self: bool(self.flights))
    @rule(data=st.data(), jitter=st.floats(0.0, 1.0))
    def answer(self, data: st.DataObject, jitter: float) -> None:
        """HubSpot answers one request in flight, with any outcome."""
        flight = self.flights.pop(data.draw(st.integers(0, len(self.flights) - 1)))
        entry = flight.entry
        outcome = data.draw(st.sampled_from((retry.Outcome.OK, *FAILURES)))
        if entry.op is OpKind.UPLOAD and flight.content is None:
            outcome = retry.Outcome.TRANSIENT  # the file vanished: reading it failed
        can_land = entry.op is OpKind.DELETE or flight.content is not None
        landed = outcome in UNCERTAIN and can_land and data.draw(st.booleans())
        self._answer(flight, outcome, jitter=jitter, landed=landed,
                     retry_after=data.draw(st.sampled_from((None, 0.0, 5.0, 90.0))))

    def _answer(self, flight: Flight, outcome: retry.Outcome, *, jitter: float,
                retry_after: float | None = None, landed: bool = False) -> None:
        entry = flight.entry
        gone = entry.op is OpKind.DELETE and outcome is retry.Outcome.NOT_FOUND
        if entry.op is OpKind.DELETE and not (outcome is retry.Outcome.OK or landed or gone):
            # Refused or not applied: it deleted nothing (yet); a retry counts when sent.
            self.deletes_out.pop((entry.rel, entry.enqueued_s), None)
        if outcome is retry.Outcome.OK or landed or gone:
            if entry.op is OpKind.UPLOAD:
                assert flight.content is not None
                self.remote[entry.rel] = flight.content
            else:
                self.remote.pop(entry.rel, None)
        after = seen(self.local[entry.rel]) if entry.rel in self.local else None
        result = Result(outcome, error=None if outcome is retry.Outcome.OK else "boom",
                        after=after, retry_after_s=retry_after)
        self._apply(self.box.on_result(entry, result, self.now, jitter=jitter))

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def in_flight_agrees(self) -> None:
        """The core counts exactly the requests on the wire."""
        if hasattr(self, "box"):
            assert self.box.in_flight(ACCOUNT) == len(self.flights)

    @rule()
    def quiesce(self) -> None:
        """Release holds and let everything in flight and owed succeed; then the base and
        the remote equal the local tree, except where HubSpot refused the content."""
        for _ in range(200):
            self.release()
            while self.flights:
                flight = self.flights.pop(0)
                vanished = flight.entry.op is OpKind.UPLOAD and flight.content is None
                # An upload whose file was gone when it was read failed as the client
                # fails it (OSError: transient); everything else succeeds.
                self._answer(flight, retry.Outcome.TRANSIENT if vanished
                             else retry.Outcome.OK, jitter=0.5)
            wake = self.box.next_wake(ACCOUNT, self.now)
            if not self.box.has_sendable(ACCOUNT) and wake is None:
                break
            if wake is not None:
                self.now = max(self.now, wake)
            self.send(50)
        else:
            raise AssertionError("the outbox never became quiet")
        self._check_converged()

    def teardown(self) -> None:
        """Every run ends quiet and converged, whatever it did last."""
        if hasattr(self, "box"):
            self.quiesce()

    def _check_converged(self) -> None:
        parked = {e.rel for e in self.box.entries(ACCOUNT) if e.state is OutboxState.PARKED}
        assert not [e for e in self.box.entries(ACCOUNT) if e.state is not OutboxState.PARKED]
        base = {row.rel: row.sha256 for row in self.box.base(ACCOUNT).values()}
        want = {rel: seen(c).sha256 for rel, c in self.local.items()}
        assert _without(base, parked) == _without(want, parked), "base != local tree"
        stored = {rel: seen(c).sha256 for rel, c in self.remote.items()}
        assert _without(stored, parked) == _without(want, parked), "remote != local tree"


def _without(d: dict[str, str], keys: set[str]) -> dict[str, str]:
    return {k: v for k, v in d.items() if k not in keys}


OutboxMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=50)
TestOutboxMachine = OutboxMachine.TestCase
