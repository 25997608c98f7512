"""The local side of a session: every watch's tracker, and the loop that settles them.

:class:`LocalSide` turns what the trackers see into observations for the decision core
(:meth:`~hubsync.core.outbox.Outbox.observe`), reports skips and unreadable paths, and in
watch mode runs the settler: dirty paths after their quiet period, reconciles when asked
(overflow, rules changed, root replaced) and on a slow timer, root and permission checks.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from hubsync.core.plan import Plan
from hubsync.engine.report import plan_of, reconciled_counts
from hubsync.engine.tracker import Observed, WatchTracker
from hubsync.journal import Event

if TYPE_CHECKING:
    from hubsync.engine.session import Engine

log = structlog.get_logger("hubsync.engine")

ROOT_CHECK_S = 2.0
"""How often each watch root is checked for having been replaced (``mv``, ``git clone``)
and unreadable paths for having become readable."""


class LocalSide:
    """The trackers of one session, fed to the engine's core. Loop thread only."""

    def __init__(self, engine: Engine, *, reconcile_interval_s: float) -> None:
        self._engine = engine
        self._reconcile_interval_s = reconcile_interval_s
        self.trackers: dict[str, WatchTracker] = {}
        self.dirty = asyncio.Event()
        """Set by a tracker when a path is marked: wakes the settler."""
        self.looks: set[asyncio.Task[None]] = set()
        """Immediate looks in flight (``push``): the session is not idle while any runs."""
        self.unchanged = 0
        self.skipped: list[tuple[str, str, str]] = []
        self.plans: dict[tuple[str, str], Plan] = {}

    @property
    def busy(self) -> bool:
        """Whether a look is under way or a path waits to settle."""
        return bool(self.looks) or any(t.dirty for t in self.trackers.values())

    def look_again(self, watch: str, rel: str) -> None:
        """Have ``rel`` looked at again: after the quiet period while watching (it may be
        mid-write), at once in ``push`` (no watcher runs to say when it settles)."""
        if self._engine.stopping:
            return
        tracker = self.trackers[watch]
        if tracker.watcher is not None:
            tracker.mark(rel, False)
            return
        task = asyncio.create_task(self._look_now(tracker, rel), name=f"look-{rel}")
        self.looks.add(task)
        task.add_done_callback(self._looked)

    async def _look_now(self, tracker: WatchTracker, rel: str) -> None:
        self.observe_now(tracker, await tracker.look_now([rel], known=self.known(tracker)))

    def _looked(self, task: asyncio.Task[None]) -> None:
        self.looks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("look_failed", error=repr(task.exception()))
        self._engine.check_idle()

    async def reconcile(self, tracker: WatchTracker) -> None:
        """Look at the whole tree of ``tracker``'s watch and say what each account owes."""
        began = self._engine.clock.monotonic()
        observed = await tracker.reconcile()
        self.observe_now(tracker, observed)
        if self._engine.dry_run:
            now = float("inf")  # judge deletes as the session would once they settle
            for account in tracker.spec.accounts:
                self._engine.outbox.vet_deletes(account, now)
        for account in tracker.spec.accounts:
            self._report_reconciled(tracker, observed, account, began)

    def _report_reconciled(self, tracker: WatchTracker, observed: Observed, account: str,
                           began: float) -> None:
        name = tracker.watch.name
        counts = reconciled_counts(self._engine.outbox, tracker, observed, account)
        unchanged = counts["unchanged"]
        self.unchanged += unchanged
        if self._engine.dry_run:
            reason = next((r for r in self._engine.hold_reasons
                           if r.startswith(f"{account}: ")), None)
            self.plans[(name, account)] = plan_of(self._engine.outbox, name, account,
                                                  unchanged=unchanged, hold_reason=reason)
        first = bool(tracker.local) and not self.known_by(tracker, account)
        self._engine.emit(Event.RECONCILED, watch=name, account=account,
                          files=len(tracker.local), **counts, skipped=len(observed.skipped),
                          note="first sync to this portal: nothing of this watch is there "
                          "from hubsync yet" if first else None,
                          duration_ms=round((self._engine.clock.monotonic() - began) * 1000))

    def observe_now(self, tracker: WatchTracker, observed: Observed) -> None:
        """Report new skips and unreadable paths, and hand the observation to the core."""
        name = tracker.watch.name
        for item in tracker.new_skips(observed.skipped):
            self.skipped.append((name, item.rel, item.reason))
            self._engine.emit(Event.SKIPPED, watch=name, path=item.rel, reason=item.reason)
        for item in tracker.new_skips(observed.unreadable):
            # A failure, not a rule: said once per account, retried when it changes.
            for account in tracker.spec.accounts:
                self._engine.emit(Event.FAILED, watch=name, account=account, path=item.rel,
                                  error=item.reason, note=item.retry_note)
        self._engine.commit(self._engine.outbox.observe(
            tracker.spec, observed.files, self._engine.clock.time(), complete=observed.complete,
            root_ok=observed.root_ok, unknown=[u.rel for u in observed.unreadable],
            left_out=observed.left_out))

    async def observe(self, tracker: WatchTracker, observed: Observed | None) -> None:
        if observed is not None:
            self.observe_now(tracker, observed)

    def known(self, tracker: WatchTracker) -> set[str]:
        """The watch-relative paths synced for ``tracker``'s watch, in any of its accounts."""
        known: set[str] = set()
        for account in tracker.spec.accounts:
            known.update(self.known_by(tracker, account))
        return known

    def known_by(self, tracker: WatchTracker, account: str) -> set[str]:
        """The watch-relative paths synced for ``tracker``'s watch in ``account``."""
        prefix = tracker.watch.dest.strip("/") + "/"
        return {p[len(prefix):] for p in self._engine.outbox.base(account)
                if p.startswith(prefix)}

    async def run(self, stop: asyncio.Event) -> None:
        """Settles dirty paths, reconciles when asked, checks the roots; watch mode only."""
        next_full = self._engine.clock.monotonic() + self._reconcile_interval_s
        next_root_check = self._engine.clock.monotonic() + ROOT_CHECK_S
        while not stop.is_set():
            deadlines = [t.next_deadline() for t in self.trackers.values()]
            wake_at = min([d for d in deadlines if d is not None]
                          + [next_full, next_root_check])
            self.dirty.clear()
            clock = self._engine.clock
            await clock.wait(self.dirty, max(0.0, wake_at - clock.monotonic()))
            if stop.is_set():
                return
            now = self._engine.clock.monotonic()
            if now >= next_full:
                next_full = now + self._reconcile_interval_s
                for tracker in self.trackers.values():
                    tracker.reconcile_wanted = True
            if now >= next_root_check:
                next_root_check = now + ROOT_CHECK_S
                for tracker in self.trackers.values():
                    await tracker.check_root()
                    tracker.readable_again()
            for tracker in self.trackers.values():
                if tracker.reconcile_wanted:
                    await self.reconcile(tracker)
                deadline = tracker.next_deadline()
                if deadline is not None and deadline <= clock.monotonic():
                    # ``known`` walks the base: only worth it when something settled.
                    await self.observe(tracker, await tracker.settle(
                        force=False, known=self.known(tracker)))
            self._engine.check_idle()
