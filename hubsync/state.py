"""Durable state in SQLite, keyed by the remote target: the base, the outbox, the stat
cache and the last key check of each account.

One file, ``<state_dir>/state.db``, in WAL mode with ``synchronous=NORMAL``: a commit
costs about 0.02 ms, and a power loss can at worst roll back the last transactions,
which the startup reconcile re-derives (pitfalls.md section 6). Transactions are
explicit (``isolation_level=None`` + ``BEGIN IMMEDIATE``) because Python 3.11's
implicit ones begin late and would let two writers interleave a read and a write.

What hubsync synced and owes is keyed by the **target** (portal id, API base, API), not
by the account's config name: pointing ``sandbox`` at another portal is a new target with
nothing synced, so everything is pushed there again (engine-review.md S3). Names map to
targets only for the running process, by :meth:`StateStore.bind` at start.

Tables (schema 3):

- ``targets(id, portal_id, api_base, api)``: one row per remote identity ever bound.
- ``synced(target_id, remote_path)``: the base, what hubsync last put at a remote path
  (:class:`~hubsync.model.SyncedFile`).
- ``outbox(target_id, remote_path)``: what is owed there, one row per path
  (:class:`~hubsync.model.OutboxEntry`). The decision core (``core/outbox.py``) is its only
  writer, through :meth:`StateStore.apply`; this module holds no merge rule.
- ``conflicts(target_id, remote_path)``: remote versions hubsync found and will not
  overwrite until resolved (:class:`~hubsync.model.Conflict`); their remote copies are
  files under ``<state_dir>/conflicts/<account>/`` (:func:`conflict_copy_path`).
- ``stat_cache(root, rel)``: the lstat key and sha256 of each scanned file, keyed by the
  watch folder's real path (a renamed watch keeps its cache).
- ``auth_status(account)``: the outcome of the last ``hubsync auth add``/``auth test``.
- ``bulk_refusals(target_id)``: why the target refused the archive path
  (``hubsync.engine.bulk``), so later batches of ``bulk = "auto"`` go file by file.
- ``bulk_archives(target_id, remote_path)``: archives stored for extraction and not yet
  known deleted (a killed process leaves one): deleted at the next start.
- ``left_remote(target_id, remote_path)``: remote files left in place on purpose after a
  local delete (``delete_remote = false``): a two-way poll does not bring them back.
- ``legacy_pushed``/``legacy_outbox``: schema-1 rows, keyed by account name, until
  :meth:`StateStore.bind` learns that name's target and moves them.

``StateStore`` is synchronous and thread-bound; ``AsyncStateStore`` runs every call on
one dedicated thread that owns the connection, so the event loop never blocks on disk.
sqlite3 errors become :class:`~hubsync.errors.StateError` (a full disk:
:class:`~hubsync.errors.StateDiskFull`) in :func:`_translate` and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from hubsync import atomic
from hubsync.core.effects import Effects, Key
from hubsync.errors import ConfigError, StateDiskFull, StateError
from hubsync.localtree import CachedStat, StatKey
from hubsync.model import (
    Api,
    AuthState,
    Conflict,
    ConflictKind,
    Identity,
    OpKind,
    OutboxEntry,
    OutboxState,
    RemoteVersion,
    SyncedFile,
    Target,
)

__all__ = [
    "BUSY_TIMEOUT_MS",
    "CONFLICTS_DIR",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STATE_FILE",
    "AsyncStateStore",
    "AuthStatus",
    "BulkRefusal",
    "CachedStat",
    "Counts",
    "StatKey",
    "StateStore",
    "conflict_copy_path",
    "keep_remote_copy",
]

STATE_FILE = "state.db"
CONFLICTS_DIR = "conflicts"
"""Under the state dir: the remote copies of conflicting files, one folder per account."""
BUSY_TIMEOUT_MS = 5000
"""How long a write waits for another process's transaction before failing (SQLite's
``busy_timeout``): a ``hubsync status`` beside a running session, or two sessions."""

_P = ParamSpec("_P")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Counts:
    """One account's outbox rows by state, and how many files its base holds."""

    pending: int = 0
    parked: int = 0
    held: int = 0
    synced: int = 0


@dataclass(frozen=True, slots=True)
class AuthStatus:
    """The outcome of the last ``auth add``/``auth test`` of an account: never the key.

    ``checked_at_s`` is epoch seconds; ``error`` is the one-line ``HubsyncError`` text
    (which never holds a key or token, errors.py).
    """

    state: AuthState
    checked_at_s: float
    identity: Identity | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class BulkRefusal:
    """Why an account's target refused the archive path: HubSpot's one-line answer (never a
    key or token, errors.py) and when, in epoch seconds."""

    reason: str
    refused_s: float


# --- schema --------------------------------------------------------------------------------
# Each step is a tuple of single statements: executescript() would COMMIT the migration's
# transaction, and splitting a script on ";" breaks on the first ";" inside a literal.

_SCHEMA_V1: tuple[str, ...] = (
    """CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID""",
    """CREATE TABLE stat_cache (
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
) WITHOUT ROWID""",
    """CREATE TABLE pushed (
    account     TEXT NOT NULL,
    remote_path TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER,
    pushed_at   REAL NOT NULL,
    watch       TEXT NOT NULL,
    rel         TEXT NOT NULL,
    PRIMARY KEY (account, remote_path)
) WITHOUT ROWID""",
    """CREATE TABLE outbox (
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
)""",
    "CREATE INDEX outbox_due ON outbox (account, state, next_attempt_at)",
)

