"""Durable state in SQLite: the stat cache, what was last pushed, and the outbox.

One file, ``<state_dir>/state.db``, in WAL mode with ``synchronous=NORMAL``: a commit
costs about 0.02 ms, and a power loss can at worst roll back the last transactions,
which the startup reconcile re-derives (pitfalls.md section 6). Transactions are
explicit (``isolation_level=None`` + ``BEGIN IMMEDIATE``) because Python 3.11's
implicit ones begin late and would let two writers interleave a read and a write.

Tables:

- ``stat_cache(watch, rel)``: the lstat key and sha256 of each scanned file, so an
  unchanged file is not rehashed.
- ``pushed(account, remote_path)``: the sha256 HubSpot acknowledged last, when, and
  for which watch file; the truth for "what is remote".
- ``outbox(account, remote_path)``: work not yet acknowledged. One row per path
  (UPSERT), so ten saves collapse into one upload of the newest content.
- ``kv``: small facts such as the last reconcile of a watch.

``StateStore`` is synchronous and thread-bound; ``AsyncStateStore`` runs every call on
one dedicated thread that owns the connection, so the event loop never blocks on disk.
sqlite3 errors become ``StateError`` here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from hubsync.core.paths import to_local
from hubsync.errors import StateError
from hubsync.localtree import CachedStat, StatKey
from hubsync.model import OpKind

__all__ = [
    "AsyncStateStore", "CachedStat", "Counts", "EnqueueItem", "OutboxItem", "OutboxState",
    "PushedFile", "StatKey", "StateStore",
]

STATE_FILE = "state.db"
BUSY_TIMEOUT_MS = 5000

_P = ParamSpec("_P")
_T = TypeVar("_T")


class OutboxState(enum.StrEnum):
    """Where an outbox row stands."""

    PENDING = "pending"
    """Waiting to be sent at ``next_attempt_at``."""
    PARKED = "parked"
    """HubSpot rejected this content (400); waits until the content changes."""
    HELD = "held"
    """A delete held by the safety brake until ``release_holds``."""


@dataclass(frozen=True, slots=True)
class EnqueueItem:
    """New work for one (account, remote path), as the engine hands it in."""

    account: str
    remote_path: str
    watch: str
    rel: str
    op: OpKind
    sha256: str | None = None
    size: int | None = None
    folder: bool = False
    held: bool = False
    """Insert (or keep) the row held by the safety brake."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One row of the outbox."""

    account: str
    remote_path: str
    watch: str
    rel: str
    op: OpKind
    sha256: str | None
    size: int | None
    folder: bool
    attempts: int
    next_attempt_at: float
    state: OutboxState
    last_error: str | None
    enqueued_at: float


@dataclass(frozen=True, slots=True)
class PushedFile:
    """One row of ``pushed``: what HubSpot acknowledged for a remote path."""

    account: str
    remote_path: str
    sha256: str
    size: int | None
    pushed_at: float
    watch: str
    rel: str


@dataclass(frozen=True, slots=True)
class Counts:
    """Outbox rows of one account by state."""

    pending: int = 0
    parked: int = 0
    held: int = 0


_SCHEMA_V1 = """
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
"""

MIGRATIONS: tuple[str, ...] = (_SCHEMA_V1,)
"""Schema steps: ``MIGRATIONS[n]`` takes ``PRAGMA user_version`` from n to n + 1.
Append, never edit: a database on a user's disk is at some earlier step."""

SCHEMA_VERSION = len(MIGRATIONS)


def _subtree_bounds(path: str) -> tuple[str, str]:
    """``[lo, hi)`` covering every path strictly under ``path`` ("0" follows "/")."""
    return (path + "/", path + "0")


