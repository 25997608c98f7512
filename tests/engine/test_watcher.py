"""The watchdog bridge with a real observer on real files."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from hubsync.watcher import INOTIFY_LOGGER, Watcher, relative_to_root


class Seen:
    """Collects what the watcher reports, on the loop."""

    def __init__(self) -> None:
        self.dirty: list[tuple[str, bool]] = []
        self.complete: list[str] = []
        self.overflows = 0
        self.changed = asyncio.Event()

    def on_dirty(self, rel: str, is_dir: bool, complete: bool = False) -> None:
        self.dirty.append((rel, is_dir))
        if complete:
            self.complete.append(rel)
        self.changed.set()

    def on_overflow(self) -> None:
        self.overflows += 1
        self.changed.set()

    async def wait_for(self, rel: str) -> None:
        async with asyncio.timeout(5):
            while not any(r == rel for r, _ in self.dirty):
                self.changed.clear()
                await self.changed.wait()

    async def wait_complete(self, rel: str) -> None:
        async with asyncio.timeout(5):
            while rel not in self.complete:
                self.changed.clear()
                await self.changed.wait()


def test_relative_to_root_maps_inside_paths_and_rejects_outside() -> None:
    """Paths under the root become relative with '/'; the root is ''; others are None."""
    assert relative_to_root("/a/b", "/a/b/c/d.css") == "c/d.css"
    assert relative_to_root("/a/b", "/a/b") == ""
    assert relative_to_root("/a/b", "/a/bc/d.css") is None
    assert relative_to_root("/a/b", "/x") is None


async def test_writes_and_both_ends_of_a_move_are_reported(tmp_path: Path) -> None:
    """A write marks the file; `mv tmp file` marks both names; a new folder marks the folder."""
    seen = Seen()
    watcher = Watcher(tmp_path, seen.on_dirty, seen.on_overflow)
    await watcher.start()
    try:
        assert watcher.is_alive()
        (tmp_path / "a.css").write_text("x")
        await seen.wait_for("a.css")
        (tmp_path / "b.tmp").write_text("y")
        (tmp_path / "b.tmp").replace(tmp_path / "b.css")
        await seen.wait_for("b.css")
        assert any(rel == "b.tmp" for rel, _ in seen.dirty)
        (tmp_path / "mod.module").mkdir()
        await seen.wait_for("mod.module")
        assert ("mod.module", True) in seen.dirty
        (tmp_path / "mod.module" / "meta.json").write_text("{}")
        await seen.wait_for("mod.module/meta.json")
    finally:
        await watcher.stop()
    assert not watcher.is_alive()


async def test_an_overflow_log_line_triggers_the_overflow_callback(tmp_path: Path) -> None:
    """watchdog only logs an inotify overflow; the watcher turns that into on_overflow."""
    seen = Seen()
    watcher = Watcher(tmp_path, seen.on_dirty, seen.on_overflow)
    await watcher.start()
    try:
        logging.getLogger(INOTIFY_LOGGER).warning(
            "Inotify queue overflowed; filesystem events were lost"
        )
        async with asyncio.timeout(5):
            while seen.overflows == 0:
                seen.changed.clear()
                await seen.changed.wait()
    finally:
        await watcher.stop()
    assert seen.overflows == 1
    assert not any(isinstance(h, logging.Handler) and h.__class__.__name__ == "_OverflowHook"
                   for h in logging.getLogger(INOTIFY_LOGGER).handlers)


async def test_polling_observer_reports_changes_too(tmp_path: Path) -> None:
    """The fallback observer (used when inotify has no room) still reports writes."""
    seen = Seen()
    watcher = Watcher(tmp_path, seen.on_dirty, seen.on_overflow, force_polling=True)
    await watcher.start()
    try:
        assert watcher.polling
        (tmp_path / "p.css").write_text("x")
        await seen.wait_for("p.css")
    finally:
        await watcher.stop()


async def test_close_after_write_and_a_move_here_are_complete_reads_are_silent(
    tmp_path: Path,
) -> None:
    """A write's close and the far end of `mv tmp file` are reported complete; the near
    end of the move is not; reading a file (open, close without write) reports nothing
    (opened and closed-no-write events would flood the queue: pitfalls.md §1)."""
    (tmp_path / "read.css").write_text("r")
    seen = Seen()
    watcher = Watcher(tmp_path, seen.on_dirty, seen.on_overflow)
    await watcher.start()
    try:
        (tmp_path / "a.css").write_text("x")
        await seen.wait_complete("a.css")
        (tmp_path / "b.css.new").write_text("y")
        await seen.wait_complete("b.css.new")
        (tmp_path / "b.css.new").replace(tmp_path / "b.css")
        await seen.wait_complete("b.css")
        assert seen.complete.count("b.css.new") == 1  # its close, not its move away
        assert (tmp_path / "read.css").read_text() == "r"
        (tmp_path / "barrier.css").write_text("z")  # events arrive in order
        await seen.wait_complete("barrier.css")
        assert not [rel for rel, _ in seen.dirty if rel == "read.css"]
        (tmp_path / "d").mkdir()
        (tmp_path / "d").rename(tmp_path / "e")
        await seen.wait_for("e")
        assert "e" not in seen.complete
    finally:
        await watcher.stop()