_SCHEMA_V2: tuple[str, ...] = (
    # Schema-1 rows are keyed by account name; which portal a name meant is known only
    # from the config at start, so they wait in legacy tables for bind() to move them.
    "ALTER TABLE pushed RENAME TO legacy_pushed",
    "ALTER TABLE outbox RENAME TO legacy_outbox",
    "DROP INDEX outbox_due",
    "DROP TABLE kv",
    # Keyed by watch name, and only a cache: each tree is hashed once more after upgrade.
    "DROP TABLE stat_cache",
    """CREATE TABLE targets (
    id        INTEGER PRIMARY KEY,
    portal_id INTEGER NOT NULL CHECK (portal_id > 0),
    api_base  TEXT NOT NULL,
    api       TEXT NOT NULL CHECK (api IN ('filemapper', 'source-code')),
    UNIQUE (portal_id, api_base, api)
)""",
    """CREATE TABLE synced (
    target_id         INTEGER NOT NULL REFERENCES targets (id),
    remote_path       TEXT NOT NULL,
    watch             TEXT NOT NULL,
    rel               TEXT NOT NULL,
    sha256            TEXT NOT NULL,
    size              INTEGER CHECK (size IS NULL OR size >= 0),
    synced_s          REAL NOT NULL,
    remote_updated_ms INTEGER,
    remote_hash       TEXT,
    remote_writer     INTEGER,
    PRIMARY KEY (target_id, remote_path)
) WITHOUT ROWID""",
    """CREATE TABLE outbox (
    target_id   INTEGER NOT NULL REFERENCES targets (id),
    remote_path TEXT NOT NULL,
    watch       TEXT NOT NULL,
    rel         TEXT NOT NULL,
    op          TEXT NOT NULL CHECK (op IN ('upload', 'delete')),
    sha256      TEXT,
    size        INTEGER CHECK (size IS NULL OR size >= 0),
    folder      INTEGER NOT NULL CHECK (folder IN (0, 1)),
    attempts    INTEGER NOT NULL CHECK (attempts >= 0),
    due_s       REAL NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'parked', 'held')),
    last_error  TEXT,
    enqueued_s  REAL NOT NULL,
    approved    INTEGER NOT NULL CHECK (approved IN (0, 1)),
    CHECK (op = 'delete' OR sha256 IS NOT NULL),
    PRIMARY KEY (target_id, remote_path)
) WITHOUT ROWID""",
    """CREATE TABLE stat_cache (
    root        TEXT NOT NULL,
    rel         TEXT NOT NULL,
    dev         INTEGER NOT NULL,
    ino         INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    mtime_ns    INTEGER NOT NULL,
    ctime_ns    INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    recorded_ns INTEGER NOT NULL,
    PRIMARY KEY (root, rel)
) WITHOUT ROWID""",
    """CREATE TABLE auth_status (
    account      TEXT PRIMARY KEY,
    state        TEXT NOT NULL CHECK (state IN ('unknown', 'ok', 'refreshing', 'offline',
                                                'unauthorized', 'no_key')),
    checked_at_s REAL NOT NULL,
    hub_id       INTEGER,
    user_id      INTEGER,
    hub_name     TEXT,
    account_type TEXT,
    email        TEXT,
    error        TEXT
) WITHOUT ROWID""",
)

_SCHEMA_V3: tuple[str, ...] = (
    # Remote versions hubsync will not overwrite until a person decides (issue 10): one
    # row per target and path, the newest detection wins. The remote copy is a file under
    # <state_dir>/conflicts/ (conflict_copy_path), named here by copy_path.
    """CREATE TABLE conflicts (
    target_id         INTEGER NOT NULL REFERENCES targets (id),
    remote_path       TEXT NOT NULL,
    watch             TEXT NOT NULL,
    rel               TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('changed', 'deleted', 'unsynced',
                                                    'both')),
    local_sha256      TEXT,
    base_sha256       TEXT,
    remote_updated_ms INTEGER,
    remote_hash       TEXT,
    remote_writer     INTEGER,
    remote_known      INTEGER NOT NULL CHECK (remote_known IN (0, 1)),
    remote_sha256     TEXT,
    copy_path         TEXT,
    detected_s        REAL NOT NULL,
    PRIMARY KEY (target_id, remote_path)
) WITHOUT ROWID""",
)