class StateStore:
    """The state database, used from one thread. Open with ``StateStore.open``."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    # -- lifecycle -------------------------------------------------------------------

    @classmethod
    def open(cls, state_dir: Path) -> StateStore:
        """Open (creating and migrating as needed) ``<state_dir>/state.db``."""
        path = Path(state_dir) / STATE_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StateError(
                f"cannot create the state folder {path.parent}: {exc.strerror}; "
                "check its permissions or set settings.state_dir"
            ) from exc
        try:
            connection = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as exc:
            raise StateError(
                f"cannot open the state database {path}: {exc}; check its permissions"
            ) from exc
        store = cls(connection, path)
        try:
            store._configure()
            store._migrate()
        except BaseException:
            connection.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._errors("close"):
            self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StateError(
                f"state database {self.path}: {doing} failed ({exc}); check free disk space "
                "and permissions, or stop the other hubsync using it"
            ) from exc

    @contextlib.contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._errors(doing):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _configure(self) -> None:
        with self._errors("configure"):
            mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StateError(
                    f"state database {self.path}: WAL mode refused (got {mode}); keep "
                    "settings.state_dir on a local disk, not a network share"
                )
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA foreign_keys=ON")

    def schema_version(self) -> int:
        with self._errors("read the schema version"):
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self._transaction("migrate") as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"state database {self.path} is from a newer hubsync (schema {version}, "
                    f"this one knows {SCHEMA_VERSION}); upgrade hubsync"
                )
            for step in range(version, SCHEMA_VERSION):
                # executescript would COMMIT our transaction: run statement by statement.
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version={step + 1}")

    # -- stat cache ------------------------------------------------------------------

    def stat_cache(self, watch: str) -> dict[str, CachedStat]:
        """Every cached stat of ``watch``, by rel."""
        with self._errors("read the stat cache"):
            rows = self._db.execute(
                "SELECT rel, dev, ino, size, mtime_ns, ctime_ns, sha256, recorded_ns "
                "FROM stat_cache WHERE watch = ?", (watch,)
            ).fetchall()
        return {
            rel: CachedStat(StatKey(dev, ino, size, mtime_ns, ctime_ns), sha, recorded)
            for rel, dev, ino, size, mtime_ns, ctime_ns, sha, recorded in rows
        }

    def save_stats(self, watch: str, stats: Mapping[str, CachedStat],
                   removed: Iterable[str] = ()) -> None:
        """Upsert ``stats`` and drop the ``removed`` rels of ``watch``, in one transaction."""
        with self._transaction("save the stat cache") as db:
            db.executemany(
                "DELETE FROM stat_cache WHERE watch = ? AND rel = ?",
                ((watch, rel) for rel in removed),
            )
            db.executemany(
                "INSERT INTO stat_cache (watch, rel, dev, ino, size, mtime_ns, ctime_ns, "
                "sha256, recorded_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (watch, rel) DO UPDATE SET dev = excluded.dev, "
                "ino = excluded.ino, size = excluded.size, mtime_ns = excluded.mtime_ns, "
                "ctime_ns = excluded.ctime_ns, sha256 = excluded.sha256, "
                "recorded_ns = excluded.recorded_ns",
                (
                    (watch, rel, c.key.dev, c.key.ino, c.key.size, c.key.mtime_ns,
                     c.key.ctime_ns, c.sha256, c.recorded_ns)
                    for rel, c in stats.items()
                ),
            )

    def replace_stats(self, watch: str, stats: Mapping[str, CachedStat]) -> None:
        """Make the cache of ``watch`` exactly ``stats`` (after a full scan)."""
        with self._transaction("replace the stat cache") as db:
            db.execute("DELETE FROM stat_cache WHERE watch = ?", (watch,))
            db.executemany(
                "INSERT INTO stat_cache (watch, rel, dev, ino, size, mtime_ns, ctime_ns, "
                "sha256, recorded_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (watch, rel, c.key.dev, c.key.ino, c.key.size, c.key.mtime_ns,
                     c.key.ctime_ns, c.sha256, c.recorded_ns)
                    for rel, c in stats.items()
                ),
            )

    # -- pushed ----------------------------------------------------------------------

    def pushed(self, account: str, dest: str) -> dict[str, str]:
        """rel -> sha256 last pushed to ``account`` for the files under ``dest``."""
        with self._errors("read pushed files"):
            prefix = dest.strip("/")
            if prefix:
                lo, hi = _subtree_bounds(prefix)
                rows = self._db.execute(
                    "SELECT remote_path, sha256 FROM pushed WHERE account = ? AND "
                    "(remote_path = ? OR (remote_path >= ? AND remote_path < ?))",
                    (account, prefix, lo, hi),
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT remote_path, sha256 FROM pushed WHERE account = ?", (account,)
                ).fetchall()
        result: dict[str, str] = {}
        for remote_path, sha in rows:
            rel = to_local(prefix, remote_path)
            if rel:
                result[rel] = sha
        return result

    def pushed_file(self, account: str, remote_path: str) -> PushedFile | None:
        """The ``pushed`` row of one remote path, if any."""
        with self._errors("read a pushed file"):
            row = self._db.execute(
                "SELECT account, remote_path, sha256, size, pushed_at, watch, rel "
                "FROM pushed WHERE account = ? AND remote_path = ?", (account, remote_path)
            ).fetchone()
        return PushedFile(*row) if row is not None else None

    # -- outbox ----------------------------------------------------------------------

    def enqueue(self, items: Iterable[EnqueueItem], *, now: float | None = None) -> int:
        """UPSERT work by (account, remote_path); returns how many rows changed.

        New content (another op or sha256) resets attempts, un-parks and makes the row
        due now; the same content again keeps its attempts and schedule. An upload of
        exactly what was last pushed cancels the row instead: the remote already has it.
        """
        at = time.time() if now is None else now
        changed = 0
        with self._transaction("enqueue") as db:
            for item in items:
                if item.op is OpKind.UPLOAD and item.sha256 is not None:
                    row = db.execute(
                        "SELECT sha256 FROM pushed WHERE account = ? AND remote_path = ?",
                        (item.account, item.remote_path),
                    ).fetchone()
                    if row is not None and row[0] == item.sha256:
                        changed += db.execute(
                            "DELETE FROM outbox WHERE account = ? AND remote_path = ?",
                            (item.account, item.remote_path),
                        ).rowcount
                        continue
                state = OutboxState.HELD if item.held else OutboxState.PENDING
                changed += db.execute(
                    "INSERT INTO outbox (account, remote_path, watch, rel, op, sha256, size, "
                    "folder, attempts, next_attempt_at, state, last_error, enqueued_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, NULL, ?) "
                    "ON CONFLICT (account, remote_path) DO UPDATE SET "
                    # Every right-hand side sees the old row, so "same" compares old
                    # and new content even though op and sha256 are assigned here too.
                    "op = excluded.op, sha256 = excluded.sha256, "
                    "watch = excluded.watch, rel = excluded.rel, size = excluded.size, "
                    "folder = excluded.folder, "
                    "attempts = CASE WHEN same THEN attempts ELSE 0 END, "
                    "next_attempt_at = CASE WHEN same THEN next_attempt_at "
                    "  ELSE excluded.next_attempt_at END, "
                    "state = CASE WHEN excluded.state = 'held' THEN 'held' "
                    "  WHEN same THEN state ELSE 'pending' END, "
                    "last_error = CASE WHEN same THEN last_error ELSE NULL END, "
                    "enqueued_at = CASE WHEN same THEN enqueued_at ELSE excluded.enqueued_at END"
                    .replace("same", "(op = excluded.op AND sha256 IS excluded.sha256)"),
                    (item.account, item.remote_path, item.watch, item.rel, item.op.value,
                     item.sha256, item.size, int(item.folder), at, state.value, at),
                ).rowcount
        return changed

    def cancel(self, account: str, remote_path: str) -> bool:
        """Drop the outbox row of a path (e.g. its content went back to what was pushed)."""
        with self._transaction("cancel") as db:
            return db.execute(
                "DELETE FROM outbox WHERE account = ? AND remote_path = ?",
                (account, remote_path),
            ).rowcount > 0

    _SELECT_OUTBOX = (
        "SELECT account, remote_path, watch, rel, op, sha256, size, folder, attempts, "
        "next_attempt_at, state, last_error, enqueued_at FROM outbox"
    )

    @staticmethod
    def _outbox_item(row: tuple[Any, ...]) -> OutboxItem:
        (account, remote_path, watch, rel, op, sha, size, folder, attempts, next_at,
         state, last_error, enqueued_at) = row
        return OutboxItem(
            account=str(account), remote_path=str(remote_path), watch=str(watch),
            rel=str(rel), op=OpKind(op), sha256=None if sha is None else str(sha),
            size=None if size is None else int(size),
            folder=bool(folder), attempts=int(attempts),
            next_attempt_at=float(next_at),
            state=OutboxState(state),
            last_error=None if last_error is None else str(last_error),
            enqueued_at=float(enqueued_at),
        )

    def pending(self, account: str, now: float | None = None) -> list[OutboxItem]:
        """Pending rows of ``account`` (only those due at ``now`` if given), oldest first."""
        sql = self._SELECT_OUTBOX + " WHERE account = ? AND state = 'pending'"
        params: tuple[object, ...] = (account,)
        if now is not None:
            sql += " AND next_attempt_at <= ?"
            params += (now,)
        sql += " ORDER BY enqueued_at, remote_path"
        with self._errors("read the outbox"):
            rows = self._db.execute(sql, params).fetchall()
        return [self._outbox_item(row) for row in rows]

    def outbox(self, account: str | None = None,
               state: OutboxState | None = None) -> list[OutboxItem]:
        """Every outbox row, optionally of one account and/or state (for status/dry runs)."""
        sql = self._SELECT_OUTBOX + " WHERE 1 = 1"
        params: tuple[object, ...] = ()
        if account is not None:
            sql += " AND account = ?"
            params += (account,)
        if state is not None:
            sql += " AND state = ?"
            params += (state.value,)
        sql += " ORDER BY account, enqueued_at, remote_path"
        with self._errors("read the outbox"):
            rows = self._db.execute(sql, params).fetchall()
        return [self._outbox_item(row) for row in rows]

    def next_due(self, account: str) -> float | None:
        """The earliest ``next_attempt_at`` among pending rows of ``account``."""
        with self._errors("read the outbox"):
            row = self._db.execute(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE account = ? AND state = 'pending'",
                (account,),
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def complete(
        self,
        account: str,
        remote_path: str,
        op: OpKind,
        sha256: str | None,
        now: float | None = None,
        *,
        size: int | None = None,
        watch: str | None = None,
        rel: str | None = None,
    ) -> bool:
        """HubSpot acknowledged ``op`` on ``remote_path``: record it, in one transaction.

        An upload upserts ``pushed`` with ``sha256``; a delete removes the ``pushed``
        rows at and under the path (a folder delete is recursive), and the pending
        file deletes under it it made redundant. The outbox row is removed only if it
        still holds this op and sha256, i.e. the content pushed is still the content
        pending; returns whether it was. ``size``/``watch``/``rel`` default to the
        outbox row's (then the old pushed row's).
        """
        at = time.time() if now is None else now
        with self._transaction("record a completed push") as db:
            row = db.execute(
                "SELECT op, sha256, size, watch, rel FROM outbox "
                "WHERE account = ? AND remote_path = ?", (account, remote_path)
            ).fetchone()
            lo, hi = _subtree_bounds(remote_path)
            if op is OpKind.UPLOAD:
                if sha256 is None:
                    raise StateError("an upload completes with a sha256; this is a bug")
                old = db.execute(
                    "SELECT size, watch, rel FROM pushed WHERE account = ? AND remote_path = ?",
                    (account, remote_path),
                ).fetchone()
                same_row = row is not None and row[0] == op.value and row[1] == sha256
                fallback = row if row is not None else (None, None, None, None, None)
                old = old if old is not None else (None, "", "")
                db.execute(
                    "INSERT INTO pushed (account, remote_path, sha256, size, pushed_at, "
                    "watch, rel) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (account, remote_path) DO UPDATE SET "
                    "sha256 = excluded.sha256, size = excluded.size, "
                    "pushed_at = excluded.pushed_at, watch = excluded.watch, rel = excluded.rel",
                    (
                        account, remote_path, sha256,
                        size if size is not None else (fallback[2] if same_row else old[0]),
                        at,
                        watch if watch is not None else (fallback[3] or old[1]),
                        rel if rel is not None else (fallback[4] or old[2]),
                    ),
                )
            else:
                db.execute(
                    "DELETE FROM pushed WHERE account = ? AND (remote_path = ? OR "
                    "(remote_path >= ? AND remote_path < ?))",
                    (account, remote_path, lo, hi),
                )
                db.execute(
                    "DELETE FROM outbox WHERE account = ? AND op = 'delete' AND "
                    "remote_path >= ? AND remote_path < ?",
                    (account, lo, hi),
                )
            removed = db.execute(
                "DELETE FROM outbox WHERE account = ? AND remote_path = ? AND op = ? "
                "AND sha256 IS ?",
                (account, remote_path, op.value, sha256),
            ).rowcount
        return removed > 0

    def reschedule(self, account: str, remote_path: str, sha256: str | None, attempts: int,
                   next_attempt_at: float, error: str | None) -> bool:
        """Record a failed attempt of this content and when to try again.

        Does nothing (returns False) when the row changed meanwhile: new content has
        already reset the schedule.
        """
        with self._transaction("reschedule") as db:
            return db.execute(
                "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? "
                "WHERE account = ? AND remote_path = ? AND sha256 IS ? AND state = 'pending'",
                (attempts, next_attempt_at, error, account, remote_path, sha256),
            ).rowcount > 0

    def park(self, account: str, remote_path: str, sha256: str | None, error: str) -> bool:
        """Stop retrying this content (HubSpot rejected it) until the file changes."""
        with self._transaction("park") as db:
            return db.execute(
                "UPDATE outbox SET state = 'parked', last_error = ?, "
                "attempts = attempts + 1 "
                "WHERE account = ? AND remote_path = ? AND sha256 IS ?",
                (error, account, remote_path, sha256),
            ).rowcount > 0

    def hold(self, account: str, remote_paths: Iterable[str], reason: str) -> int:
        """Hold these rows (the safety brake); returns how many were held."""
        with self._transaction("hold") as db:
            return sum(
                db.execute(
                    "UPDATE outbox SET state = 'held', last_error = ? "
                    "WHERE account = ? AND remote_path = ?",
                    (reason, account, path),
                ).rowcount
                for path in remote_paths
            )

    def release_holds(self, account: str | None = None, *, now: float | None = None) -> int:
        """Make held rows (of one account, or all) pending and due now; returns how many."""
        at = time.time() if now is None else now
        with self._transaction("release held deletes") as db:
            if account is None:
                cursor = db.execute(
                    "UPDATE outbox SET state = 'pending', next_attempt_at = ?, "
                    "last_error = NULL WHERE state = 'held'", (at,)
                )
            else:
                cursor = db.execute(
                    "UPDATE outbox SET state = 'pending', next_attempt_at = ?, "
                    "last_error = NULL WHERE state = 'held' AND account = ?", (at, account)
                )
            return cursor.rowcount

    def counts(self) -> dict[str, Counts]:
        """Outbox rows per account by state; accounts with no rows are absent."""
        with self._errors("count the outbox"):
            rows = self._db.execute(
                "SELECT account, "
                "SUM(state = 'pending'), SUM(state = 'parked'), SUM(state = 'held') "
                "FROM outbox GROUP BY account"
            ).fetchall()
        return {account: Counts(int(p), int(k), int(h)) for account, p, k, h in rows}

    # -- key/value -------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        with self._errors("read a setting"):
            row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction("write a setting") as db:
            db.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )


class AsyncStateStore:
    """``StateStore`` for asyncio: every call runs on one dedicated thread.

    The connection is created, used and closed on that thread only (sqlite3
    connections are thread-bound), and calls run one at a time in submission order.
    """

    def __init__(self, store: StateStore, executor: ThreadPoolExecutor,
                 thread_id: int) -> None:
        self._store = store
        self._executor = executor
        self.thread_id = thread_id
        """``threading.get_ident()`` of the thread owning the connection."""

    @classmethod
    async def open(cls, state_dir: Path) -> AsyncStateStore:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubsync-state")
        loop = asyncio.get_running_loop()
        try:
            store = await loop.run_in_executor(executor, StateStore.open, state_dir)
            thread_id = await loop.run_in_executor(executor, threading.get_ident)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(store, executor, thread_id)

    @property
    def path(self) -> Path:
        return self._store.path

    async def _call(self, function: Callable[_P, _T], *args: _P.args,
                    **kwargs: _P.kwargs) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(function, *args, **kwargs)
        )

    async def close(self) -> None:
        try:
            await self._call(self._store.close)
        finally:
            self._executor.shutdown(wait=True)

    async def __aenter__(self) -> AsyncStateStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        return await self._call(self._store.schema_version)

    async def stat_cache(self, watch: str) -> dict[str, CachedStat]:
        return await self._call(self._store.stat_cache, watch)

    async def save_stats(self, watch: str, stats: Mapping[str, CachedStat],
                         removed: Iterable[str] = ()) -> None:
        await self._call(self._store.save_stats, watch, stats, list(removed))

    async def replace_stats(self, watch: str, stats: Mapping[str, CachedStat]) -> None:
        await self._call(self._store.replace_stats, watch, stats)

    async def pushed(self, account: str, dest: str) -> dict[str, str]:
        return await self._call(self._store.pushed, account, dest)

    async def pushed_file(self, account: str, remote_path: str) -> PushedFile | None:
        return await self._call(self._store.pushed_file, account, remote_path)

    async def enqueue(self, items: Iterable[EnqueueItem], *, now: float | None = None) -> int:
        return await self._call(self._store.enqueue, list(items), now=now)

    async def cancel(self, account: str, remote_path: str) -> bool:
        return await self._call(self._store.cancel, account, remote_path)

    async def pending(self, account: str, now: float | None = None) -> list[OutboxItem]:
        return await self._call(self._store.pending, account, now)

    async def outbox(self, account: str | None = None,
                     state: OutboxState | None = None) -> list[OutboxItem]:
        return await self._call(self._store.outbox, account, state)

    async def next_due(self, account: str) -> float | None:
        return await self._call(self._store.next_due, account)

    async def complete(
        self,
        account: str,
        remote_path: str,
        op: OpKind,
        sha256: str | None,
        now: float | None = None,
        *,
        size: int | None = None,
        watch: str | None = None,
        rel: str | None = None,
    ) -> bool:
        return await self._call(self._store.complete, account, remote_path, op, sha256, now,
                                size=size, watch=watch, rel=rel)

    async def reschedule(self, account: str, remote_path: str, sha256: str | None,
                         attempts: int, next_attempt_at: float, error: str | None) -> bool:
        return await self._call(self._store.reschedule, account, remote_path, sha256,
                                attempts, next_attempt_at, error)

    async def park(self, account: str, remote_path: str, sha256: str | None,
                   error: str) -> bool:
        return await self._call(self._store.park, account, remote_path, sha256, error)

    async def hold(self, account: str, remote_paths: Iterable[str], reason: str) -> int:
        return await self._call(self._store.hold, account, list(remote_paths), reason)

    async def release_holds(self, account: str | None = None, *,
                            now: float | None = None) -> int:
        return await self._call(self._store.release_holds, account, now=now)

    async def counts(self) -> dict[str, Counts]:
        return await self._call(self._store.counts)

    async def get_meta(self, key: str) -> str | None:
        return await self._call(self._store.get_meta, key)

    async def set_meta(self, key: str, value: str) -> None:
        await self._call(self._store.set_meta, key, value)
