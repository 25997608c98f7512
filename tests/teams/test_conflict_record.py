"""The conflict record (``model.Conflict``, the state's ``conflicts`` table, schema 3), the
public base-write ``StateStore.record_synced`` and where remote copies are kept, on real
database files and folders in tmp_path."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from hubsync.core.effects import Effects
from hubsync.errors import StateError
from hubsync.model import Conflict, ConflictKind, RemoteVersion, SyncedFile, Target
from hubsync.state import (
    MIGRATIONS,
    STATE_FILE,
    AsyncStateStore,
    StateStore,
    conflict_copy_path,
    keep_remote_copy,
)

SANDBOX = Target(111, "https://api.hubapi.com")
STAGING = Target(222, "https://api.hubapi.com")
TARGETS = {"sandbox": SANDBOX, "staging": STAGING}


def conflict(path: str, account: str = "sandbox", **more: object) -> Conflict:
    fields: dict[str, object] = {
        "kind": ConflictKind.CHANGED, "local_sha256": "l" * 64, "base_sha256": "b" * 64,
        "remote": RemoteVersion(1_700_000_000_123, "h1", 42), "remote_sha256": "r" * 64,
        "copy_path": None, "detected_s": 10.0}
    fields.update(more)
    return Conflict(account, f"theme/{path}", "main", path, **fields)  # type: ignore[arg-type]


def opened(state_dir: Path) -> StateStore:
    store = StateStore.open(state_dir)
    store.bind(TARGETS)
    return store


def test_conflicts_round_trip_every_field_per_account(tmp_path: Path) -> None:
    """A recorded conflict comes back equal, field for field (kind, both hashes, the remote
    version with its writer, the copy path, the time), under its account only; a second
    record of the same path replaces the first; a conflict with no remote (deleted) keeps
    ``remote`` None rather than an empty version."""
    with opened(tmp_path / "s") as store:
        first = conflict("a.css")
        store.record_conflict(SANDBOX, first)
        gone = conflict("b.css", kind=ConflictKind.DELETED, remote=None, remote_sha256=None,
                        detected_s=11.0)
        store.record_conflict(None, gone)
        other = conflict("a.css", "staging", kind=ConflictKind.UNSYNCED, base_sha256=None)
        store.record_conflict(STAGING, other)
        assert store.conflicts("sandbox") == [first, gone]
        assert store.conflicts("staging") == [other]
        assert store.conflicts() == [first, other, gone]
        newer = conflict("a.css", kind=ConflictKind.BOTH, detected_s=12.0,
                         remote=RemoteVersion(1_700_000_000_999, None, None))
        store.record_conflict(None, newer)
        assert store.conflicts("sandbox") == [gone, newer]
    with opened(tmp_path / "s") as again:  # durable, not a cache
        assert again.conflicts("sandbox") == [gone, newer]
        assert again.conflicts("sandbox")[0].kind == "deleted"


def test_clear_conflict_forgets_the_row_and_deletes_only_its_own_copy(
        tmp_path: Path) -> None:
    """clear_conflict returns what was recorded and removes its remote copy from
    <state_dir>/conflicts; a copy_path outside that folder (a user's file) is never
    deleted; clearing an unknown path returns None and changes nothing."""
    state_dir = tmp_path / "s"
    with opened(state_dir) as store:
        copy = keep_remote_copy(state_dir, "sandbox", "theme/a.css", b"bob's")
        mine = conflict("a.css", copy_path=str(copy))
        outside = tmp_path / "user-file.css"
        outside.write_bytes(b"keep me")
        foreign = conflict("b.css", copy_path=str(outside))
        store.record_conflict(None, mine)
        store.record_conflict(None, foreign)
        assert store.clear_conflict("sandbox", "theme/nope.css") is None
        assert store.clear_conflict("sandbox", "theme/a.css") == mine
        assert not copy.exists()
        assert store.clear_conflict("sandbox", "theme/b.css") == foreign
        assert outside.read_bytes() == b"keep me"
        assert store.conflicts() == []


def test_conflicts_are_keyed_by_target_not_by_name(tmp_path: Path) -> None:
    """Pointing a name at another portal hides that portal's conflicts (they are not this
    target's); binding the old target again shows them; an unbound account is a StateError
    that says to bind."""
    with opened(tmp_path / "s") as store:
        store.record_conflict(None, conflict("a.css"))
        store.bind({"sandbox": Target(333, "https://api.hubapi.com"), "staging": STAGING})
        assert store.conflicts() == []
        store.bind(TARGETS)
        assert [c.remote_path for c in store.conflicts()] == ["theme/a.css"]
        with pytest.raises(StateError, match="not bound"):
            store.record_conflict(None, conflict("a.css", "prod"))


def test_conflicts_travel_with_effects_in_one_transaction(tmp_path: Path) -> None:
    """apply writes Effects.conflicts and deletes Effects.resolved in the same transaction
    as the outbox and the base; an unbound account fails the whole batch (nothing
    written)."""
    with opened(tmp_path / "s") as store:
        row = SyncedFile("sandbox", "theme/c.css", "main", "c.css", "c" * 64, 3, 5.0,
                         RemoteVersion(7, None, 1))
        store.apply(Effects(conflicts=[conflict("a.css")], synced=[row]))
        assert [c.rel for c in store.conflicts()] == ["a.css"]
        with pytest.raises(StateError):
            store.apply(Effects(resolved=[("sandbox", "theme/a.css")],
                                conflicts=[conflict("x.css", "nobody")]))
        assert [c.rel for c in store.conflicts()] == ["a.css"]
        store.apply(Effects(resolved=[("sandbox", "theme/a.css")]))
        assert store.conflicts() == []
        assert store.load()[1] == [row]


def test_record_synced_writes_base_rows_with_their_remote_version(tmp_path: Path) -> None:
    """record_synced (pull, adopt, resolve) writes base rows with the remote version that
    load returns; a second write of the same path replaces it; a row without a remote
    version loads with ``remote`` None."""
    with opened(tmp_path / "s") as store:
        a = SyncedFile("sandbox", "theme/a.css", "main", "a.css", "a" * 64, 3, 5.0,
                       RemoteVersion(1_700_000_000_000, "hash-a", 9))
        b = SyncedFile("sandbox", "theme/b.css", "main", "b.css", "b" * 64, None, 6.0)
        store.record_synced(a, b)
        assert store.load()[1] == [a, b]
        a2 = SyncedFile("sandbox", "theme/a.css", "main", "a.css", "f" * 64, 4, 7.0,
                        RemoteVersion(1_700_000_000_500, "hash-b", 10))
        store.record_synced(a2)
        assert store.load()[1] == [a2, b]
        assert store.counts()["sandbox"].synced == 2


def test_async_store_offers_the_same_calls(tmp_path: Path) -> None:
    """AsyncStateStore's record_synced/record_conflict/conflicts/clear_conflict run on the
    store's thread and give the same answers."""
    async def scenario() -> tuple[list[Conflict], Conflict | None, list[SyncedFile]]:
        async with await AsyncStateStore.open(tmp_path / "s") as store:
            await store.bind(TARGETS)
            await store.record_conflict(None, conflict("a.css"))
            listed = await store.conflicts("sandbox")
            cleared = await store.clear_conflict("sandbox", "theme/a.css")
            await store.record_synced(SyncedFile("sandbox", "theme/a.css", "main", "a.css",
                                                 "a" * 64, 1, 1.0))
            return listed, cleared, (await store.load())[1]
    listed, cleared, base = asyncio.run(scenario())
    assert listed == [conflict("a.css")]
    assert cleared == conflict("a.css")
    assert [r.rel for r in base] == ["a.css"]


def test_schema_2_database_gains_the_conflicts_table(tmp_path: Path) -> None:
    """A schema-2 file (as the last release left it) migrates to 3 keeping its base rows,
    and then holds conflicts."""
    state_dir = tmp_path / "s"
    state_dir.mkdir()
    db = sqlite3.connect(state_dir / STATE_FILE, isolation_level=None)
    try:
        for step in MIGRATIONS[:2]:
            for statement in step:
                db.execute(statement)
        db.execute("PRAGMA user_version=2")
        db.execute("INSERT INTO targets (id, portal_id, api_base, api) "
                   "VALUES (1, 111, 'https://api.hubapi.com', 'filemapper')")
        db.execute("INSERT INTO synced (target_id, remote_path, watch, rel, sha256, size, "
                   "synced_s) VALUES (1, 'theme/a.css', 'main', 'a.css', 'aaa', 3, 1.0)")
    finally:
        db.close()
    with opened(state_dir) as store:
        assert store.schema_version() == 4
        assert [r.sha256 for r in store.load()[1]] == ["aaa"]
        store.record_conflict(None, conflict("a.css"))
        assert len(store.conflicts()) == 1


def test_remote_copies_live_under_the_state_dir_and_never_escape(tmp_path: Path) -> None:
    """The copy of account A's remote path P is <state_dir>/conflicts/A/P, written
    atomically with its parents (replacing an older copy); an account or path that would
    leave that folder ('..', empty or '.' segments, a slash in the account) is refused."""
    state_dir = tmp_path / "s"
    path = conflict_copy_path(state_dir, "sandbox", "/theme/modules/x.module/module.html")
    assert path == state_dir / "conflicts" / "sandbox" / "theme/modules/x.module/module.html"
    assert keep_remote_copy(state_dir, "sandbox", "theme/a.css", b"one") == \
        state_dir / "conflicts/sandbox/theme/a.css"
    keep_remote_copy(state_dir, "sandbox", "theme/a.css", b"two")
    assert (state_dir / "conflicts/sandbox/theme/a.css").read_bytes() == b"two"
    assert [p.name for p in (state_dir / "conflicts/sandbox/theme").iterdir()] == ["a.css"]
    for account, remote in (("..", "a.css"), ("a/b", "a.css"), ("", "a.css"),
                            ("sandbox", "theme/../../x"), ("sandbox", "theme//x"),
                            ("sandbox", "./x")):
        with pytest.raises(ValueError, match=r"account name|segment"):
            conflict_copy_path(state_dir, account, remote)
