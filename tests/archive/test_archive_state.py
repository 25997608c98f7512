"""The archive path's memory in the state database (real SQLite): refusals and archives
left behind, keyed by the remote target, in tables an older database does not have."""

from __future__ import annotations

from pathlib import Path

from hubsync.model import Target
from hubsync.state import BulkRefusal, StateStore

SANDBOX = Target(111, "http://127.0.0.1:1")
OTHER_PORTAL = Target(222, "http://127.0.0.1:1")


def test_a_database_without_the_tables_has_refused_nothing(tmp_path: Path) -> None:
    """A state written before the archive path reads as no refusal and no archive, and
    reading creates nothing (``status`` must not write)."""
    with StateStore.open(tmp_path) as store:
        store.bind({"sandbox": SANDBOX})
        assert store.bulk_refusals() == {}
        assert store.bulk_archives("sandbox") == []
    with StateStore.open(tmp_path) as store:
        tables = {row[0] for row in store._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "bulk_refusals" not in tables
    assert "bulk_archives" not in tables


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
