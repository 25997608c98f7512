"""The archive path's memory in the state database (real SQLite): refusals and archives
left behind, keyed by the remote target (schema 4; an earlier hubsync created the
tables on first write, and a migrated database keeps what they hold)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hubsync.model import Target
from hubsync.state import MIGRATIONS, SCHEMA_VERSION, STATE_FILE, BulkRefusal, StateStore

SANDBOX = Target(111, "http://127.0.0.1:1")
OTHER_PORTAL = Target(222, "http://127.0.0.1:1")


@pytest.mark.parametrize("made_on_first_write", [False, True])
def test_schema_3_databases_migrate_with_their_archive_memory(tmp_path: Path,
                                                               made_on_first_write: bool) -> None:
    """A schema-3 database, with the archive tables an earlier release created on first
    write (and a refusal in them) or without them, opens at schema 4 with both tables,
    the refusal kept, and nothing refused otherwise."""
    db = sqlite3.connect(tmp_path / STATE_FILE, isolation_level=None)
    try:
        for step in MIGRATIONS[:3]:
            for statement in step:
                db.execute(statement)
        db.execute("PRAGMA user_version=3")
        db.execute("INSERT INTO targets (id, portal_id, api_base, api) "
                   "VALUES (1, ?, ?, 'filemapper')", (SANDBOX.portal_id, SANDBOX.api_base))
        if made_on_first_write:
            db.execute("CREATE TABLE bulk_refusals (target_id INTEGER PRIMARY KEY "
                       "REFERENCES targets (id), reason TEXT NOT NULL, refused_s REAL NOT NULL)")
            db.execute("INSERT INTO bulk_refusals VALUES (1, 'extract: HTTP 403', 2.5)")
    finally:
        db.close()
    with StateStore.open(tmp_path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        store.bind({"sandbox": SANDBOX})
        expected = {"sandbox": BulkRefusal("extract: HTTP 403", 2.5)} if made_on_first_write else {}
        assert store.bulk_refusals() == expected
        assert store.bulk_archives("sandbox") == []


def test_refusal_survives_a_restart_and_follows_the_target(tmp_path: Path) -> None:
    """A refusal is kept across opens, can be forgotten, and belongs to the portal: the
    same account name pointed at another portal has none."""
    with StateStore.open(tmp_path) as store:
        store.bind({"sandbox": SANDBOX})
        store.record_bulk_refusal("sandbox", BulkRefusal("extract: HTTP 403", 1.5))
    with StateStore.open(tmp_path) as store:
        store.bind({"sandbox": SANDBOX})
        assert store.bulk_refusals() == {"sandbox": BulkRefusal("extract: HTTP 403", 1.5)}
        store.bind({"sandbox": OTHER_PORTAL})
        assert store.bulk_refusals() == {}
        store.bind({"sandbox": SANDBOX})
        store.record_bulk_refusal("sandbox", None)
        assert store.bulk_refusals() == {}


def test_archives_are_named_until_forgotten(tmp_path: Path) -> None:
    """An archive recorded before it is stored stays named across opens until its delete
    is recorded."""
    with StateStore.open(tmp_path) as store:
        store.bind({"sandbox": SANDBOX})
        store.record_bulk_archive("sandbox", "t/hubsync-archive-a.zip", 10.0)
        store.record_bulk_archive("sandbox", "t/hubsync-archive-b.zip", 11.0)
    with StateStore.open(tmp_path) as store:
        store.bind({"sandbox": SANDBOX})
        assert store.bulk_archives("sandbox") == ["t/hubsync-archive-a.zip",
                                                  "t/hubsync-archive-b.zip"]
        store.record_bulk_archive("sandbox", "t/hubsync-archive-a.zip", None)
        assert store.bulk_archives("sandbox") == ["t/hubsync-archive-b.zip"]