_SCHEMA_V4: tuple[str, ...] = (
    # Content an outbox entry's earlier send may have left on the remote: a process killed
    # between a write and its record must not take its own write for a teammate's.
    "ALTER TABLE outbox ADD COLUMN sent_sha256 TEXT",
    # The archive path's refusal memory and its archives not known deleted. Releases
    # before schema 4 created these on first write, hence IF NOT EXISTS.
    """CREATE TABLE IF NOT EXISTS bulk_refusals (
    target_id INTEGER PRIMARY KEY REFERENCES targets (id),
    reason    TEXT NOT NULL,
    refused_s REAL NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS bulk_archives (
    target_id   INTEGER NOT NULL REFERENCES targets (id),
    remote_path TEXT NOT NULL,
    stored_s    REAL NOT NULL,
    PRIMARY KEY (target_id, remote_path)
) WITHOUT ROWID""",
    # Remote files left in place on purpose after a local delete (delete_remote = false,
    # discarded held deletes): a two-way poll in any later session must not bring them
    # back. A base row written for the path (synced again) removes its row.
    """CREATE TABLE left_remote (
    target_id   INTEGER NOT NULL REFERENCES targets (id),
    remote_path TEXT NOT NULL,
    left_s      REAL NOT NULL,
    PRIMARY KEY (target_id, remote_path)
) WITHOUT ROWID""",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (_SCHEMA_V1, _SCHEMA_V2, _SCHEMA_V3, _SCHEMA_V4)
"""Schema steps: ``MIGRATIONS[n]`` takes ``PRAGMA user_version`` from n to n + 1.
Append, never edit: a database on a user's disk is at some earlier step."""

SCHEMA_VERSION = len(MIGRATIONS)

# --- statements ----------------------------------------------------------------------------

UPSERT_OUTBOX = """
INSERT INTO outbox (target_id, remote_path, watch, rel, op, sha256, size, folder, attempts,
                    due_s, state, last_error, enqueued_s, approved, sent_sha256)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (target_id, remote_path) DO UPDATE SET
    watch = excluded.watch, rel = excluded.rel, op = excluded.op, sha256 = excluded.sha256,
    size = excluded.size, folder = excluded.folder, attempts = excluded.attempts,
    due_s = excluded.due_s, state = excluded.state, last_error = excluded.last_error,
    enqueued_s = excluded.enqueued_s, approved = excluded.approved,
    sent_sha256 = excluded.sent_sha256
"""
"""Write one outbox row as the core decided it: the row is the core's, whole."""

UPSERT_SYNCED = """
INSERT INTO synced (target_id, remote_path, watch, rel, sha256, size, synced_s,
                    remote_updated_ms, remote_hash, remote_writer)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (target_id, remote_path) DO UPDATE SET
    watch = excluded.watch, rel = excluded.rel, sha256 = excluded.sha256,
    size = excluded.size, synced_s = excluded.synced_s,
    remote_updated_ms = excluded.remote_updated_ms, remote_hash = excluded.remote_hash,
    remote_writer = excluded.remote_writer
"""

UPSERT_STAT = """
INSERT INTO stat_cache (root, rel, dev, ino, size, mtime_ns, ctime_ns, sha256, recorded_ns)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (root, rel) DO UPDATE SET
    dev = excluded.dev, ino = excluded.ino, size = excluded.size,
    mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, sha256 = excluded.sha256,
    recorded_ns = excluded.recorded_ns
"""

UPSERT_AUTH = """
INSERT INTO auth_status (account, state, checked_at_s, hub_id, user_id, hub_name,
                         account_type, email, error)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (account) DO UPDATE SET
    state = excluded.state, checked_at_s = excluded.checked_at_s, hub_id = excluded.hub_id,
    user_id = excluded.user_id, hub_name = excluded.hub_name,
    account_type = excluded.account_type, email = excluded.email, error = excluded.error
"""

UPSERT_CONFLICT = """
INSERT INTO conflicts (target_id, remote_path, watch, rel, kind, local_sha256, base_sha256,
                       remote_updated_ms, remote_hash, remote_writer, remote_known,
                       remote_sha256, copy_path, detected_s)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (target_id, remote_path) DO UPDATE SET
    watch = excluded.watch, rel = excluded.rel, kind = excluded.kind,
    local_sha256 = excluded.local_sha256, base_sha256 = excluded.base_sha256,
    remote_updated_ms = excluded.remote_updated_ms, remote_hash = excluded.remote_hash,
    remote_writer = excluded.remote_writer, remote_known = excluded.remote_known,
    remote_sha256 = excluded.remote_sha256, copy_path = excluded.copy_path,
    detected_s = excluded.detected_s
"""

_SELECT_CONFLICTS = """
SELECT target_id, remote_path, watch, rel, kind, local_sha256, base_sha256,
       remote_updated_ms, remote_hash, remote_writer, remote_known, remote_sha256,
       copy_path, detected_s
FROM conflicts ORDER BY detected_s, remote_path
"""

DELETE_CONFLICT = "DELETE FROM conflicts WHERE target_id = ? AND remote_path = ?"

UPSERT_LEFT_REMOTE = """
INSERT INTO left_remote (target_id, remote_path, left_s) VALUES (?, ?, ?)
ON CONFLICT (target_id, remote_path) DO UPDATE SET left_s = excluded.left_s
"""
DELETE_LEFT_REMOTE = "DELETE FROM left_remote WHERE target_id = ? AND remote_path = ?"

DELETE_OUTBOX = "DELETE FROM outbox WHERE target_id = ? AND remote_path = ?"
DELETE_SYNCED = "DELETE FROM synced WHERE target_id = ? AND remote_path = ?"

MOVE_LEGACY_PUSHED = """
INSERT INTO synced (target_id, remote_path, watch, rel, sha256, size, synced_s)
SELECT ?, remote_path, watch, rel, sha256, size, pushed_at FROM legacy_pushed
WHERE account = ?
ON CONFLICT (target_id, remote_path) DO NOTHING
"""
"""Schema-1 ``pushed`` rows of one name into its target's base; rows the target already
has (written by schema 2, so newer) are kept."""

MOVE_LEGACY_OUTBOX = """
INSERT INTO outbox (target_id, remote_path, watch, rel, op, sha256, size, folder, attempts,
                    due_s, state, last_error, enqueued_s, approved)
SELECT ?, remote_path, watch, rel, op, sha256, size, folder != 0, attempts,
       next_attempt_at, state, last_error, enqueued_at, 0 FROM legacy_outbox
WHERE account = ? AND (op = 'delete' OR sha256 IS NOT NULL)
ON CONFLICT (target_id, remote_path) DO NOTHING
"""
"""Schema-1 outbox rows of one name; a delete is not approved (the brake vets it again)."""

_SELECT_OUTBOX = """
SELECT target_id, remote_path, watch, rel, op, sha256, size, folder, attempts, due_s, state,
       last_error, enqueued_s, approved, sent_sha256
FROM outbox ORDER BY enqueued_s, remote_path
"""

_SELECT_SYNCED = """
SELECT target_id, remote_path, watch, rel, sha256, size, synced_s, remote_updated_ms,
       remote_hash, remote_writer
FROM synced ORDER BY remote_path
"""

_FULL_BELOW = 1 << 20
"""Free bytes under which an I/O error of the state database is reported as a full disk."""

_ADVICE: dict[int, str] = {
    sqlite3.SQLITE_BUSY: "another hubsync process kept the database locked for more than "
                         f"{BUSY_TIMEOUT_MS // 1000} s; stop it (see `hubsync status`) or "
                         "try again",
    sqlite3.SQLITE_LOCKED: "another hubsync process kept the database locked; try again",
    sqlite3.SQLITE_READONLY: "the database or its folder is read-only; check its "
                             "permissions and owner",
    sqlite3.SQLITE_CANTOPEN: "the file cannot be opened; check the folder's permissions",
    sqlite3.SQLITE_PERM: "access denied; check the file's permissions and owner",
    sqlite3.SQLITE_CORRUPT: "the file is damaged; move it aside (hubsync rebuilds the state "
                            "by pushing everything once)",
    sqlite3.SQLITE_NOTADB: "the file is not a hubsync database; move it aside (hubsync "
                           "rebuilds the state by pushing everything once)",
    sqlite3.SQLITE_IOERR: "the disk reported an I/O error; check the disk and free space",
}


def _nearly_full(folder: Path) -> bool:
    """Whether ``folder``'s disk has under :data:`_FULL_BELOW` bytes free: some writes
    that hit ENOSPC (growing a file, the WAL index) come back from SQLite as a generic
    I/O error, not SQLITE_FULL."""
    try:
        usage = os.statvfs(folder)
    except OSError:
        return False
    return usage.f_bavail * usage.f_frsize < _FULL_BELOW


def _translate(exc: sqlite3.Error, path: Path, doing: str) -> StateError:
    """The one translation of a sqlite3 error on the database ``path``: what failed, and
    what to do next. A full disk is :class:`StateDiskFull`."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary == sqlite3.SQLITE_FULL or (
            primary in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN)
            and _nearly_full(path.parent)):
        return StateDiskFull(
            f"disk full: cannot {doing} in the state database {path}; free some space on "
            f"the disk holding {path.parent}, or set settings.state_dir to another disk")
    advice = _ADVICE.get(primary or -1, "check free disk space and permissions, or stop "
                                        "the other hubsync using it")
    return StateError(f"state database {path}: cannot {doing} ({exc}); {advice}")


def _outbox_row(target_id: int, entry: OutboxEntry) -> tuple[object, ...]:
    return (target_id, entry.remote_path, entry.watch, entry.rel, entry.op.value,
            entry.sha256, entry.size, int(entry.folder), entry.attempts, entry.due_s,
            entry.state.value, entry.last_error, entry.enqueued_s, int(entry.approved),
            entry.sent_sha256)


def _synced_row(target_id: int, row: SyncedFile) -> tuple[object, ...]:
    remote = row.remote or RemoteVersion()
    return (target_id, row.remote_path, row.watch, row.rel, row.sha256, row.size, row.synced_s,
            remote.updated_at_ms, remote.hash, remote.writer_user_id)


def _normalized(target: Target) -> Target:
    """The target as stored: one spelling per API base (no trailing ``/``, lower-case
    scheme and host), so ``https://API.hubapi.com/`` is not a second portal to fill."""
    base = target.api_base.strip().rstrip("/")
    scheme, sep, rest = base.partition("://")
    if sep:
        host, slash, path = rest.partition("/")
        base = f"{scheme.lower()}://{host.lower()}{slash}{path}"
    return Target(target.portal_id, base, Api(target.api))


def conflict_copy_path(state_dir: Path, account: str, remote_path: str) -> Path:
    """Where the remote copy of a conflicting file is kept:
    ``<state_dir>/conflicts/<account>/<remote_path>`` (the one place that says so).

    Never inside a watch folder, where the watcher would push it. Raises ValueError when
    ``account`` is not a single path component or ``remote_path`` has an empty, ``.`` or
    ``..`` segment (it would leave that folder).
    """
    if not account or account in (".", "..") or "/" in account or "\\" in account:
        raise ValueError(f"account name {account!r} cannot name a folder for remote copies")
    parts = remote_path.strip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"remote path {remote_path!r} has an empty, '.' or '..' segment")
    return Path(state_dir, CONFLICTS_DIR, account, *parts)


