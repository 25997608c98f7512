"""One :class:`WatchTracker` per watch: what is on disk, told to the decision core.

watcher event -> :class:`~hubsync.core.coalesce.Coalescer` (quiet period; at once for a
known file closed after writing or moved into place) -> probe only the
settled paths (``lstat``, hash when the stat key changed) -> an observation
(``rel -> Seen | None``) for :meth:`hubsync.core.outbox.Outbox.observe`. A reconcile walks
the whole tree instead: at start, after a watcher overflow, when the root was replaced or
the rules changed, and on a slow timer as a safety net.

Events are hints: what is on disk after the quiet period decides. The tracker owns its
watch's stat cache (saved through the state) and its view of the local files; it never
decides what to send.
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import structlog

from hubsync import localtree
from hubsync.config import Watch
from hubsync.core.coalesce import Coalescer
from hubsync.core.effects import Seen, WatchSpec
from hubsync.core.ignore import IgnoreRules
from hubsync.core.paths import is_under
from hubsync.core.plan import LocalFile
from hubsync.errors import StateError
from hubsync.fieldsjs import FieldsJs, Shadowed, Unconverted
from hubsync.localtree import CachedStat, Gone, Skipped, Unreadable
from hubsync.ports import Clock, TreeWatcher, WatcherFactory
from hubsync.state import AsyncStateStore

log = structlog.get_logger("hubsync.engine")

_S = TypeVar("_S", bound=Skipped)

Observation = dict[str, Seen | None]
"""rel -> the file as seen (content hash, size), or None when it is gone."""


@dataclass(slots=True)
class Observed:
    """What one look at the disk found."""

    files: Observation
    skipped: list[Skipped] = field(default_factory=list)
    complete: bool = False
    """``files`` is the whole tree (a reconcile), not only the paths probed."""
    root_ok: bool = True
    """False when the root is missing or holds no pushable file."""
    hashed: int = 0
    unreadable: list[Unreadable] = field(default_factory=list)
    """Paths that exist but could not be read: failures, and nothing under them is
    judged gone."""

    @property
    def left_out(self) -> list[str]:
        """Paths the rules leave out: owed nothing, and never deleted for it. A local
        ``fields.json`` shadowed by a fields.js is not: that path is pushed (converted).
        A ``fields.json`` whose fields.js does not convert is: nothing is owed for it
        until it converts again (then its new output is)."""
        return [*(item.rel for item in self.skipped if not isinstance(item, Shadowed)),
                *(item.rel for item in self.unreadable if isinstance(item, Unconverted))]


@dataclass(frozen=True, slots=True)
class _RootId:
    dev: int
    ino: int


def _root_id(root: Path) -> _RootId | None:
    try:
        st = root.stat()
    except OSError:
        return None
    return _RootId(st.st_dev, st.st_ino) if stat.S_ISDIR(st.st_mode) else None


class WatchTracker:
    """The local side of one watch. Call from the event loop only."""

    def __init__(self, watch: Watch, *, quiet_s: float, store: AsyncStateStore | None,
                 clock: Clock, make_watcher: WatcherFactory,
                 on_dirty: Callable[[], None], settle_on_close: bool = True) -> None:
        self.watch = watch
        self.spec = WatchSpec(watch.name, watch.dest, tuple(watch.accounts),
                              watch.delete_remote)
        self.root = watch.src
        self.rules = IgnoreRules.defaults()
        self.fields = FieldsJs.for_watch(watch)
        """fields.js sources: tracked (marked, probed, scanned) as their fields.json."""
        self._store = store  # None in a dry run: nothing is written
        self._clock = clock
        self._make_watcher = make_watcher
        self._on_dirty = on_dirty  # wakes the engine's settler
        self._coalescer = Coalescer(quiet_s)
        self._fast = settle_on_close
        self._real_root: str | None = None
        """The root resolved (``os.path.realpath``), for probes; refreshed by every
        reconcile and when the root is replaced."""
        self._dirty_dirs: set[str] = set()
        self.local: dict[str, Seen] = {}
        self.stats: dict[str, CachedStat] = {}
        self.watcher: TreeWatcher | None = None
        self._watched_root: _RootId | None = None
        self.reconcile_wanted = True
        self.last_reconcile_s: float | None = None
        self.reported_skips: set[tuple[str, str]] = set()
        self.unreadable: dict[str, Unreadable] = {}
        """What could not be read at the last look, by path: retried when it changes."""

    # --- watching ------------------------------------------------------------------------

    async def start_watching(self) -> None:
        """Start the watcher (the root must exist; otherwise the next reconcile retries)."""
        self._watched_root = _root_id(self.root)
        if self._watched_root is None:
            log.warning("watch_root_missing", watch=self.watch.name, root=str(self.root))
            return
        self.watcher = self._make_watcher(self.root, self.mark, self.overflowed)
        await self.watcher.start()

    async def stop_watching(self) -> None:
        watcher, self.watcher = self.watcher, None
        if watcher is not None:
            await watcher.stop()

    def watcher_alive(self) -> bool | None:
        """None when not watching (push, or the root is missing)."""
        return self.watcher.is_alive() if self.watcher is not None else None

    async def check_root(self) -> bool:
        """Re-attach when the root is no longer the folder being watched (moved away and
        replaced by a copy, a fresh ``git clone``); True when it did."""
        current = _root_id(self.root)
        if current == self._watched_root and (current is None or self.watcher is not None):
            return False
        log.warning("watch_root_replaced", watch=self.watch.name, root=str(self.root))
        self._real_root = None
        await self.stop_watching()
        await self.start_watching()
        self.reconcile_wanted = True
        return True

    def mark(self, rel: str, is_dir: bool, complete: bool = False) -> None:
        """A path may have changed (from the watcher, on the loop thread).

        ``complete`` (closed after writing, or moved here) settles the path at once when
        it is a file this watch already pushes under that name, and ``settle_on_close``
        is on: the save fast path. A new name may be an editor's temporary file that
        is renamed or deleted in a moment, so it waits out the quiet period like
        everything else.
        """
        if not is_dir:
            rel = self.fields.target_of(rel) or rel  # a fields.js is its fields.json
        fast = complete and self._fast and not is_dir and rel in self.local
        self._coalescer.mark(rel, self._clock.monotonic(), complete=fast)
        if is_dir:
            self._dirty_dirs.add(rel)
        self._on_dirty()

    def overflowed(self) -> None:
        log.warning("watcher_overflow", watch=self.watch.name)
        self.reconcile_wanted = True
        self._on_dirty()

    def next_deadline(self) -> float | None:
        """Monotonic time when the oldest dirty path settles; None when nothing is dirty."""
        return self._coalescer.next_deadline()

    @property
    def dirty(self) -> bool:
        return len(self._coalescer) > 0

    # --- looking at the disk -------------------------------------------------------------

    async def reconcile(self) -> Observed:
        """Walk the whole tree (rules re-read: ``.hsignore`` may have changed)."""
        self.reconcile_wanted = False
        # Marks older than the walk are answered by it.
        for rel in self._coalescer.settled(float("inf")):
            self._dirty_dirs.discard(rel)
        self._real_root = None
        self.rules, rules_problem = await asyncio.to_thread(
            localtree.read_rules, self.root, self.watch.ignore)
        if rules_problem is not None:
            # Without the user's .hsignore, files meant to stay out would be pushed: hold
            # the whole watch until it can be read.
            self.unreadable = {rules_problem.rel: rules_problem}
            return Observed({}, unreadable=[rules_problem])
        if not self.stats and self._store is not None:
            self.stats = await self._store.stat_cache(self.root)
        result = await asyncio.to_thread(localtree.scan, self.root, self.rules, self.stats,
                                         now_ns=self._clock_ns(), fields=self.fields)
        self.local = {rel: Seen(f.sha256, f.size) for rel, f in result.files.items()}
        changed = {rel: e for rel, e in result.stats.items() if self.stats.get(rel) != e}
        removed = [rel for rel in self.stats if rel not in result.stats]
        self.stats = dict(result.stats)
        await self._save_stats(changed, removed)
        self.last_reconcile_s = self._clock.time()
        self.unreadable = {u.rel: u for u in result.unreadable}
        files: Observation = dict(self.local)
        return Observed(files, list(result.skipped), complete=True,
                        root_ok=result.root_ok or bool(result.unreadable),
                        hashed=result.hashed, unreadable=list(result.unreadable))

    async def settle(self, *, force: bool, known: Iterable[str]) -> Observed | None:
        """Probe the paths whose quiet period is over (all dirty ones with ``force``).

        ``known`` are the paths synced for this watch: a vanished folder stands for every
        known file under it. None when nothing settled; a full reconcile when the root
        itself or the rules changed.
        """
        ready = self._coalescer.settled(float("inf") if force else self._clock.monotonic())
        if not ready:
            return None
        dirs = {rel for rel in ready if rel in self._dirty_dirs}
        self._dirty_dirs.difference_update(ready)
        if "" in ready or localtree.HSIGNORE in ready:
            return await self.reconcile()
        candidates = set(self.local).union(known)
        results = await asyncio.to_thread(
            _probe_all, self.root, ready, dirs, candidates, self.rules, dict(self.stats),
            self._clock_ns(), self.fields)
        return await self._take(results)

    async def _take(self, results: list[_Probed]) -> Observed:
        observed = Observed({})
        changed: dict[str, CachedStat] = {}
        removed: list[str] = []
        for rel, outcome, entry in results:
            if isinstance(outcome, Unreadable):
                if isinstance(outcome, Unconverted) and outcome.fresh:
                    # node ran again (the file changed) and failed again: say it again.
                    self.reported_skips.discard((outcome.rel, outcome.reason))
                self.unreadable[outcome.rel] = outcome
                observed.unreadable.append(outcome)
                continue
            was = self.unreadable.pop(rel, None)
            if was is not None:
                # Readable again: failing once more later is news again.
                self.reported_skips.discard((was.rel, was.reason))
            if isinstance(outcome, LocalFile):
                seen = Seen(outcome.sha256, outcome.size)
                self.local[rel] = seen
                observed.files[rel] = seen
                if entry is not None and self.stats.get(rel) != entry:
                    changed[rel] = entry
                    self.stats[rel] = entry
                continue
            self.local.pop(rel, None)
            if isinstance(outcome, Skipped):
                observed.skipped.append(outcome)
            else:
                observed.files[rel] = None
            if self.stats.pop(rel, None) is not None:
                removed.append(rel)
        await self._save_stats(changed, removed)
        observed.root_ok = bool(self.local) and _root_id(self.root) is not None
        return observed

    async def look_now(self, rels: Iterable[str], *, known: Iterable[str]) -> Observed:
        """Probe ``rels`` at once, without a quiet period (``push``, or an upload that
        found its file gone)."""
        results = await asyncio.to_thread(
            _probe_all, self.root, sorted(set(rels)), set(), set(self.local).union(known),
            self.rules, dict(self.stats), self._clock_ns(), self.fields)
        return await self._take(results)

    async def look(self, rel: str) -> Seen | None:
        """The file's content right now (hash only when its stat key changed).

        Runs after every upload (was it changed meanwhile?): when the stat key is the
        cached one, a few ``lstat`` calls on the loop answer it, cheaper than a trip to a
        thread; anything else is probed in a thread.
        """
        cached = self.stats.get(rel)
        if (cached is not None and self.rules.reason(rel) is None
                and localtree.unchanged(self.root, rel, cached)):
            return Seen(cached.sha256, cached.key.size)
        if self._real_root is None:
            self._real_root = await asyncio.to_thread(os.path.realpath, self.root)
        outcome, entry = await asyncio.to_thread(
            localtree.probe_with_stat, self.root, rel, self.rules, self.stats.get(rel),
            now_ns=self._clock_ns(), real_root=self._real_root, fields=self.fields)
        if entry is not None and self.stats.get(rel) != entry:
            self.stats[rel] = entry
        return Seen(outcome.sha256, outcome.size) if isinstance(
            outcome, LocalFile) else None

    async def upload_source(self, rel: str) -> Path:
        """The file whose bytes are uploaded for ``rel``: ``root/rel``, or for a
        ``fields.json`` that a fields.js stands for, node's output (converted now if this
        session has not yet). Raises ``FileNotFoundError`` when there is nothing to
        upload now (the file is gone, or its fields.js no longer converts): the worker
        then has it looked at again, which reports why."""
        if not self.fields.sources_of(rel):
            return self.root / rel
        output = await asyncio.to_thread(self.fields.output_path, self.root, rel,
                                         self.rules, now_ns=self._clock_ns())
        return output if output is not None else self.root / rel

    def readable_again(self) -> list[Unreadable]:
        """The unreadable paths that can be read now (a ``chmod`` emits no event the
        watcher keeps); each is marked dirty, so the next settle pushes it. A fields.js
        that failed to convert is not among them: it is tried again when it changes."""
        again = [u for u in self.unreadable.values()
                 if not isinstance(u, Unconverted)
                 and os.access(self.root / u.rel, os.R_OK | (os.X_OK if u.folder else 0))]
        for item in again:
            del self.unreadable[item.rel]
            self.reported_skips.discard((item.rel, item.reason))
            if item.rel in ("", localtree.HSIGNORE):
                self.reconcile_wanted = True
            else:
                self.mark(item.rel, item.folder)
        return again

    def new_skips(self, skipped: Iterable[_S]) -> list[_S]:
        """The skips not reported before in this session (each is said once). hubsync's
        own temporary files (``.hubsync-pull-*``, written by a pull, a two-way poll or a
        resolve writing a file) are never reported: they are not the user's files."""
        fresh = []
        for item in skipped:
            if _own_temp(item.rel):
                continue
            if (item.rel, item.reason) not in self.reported_skips:
                self.reported_skips.add((item.rel, item.reason))
                fresh.append(item)
        return fresh

    async def _save_stats(self, changed: dict[str, CachedStat], removed: list[str]) -> None:
        if (changed or removed) and self._store is not None:
            try:
                await self._store.save_stats(self.root, changed, removed)
            except StateError as exc:
                # Only a cache: what is not saved is hashed again at the next start. The
                # outbox's own writes report the condition (and stop sending).
                log.warning("stat_cache_not_saved", watch=self.watch.name, error=str(exc))

    def _clock_ns(self) -> int:
        return int(self._clock.time() * 1_000_000_000)


