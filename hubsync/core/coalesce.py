"""Events in, settled dirty paths out: a burst of saves becomes one look at the file.

Every filesystem event (both paths of a move) marks a path dirty; a path settles once
nothing marked it for ``quiet_s``. The caller then ``lstat``s it and decides from
what is there. Time is a parameter (a monotonic clock reading), never read here.

The fast path: a mark with ``complete=True`` (the writer closed the file after writing,
or a rename put it in place; Linux inotify's IN_CLOSE_WRITE / IN_MOVED_TO, see
pitfalls.md §1.2-1.3) settles at once, so a save is pushed without waiting out the quiet
period. Only the first one does: after a path settled that way, its marks, complete or
not, wait out the quiet period again until the path has been quiet for ``quiet_s``, so a
burst of 30 saves in 100 ms is one look at once and one at the end (the last content
wins), however long the burst lasts.
"""

from __future__ import annotations


class Coalescer:
    """Dirty paths with the time each was last marked.

    The dict keeps paths in order of their last mark (a re-mark moves a path to the
    end), so with a non-decreasing clock the oldest mark is always first and both
    ``settled`` and ``next_deadline`` only look at the front. The same holds for the
    paths ready at once and for the cool-down of the paths that settled at once.
    """

    __slots__ = ("_cooling", "_last_mark", "_latest", "_ready", "quiet_s")

    def __init__(self, quiet_s: float) -> None:
        if quiet_s < 0:
            raise ValueError("quiet_s must not be negative")
        self.quiet_s = quiet_s
        self._last_mark: dict[str, float] = {}
        self._ready: dict[str, float] = {}
        """Complete paths, settled by the next ``settled`` call whatever the time."""
        self._cooling: dict[str, float] = {}
        """Path -> until when its complete marks count as plain marks."""
        self._latest = float("-inf")

    def mark(self, rel: str, now: float, *, complete: bool = False) -> None:
        """``rel`` may have changed at ``now``: restart its quiet period.

        With ``complete`` (the file is whole under this name) it settles at once,
        unless it did so before and has not been quiet for ``quiet_s`` since: every mark
        in that cool-down extends it, so a burst is one look at once and one at its end.
        """
        # A clock reading older than one already seen is taken as the newest one: a
        # path then settles a little late, never early, and the order stays sorted.
        self._latest = max(self._latest, now)
        self._forget_cooled(self._latest)
        self._last_mark.pop(rel, None)
        self._ready.pop(rel, None)
        if rel in self._cooling:
            # Still in a burst: the fast path comes back only after a quiet period.
            del self._cooling[rel]
            self._cooling[rel] = self._latest + self.quiet_s
        elif complete:
            self._ready[rel] = self._latest
            return
        # A plain mark after a complete one: the file changed again, so it is no longer
        # known to be whole.
        self._last_mark[rel] = self._latest

    def settled(self, now: float) -> list[str]:
        """Paths ready at once, then those quiet for at least ``quiet_s`` at ``now``,
        oldest first; forgotten here."""
        ready: list[str] = list(self._ready)
        self._ready.clear()
        # From the newest mark, not ``now``: a reconcile settles with ``now`` = infinity.
        until = self._latest + self.quiet_s
        for rel in ready:
            self._cooling.pop(rel, None)
            self._cooling[rel] = until
        quiet: list[str] = []
        for rel, marked in self._last_mark.items():
            if marked + self.quiet_s > now:
                break
            quiet.append(rel)
        for rel in quiet:
            del self._last_mark[rel]
        return ready + quiet

    def next_deadline(self) -> float | None:
        """When the oldest dirty path settles (a complete path: when it was marked, so
        at once); None when nothing is dirty."""
        for marked in self._ready.values():
            return marked
        for marked in self._last_mark.values():
            return marked + self.quiet_s
        return None

    def discard(self, rel: str) -> None:
        """Forget ``rel`` without settling it."""
        self._last_mark.pop(rel, None)
        self._ready.pop(rel, None)

    def _forget_cooled(self, now: float) -> None:
        while self._cooling:
            rel, until = next(iter(self._cooling.items()))
            if until > now:
                return
            del self._cooling[rel]

    def __contains__(self, rel: object) -> bool:
        return rel in self._last_mark or rel in self._ready

    def __len__(self) -> int:
        return len(self._last_mark) + len(self._ready)