def keep_remote_copy(state_dir: Path, account: str, remote_path: str, data: bytes) -> Path:
    """Write ``data`` (the remote content) to :func:`conflict_copy_path` through
    :func:`hubsync.atomic.write_atomically` (a temporary file fsynced and renamed over it),
    the file mode 0600, new folders 0700 like the state dir; returns the path.

    Raises ValueError for a path that would leave the folder, StateDiskFull on a full disk,
    StateError when the disk refuses for another reason.
    """
    path = conflict_copy_path(state_dir, account, remote_path)
    try:
        atomic.write_atomically(path, data, purpose="copy", mode=0o600, folder_mode=0o700)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StateDiskFull(
                f"disk full: cannot keep the remote copy of {remote_path} in {path.parent}; "
                "free some space there or set settings.state_dir to another disk") from exc
        raise StateError(f"cannot keep the remote copy of {remote_path} at {path}: "
                         f"{exc.strerror or exc}; check the state folder's permissions"
                         ) from exc
    return path


def drop_remote_copy(state_dir: Path, copy_path: str | None) -> None:
    """Delete a kept remote copy if it lies under ``<state_dir>/conflicts/``; anything
    else (None, or a path elsewhere) is not hubsync's to touch. Never raises."""
    if copy_path is None:
        return
    root = (Path(state_dir) / CONFLICTS_DIR).resolve()
    copy = Path(copy_path).resolve()
    if root in copy.parents:
        with contextlib.suppress(OSError):
            copy.unlink()


def _conflict_row(target_id: int, c: Conflict) -> tuple[object, ...]:
    remote = c.remote or RemoteVersion()
    return (target_id, c.remote_path, c.watch, c.rel, ConflictKind(c.kind).value,
            c.local_sha256, c.base_sha256, remote.updated_at_ms, remote.hash,
            remote.writer_user_id, int(c.remote is not None), c.remote_sha256, c.copy_path,
            c.detected_s)


