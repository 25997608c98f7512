"""Events in, settled dirty paths out: a burst of saves becomes one look at the file.

Every filesystem event (both paths of a move) marks a path dirty; a path settles once
nothing marked it for ``quiet_s``. The caller then ``lstat``s it and decides from
what is there. Time is a parameter (a monotonic clock reading), never read here.
"""

from __future__ import annotations


class Coalescer:
    """Dirty paths with the time each was last marked.

    The dict keeps paths in order of their last mark (a re-mark moves a path to the
    end), so with a non-decreasing clock the oldest mark is always first and both
    ``settled`` and ``next_deadline`` only look at the front.
    """

    __slots__ = ("_last_mark", "_latest", "quiet_s")

    def __init__(self, quiet_s: float) -> None:
        if quiet_s < 0:
            raise ValueError("quiet_s must not be negative")
        self.quiet_s = quiet_s
        self._last_mark: dict[str, float] = {}
        self._latest = float("-inf")

    def mark(self, rel: str, now: float) -> None:
        """``rel`` may have changed at ``now``: restart its quiet period."""
        self._last_mark.pop(rel, None)
        # A clock reading older than one already seen is taken as the newest one: a
        # path then settles a little late, never early, and the order stays sorted.
        self._latest = max(self._latest, now)
        self._last_mark[rel] = self._latest

    def settled(self, now: float) -> list[str]:
        """Paths quiet for at least ``quiet_s`` at ``now``, oldest first; forgotten here."""
        ready: list[str] = []
        for rel, marked in self._last_mark.items():
            if marked + self.quiet_s > now:
                break
            ready.append(rel)
        for rel in ready:
            del self._last_mark[rel]
        return ready

    def next_deadline(self) -> float | None:
        """When the oldest dirty path settles; None when nothing is dirty."""
        for marked in self._last_mark.values():
            return marked + self.quiet_s
        return None

    def discard(self, rel: str) -> None:
        """Forget ``rel`` without settling it."""
        self._last_mark.pop(rel, None)

    def __contains__(self, rel: object) -> bool:
        return rel in self._last_mark

    def __len__(self) -> int:
        return len(self._last_mark)
