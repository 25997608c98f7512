"""A schema-1 database, as hubsync 0.1 left it on a user's disk, migrates to schema 2 and
its rows reach the right targets once the accounts are bound."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hubsync.model import Api, OpKind, OutboxEntry, OutboxState, SyncedFile, Target
from hubsync.state import STATE_FILE, Counts, StateStore

# The schema-1 DDL exactly as hubsync 0.1 (state.py, MIGRATIONS[0]) created it: data for
# this test, kept here so that a later edit of state.py cannot change what "v1" means.
V1_DDL = """
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE stat_cache (
    watch       TEXT NOT NULL,
    rel         TEXT NOT NULL,
    dev         INTEGER NOT NULL,
    ino         INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    ctime_ns    INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    recorded_ns INTEGER NOT NULL,
    PRIMARY KEY (watch, rel)
) WITHOUT ROWID;

CREATE TABLE pushed (
    account     TEXT NOT NULL,
    remote_path TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER,
    pushed_at   REAL NOT NULL,
    watch       TEXT NOT NULL,
    rel         TEXT NOT NULL,
    PRIMARY KEY (account, remote_path)
) WITHOUT ROWID;

CREATE TABLE outbox (
    account         TEXT NOT NULL,
    remote_path     TEXT NOT NULL,
    watch           TEXT NOT NULL,
    rel             TEXT NOT NULL,
    op              TEXT NOT NULL CHECK (op IN ('upload', 'delete')),
    sha256          TEXT,
    size            INTEGER,
    folder          INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'parked', 'held')),
    last_error      TEXT,
    enqueued_at     REAL NOT NULL,
    PRIMARY KEY (account, remote_path)
);

CREATE INDEX outbox_due ON outbox (account, state, next_attempt_at);
PRAGMA user_version = 1;
"""

V1_ROWS = """
INSERT INTO kv VALUES ('last_reconcile:main', '2026-01-01T00:00:00Z');
INSERT INTO stat_cache VALUES ('main', 'a.css', 1, 2, 3, 4, 5, 'aaa', 6);
INSERT INTO pushed VALUES ('sandbox', 'theme/a.css', 'aaa', 3, 100.5, 'main', 'a.css');
INSERT INTO pushed VALUES ('sandbox', 'theme/b.css', 'bbb', NULL, 101.0, 'main', 'b.css');
INSERT INTO pushed VALUES ('staging', 'theme/a.css', 'old', 3, 99.0, 'main', 'a.css');
INSERT INTO pushed VALUES ('retired', 'theme/z.css', 'zzz', 1, 1.0, 'main', 'z.css');
INSERT INTO outbox VALUES ('sandbox', 'theme/c.css', 'main', 'c.css', 'upload', 'ccc', 7,
                           0, 2, 130.0, 'pending', 'HTTP 503', 120.0);
INSERT INTO outbox VALUES ('sandbox', 'theme/old', 'main', 'old', 'delete', NULL, NULL,
                           1, 0, 140.0, 'held', 'safety brake', 140.0);
INSERT INTO outbox VALUES ('staging', 'theme/a.css', 'main', 'a.css', 'upload', 'aaa', 3,
                           0, 1, 150.0, 'parked', 'HubL error', 150.0);
INSERT INTO outbox VALUES ('staging', 'theme/broken', 'main', 'broken', 'upload', NULL,
                           NULL, 0, 0, 1.0, 'pending', NULL, 1.0);