class StateStore:
    """The state database, used from one thread. Open with :meth:`open`, then
    :meth:`bind` the configured accounts before :meth:`load`, :meth:`apply` or
    :meth:`counts`. Every method raises :class:`StateError` (:class:`StateDiskFull` when
    the disk is full), never ``sqlite3.Error``."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        """``<state_dir>/state.db``."""
        self._ids: dict[str, int] = {}
        """Bound account name -> target id."""
        self._names: dict[int, str] = {}
        """Target id -> bound account name."""

    # -- lifecycle -------------------------------------------------------------------

    @classmethod
    def open(cls, state_dir: Path) -> StateStore:
        """Open (creating and migrating as needed) ``<state_dir>/state.db``.

        Raises StateError if the folder cannot be created, the file is not a database,
        or it comes from a newer hubsync; StateDiskFull if the disk is full.
        """
        path = Path(state_dir) / STATE_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StateDiskFull(
                    f"disk full: cannot create the state folder {path.parent}; free some "
                    "space there or set settings.state_dir to another disk") from exc
            raise StateError(
                f"cannot create the state folder {path.parent}: {exc.strerror}; "
                "check its permissions or set settings.state_dir"
            ) from exc
        try:
            connection = sqlite3.connect(path, isolation_level=None,
                                         timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as exc:
            raise _translate(exc, path, "open the database") from exc
        store = cls(connection, path)
        try:
            store._configure()
            store._migrate()
        except BaseException:
            connection.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection (the last one to close checkpoints the WAL)."""
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
            raise _translate(exc, self.path, doing) from exc

    @contextlib.contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: all of it is written, or none of it."""
        with self._errors(doing):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (a full disk) can leave the transaction open.
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise

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
            # synced and outbox REFERENCES targets: keep SQLite checking it.
            self._db.execute("PRAGMA foreign_keys=ON")

    def schema_version(self) -> int:
        """``PRAGMA user_version``: how many :data:`MIGRATIONS` steps the file has had."""
        with self._errors("read the schema version"):
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        if self.schema_version() == SCHEMA_VERSION:
            return  # the common case takes no write lock: a session may be running
        with self._transaction("migrate the schema") as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"state database {self.path} is from a newer hubsync (schema {version}, "
                    f"this one knows {SCHEMA_VERSION}); upgrade hubsync"
                )
            for step in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[step]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={step + 1}")

    def checkpoint(self) -> bool:
        """Copy the WAL into the database and truncate it (``wal_checkpoint(TRUNCATE)``),
        so a WAL grown by a busy session does not slow the next start. Call when idle.

        Returns False when a reader in another process kept part of it (harmless: the
        next checkpoint finishes the work).
        """
        with self._errors("checkpoint the write-ahead log"):
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return int(busy) == 0

    # -- accounts and targets --------------------------------------------------------

    def bind(self, targets: Mapping[str, Target]) -> None:
        """Map each configured account name to its target, for this process.

        Creates missing ``targets`` rows and moves any schema-1 rows of a name to that
        name's target (once). Replaces the previous binding (a reloaded config). Raises
        ConfigError when two names share one target: their records would overwrite each
        other's.
        """
        wanted = {name: _normalized(target) for name, target in targets.items()}
        self._refuse_shared(wanted)
        ids = self._lookup(wanted)
        if len(ids) < len(wanted) or self._legacy_names(wanted):
            with self._transaction("record the accounts' targets") as db:
                for name, target in wanted.items():
                    ids[name] = self._target_id(db, target)
                    self._move_legacy(db, name, ids[name])
        self._ids = ids
        self._names = {target_id: name for name, target_id in ids.items()}

    @staticmethod
    def _refuse_shared(wanted: Mapping[str, Target]) -> None:
        by_target: dict[Target, list[str]] = {}
        for name, target in wanted.items():
            by_target.setdefault(target, []).append(name)
        shared = [(target, names) for target, names in by_target.items() if len(names) > 1]
        if shared:
            target, names = shared[0]
            listed = " and ".join(repr(n) for n in sorted(names))
            raise ConfigError(None, (
                f"accounts {listed} point at the same target, {target}: hubsync records what "
                "it synced per portal, API base and API, so they would overwrite each "
                "other's record; keep one of these accounts and use it in every watch"))

    def _lookup(self, wanted: Mapping[str, Target]) -> dict[str, int]:
        ids: dict[str, int] = {}
        with self._errors("read the accounts' targets"):
            for name, target in wanted.items():
                row = self._db.execute(
                    "SELECT id FROM targets WHERE portal_id = ? AND api_base = ? AND api = ?",
                    (target.portal_id, target.api_base, target.api.value)).fetchone()
                if row is not None:
                    ids[name] = int(row[0])
        return ids

    def _legacy_names(self, wanted: Mapping[str, Target]) -> list[str]:
        with self._errors("read the schema-1 rows"):
            return [name for name in wanted if self._db.execute(
                "SELECT EXISTS (SELECT 1 FROM legacy_pushed WHERE account = ?) "
                "OR EXISTS (SELECT 1 FROM legacy_outbox WHERE account = ?)",
                (name, name)).fetchone()[0]]

    @staticmethod
    def _target_id(db: sqlite3.Connection, target: Target) -> int:
        params = (target.portal_id, target.api_base, target.api.value)
        db.execute("INSERT INTO targets (portal_id, api_base, api) VALUES (?, ?, ?) "
                   "ON CONFLICT (portal_id, api_base, api) DO NOTHING", params)
        row = db.execute("SELECT id FROM targets WHERE portal_id = ? AND api_base = ? "
                         "AND api = ?", params).fetchone()
        return int(row[0])

    @staticmethod
    def _move_legacy(db: sqlite3.Connection, name: str, target_id: int) -> None:
        db.execute(MOVE_LEGACY_PUSHED, (target_id, name))
        db.execute(MOVE_LEGACY_OUTBOX, (target_id, name))
        db.execute("DELETE FROM legacy_pushed WHERE account = ?", (name,))
        db.execute("DELETE FROM legacy_outbox WHERE account = ?", (name,))

    def _target_of(self, account: str) -> int:
        try:
            return self._ids[account]
        except KeyError:
            raise StateError(
                f"state database {self.path}: account {account!r} is not bound to a target; "
                "this is a bug (bind() every configured account at start)") from None

    # -- the base and the outbox -----------------------------------------------------

    def load(self) -> tuple[list[OutboxEntry], list[SyncedFile]]:
        """The outbox (oldest first) and the base of every bound account, each row
        carrying the account name its target is bound to. Rows of unbound targets stay
        in the file and are not returned."""
        with self._errors("read the outbox and the synced files"):
            outbox = self._db.execute(_SELECT_OUTBOX).fetchall()
            synced = self._db.execute(_SELECT_SYNCED).fetchall()
        entries = [self._entry(name, row) for row in outbox
                   if (name := self._names.get(row[0])) is not None]
        base = [self._synced(name, row) for row in synced
                if (name := self._names.get(row[0])) is not None]
        return entries, base

    @staticmethod
    def _entry(account: str, row: tuple[Any, ...]) -> OutboxEntry:
        (_, remote_path, watch, rel, op, sha, size, folder, attempts, due_s, state,
         last_error, enqueued_s, approved, sent_sha256) = row
        return OutboxEntry(
            account=account, remote_path=remote_path, watch=watch, rel=rel, op=OpKind(op),
            sha256=sha, size=size, folder=bool(folder), attempts=int(attempts),
            due_s=float(due_s), state=OutboxState(state), last_error=last_error,
            enqueued_s=float(enqueued_s), approved=bool(approved), sent_sha256=sent_sha256)

    @staticmethod
    def _synced(account: str, row: tuple[Any, ...]) -> SyncedFile:
        (_, remote_path, watch, rel, sha, size, synced_s, updated_ms, remote_hash,
         writer) = row
        known = updated_ms is not None or remote_hash is not None or writer is not None
        return SyncedFile(
            account=account, remote_path=remote_path, watch=watch, rel=rel, sha256=sha,
            size=size, synced_s=float(synced_s),
            remote=RemoteVersion(updated_ms, remote_hash, writer) if known else None)

    def apply(self, *batches: Effects) -> None:
        """Write the durable part of each of ``batches``, in order, in one ``BEGIN
        IMMEDIATE`` transaction: all of it, or (on any error) none of it.

        Within one ``Effects`` the order is ``upsert``, ``remove``, ``synced``,
        ``unsynced``, ``conflicts``, ``resolved``, later rows of a list winning: so a key
        both upserted and removed in ONE ``Effects`` ends removed (the state then owes
        less, which the start reconcile re-derives, never a stale delete). Across batches
        the later one wins whatever the list: pass the decisions as they were made, not
        merged with ``Effects.extend`` (which loses whether a remove came before or after
        an upsert of the same key).

        Raises StateError if an account is not bound, StateDiskFull on a full disk.
        """
        steps = [self._statements(effects) for effects in batches if effects.durable]
        if not steps:
            return
        with self._transaction("record the sync") as db:
            for step in steps:
                for sql, rows in step:
                    db.executemany(sql, rows)

    def _statements(self, effects: Effects) -> list[tuple[str, list[tuple[object, ...]]]]:
        """The statements of one ``Effects``, in order, resolved to target ids first (so
        an unbound account fails before anything is written)."""
        return [
            (UPSERT_OUTBOX,
             [_outbox_row(self._target_of(e.account), e) for e in effects.upsert]),
            (DELETE_OUTBOX, [self._keyed(key) for key in effects.remove]),
            (UPSERT_SYNCED,
             [_synced_row(self._target_of(r.account), r) for r in effects.synced]),
            (DELETE_SYNCED, [self._keyed(key) for key in effects.unsynced]),
            (UPSERT_CONFLICT,
             [_conflict_row(self._target_of(c.account), c) for c in effects.conflicts]),
            (DELETE_CONFLICT, [self._keyed(key) for key in effects.resolved]),
            (UPSERT_LEFT_REMOTE,
             [(*self._keyed(key), left_s) for key, left_s in effects.left_remote]),
            # Synced again: no longer left on the remote on purpose.
            (DELETE_LEFT_REMOTE,
             [self._keyed((r.account, r.remote_path)) for r in effects.synced]),
        ]

    def _keyed(self, key: Key) -> tuple[int, str]:
        account, remote_path = key
        return (self._target_of(account), remote_path)

    def counts(self) -> dict[str, Counts]:
        """Per bound account name (every one, zeros included): outbox rows by state and
        files in the base."""
        with self._errors("count the outbox"):
            outbox = self._db.execute(
                "SELECT target_id, SUM(state = 'pending'), SUM(state = 'parked'), "
                "SUM(state = 'held') FROM outbox GROUP BY target_id").fetchall()
            synced = dict(self._db.execute(
                "SELECT target_id, COUNT(*) FROM synced GROUP BY target_id").fetchall())
        by_id = {int(t): (int(p), int(k), int(h)) for t, p, k, h in outbox}
        return {
            name: Counts(*by_id.get(target_id, (0, 0, 0)), int(synced.get(target_id, 0)))
            for name, target_id in self._ids.items()
        }

    def record_synced(self, *rows: SyncedFile) -> None:
        """Write base rows (what a bound account holds at a remote path because hubsync
        put it there, or found it equal: ``pull``, adopt, ``resolve``), each with its
        remote version (``SyncedFile.remote``), in one transaction; replaces the row of the
        same account and path. The next push uploads none of these paths while the local
        file's sha256 equals ``row.sha256``.

        Only for a process whose core does not hold the base in memory (an engine writes
        through :meth:`apply`, or its core would not know). Raises StateError if an account
        is not bound, StateDiskFull on a full disk.
        """
        self.apply(Effects(synced=list(rows)))

    def left_remote(self) -> list[tuple[str, str]]:
        """(account, remote path) of every remote file a bound account left in place on
        purpose after a local delete (``delete_remote = false``) and has not synced since."""
        with self._errors("read the files left on the remote"):
            rows = self._db.execute(
                "SELECT target_id, remote_path FROM left_remote ORDER BY remote_path"
            ).fetchall()
        return [(name, str(path)) for target_id, path in rows
                if (name := self._names.get(int(target_id))) is not None]

    # -- conflicts -------------------------------------------------------------------

    def record_conflict(self, target: Target | None, conflict: Conflict) -> None:
        """Record (or replace: one per path) ``conflict`` under ``target``; with None, under
        the target ``conflict.account`` is bound to. A target not seen before gets its
        ``targets`` row. :meth:`conflicts` returns it under the name bound to that target.

        Raises StateError if ``target`` is None and the account is not bound,
        StateDiskFull on a full disk.
        """
        with self._transaction("record the conflict") as db:
            target_id = (self._target_of(conflict.account) if target is None
                         else self._target_id(db, _normalized(target)))
            db.execute(UPSERT_CONFLICT, _conflict_row(target_id, conflict))

    def conflicts(self, account: str | None = None) -> list[Conflict]:
        """The recorded conflicts of ``account`` (None: of every bound account), oldest
        detection first, each under the account name its target is bound to. Rows of
        unbound targets stay in the file and are not returned."""
        with self._errors("read the conflicts"):
            rows = self._db.execute(_SELECT_CONFLICTS).fetchall()
        found = [self._conflict(name, row) for row in rows
                 if (name := self._names.get(row[0])) is not None]
        return [c for c in found if account is None or c.account == account]

    @staticmethod
    def _conflict(account: str, row: tuple[Any, ...]) -> Conflict:
        (_, remote_path, watch, rel, kind, local_sha, base_sha, updated_ms, remote_hash,
         writer, known, remote_sha, copy_path, detected_s) = row
        return Conflict(
            account=account, remote_path=remote_path, watch=watch, rel=rel,
            kind=ConflictKind(kind), local_sha256=local_sha, base_sha256=base_sha,
            remote=RemoteVersion(updated_ms, remote_hash, writer) if known else None,
            remote_sha256=remote_sha, copy_path=copy_path, detected_s=float(detected_s))

    def clear_conflict(self, account: str, remote_path: str) -> Conflict | None:
        """Forget the conflict of a bound ``account`` at ``remote_path`` and delete its
        remote copy (when it lies under ``<state_dir>/conflicts/``); returns what was
        recorded, None when there was none. Read the copy first if you need it.

        Raises StateError if the account is not bound, StateDiskFull on a full disk.
        """
        target_id = self._target_of(account)
        with self._transaction("clear the conflict") as db:
            row = db.execute(_SELECT_CONFLICTS.replace(
                "FROM conflicts", "FROM conflicts WHERE target_id = ? AND remote_path = ?"),
                (target_id, remote_path)).fetchone()
            if row is None:
                return None
            db.execute(DELETE_CONFLICT, (target_id, remote_path))
        cleared = self._conflict(account, row)
        drop_remote_copy(self.path.parent, cleared.copy_path)
        return cleared

    # -- stat cache ------------------------------------------------------------------

    def stat_cache(self, root: Path | str) -> dict[str, CachedStat]:
        """Every cached stat under the watch folder ``root`` (by its real path), by rel."""
        with self._errors("read the stat cache"):
            rows = self._db.execute(
                "SELECT rel, dev, ino, size, mtime_ns, ctime_ns, sha256, recorded_ns "
                "FROM stat_cache WHERE root = ?", (os.path.realpath(root),)
            ).fetchall()
        return {
            rel: CachedStat(StatKey(dev, ino, size, mtime_ns, ctime_ns), sha, recorded)
            for rel, dev, ino, size, mtime_ns, ctime_ns, sha, recorded in rows
        }

    def save_stats(self, root: Path | str, changed: Mapping[str, CachedStat],
                   removed: Iterable[str] = ()) -> None:
        """Upsert ``changed`` and drop the ``removed`` rels under ``root``, in one
        transaction."""
        real = os.path.realpath(root)
        with self._transaction("save the stat cache") as db:
            db.executemany("DELETE FROM stat_cache WHERE root = ? AND rel = ?",
                           ((real, rel) for rel in removed))
            db.executemany(UPSERT_STAT, (
                (real, rel, c.key.dev, c.key.ino, c.key.size, c.key.mtime_ns,
                 c.key.ctime_ns, c.sha256, c.recorded_ns)
                for rel, c in changed.items()))

    # -- auth status -----------------------------------------------------------------

    def record_auth(self, account: str, status: AuthStatus | None) -> None:
        """Remember the last key check of ``account`` (None: forget it)."""
        with self._transaction("record the key check") as db:
            if status is None:
                db.execute("DELETE FROM auth_status WHERE account = ?", (account,))
                return
            who = status.identity
            db.execute(UPSERT_AUTH, (
                account, status.state.value, status.checked_at_s,
                who.hub_id if who else None, who.user_id if who else None,
                who.hub_name if who else None, who.account_type if who else None,
                who.email if who else None, status.error))

    def auth_statuses(self) -> dict[str, AuthStatus]:
        """The last key check of every account that had one, by account name."""
        with self._errors("read the key checks"):
            rows = self._db.execute(
                "SELECT account, state, checked_at_s, hub_id, user_id, hub_name, "
                "account_type, email, error FROM auth_status ORDER BY account").fetchall()
        statuses: dict[str, AuthStatus] = {}
        for account, state, checked, hub_id, user_id, hub_name, kind, email, error in rows:
            identity = None if hub_id is None or user_id is None else Identity(
                hub_id=int(hub_id), user_id=int(user_id), hub_name=hub_name or "",
                account_type=kind or "", email=email)
            statuses[account] = AuthStatus(AuthState(state), float(checked), identity, error)
        return statuses


    # -- archive path refusals ------------------------------------------------------

    def record_bulk_refusal(self, account: str, refusal: BulkRefusal | None) -> None:
        """Remember that ``account``'s target refused the archive path (None: forget it)."""
        target_id = self._target_of(account)
        with self._transaction("record the archive refusal") as db:
            if refusal is None:
                db.execute("DELETE FROM bulk_refusals WHERE target_id = ?", (target_id,))
                return
            db.execute("INSERT INTO bulk_refusals (target_id, reason, refused_s) "
                       "VALUES (?, ?, ?) ON CONFLICT (target_id) DO UPDATE SET "
                       "reason = excluded.reason, refused_s = excluded.refused_s",
                       (target_id, refusal.reason, refusal.refused_s))

    def bulk_refusals(self) -> dict[str, BulkRefusal]:
        """The remembered archive refusal of every bound account that has one, by name."""
        with self._errors("read the archive refusals"):
            rows = self._db.execute(
                "SELECT target_id, reason, refused_s FROM bulk_refusals").fetchall()
        return {name: BulkRefusal(str(reason), float(refused_s))
                for target_id, reason, refused_s in rows
                if (name := self._names.get(int(target_id))) is not None}

    def record_bulk_archive(self, account: str, remote_path: str, stored_s: float | None
                            ) -> None:
        """Remember an archive about to be stored at ``remote_path`` (``stored_s``: epoch
        seconds), or forget it once deleted (None), so a killed process's is deleted later."""
        target_id = self._target_of(account)
        with self._transaction("record the archive") as db:
            if stored_s is None:
                db.execute("DELETE FROM bulk_archives WHERE target_id = ? AND remote_path = ?",
                           (target_id, remote_path))
                return
            db.execute("INSERT OR REPLACE INTO bulk_archives (target_id, remote_path, "
                       "stored_s) VALUES (?, ?, ?)", (target_id, remote_path, stored_s))

    def bulk_archives(self, account: str) -> list[str]:
        """The remote paths of ``account``'s archives not known to be deleted."""
        target_id = self._target_of(account)
        with self._errors("read the archives left"):
            rows = self._db.execute("SELECT remote_path FROM bulk_archives WHERE "
                                    "target_id = ? ORDER BY remote_path", (target_id,))
            return [str(path) for (path,) in rows.fetchall()]