_Probed = tuple[str, LocalFile | Gone | Skipped, CachedStat | None]


OWN_TEMP_PREFIX = ".hubsync-"
"""How hubsync's own temporary files in a watch folder are named (remote.write_atomically,
engine.resolve.apply_remote_copy): renamed into place in a moment, never pushed."""


def _own_temp(rel: str) -> bool:
    return rel.rsplit("/", 1)[-1].startswith(OWN_TEMP_PREFIX)


def _probe_all(root: Path, rels: list[str], dirs: set[str], known: set[str],
               rules: IgnoreRules, stats: dict[str, CachedStat], now_ns: int,
               fields: FieldsJs | None = None) -> list[_Probed]:
    """Probe each settled path (runs in a thread).

    A folder (an event said so, it is one on disk, or it vanished with known files under
    it) stands for every file under it: those we knew and those there now. A fields.js
    stands for its ``fields.json`` (``fields``).
    """
    wanted: set[str] = set()
    real_root = os.path.realpath(root)  # once per batch, not once per file
    for rel in rels:
        path = root / rel
        try:
            is_dir = stat.S_ISDIR(path.lstat().st_mode)
        except OSError:
            is_dir = False
        maybe_folder = is_dir or rel in dirs or rel not in known
        under = [k for k in known if is_under(k, rel)] if maybe_folder else []
        if not (is_dir or rel in dirs or under):
            wanted.add(rel)
            continue
        wanted.update(under)
        if is_dir:
            wanted.update(_files_under(root, rel, rules))
    if fields is not None:
        wanted = {fields.target_of(rel) or rel for rel in wanted}
    return [(rel, *localtree.probe_with_stat(root, rel, rules, stats.get(rel), now_ns=now_ns,
                                             real_root=real_root, fields=fields))
            for rel in sorted(wanted)]


def _files_under(root: Path, rel: str, rules: IgnoreRules) -> set[str]:
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root / rel):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        dirnames[:] = [d for d in dirnames if not rules.ignores(f"{rel_dir}/{d}", is_dir=True)]
        found.update(f"{rel_dir}/{name}" for name in filenames)
    return found
