"""The save fast path in the tracker: which complete events skip the quiet period."""

from __future__ import annotations

from pathlib import Path

from hubsync.config import Watch
from hubsync.core.effects import Seen
from hubsync.engine.tracker import WatchTracker
from hubsync.testing.clock import FakeClock
from hubsync.testing.watcher import ScriptedWatchers
from tests.engine.engine_helpers import write_theme


async def _tracker(root: Path, *, settle_on_close: bool = True) -> tuple[WatchTracker,
                                                                         FakeClock]:
    write_theme(root, {"theme.css": "v1"})
    clock = FakeClock()
    tracker = WatchTracker(Watch("theme", root, "my-theme", ("sandbox",)), quiet_s=0.3,
                           store=None, clock=clock, make_watcher=ScriptedWatchers(),
                           on_dirty=lambda: None, settle_on_close=settle_on_close)
    await tracker.reconcile()
    assert set(tracker.local) == {"theme.css"}
    return tracker, clock


async def test_a_known_file_closed_after_writing_settles_at_once(tmp_path: Path) -> None:
    """The close of a file the watch already pushes is probed without waiting; the
    write that follows within the quiet period waits for it."""
    tracker, clock = await _tracker(tmp_path / "theme")
    (tmp_path / "theme" / "theme.css").write_text("v2")
    tracker.mark("theme.css", False)
    tracker.mark("theme.css", False, True)
    assert tracker.next_deadline() == clock.monotonic()
    observed = await tracker.settle(force=False, known=())
    assert observed is not None
    assert observed.files["theme.css"] == tracker.local["theme.css"]
    assert tracker.local["theme.css"].size == 2
    (tmp_path / "theme" / "theme.css").write_text("v3!")
    tracker.mark("theme.css", False, True)
    assert await tracker.settle(force=False, known=()) is None
    clock.advance(0.3)
    observed = await tracker.settle(force=False, known=())
    assert observed is not None
    assert observed.files["theme.css"] == Seen(tracker.local["theme.css"].sha256, 3)


async def test_new_names_folders_and_the_off_switch_wait_the_quiet_period(
    tmp_path: Path,
) -> None:
    """A new name may be an editor's temporary file, a folder is not a file, and with
    ``settle_on_close = false`` everything waits: none of them settles at once."""
    tracker, clock = await _tracker(tmp_path / "theme")
    (tmp_path / "theme" / "new.css").write_text("n")
    tracker.mark("new.css", False, True)
    tracker.mark("css", True, True)
    assert await tracker.settle(force=False, known=()) is None
    clock.advance(0.3)
    observed = await tracker.settle(force=False, known=())
    assert observed is not None
    assert "new.css" in observed.files

    off, off_clock = await _tracker(tmp_path / "off", settle_on_close=False)
    (tmp_path / "off" / "theme.css").write_text("v2")
    off.mark("theme.css", False, True)
    assert await off.settle(force=False, known=()) is None
    off_clock.advance(0.3)
    assert await off.settle(force=False, known=()) is not None