class AsyncStateStore:
    """:class:`StateStore` for asyncio: every call runs on one dedicated thread.

    The connection is created, used and closed on that thread only (sqlite3 connections
    are thread-bound), and calls run one at a time in submission order. :meth:`run` runs
    any ``StateStore`` method; the named coroutines are the ones the engine uses.
    """

    def __init__(self, store: StateStore, executor: ThreadPoolExecutor,
                 thread_id: int) -> None:
        self._store = store
        self._executor = executor
        self.thread_id = thread_id
        """``threading.get_ident()`` of the thread owning the connection."""

    @classmethod
    async def open(cls, state_dir: Path) -> AsyncStateStore:
        """:meth:`StateStore.open` on a new dedicated thread."""
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

    async def run(self, function: Callable[Concatenate[StateStore, _P], _T],
                  *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """``function(store, *args, **kwargs)`` on the store's thread, e.g.
        ``await store.run(StateStore.auth_statuses)``."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(function, self._store, *args, **kwargs))

    async def close(self) -> None:
        try:
            await self.run(StateStore.close)
        finally:
            self._executor.shutdown(wait=True)

    async def __aenter__(self) -> AsyncStateStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def bind(self, targets: Mapping[str, Target]) -> None:
        await self.run(StateStore.bind, dict(targets))

    async def load(self) -> tuple[list[OutboxEntry], list[SyncedFile]]:
        return await self.run(StateStore.load)

    async def apply(self, *batches: Effects) -> None:
        """:meth:`StateStore.apply` of ``batches`` on the store's thread."""
        await self.run(StateStore.apply, *(e.rows() for e in batches))

    async def record_synced(self, *rows: SyncedFile) -> None:
        await self.run(StateStore.record_synced, *rows)

    async def record_conflict(self, target: Target | None, conflict: Conflict) -> None:
        await self.run(StateStore.record_conflict, target, conflict)

    async def left_remote(self) -> list[tuple[str, str]]:
        return await self.run(StateStore.left_remote)

    async def conflicts(self, account: str | None = None) -> list[Conflict]:
        return await self.run(StateStore.conflicts, account)

    async def clear_conflict(self, account: str, remote_path: str) -> Conflict | None:
        return await self.run(StateStore.clear_conflict, account, remote_path)

    async def counts(self) -> dict[str, Counts]:
        return await self.run(StateStore.counts)

    async def stat_cache(self, root: Path | str) -> dict[str, CachedStat]:
        return await self.run(StateStore.stat_cache, root)

    async def save_stats(self, root: Path | str, changed: Mapping[str, CachedStat],
                         removed: Iterable[str] = ()) -> None:
        await self.run(StateStore.save_stats, root, dict(changed), list(removed))

    async def record_auth(self, account: str, status: AuthStatus | None) -> None:
        await self.run(StateStore.record_auth, account, status)

    async def checkpoint(self) -> bool:
        return await self.run(StateStore.checkpoint)

    async def record_bulk_refusal(self, account: str, refusal: BulkRefusal | None) -> None:
        await self.run(StateStore.record_bulk_refusal, account, refusal)

    async def bulk_refusals(self) -> dict[str, BulkRefusal]:
        return await self.run(StateStore.bulk_refusals)

    async def record_bulk_archive(self, account: str, remote_path: str,
                                  stored_s: float | None) -> None:
        await self.run(StateStore.record_bulk_archive, account, remote_path, stored_s)

    async def bulk_archives(self, account: str) -> list[str]:
        return await self.run(StateStore.bulk_archives, account)
