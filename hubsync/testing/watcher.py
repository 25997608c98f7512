"""``ScriptedWatcher``: a :class:`hubsync.ports.TreeWatcher` a test drives by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from hubsync.ports import DirtySink


class ScriptedWatcher:
    """Reports exactly the events the test emits, on the calling (loop) thread.

    The real :class:`hubsync.watcher.Watcher` reports a path relative to the root with
    ``/`` separators (``""`` for the root itself) and whether it is a directory; here
    the test says it: ``watcher.emit("css/main.css")``. ``overflow()`` is the inotify
    queue overflowing; ``die()`` is the observer thread dying (``is_alive()`` turns
    False, as the real one does after a handler exception).
    """

    def __init__(self, root: Path, on_dirty: DirtySink,
                 on_overflow: Callable[[], None]) -> None:
        self.root = root
        self._on_dirty = on_dirty
        self._on_overflow = on_overflow
        self.started = False
        """``start()`` was awaited."""
        self.stopped = False
        """``stop()`` was awaited."""
        self._alive = False
        self.emitted: list[tuple[str, bool]] = []
        """Every (rel, is_dir) delivered so far."""

    async def start(self) -> None:
        """Start watching (no thread: events come from :meth:`emit`)."""
        self.started = True
        self.stopped = False
        self._alive = True

    async def stop(self) -> None:
        """Stop watching; later :meth:`emit` calls raise."""
        self.stopped = True
        self._alive = False

    def is_alive(self) -> bool:
        """True between ``start()`` and ``stop()`` unless :meth:`die` was called."""
        return self._alive

    def emit(self, rel: str, is_dir: bool = False) -> None:
        """Deliver ``on_dirty(rel, is_dir)`` now. RuntimeError when not alive: a dead
        watcher reports nothing, and a test emitting into one is a test bug."""
        if not self._alive:
            state = "was stopped" if self.stopped else (
                "died" if self.started else "was never started")
            raise RuntimeError(f"the watcher of {self.root} {state}: it reports nothing")
        if rel.startswith("/") or "\\" in rel:
            raise ValueError(f"rel {rel!r} must be relative to the root with '/' separators")
        self.emitted.append((rel, is_dir))
        self._on_dirty(rel, is_dir)

    def overflow(self) -> None:
        """The kernel dropped events: deliver ``on_overflow()`` now."""
        if not self._alive:
            raise RuntimeError(f"the watcher of {self.root} is not alive")
        self._on_overflow()

    def die(self) -> None:
        """The observer thread dies silently: ``is_alive()`` becomes False."""
        self._alive = False


class ScriptedWatchers:
    """A :class:`hubsync.ports.WatcherFactory` that builds :class:`ScriptedWatcher` s and
    keeps them, so the test can reach the one of each root::

        watchers = ScriptedWatchers()
        engine = Engine(..., watcher_factory=watchers)
        await watchers.started(root)
        watchers[root].emit("css/main.css")
    """

    def __init__(self) -> None:
        self.built: list[ScriptedWatcher] = []
        """Every watcher built, oldest first (a restarted watch builds a new one)."""
        self._changed: asyncio.Event | None = None

    def __call__(self, root: Path, on_dirty: DirtySink,
                 on_overflow: Callable[[], None]) -> ScriptedWatcher:
        watcher = _Notifying(root, on_dirty, on_overflow, self._poke)
        self.built.append(watcher)
        self._poke()
        return watcher

    def __getitem__(self, root: Path) -> ScriptedWatcher:
        """The newest watcher built for ``root``; KeyError when none was."""
        for watcher in reversed(self.built):
            if watcher.root == root:
                return watcher
        raise KeyError(f"no watcher was built for {root}")

    def alive(self) -> list[ScriptedWatcher]:
        """The watchers that are alive now."""
        return [w for w in self.built if w.is_alive()]

    async def started(self, root: Path, count: int = 1) -> ScriptedWatcher:
        """Wait until ``count`` watchers of ``root`` have been started (a barrier);
        returns the newest. Bound it with ``asyncio.timeout``."""
        while True:
            mine = [w for w in self.built if w.root == root and w.started]
            if len(mine) >= count:
                return mine[-1]
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()
            self._changed = None

    def _poke(self) -> None:
        if self._changed is not None:
            self._changed.set()


class _Notifying(ScriptedWatcher):
    """A ScriptedWatcher that tells its factory when it starts or stops."""

    def __init__(self, root: Path, on_dirty: DirtySink, on_overflow: Callable[[], None],
                 poke: Callable[[], None]) -> None:
        super().__init__(root, on_dirty, on_overflow)
        self._poke = poke

    async def start(self) -> None:
        await super().start()
        self._poke()

    async def stop(self) -> None:
        await super().stop()
        self._poke()
