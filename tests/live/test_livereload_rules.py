"""The live-reload file's rules on the engine's own values (rows and events), in process:
a path saved again before it landed, a failure in one account, batches that settle out
of order, and a file that cannot be written."""

from __future__ import annotations

from pathlib import Path

from hubsync.livereload import LiveReload
from hubsync.model import EngineEvent, OpKind, OutboxEntry, OutboxState


def _row(account: str, rel: str, sha: str | None, *, op: OpKind = OpKind.UPLOAD,
         state: OutboxState = OutboxState.PENDING) -> OutboxEntry:
    return OutboxEntry(account=account, remote_path=f"theme/{rel}", watch="w", rel=rel,
                       op=op, sha256=sha, state=state)


def _pushed(account: str, rel: str, sha: str) -> EngineEvent:
    return EngineEvent("pushed", {"watch": "w", "account": account, "path": rel,
                                  "sha256": sha})


def _named(path: Path) -> list[str]:
    text = path.read_text() if path.exists() else ""
    return [line.split(": ", 1)[1] for line in text.splitlines()]


def test_superseded_save_is_named_once_for_its_newest_content(tmp_path: Path) -> None:
    """v1 queued for both accounts, v2 saved before v1 landed in b: a's landing of v1
    names nothing, and the path is named once, when both accounts stored v2."""
    notify = tmp_path / "n"
    live = LiveReload(notify, {"w": tmp_path / "root"})
    live.queued([_row("a", "x.css", "v1"), _row("b", "x.css", "v1")])
    live(_pushed("a", "x.css", "v1"))
    live.queued([_row("a", "x.css", "v2"), _row("b", "x.css", "v2")])
    live(_pushed("b", "x.css", "v1"))  # the old upload's answer, already superseded
    assert _named(notify) == []
    live(_pushed("a", "x.css", "v2"))
    assert _named(notify) == []
    live(_pushed("b", "x.css", "v2"))
    assert _named(notify) == [str(tmp_path / "root" / "x.css")]


def test_batch_lines_go_out_together_and_failures_are_left_out(tmp_path: Path) -> None:
    """Two paths of one batch: nothing is written until the second settles; the one that
    failed in an account is not named; a later batch does not wait for an earlier one
    stuck on a retry."""
    notify = tmp_path / "n"
    live = LiveReload(notify, {"w": tmp_path})
    live.queued([_row("a", "stuck.css", "s")])
    live.queued([_row("a", "ok.css", "1"), _row("b", "ok.css", "1"),
                 _row("a", "bad.html", "2"), _row("b", "bad.html", "2")])
    live(_pushed("a", "ok.css", "1"))
    live(_pushed("b", "ok.css", "1"))
    live(_pushed("a", "bad.html", "2"))
    assert _named(notify) == []
    live(EngineEvent("failed", {"watch": "w", "account": "b", "path": "bad.html",
                                "error": "Template contains errors"}))
    assert _named(notify) == [str(tmp_path / "ok.css")]


def test_held_deletes_are_not_waited_for(tmp_path: Path) -> None:
    """A delete the brake holds is not going out: its batch settles without it."""
    notify = tmp_path / "n"
    live = LiveReload(notify, {"w": tmp_path})
    live.queued([_row("a", "gone.css", None, op=OpKind.DELETE, state=OutboxState.HELD),
                 _row("a", "new.css", "1")])
    live(_pushed("a", "new.css", "1"))
    assert _named(notify) == [str(tmp_path / "new.css")]


def test_unwritable_file_does_not_stop_the_listener(tmp_path: Path) -> None:
    """A notify path that cannot be written (its parent is a file) raises nothing; the
    listener keeps following the session."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    live = LiveReload(blocker / "n", {"w": tmp_path})
    live.queued([_row("a", "x.css", "1")])
    live(_pushed("a", "x.css", "1"))
    assert not (blocker / "n").exists()


def test_a_pending_delete_the_brake_then_holds_stops_blocking(tmp_path: Path) -> None:
    """A delete queued as pending and then held by the brake (the same row, now HELD)
    no longer holds back its batch: the upload beside it is named once it landed."""
    notify = tmp_path / "n"
    live = LiveReload(notify, {"w": tmp_path})
    live.queued([_row("a", "gone.css", None, op=OpKind.DELETE), _row("a", "new.css", "1")])
    live(_pushed("a", "new.css", "1"))
    assert _named(notify) == []
    live.queued([_row("a", "gone.css", None, op=OpKind.DELETE, state=OutboxState.HELD)])
    assert _named(notify) == [str(tmp_path / "new.css")]


def test_a_conflict_leaves_the_path_out_without_holding_the_batch(tmp_path: Path) -> None:
    """The guard holds a path a teammate changed (a ``conflict``, its row dropped with no
    landing): the rest of the batch is named, that path is not."""
    notify = tmp_path / "n"
    live = LiveReload(notify, {"w": tmp_path})
    live.queued([_row("a", "theirs.html", "1"), _row("a", "mine.css", "2")])
    live(_pushed("a", "mine.css", "2"))
    live(EngineEvent("conflict", {"watch": "w", "account": "a", "path": "theirs.html",
                                  "kind": "changed"}))
    assert _named(notify) == [str(tmp_path / "mine.css")]
