"""The SQLite state, schema 2: bind, load, apply, counts, the stat cache, key checks and
the WAL checkpoint, on real database files in tmp_path."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubsync.core.effects import Effects
from hubsync.errors import EX_TEMPFAIL, ConfigError, StateDiskFull, StateError
from hubsync.model import (
    Api,
    AuthState,
    Identity,
    OpKind,
    OutboxEntry,
    OutboxState,
    RemoteVersion,
    SyncedFile,
    Target,
)
from hubsync.state import (
    SCHEMA_VERSION,
    STATE_FILE,
    AsyncStateStore,
    AuthStatus,
    CachedStat,
    Counts,
    StateStore,
    StatKey,
)

SANDBOX = Target(111, "https://api.hubapi.com")
STAGING = Target(222, "https://api.hubapi.com")
TARGETS = {"sandbox": SANDBOX, "staging": STAGING}


def upload(path: str, sha: str, account: str = "sandbox", **more: object) -> OutboxEntry:
    return OutboxEntry(account, f"theme/{path}", "main", path, OpKind.UPLOAD, sha, 3,
                       enqueued_s=1.0, due_s=1.0, **more)  # type: ignore[arg-type]


def delete(path: str, account: str = "sandbox", **more: object) -> OutboxEntry:
    return OutboxEntry(account, f"theme/{path}", "main", path, OpKind.DELETE,
                       enqueued_s=2.0, due_s=2.0, **more)  # type: ignore[arg-type]


def synced(path: str, sha: str, account: str = "sandbox",
           remote: RemoteVersion | None = None) -> SyncedFile:
    return SyncedFile(account, f"theme/{path}", "main", path, sha, 3, 5.0, remote)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore.open(tmp_path / "state")
    opened.bind(TARGETS)
    yield opened
    opened.close()


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path / STATE_FILE, isolation_level=None)


def test_open_creates_a_wal_database_with_foreign_keys(tmp_path: Path) -> None:
    """state.db is created in WAL mode at the current schema, and its REFERENCES are
    enforced: a base row for a target that does not exist is refused."""
    with StateStore.open(tmp_path / "s") as opened:
        assert opened.schema_version() == SCHEMA_VERSION == 4
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            opened._db.execute(
                "INSERT INTO synced (target_id, remote_path, watch, rel, sha256, synced_s) "
                "VALUES (99, 'x', 'w', 'x', 'a', 0)")
    db = raw(tmp_path / "s")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"targets", "synced", "outbox", "stat_cache", "auth_status", "conflicts",
                "bulk_refusals", "bulk_archives", "left_remote"} <= tables
        assert "kv" not in tables
    finally:
        db.close()


def test_apply_then_load_round_trips_every_field(tmp_path: Path) -> None:
    """Every field of an outbox row and a base row (remote version included) survives a
    close and reopen, and rows come back under the account name bound to their target."""
    entries = [
        upload("a.css", "1", attempts=2, state=OutboxState.PARKED, last_error="HubL: line 3",
               sent_sha256="0"),
        delete("gone", folder=True, approved=True, state=OutboxState.HELD),
        delete("sent-then-gone", sent_sha256="5"),
        upload("b.css", "2", account="staging"),
    ]
    base = [synced("c.css", "3", remote=RemoteVersion(1700000000123, "h", 9001)),
            synced("d.css", "4", account="staging")]
    with StateStore.open(tmp_path) as first:
        first.bind(TARGETS)
        first.apply(Effects(upsert=entries, synced=base))
    with StateStore.open(tmp_path) as second:
        second.bind(TARGETS)
        loaded, loaded_base = second.load()
    assert sorted(loaded, key=lambda e: e.key) == sorted(entries, key=lambda e: e.key)
    assert sorted(loaded_base, key=lambda r: (r.account, r.remote_path)) == base


def test_apply_upsert_replaces_remove_and_unsynced_delete(store: StateStore) -> None:
    """An upsert of a key replaces its row whole (newest wins); remove and unsynced drop
    exactly their keys; a key both upserted and removed in one apply ends removed."""
    store.apply(Effects(upsert=[upload("a.css", "1"), upload("b.css", "1")],
                        synced=[synced("x.css", "9"), synced("y.css", "9")]))
    store.apply(Effects(upsert=[upload("a.css", "2", attempts=1), upload("c.css", "5")],
                        remove=[("sandbox", "theme/b.css"), ("sandbox", "theme/c.css")],
                        unsynced=[("sandbox", "theme/x.css")]))
    entries, base = store.load()
    assert [(e.rel, e.sha256, e.attempts) for e in entries] == [("a.css", "2", 1)]
    assert [r.rel for r in base] == ["y.css"]


def test_accounts_are_separate(store: StateStore) -> None:
    """The same remote path in two accounts is two rows; removing one keeps the other."""
    store.apply(Effects(upsert=[upload("a.css", "1"), upload("a.css", "1", "staging")]))
    store.apply(Effects(remove=[("staging", "theme/a.css")]))
    entries, _ = store.load()
    assert [e.key for e in entries] == [("sandbox", "theme/a.css")]


def test_apply_is_atomic(store: StateStore) -> None:
    """A statement failing late in an apply (a base row with a negative size, refused by
    its CHECK) leaves nothing of that apply written, and the error is a StateError."""
    store.apply(Effects(upsert=[upload("kept.css", "1")]))
    bad = SyncedFile("sandbox", "theme/bad.css", "main", "bad.css", "9", -1, 1.0)
    with pytest.raises(StateError, match="CHECK constraint") as caught:
        store.apply(Effects(upsert=[upload("new.css", "2")],
                            remove=[("sandbox", "theme/kept.css")],
                            synced=[synced("ok.css", "3"), bad]))
    assert not isinstance(caught.value, StateDiskFull)
    entries, base = store.load()
    assert [e.rel for e in entries] == ["kept.css"]
    assert base == []
    store.apply(Effects(upsert=[upload("after.css", "4")]))  # the connection still works
    assert len(store.load()[0]) == 2


def test_an_upload_needs_content(store: StateStore) -> None:
    """The table refuses an upload row without a sha256 (the CHECK), as a StateError."""
    with pytest.raises(StateError):
        store.apply(Effects(upsert=[OutboxEntry("sandbox", "theme/a", "main", "a",
                                                OpKind.UPLOAD)]))
    assert store.load() == ([], [])


def test_unbound_account_is_an_error_before_writing(store: StateStore) -> None:
    """Effects naming an account that was not bound raise StateError and write nothing."""
    with pytest.raises(StateError, match="'nope' is not bound"):
        store.apply(Effects(upsert=[upload("a.css", "1"), upload("b.css", "1", "nope")]))
    assert store.load() == ([], [])


def test_two_names_for_one_target_are_refused(tmp_path: Path) -> None:
    """Two accounts on the same portal, API base and API: bind says which, and that
    spelling the base differently (case, trailing slash) is the same target."""
    with StateStore.open(tmp_path) as opened:
        with pytest.raises(ConfigError, match=re.escape(
                "'a' and 'b' point at the same target, portal 111 at https://api.hubapi.com")):
            opened.bind({"a": SANDBOX, "b": Target(111, "HTTPS://API.hubapi.com/"),
                         "c": STAGING})
        opened.bind({"a": SANDBOX, "b": Target(111, SANDBOX.api_base, Api.SOURCE_CODE)})
        assert set(opened.counts()) == {"a", "b"}


def test_rebinding_maps_names_anew(store: StateStore) -> None:
    """A reload binds again: a renamed account keeps its target's rows; a re-pointed one
    sees nothing; pointing it back brings its rows back (the portal still has them)."""
    store.apply(Effects(upsert=[upload("a.css", "1")], synced=[synced("b.css", "2")]))
    store.bind({"renamed": SANDBOX})
    entries, base = store.load()
    assert [(e.account, e.rel) for e in entries] == [("renamed", "a.css")]
    assert [(r.account, r.rel) for r in base] == [("renamed", "b.css")]
    store.bind({"sandbox": Target(333, SANDBOX.api_base)})
    assert store.load() == ([], [])
    assert store.counts() == {"sandbox": Counts()}
    store.bind({"sandbox": Target(111, SANDBOX.api_base + "/")})
    assert len(store.load()[1]) == 1


def test_counts_per_bound_account(store: StateStore) -> None:
    """counts() gives every bound account, zeros included: pending, parked, held, synced."""
    store.apply(Effects(
        upsert=[upload("a.css", "1"), upload("b.css", "1", state=OutboxState.PARKED),
                delete("c", state=OutboxState.HELD), delete("d", state=OutboxState.HELD)],
        synced=[synced("x.css", "1"), synced("y.css", "1"), synced("z.css", "1", "staging")]))
    assert store.counts() == {"sandbox": Counts(pending=1, parked=1, held=2, synced=2),
                              "staging": Counts(synced=1)}


def test_stat_cache_is_keyed_by_the_real_path(tmp_path: Path, store: StateStore) -> None:
    """save_stats upserts and removes; the cache is found again through a symlink to the
    same folder (a renamed watch, another spelling), and other roots are separate."""
    root = tmp_path / "theme"
    root.mkdir()
    link = tmp_path / "link"
    link.symlink_to(root)
    entry = CachedStat(StatKey(1, 2, 3, 4, 5), "abc", 6)
    store.save_stats(root, {"a.css": entry, "b.css": entry})
    store.save_stats(str(link), {"a.css": CachedStat(entry.key, "def", 7)}, removed=["b.css"])
    assert store.stat_cache(root) == {"a.css": CachedStat(entry.key, "def", 7)}
    assert store.stat_cache(f"{root}/") == store.stat_cache(root)
    assert store.stat_cache(tmp_path / "other") == {}


def test_auth_status_round_trip(tmp_path: Path) -> None:
    """A key check is kept across reopen, with or without an identity, and can be
    forgotten; no database is needed for the other accounts."""
    who = Identity(hub_id=111, user_id=9001, hub_name="Sandbox", account_type="STANDARD",
                   email="jane@example.com")
    with StateStore.open(tmp_path) as first:
        first.record_auth("sandbox", AuthStatus(AuthState.OK, 10.5, who))
        first.record_auth("staging", AuthStatus(AuthState.UNAUTHORIZED, 11.0, None,
                                                "HubSpot refused the key"))
        first.record_auth("gone", AuthStatus(AuthState.OK, 1.0))
        first.record_auth("gone", None)
    with StateStore.open(tmp_path) as second:
        assert second.auth_statuses() == {
            "sandbox": AuthStatus(AuthState.OK, 10.5, who),
            "staging": AuthStatus(AuthState.UNAUTHORIZED, 11.0, None,
                                  "HubSpot refused the key"),
        }


def test_checkpoint_truncates_the_wal(store: StateStore) -> None:
    """After many writes the WAL holds pages; checkpoint() empties it and the data stays."""
    wal = store.path.with_name(STATE_FILE + "-wal")
    for i in range(50):
        store.apply(Effects(synced=[synced(f"f{i}.css", "x" * 64)]))
    assert wal.stat().st_size > 0
    assert store.checkpoint() is True
    assert wal.stat().st_size == 0
    assert store.counts()["sandbox"].synced == 50


def test_unusable_state_dir_is_a_state_error(tmp_path: Path) -> None:
    """A state_dir that is a file gives StateError with the path, not a traceback."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="state folder"):
        StateStore.open(blocker)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database from a newer hubsync is not touched."""
    StateStore.open(tmp_path).close()
    db = raw(tmp_path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateError, match="newer hubsync"):
        StateStore.open(tmp_path)


def test_sqlite_errors_become_state_errors(tmp_path: Path) -> None:
    """A file that is not a database surfaces as StateError saying what to do, with the
    temporary-failure exit code (one seam for sqlite3 errors)."""
    (tmp_path / STATE_FILE).write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="not a hubsync database; move it aside") as caught:
        StateStore.open(tmp_path)
    assert caught.value.exit_code == EX_TEMPFAIL == StateDiskFull.exit_code


def test_reader_sees_committed_state_during_a_write(tmp_path: Path) -> None:
    """With WAL a second connection reads the last committed state while a writer is
    mid-transaction, and sees the new state once it commits."""
    with StateStore.open(tmp_path) as writer, StateStore.open(tmp_path) as reader:
        writer.bind(TARGETS)
        reader.bind(TARGETS)
        writer.apply(Effects(upsert=[upload("a.css", "1")]))
        db = raw(tmp_path)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM outbox")
            assert [e.rel for e in reader.load()[0]] == ["a.css"]
            db.execute("COMMIT")
        finally:
            db.close()
        assert reader.load()[0] == []


async def test_async_store_runs_on_one_thread(tmp_path: Path) -> None:
    """Every call runs on one dedicated thread (sqlite3 would refuse another), concurrent
    calls included, in submission order; the loop thread never touches the connection."""
    store = await AsyncStateStore.open(tmp_path)
    try:
        assert store.thread_id != threading.get_ident()
        await store.bind(TARGETS)
        await asyncio.gather(*(store.apply(Effects(upsert=[upload(f"f{i}.css", str(i))]))
                               for i in range(50)))
        await asyncio.gather(*(store.apply(Effects(
            remove=[("sandbox", f"theme/f{i}.css")], synced=[synced(f"f{i}.css", str(i))]))
            for i in range(50)))
        assert (await store.counts())["sandbox"] == Counts(synced=50)
        entries, base = await store.load()
        assert entries == []
        assert len(base) == 50
        await store.save_stats(tmp_path, {"a": CachedStat(StatKey(1, 2, 3, 4, 5), "s", 6)})
        assert list(await store.stat_cache(tmp_path)) == ["a"]
        await store.record_auth("sandbox", AuthStatus(AuthState.OK, 1.0))
        assert list(await store.run(StateStore.auth_statuses)) == ["sandbox"]
        assert await store.checkpoint() is True
        assert await store.run(lambda _store: threading.get_ident()) == store.thread_id
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


_ACCOUNTS = st.sampled_from(["sandbox", "staging"])
_PATHS = st.sampled_from([f"theme/{name}" for name in ("a.css", "b.js", "m.module/meta.json",
                                                        "x", "x/y.html")])
_ENTRIES = st.builds(
    lambda account, path, sha, state, attempts, approved: OutboxEntry(
        account, path, "main", path.removeprefix("theme/"),
        OpKind.UPLOAD if sha else OpKind.DELETE, sha or None, 1 if sha else None,
        state=state, attempts=attempts, approved=approved, due_s=float(attempts)),
    _ACCOUNTS, _PATHS, st.sampled_from(["", "1", "2"]), st.sampled_from(list(OutboxState)),
    st.integers(0, 5), st.booleans())
_BASE = st.builds(
    lambda account, path, sha, when: SyncedFile(account, path, "main",
                                                path.removeprefix("theme/"), sha, 1, when),
    _ACCOUNTS, _PATHS, st.sampled_from(["1", "2"]), st.floats(0, 1e10))
_KEYS = st.tuples(_ACCOUNTS, _PATHS)
_EFFECTS = st.builds(Effects, upsert=st.lists(_ENTRIES, max_size=4),
                     remove=st.lists(_KEYS, max_size=3), synced=st.lists(_BASE, max_size=4),
                     unsynced=st.lists(_KEYS, max_size=3))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_EFFECTS, max_size=3), max_size=4))
def test_load_is_every_apply_in_order(calls: list[list[Effects]]) -> None:
    """Whatever the applies, each of several Effects, load() returns exactly what applying
    every Effects in order to two dicts gives (per Effects: upserts replace whole rows,
    then removes, then synced rows, then unsynced); nothing is lost, duplicated or mixed
    between accounts."""
    outbox: dict[tuple[str, str], OutboxEntry] = {}
    base: dict[tuple[str, str], SyncedFile] = {}
    with tempfile.TemporaryDirectory() as folder, StateStore.open(Path(folder)) as store:
        store.bind(TARGETS)
        for batches in calls:
            store.apply(*batches)
            for effects in batches:
                outbox.update((e.key, e) for e in effects.upsert)
                for key in effects.remove:
                    outbox.pop(key, None)
                base.update(((r.account, r.remote_path), r) for r in effects.synced)
                for key in effects.unsynced:
                    base.pop(key, None)
        entries, rows = store.load()
    assert {e.key: e for e in entries} == outbox
    assert len(entries) == len(outbox)
    assert {(r.account, r.remote_path): r for r in rows} == base
    assert len(rows) == len(base)


def test_later_batch_wins_in_one_apply(store: StateStore) -> None:
    """Decisions applied together keep their order: an upload settled (removed, synced)
    and then changed again (upserted) ends owed; a delete done (unsynced) and the file
    re-uploaded (synced) ends in the base."""
    store.apply(Effects(upsert=[upload("a.css", "1")], synced=[synced("b.css", "1")]))
    store.apply(
        Effects(remove=[("sandbox", "theme/a.css")], synced=[synced("a.css", "1")],
                unsynced=[("sandbox", "theme/b.css")]),
        Effects(upsert=[upload("a.css", "2")], synced=[synced("b.css", "2")]))
    entries, base = store.load()
    assert [(e.rel, e.sha256) for e in entries] == [("a.css", "2")]
    assert sorted((r.rel, r.sha256) for r in base) == [("a.css", "1"), ("b.css", "2")]


async def test_the_committer_keeps_decisions_in_order(tmp_path: Path) -> None:
    """The engine's committer writes a burst of decisions in one apply, in order: an
    upload settled (row removed) and then changed again (row upserted) stays owed."""
    from hubsync.engine.commit import Committer
    from hubsync.testing.clock import FakeClock

    store = await AsyncStateStore.open(tmp_path)
    try:
        await store.bind(TARGETS)
        await store.apply(Effects(upsert=[upload("a.css", "1")]))
        committer = Committer(store, None, FakeClock(), lambda event: event, None)
        committer.submit(Effects(remove=[("sandbox", "theme/a.css")],
                                 synced=[synced("a.css", "1")]))
        committer.submit(Effects(upsert=[upload("a.css", "2")]))
        await committer.flush_now()
        entries, base = await store.load()
    finally:
        await store.close()
    assert [(e.rel, e.sha256) for e in entries] == [("a.css", "2")]
    assert [(r.rel, r.sha256) for r in base] == [("a.css", "1")]


def test_left_remote_lasts_until_the_path_is_synced_again(tmp_path: Path) -> None:
    """A remote file left in place on purpose (``Effects.left_remote``) is still known
    after a close and reopen, per account; a base row later written for the path (synced
    again) ends it in the same transaction."""
    with StateStore.open(tmp_path) as first:
        first.bind(TARGETS)
        first.apply(Effects(left_remote=[(("sandbox", "theme/a.css"), 3.0),
                                         (("staging", "theme/b.css"), 4.0)]))
    with StateStore.open(tmp_path) as second:
        second.bind(TARGETS)
        assert second.left_remote() == [("sandbox", "theme/a.css"), ("staging", "theme/b.css")]
        second.apply(Effects(synced=[synced("a.css", "1")]))
        assert second.left_remote() == [("staging", "theme/b.css")]
