"""The SQLite state: durability, UPSERT collapse, complete-only-if-unchanged, crashes."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubsync.errors import StateError
from hubsync.model import OpKind
from hubsync.state import (
    SCHEMA_VERSION,
    AsyncStateStore,
    CachedStat,
    Counts,
    EnqueueItem,
    OutboxState,
    StateStore,
    StatKey,
)

UP, DEL = OpKind.UPLOAD, OpKind.DELETE


def up(path: str, sha: str, account: str = "sandbox", size: int = 1) -> EnqueueItem:
    return EnqueueItem(account, f"theme/{path}", "main", path, UP, sha, size)


def rm(path: str, account: str = "sandbox", *, folder: bool = False,
       held: bool = False) -> EnqueueItem:
    return EnqueueItem(account, f"theme/{path}", "main", path, DEL, folder=folder, held=held)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(tmp_path / "state")
    yield opened
    opened.close()


def test_open_creates_a_wal_database(tmp_path: Path) -> None:
    """state.db is created in WAL mode with the current schema version."""
    with StateStore.open(tmp_path / "s") as opened:
        assert opened.schema_version() == SCHEMA_VERSION
    db = sqlite3.connect(tmp_path / "s" / "state.db")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        db.close()


def test_durable_across_close_and_open(tmp_path: Path) -> None:
    """Outbox, pushed, stat cache and key/value survive a close and reopen."""
    with StateStore.open(tmp_path) as first:
        first.enqueue([up("a.css", "1")], now=5)
        first.enqueue([up("b.css", "2")], now=5)
        first.complete("sandbox", "theme/b.css", UP, "2", now=6)
        first.save_stats("main", {"a.css": CachedStat(StatKey(1, 2, 3, 4, 5), "1", 9)})
        first.set_meta("last_reconcile:main", "2026-01-01T00:00:00Z")
    with StateStore.open(tmp_path) as second:
        assert [i.rel for i in second.pending("sandbox")] == ["a.css"]
        assert second.pushed("sandbox", "theme") == {"b.css": "2"}
        assert second.stat_cache("main")["a.css"].key == StatKey(1, 2, 3, 4, 5)
        assert second.get_meta("last_reconcile:main") == "2026-01-01T00:00:00Z"
        assert second.get_meta("missing") is None


def test_ten_saves_collapse_into_one(store: StateStore) -> None:
    """UPSERT by (account, remote path): the newest content is the only row."""
    for i in range(10):
        store.enqueue([up("a.css", f"sha{i}")], now=float(i))
    items = store.pending("sandbox")
    assert len(items) == 1
    assert items[0].sha256 == "sha9"
    assert items[0].enqueued_at == 9.0


def test_same_content_keeps_schedule_new_content_resets(store: StateStore) -> None:
    """Re-enqueueing the same content keeps attempts; new content resets and un-parks."""
    store.enqueue([up("a.css", "1")], now=0)
    assert store.reschedule("sandbox", "theme/a.css", "1", 3, 100.0, "HTTP 502")
    store.enqueue([up("a.css", "1")], now=1)
    (item,) = store.pending("sandbox")
    assert (item.attempts, item.next_attempt_at, item.last_error) == (3, 100.0, "HTTP 502")
    assert store.park("sandbox", "theme/a.css", "1", "line 3: unknown tag")
    store.enqueue([up("a.css", "1")], now=2)
    assert store.pending("sandbox") == []
    assert store.counts() == {"sandbox": Counts(pending=0, parked=1)}
    store.enqueue([up("a.css", "2")], now=3)
    (fresh,) = store.pending("sandbox")
    assert (fresh.attempts, fresh.next_attempt_at, fresh.state, fresh.last_error) == (
        0, 3.0, OutboxState.PENDING, None)


def test_op_change_replaces_the_row(store: StateStore) -> None:
    """A delete after an upload of the same path replaces it (the newest intent wins)."""
    store.enqueue([up("a.css", "1")], now=0)
    store.enqueue([rm("a.css")], now=1)
    (item,) = store.pending("sandbox")
    assert item.op is DEL
    assert item.sha256 is None


def test_enqueue_of_pushed_content_cancels(store: StateStore) -> None:
    """Content reverted to what was pushed needs no upload: the pending row is dropped."""
    store.enqueue([up("a.css", "1")], now=0)
    store.complete("sandbox", "theme/a.css", UP, "1", now=1)
    store.enqueue([up("a.css", "2")], now=2)
    store.enqueue([up("a.css", "1")], now=3)
    assert store.pending("sandbox") == []


def test_complete_only_if_unchanged(store: StateStore) -> None:
    """pushed records what HubSpot stored; the outbox row goes only if it still
    holds that content."""
    store.enqueue([up("a.css", "old")], now=0)
    store.enqueue([up("a.css", "new")], now=1)  # saved again while "old" was in flight
    assert not store.complete("sandbox", "theme/a.css", UP, "old", now=2)
    assert store.pushed("sandbox", "theme") == {"a.css": "old"}
    assert [i.sha256 for i in store.pending("sandbox")] == ["new"]
    assert store.complete("sandbox", "theme/a.css", UP, "new", now=3)
    assert store.pending("sandbox") == []
    pushed = store.pushed_file("sandbox", "theme/a.css")
    assert pushed is not None
    assert (pushed.sha256, pushed.pushed_at, pushed.watch, pushed.rel, pushed.size) == (
        "new", 3.0, "main", "a.css", 1)


def test_folder_delete_removes_the_subtree_only(store: StateStore) -> None:
    """A folder delete drops pushed rows at and under it, not a sibling with its prefix."""
    for rel in ("old/a.css", "old/sub/b.css", "older/c.css", "old.css"):
        store.enqueue([up(rel, "1")], now=0)
        store.complete("sandbox", f"theme/{rel}", UP, "1", now=1)
    store.enqueue([rm("old/a.css"), rm("old", folder=True)], now=2)
    assert store.complete("sandbox", "theme/old", DEL, None, now=3)
    assert store.pushed("sandbox", "theme") == {"older/c.css": "1", "old.css": "1"}
    assert store.pending("sandbox") == []  # the file delete under it was made redundant


def test_accounts_are_separate(store: StateStore) -> None:
    """Rows of one account never show up for another."""
    store.enqueue([up("a.css", "1", "sandbox"), up("a.css", "2", "staging")], now=0)
    store.complete("staging", "theme/a.css", UP, "2", now=1)
    assert store.pushed("sandbox", "theme") == {}
    assert store.pushed("staging", "theme") == {"a.css": "2"}
    assert [i.sha256 for i in store.pending("sandbox")] == ["1"]
    assert store.counts() == {"sandbox": Counts(pending=1)}


def test_pushed_is_scoped_to_dest(store: StateStore) -> None:
    """pushed(account, dest) maps only paths under dest back to watch-relative paths."""
    for remote in ("theme/a.css", "theme2/b.css", "theme"):
        store.complete("sandbox", remote, UP, "x", now=0, watch="w", rel="r")
    assert store.pushed("sandbox", "theme") == {"a.css": "x"}
    assert store.pushed("sandbox", "/theme2/") == {"b.css": "x"}


def test_pending_due_and_next_due(store: StateStore) -> None:
    """pending(now) returns only due rows, oldest first; next_due is the earliest time."""
    store.enqueue([up("b.css", "1")], now=1)
    store.enqueue([up("a.css", "1")], now=2)
    store.reschedule("sandbox", "theme/b.css", "1", 1, 50.0, "timeout")
    assert [i.rel for i in store.pending("sandbox", now=10)] == ["a.css"]
    assert [i.rel for i in store.pending("sandbox")] == ["b.css", "a.css"]
    assert store.next_due("sandbox") == 2.0
    assert store.next_due("nobody") is None


def test_reschedule_ignores_stale_content(store: StateStore) -> None:
    """A failure report for content that was replaced meanwhile changes nothing."""
    store.enqueue([up("a.css", "1")], now=0)
    store.enqueue([up("a.css", "2")], now=1)
    assert not store.reschedule("sandbox", "theme/a.css", "1", 4, 99.0, "502")
    assert not store.park("sandbox", "theme/a.css", "1", "bad")
    (item,) = store.pending("sandbox")
    assert (item.attempts, item.state) == (0, OutboxState.PENDING)


def test_hold_and_release(store: StateStore) -> None:
    """Held deletes are not pending until released; held can be set at enqueue time."""
    store.enqueue([rm("a.css"), rm("b.css", held=True), up("c.css", "1")], now=0)
    assert store.hold("sandbox", ["theme/a.css"], "brake: 30 deletes") == 1
    assert [i.rel for i in store.pending("sandbox")] == ["c.css"]
    assert store.counts()["sandbox"] == Counts(pending=1, held=2)
    held = store.outbox("sandbox", OutboxState.HELD)
    assert {i.last_error for i in held} == {None, "brake: 30 deletes"}
    assert store.release_holds("sandbox", now=5) == 2
    assert {i.rel for i in store.pending("sandbox", now=5)} == {"a.css", "b.css", "c.css"}


def test_stat_cache_save_remove_replace(store: StateStore) -> None:
    """save_stats upserts and removes; replace_stats makes the cache exactly the scan."""
    entry = CachedStat(StatKey(1, 2, 3, 4, 5), "abc", 6)
    store.save_stats("main", {"a.css": entry, "b.css": entry})
    store.save_stats("main", {"a.css": CachedStat(entry.key, "def", 7)}, removed=["b.css"])
    assert store.stat_cache("main") == {"a.css": CachedStat(entry.key, "def", 7)}
    store.replace_stats("main", {"c.css": entry})
    assert store.stat_cache("main") == {"c.css": entry}
    assert store.stat_cache("other") == {}


def test_unusable_state_dir_is_a_state_error(tmp_path: Path) -> None:
    """A state_dir that is a file gives StateError with the path, not a traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="state folder"):
        StateStore.open(blocker)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database from a newer hubsync is not touched."""
    StateStore.open(tmp_path).close()
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer hubsync"):
        StateStore.open(tmp_path)


def test_sqlite_errors_become_state_errors(tmp_path: Path) -> None:
    """A corrupt file surfaces as StateError (one seam for sqlite3 errors)."""
    (tmp_path / "state.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="state database"):
        StateStore.open(tmp_path)


def test_reader_sees_committed_state_during_a_write(tmp_path: Path) -> None:
    """With WAL a second connection reads the last committed state while a writer is
    mid-transaction, and sees the new state once it commits."""
    with StateStore.open(tmp_path) as writer, StateStore.open(tmp_path) as reader:
        writer.enqueue([up("a.css", "1")], now=0)
        raw = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("DELETE FROM outbox")
            assert [i.rel for i in reader.pending("sandbox")] == ["a.css"]
            raw.execute("COMMIT")
        finally:
            raw.close()
        assert reader.pending("sandbox") == []


def test_killed_mid_transaction_leaves_last_commit(tmp_path: Path) -> None:
    """SIGKILL of a process mid-transaction loses only that transaction."""
    with StateStore.open(tmp_path) as store:
        store.enqueue([up("kept.css", "1")], now=0)
    script = textwrap.dedent("""
        import sys, time
        from pathlib import Path
        from hubsync.state import StateStore
        store = StateStore.open(Path(sys.argv[1]))
        with store._transaction("test") as db:
            db.execute("DELETE FROM outbox")
            for i in range(100):
                db.execute("INSERT INTO outbox (account, remote_path, watch, rel, op, "
                           "next_attempt_at, enqueued_at) VALUES ('sandbox', ?, 'w', ?, "
                           "'delete', 0, 0)", (f"theme/x{i}", f"x{i}"))
            print("mid-transaction", flush=True)
            time.sleep(60)
    """)
    with subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE,
                          text=True) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "mid-transaction"
        finally:
            child.kill()
    with StateStore.open(tmp_path) as reopened:
        assert [i.rel for i in reopened.pending("sandbox")] == ["kept.css"]
        reopened.enqueue([up("after.css", "2")], now=1)
        assert len(reopened.pending("sandbox")) == 2


async def test_async_store_runs_on_one_thread(tmp_path: Path) -> None:
    """Every call runs on one dedicated thread (sqlite3 would refuse another), concurrent
    calls included, and the loop thread never touches the connection."""
    store = await AsyncStateStore.open(tmp_path)
    try:
        assert store.thread_id != threading.get_ident()
        await asyncio.gather(*(store.enqueue([up(f"f{i}.css", str(i))], now=i)
                               for i in range(50)))
        results = await asyncio.gather(
            *(store.complete("sandbox", f"theme/f{i}.css", UP, str(i), now=100)
              for i in range(50)))
        assert all(results)
        assert await store.pending("sandbox") == []
        assert len(await store.pushed("sandbox", "theme")) == 50
        await store.set_meta("k", "v")
        assert await store.get_meta("k") == "v"
        names = {t.name for t in threading.enumerate() if t.ident == store.thread_id}
        assert len(names) == 1
        assert next(iter(names)).startswith("hubsync-state")
    finally:
        await store.close()
    assert not any(t.ident == store.thread_id for t in threading.enumerate())


async def test_async_store_translates_errors(tmp_path: Path) -> None:
    """Errors from the worker thread arrive as StateError in the coroutine."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError):
        await AsyncStateStore.open(blocker)