"""

BASE = "https://api.hubapi.com"
TARGETS = {"sandbox": Target(111, BASE), "staging": Target(222, BASE)}


@pytest.fixture
def v1_dir(tmp_path: Path) -> Path:
    """A state dir holding a schema-1 state.db with rows for two accounts (and a third,
    no longer configured)."""
    db = sqlite3.connect(tmp_path / STATE_FILE)
    try:
        db.executescript(V1_DDL + V1_ROWS)
        db.commit()
    finally:
        db.close()
    return tmp_path


def test_v1_rows_move_to_the_bound_targets(v1_dir: Path) -> None:
    """Opening migrates to the current schema (4); bind moves each name's schema-1 rows to
    its target with every field carried over (a held delete stays held, and is not
    pre-approved), and load returns them under the account names. An upload row without content (not
    sendable) is dropped."""
    with StateStore.open(v1_dir) as store:
        assert store.schema_version() == 4
        store.bind(TARGETS)
        entries, base = store.load()
    assert sorted(base, key=lambda r: (r.account, r.remote_path)) == [
        SyncedFile("sandbox", "theme/a.css", "main", "a.css", "aaa", 3, 100.5),
        SyncedFile("sandbox", "theme/b.css", "main", "b.css", "bbb", None, 101.0),
        SyncedFile("staging", "theme/a.css", "main", "a.css", "old", 3, 99.0),
    ]
    assert entries == [
        OutboxEntry("sandbox", "theme/c.css", "main", "c.css", OpKind.UPLOAD, "ccc", 7,
                    attempts=2, due_s=130.0, last_error="HTTP 503", enqueued_s=120.0),
        OutboxEntry("sandbox", "theme/old", "main", "old", OpKind.DELETE, folder=True,
                    due_s=140.0, state=OutboxState.HELD, last_error="safety brake",
                    enqueued_s=140.0, approved=False),
        OutboxEntry("staging", "theme/a.css", "main", "a.css", OpKind.UPLOAD, "aaa", 3,
                    attempts=1, due_s=150.0, state=OutboxState.PARKED,
                    last_error="HubL error", enqueued_s=150.0),
    ]


def test_rows_move_once_and_unknown_names_wait(v1_dir: Path) -> None:
    """The move happens once: a second start (bind) finds the moved rows and no legacy
    ones for those names. A name not configured any more keeps its rows in the legacy
    tables, and gets them if it comes back; the old watch-name stat cache and kv are gone."""
    with StateStore.open(v1_dir) as store:
        store.bind(TARGETS)
    with StateStore.open(v1_dir) as store:
        store.bind(TARGETS)
        assert store.counts() == {"sandbox": Counts(pending=1, held=1, synced=2),
                                  "staging": Counts(parked=1, synced=1)}
    db = sqlite3.connect(v1_dir / STATE_FILE)
    try:
        assert db.execute("SELECT account, COUNT(*) FROM legacy_pushed GROUP BY account"
                          ).fetchall() == [("retired", 1)]
        assert db.execute("SELECT account FROM legacy_outbox").fetchall() == []
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        assert "kv" not in tables
        assert "outbox_due" not in tables
        assert db.execute("SELECT COUNT(*) FROM stat_cache").fetchone() == (0,)
    finally:
        db.close()
    with StateStore.open(v1_dir) as store:
        store.bind({**TARGETS, "retired": Target(333, BASE, Api.SOURCE_CODE)})
        assert store.counts()["retired"] == Counts(synced=1)


def test_a_re_pointed_account_loads_nothing(v1_dir: Path) -> None:
    """After the upgrade, `sandbox` pointed at another portal is a new target: nothing is
    synced or owed there, so the engine pushes the whole theme to it; `staging` is
    unaffected, and pointing `sandbox` back finds its portal's record again."""
    with StateStore.open(v1_dir) as store:
        store.bind(TARGETS)
    moved = {**TARGETS, "sandbox": Target(444, BASE)}
    with StateStore.open(v1_dir) as store:
        store.bind(moved)
        entries, base = store.load()
        assert {e.account for e in entries} == {"staging"}
        assert {r.account for r in base} == {"staging"}
        assert store.counts()["sandbox"] == Counts()
    with StateStore.open(v1_dir) as store:
        store.bind(TARGETS)
        assert store.counts()["sandbox"] == Counts(pending=1, held=1, synced=2)


def test_another_api_is_another_target(v1_dir: Path) -> None:
    """The same portal over the Source Code API is a different target from filemapper:
    what filemapper holds says nothing about it."""
    with StateStore.open(v1_dir) as store:
        store.bind(TARGETS)
        store.bind({"sandbox": Target(111, BASE, Api.SOURCE_CODE)})
        assert store.load() == ([], [])
