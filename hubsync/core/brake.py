"""The delete brake: deletes are counted over time, per account, not per settle round.

A mass delete rarely arrives as one event: ``rm -rf`` of a folder, a loop of ``rm``, an
aborted ``git checkout`` all trickle in over milliseconds to seconds, and the watcher
settles them in several rounds. Judging each round alone lets the first rounds through
(each is small) before the brake sees the whole. So:

1. A new delete is never sent at once. It waits until the account has queued no new
   delete for ``settle_s`` (the *batch* of deletes has gone quiet).
2. Then the batch is vetted as one: the files it deletes, plus the deletes already
   approved and still pending, plus those sent within the last ``window_s``, are
   compared with ``max_deletes`` and with a quarter of the files synced (for batches of
   at least :data:`FRACTION_RULE_MIN_FILES`). Over either bound, the whole batch is held.
3. While any delete of the account is held, new deletes join the held ones: one decision
   for the user, one count everywhere.

Pure: times are parameters (epoch seconds, the same clock as the outbox's ``due_s``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

DEFAULT_MAX_DELETES = 20
DEFAULT_WINDOW_S = 600.0
"""Deletes sent within this many seconds count towards the next batch's limit: a slow
trickle of single deletes (a script, a sync tool) is still a mass delete after a while."""
DEFAULT_SETTLE_S = 2.0
"""A delete waits until no new delete was queued for this long; ``rm -rf`` and loops of
``rm`` finish well within it, so the whole batch is judged at once."""
FRACTION_RULE_MIN_FILES = 5
"""The "more than a quarter of the tree" rule ignores smaller batches, or deleting one
file of a three-file theme would always be held."""
RELEASE_ADVICE = (
    "run `hubsync deletes release` to delete them remotely, or `hubsync deletes discard` "
    "to keep the remote files"
)


def brake_reason(batch: int, synced_total: int, *, max_deletes: int,
                 root_missing_or_empty: bool, earlier: int = 0,
                 window_s: float = DEFAULT_WINDOW_S) -> str | None:
    """Why a batch deleting ``batch`` of ``synced_total`` synced files must be held, or
    None. ``earlier`` counts the deletes approved or sent within ``window_s`` before it
    (``Policy.brake_window_s``, named in the reason): they count towards ``max_deletes``,
    not towards the quarter (a quarter of what is left would shrink with every delete)."""
    total = batch + earlier
    if root_missing_or_empty:
        return (f"holding {batch} deletes: the watch folder is missing or empty "
                f"(unmounted disk or aborted checkout?); {RELEASE_ADVICE}")
    if total > max_deletes:
        before = f" ({earlier} deleted or approved before them)" if earlier else ""
        return (f"holding {batch} deletes: more than {max_deletes} files within "
                f"{_span(window_s)}{before}; {RELEASE_ADVICE}")
    if batch >= FRACTION_RULE_MIN_FILES and batch * 4 > synced_total:
        return (f"holding {batch} deletes: more than a quarter of the {synced_total} "
                f"files synced; {RELEASE_ADVICE}")
    return None


def _span(seconds: float) -> str:
    """``600`` -> ``"10 minutes"``, ``90`` -> ``"90 seconds"``."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} seconds"


@dataclass(slots=True)
class DeleteLedger:
    """One account's recent deletes: when each batch was last added to, what was sent."""

    window_s: float = DEFAULT_WINDOW_S
    settle_s: float = DEFAULT_SETTLE_S
    last_queued_s: float | None = None
    """When a delete was last queued for this account (None: no batch open)."""
    sent: deque[tuple[float, int]] = field(default_factory=deque)
    """(when, files) of each delete sent, oldest first."""

    def queued(self, now: float) -> None:
        """A new delete joined the open batch at ``now``."""
        self.last_queued_s = now

    def settles_at(self) -> float | None:
        """When the open batch may be vetted; None when no batch is open."""
        if self.last_queued_s is None:
            return None
        return self.last_queued_s + self.settle_s

    def vetted(self) -> None:
        """The open batch was judged (approved or held)."""
        self.last_queued_s = None

    def record_sent(self, now: float, files: int) -> None:
        """``files`` remote files were deleted at ``now``."""
        self.sent.append((now, files))

    def sent_within_window(self, now: float) -> int:
        """Files deleted within the last ``window_s`` seconds before ``now``."""
        while self.sent and self.sent[0][0] < now - self.window_s:
            self.sent.popleft()
        return sum(files for _, files in self.sent)
