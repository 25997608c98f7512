"""watchdog observer thread -> ``loop.call_soon_threadsafe`` -> asyncio.

A :class:`Watcher` turns filesystem events under one watch root into "this path may
have changed" hints on the event loop. It never decides anything: the engine lstats
and hashes after a quiet period, and a reconcile walk is the source of truth.

Why it is built the way it is (see pitfalls.md §1):

- ``event_filter`` leaves out opened and closed-no-write events: with them, watchdog
  7.1's own directory walk overflows the inotify queue on big trees and no event
  arrives at all (the 7.1 livelock). It also halves the event volume.
- The handler does one ``call_soon_threadsafe`` inside ``try/except``: an exception in
  a watchdog handler kills the observer thread silently, and ``is_alive`` lets the
  daemon's health check notice a dead thread anyway.
- A close-after-write (``FileClosedEvent``, IN_CLOSE_WRITE) and the far end of a file's
  move are reported as *complete*: the writer is done with the file under that name, so
  the tracker may settle it at once instead of after the quiet period (pitfalls.md §1.2).
  Closed-no-write is not: it comes from every read, including our own hashing.
- Both paths of a move are dirty: ``a.css.tmp -> a.css`` is a save of ``a.css``, and
  ``a.css -> a.css~`` (vim) only looks like a delete for a moment.
- Overflow is only logged by watchdog, never reported to handlers, so a logging
  handler on ``watchdog.observers.inotify_c`` is the hook that triggers a reconcile.
- If inotify is out of watches (ENOSPC) or instances (EMFILE) we fall back to the
  polling observer and say how to raise the limit.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

import structlog
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from hubsync.ports import DirtySink

log = structlog.get_logger()

# Everything that can mean "content or existence changed"; no opened/closed-no-write
# (the 7.1 livelock), no attrib (chmod/touch do not change what we push), and no
# directory-modified (every create in a folder sends one for the folder; the file's own
# event already says what changed).
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]

INOTIFY_LOGGER = "watchdog.observers.inotify_c"



def relative_to_root(root: str, path: str) -> str | None:
    """``path`` relative to ``root`` with ``/`` separators; ``""`` for the root itself.

    None when the path lies outside the root (the far end of a move out of the tree).
    """
    if path == root:
        return ""
    prefix = root.rstrip(os.sep) + os.sep
    if not path.startswith(prefix):
        return None
    return path[len(prefix):].replace(os.sep, "/")


def _as_str(path: bytes | str) -> str:
    return os.fsdecode(path)


class _Bridge(FileSystemEventHandler):
    """Runs on the observer thread: hand each event to the loop, never raise."""

    def __init__(self, loop: asyncio.AbstractEventLoop, root: str, sink: DirtySink) -> None:
        self._loop = loop
        self._root = root
        self._sink = sink

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            # Closed after writing (IN_CLOSE_WRITE) or moved here: the file is whole under
            # this name. The source of a move and every other event are only hints.
            closed = isinstance(event, FileClosedEvent)
            paths = [(_as_str(event.src_path), closed)]
            dest = _as_str(getattr(event, "dest_path", "") or "")
            if dest:
                paths.append((dest, not event.is_directory))
            for path, complete in paths:
                rel = relative_to_root(self._root, path)
                if rel is not None:
                    self._loop.call_soon_threadsafe(self._sink, rel, event.is_directory,
                                                    complete)
        except Exception:
            # RuntimeError when the loop closed during shutdown; anything else is a bug
            # we survive: the next reconcile finds what this event would have marked.
            return


class _OverflowHook(logging.Handler):
    """watchdog only logs an inotify overflow; turn that log line into a callback."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_overflow: Callable[[], None]) -> None:
        super().__init__(level=logging.WARNING)
        self._loop = loop
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if "overflow" in record.getMessage().lower():
                self._loop.call_soon_threadsafe(self._on_overflow)
        except Exception:
            return


class Watcher:
    """Watches one root recursively and reports dirty paths on the event loop.

    ``on_dirty(rel, is_dir)`` and ``on_overflow()`` are called on the loop thread.
    Use ``await start()`` and ``await stop()``; both keep blocking work off the loop.
    """

    def __init__(
        self,
        root: Path,
        on_dirty: DirtySink,
        on_overflow: Callable[[], None],
        *,
        force_polling: bool = False,
    ) -> None:
        self.root = root
        self._root_str = os.path.realpath(root)
        self._on_dirty = on_dirty
        self._on_overflow = on_overflow
        self._force_polling = force_polling
        self._observer: BaseObserver | None = None
        self._hook: _OverflowHook | None = None
        self.polling = False
        """True when the polling observer is in use (forced, or inotify had no room)."""

    async def start(self) -> None:
        """Start observing; the initial walk that adds inotify watches runs in a thread."""
        loop = asyncio.get_running_loop()
        bridge = _Bridge(loop, self._root_str, self._on_dirty)
        self._hook = _OverflowHook(loop, self._on_overflow)
        inotify_log = logging.getLogger(INOTIFY_LOGGER)
        inotify_log.addHandler(self._hook)
        if inotify_log.getEffectiveLevel() > logging.WARNING:
            inotify_log.setLevel(logging.WARNING)
        if self._force_polling:
            self._observer = await asyncio.to_thread(self._start_observer, PollingObserver, bridge)
            self.polling = True
            return
        try:
            self._observer = await asyncio.to_thread(self._start_observer, Observer, bridge)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EMFILE):
                self._remove_hook()
                raise
            log.warning(
                "watcher_polling_fallback",
                root=str(self.root),
                reason=str(exc),
                fix=(
                    "raise the inotify limit, e.g. `sudo sysctl fs.inotify.max_user_watches=524288"
                    " fs.inotify.max_user_instances=1024` (persist it in /etc/sysctl.d/)"
                ),
            )
            self._observer = await asyncio.to_thread(self._start_observer, PollingObserver, bridge)
            self.polling = True

    def _start_observer(
        self, kind: Callable[[], BaseObserver], bridge: _Bridge
    ) -> BaseObserver:
        observer = kind()
        observer.schedule(bridge, self._root_str, recursive=True, event_filter=EVENT_FILTER)
        try:
            observer.start()
        except BaseException:
            observer.stop()
            raise
        return observer

    def is_alive(self) -> bool:
        """True while the observer thread runs (it dies silently on a handler exception)."""
        return self._observer is not None and self._observer.is_alive()

    async def stop(self) -> None:
        """Stop the thread and join it without blocking the loop."""
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            if observer.is_alive():
                await asyncio.to_thread(observer.join, 10)
        self._remove_hook()

    def _remove_hook(self) -> None:
        if self._hook is not None:
            logging.getLogger(INOTIFY_LOGGER).removeHandler(self._hook)
            self._hook = None
