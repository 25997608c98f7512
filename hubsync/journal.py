"""The attribution sync log: who pushed what, where, when, with what result.

One JSON object per line, appended to ``<state_dir>/sync.log`` and rotated by size
to ``sync.log.1`` (newest) ... ``sync.log.N`` (oldest). The schema is stable and
documented in ``docs/sync-log.md``; readers (``hubsync log``, ``jq``, a user's
scripts) rely on it. This is not diagnostics: those go through ``hubsync.logs``.

The writer is for the one process holding the instance lock; ``write`` is
thread-safe and each call appends one complete, flushed line. The readers work on
the files alone, while the writer runs: ``iter_entries`` (oldest first, across
rotations), ``tail`` (reads backwards from the end, so ``-n 20`` on a 100 MB log
reads kilobytes) and ``follow`` (keeps reading across a rotation).
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import getpass
import json
import os
import socket
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from hubsync.core.paths import display_path
from hubsync.logs import is_secret_name, redact_text

LOG_NAME = "sync.log"
DEFAULT_MAX_BYTES = 10 * 2**20
DEFAULT_BACKUPS = 5

Entry = dict[str, Any]
"""One parsed sync log line."""


class Event(enum.StrEnum):
    """The ``event`` of a sync log line. Readers must accept values not listed here."""

    PUSHED = "pushed"
    """A file's content reached an account (HTTP 2xx)."""
    DELETED = "deleted"
    """A file or folder was deleted remotely (2xx, or 404: already gone)."""
    FAILED = "failed"
    """An operation failed for good (validation, permission); not retried until the file changes."""
    RETRYING = "retrying"
    """An attempt failed and will be retried in ``retry_in_ms``."""
    SKIPPED = "skipped"
    """A file was left out by the rules (ignored, unsupported extension, symlink out of root)."""
    HELD = "held"
    """Deletes held by the safety brake (``deletes`` counts the files held in all);
    ``hubsync deletes release`` or ``hubsync push --allow-deletes`` lets them go."""
    RELEASED = "released"
    """A user let the held deletes of an account go (``deletes``: how many entries)."""
    DISCARDED = "discarded"
    """A user dropped the held deletes of an account: the remote files stay, untracked."""
    CONFLICT = "conflict"
    """The remote changed in a way hubsync did not cause: not overwritten (docs/teams.md)."""
    PULLED = "pulled"
    """A remote file's content was written into the local file (``hubsync pull``, two-way
    watch) and recorded as synced."""
    ADOPTED = "adopted"
    """A file hubsync never synced already held the local content remotely: recorded as
    synced, not uploaded (first contact, ``hubsync pull``)."""
    RESOLVED = "resolved"
    """A person settled a conflict (``hubsync resolve``, ``keep``: local or remote)."""
    SESSION_STARTED = "session_started"
    """A watch, push or daemon session began."""
    SESSION_STOPPED = "session_stopped"
    """A session ended; ``error`` says why if it was not a clean stop."""
    AUTH_OK = "auth_ok"
    """A key was exchanged for a token; the identity fields say whose."""
    AUTH_FAILED = "auth_failed"
    """HubSpot refused a key; work for that account is held."""
    RECONCILED = "reconciled"
    """The tree was compared with the last-pushed state; counts in ``uploads``/``deletes``."""
    ARCHIVE_REFUSED = "archive_refused"
    """The account refused a batch sent as one archive (``bulk``); the batch went file by
    file. ``error`` says why, ``remembered`` whether later batches skip the archive."""


FAILURE_EVENTS = frozenset({Event.FAILED, Event.AUTH_FAILED, Event.CONFLICT, Event.HELD})
"""Events ``hubsync log --failed`` shows (see ``is_failure`` for the rest)."""
NOT_FAILURES = frozenset(Event) - FAILURE_EVENTS - {Event.SESSION_STOPPED}
"""Known events that are never failures, even with an ``error`` field: a ``retrying``
attempt is tried again (its end is a ``pushed`` or a ``failed`` line), a ``skipped``
file is a rule (older versions wrote its reason as ``error``)."""


def is_failure(entry: Mapping[str, Any]) -> bool:
    """Whether ``hubsync log --failed`` shows a sync log line: a failure event, a session
    that stopped with an ``error``, or an event this version does not know that carries
    an ``error`` (written by a newer hubsync)."""
    event = entry.get("event")
    if event in FAILURE_EVENTS:
        return True
    if event in NOT_FAILURES:
        return False
    return bool(entry.get("error"))

# Field order of a written line: the documented schema first, anything else after.
SCHEMA_FIELDS: tuple[str, ...] = (
    "ts", "event", "watch", "account", "portal_id", "hub_user_id", "hub_user_email",
    "local_user", "host", "path", "remote_path", "mode", "bytes", "sha256", "attempt",
    "duration_ms", "status", "error", "correlation_id", "retry_in_ms",
)

_READ_BLOCK = 64 * 1024


def utc_timestamp(when: float | None = None) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z``: ``2026-11-29T10:00:01.234Z``."""
    moment = datetime.fromtimestamp(time.time() if when is None else when, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no $USER (some containers)
        return str(os.getuid())


def rotated_paths(path: Path) -> list[Path]:
    """Existing log files oldest first: ``sync.log.N`` ... ``sync.log.1``, ``sync.log``.

    Every numbered file present counts: a reader does not know the writer's ``backups``.
    """
    numbered: list[tuple[int, Path]] = []
    if path.parent.is_dir():
        prefix = path.name + "."
        for candidate in path.parent.iterdir():
            suffix = candidate.name[len(prefix):]
            if candidate.name.startswith(prefix) and suffix.isdigit():
                numbered.append((int(suffix), candidate))
    ordered = [p for _, p in sorted(numbered, reverse=True)]
    if path.exists():
        ordered.append(path)
    return ordered


class Journal:
    """Appends sync log lines to ``path``, rotating at ``max_bytes`` and keeping ``backups``."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._size = 0
        self._identity = {"local_user": _local_user(), "host": socket.gethostname()}

    def _open(self) -> BinaryIO:
        if self._file is None:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # O_APPEND: each write lands at the end even if someone else appended.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            self._file = os.fdopen(fd, "ab")
            self._size = os.fstat(fd).st_size
        return self._file

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.backups <= 0:
            self.path.unlink(missing_ok=True)
            return
        base = str(self.path)
        Path(f"{base}.{self.backups}").unlink(missing_ok=True)
        for number in range(self.backups - 1, 0, -1):
            older = Path(f"{base}.{number}")
            if older.exists():
                older.rename(f"{base}.{number + 1}")
        if self.path.exists():
            self.path.rename(f"{base}.1")

    def record(self, event: str, fields: Mapping[str, Any]) -> Entry:
        """The line ``write`` would append, as a dict (schema order, secrets dropped)."""
        merged: dict[str, Any] = {"ts": utc_timestamp(), "event": str(event), **self._identity}
        for name, value in fields.items():
            if is_secret_name(name) or value is None:
                continue  # a secret-named field is refused outright, never masked-and-kept
            merged[name] = _clean(value)
        ordered = {k: merged[k] for k in SCHEMA_FIELDS if k in merged}
        ordered.update((k, v) for k, v in merged.items() if k not in ordered)
        return ordered

    def write(self, event: str, **fields: Any) -> None:
        """Append one line: ``ts``, ``event``, ``local_user``, ``host`` and ``fields``.

        ``None`` values are left out. Fields whose name looks secret (``token``,
        ``authorization``, ``*_key``...) are dropped, and registered secrets inside
        values are masked, so a careless caller cannot put a key in the log.
        """
        line = (
            json.dumps(self.record(event, fields), ensure_ascii=False, separators=(",", ":"))
            + "\n"
        ).encode(errors="backslashreplace")  # never raise: _clean escaped what it could
        with self._lock:
            stream = self._open()
            if self._size and self._size + len(line) > self.max_bytes:
                self._rotate()
                stream = self._open()
            stream.write(line)
            stream.flush()
            self._size += len(line)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _text(value: str) -> str:
    """``value`` with secrets masked, escaped when it cannot be written as UTF-8.

    A path from ``os.scandir`` may hold surrogate escapes (a name that is not UTF-8);
    such a string is written as ``core.paths.display_path`` renders it.
    """
    text = redact_text(value)
    try:
        text.encode()
    except UnicodeEncodeError:
        return display_path(text)
    return text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        return {_text(str(k)): _clean(v) for k, v in value.items()
                if not is_secret_name(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    return _text(str(value))


# --- reading -------------------------------------------------------------------------


def parse_timestamp(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Which sync log lines a reader keeps. Empty fields match everything."""

    accounts: frozenset[str] = frozenset()
    user: str | None = None
    """A HubSpot user id (digits) or email (case-insensitive)."""
    user_names: frozenset[str] = frozenset()
    """Every name of the person ``user`` is (ids as digits, emails), from the user
    directory (``hubsync.people``); empty: ``user`` alone."""
    path_glob: str | None = None
    """``fnmatch`` pattern against ``path`` (``*`` crosses ``/``) or ``remote_path``."""
    events: frozenset[str] = frozenset()
    since: datetime | None = None
    """Aware datetime; lines stamped earlier are dropped."""
    failed_only: bool = False

    def matches(self, entry: Mapping[str, Any]) -> bool:
        if self.since is not None and not self.is_recent(entry):
            return False
        if self.accounts and entry.get("account") not in self.accounts:
            return False
        if self.events and entry.get("event") not in self.events:
            return False
        if self.failed_only and not is_failure(entry):
            return False
        if self.user is not None and not self._user_matches(entry):
            return False
        if self.path_glob is not None:
            paths = [entry.get("path"), entry.get("remote_path")]
            if not any(isinstance(p, str) and fnmatch.fnmatchcase(p, self.path_glob)
                       for p in paths):
                return False
        return True

    def is_recent(self, entry: Mapping[str, Any]) -> bool:
        """Whether ``entry`` is at or after ``since`` (lines without a time are kept)."""
        if self.since is None:
            return True
        stamp = parse_timestamp(str(entry.get("ts", "")))
        return stamp is None or stamp >= self.since

    def _user_matches(self, entry: Mapping[str, Any]) -> bool:
        """The key's user (``hub_user_id``/``hub_user_email``) or the remote version's
        writer (``remote_user_id``, ``remote_user_email``: on ``conflict``, ``pulled`` and
        ``adopted`` lines) is one of the wanted names. HubSpot names the writer by id
        only, so an email finds those lines through ``user_names`` (the directory's id
        for it)."""
        names = self.user_names or frozenset({self.user or ""})
        ids = {n.strip() for n in names if n.strip().isdigit()}
        emails = {n.strip().lower() for n in names if not n.strip().isdigit()}
        for id_field, email_field in (("hub_user_id", "hub_user_email"),
                                      ("remote_user_id", "remote_user_email")):
            uid, email = entry.get(id_field), entry.get(email_field)
            if uid is not None and str(uid) in ids:
                return True
            if isinstance(email, str) and email.lower() in emails:
                return True
        return False


MATCH_ALL = LogFilter()

WRITER_EVENTS = frozenset({"pulled", "conflict"})
"""Lines about someone else's remote version: their ``remote_user_id`` (HubSpot's user id of
the version's writer, when HubSpot says) is who caused them, not the key's user."""


def _parse_line(raw: bytes) -> Entry | None:
    """A parsed line, or ``None`` for a blank or torn line (a crash mid-write)."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _last_entry(path: Path) -> Entry | None:
    for entry in _reverse_entries(path):
        return entry
    return None


def iter_entries(
    path: Path,
    *,
    since: datetime | None = None,
    filters: LogFilter = MATCH_ALL,
    end: int | None = None,
) -> Iterator[Entry]:
    """Every matching entry, oldest first, across ``sync.log.N`` ... ``sync.log``.

    With ``since``, a rotated file whose last line is older is skipped unread. ``end``
    stops reading ``path`` itself at that byte offset (see ``tail``).
    """
    if since is not None:
        filters = _with_since(filters, since)
    for file in rotated_paths(path):
        if filters.since is not None:
            last = _last_entry(file)
            if last is not None and not filters.is_recent(last):
                continue
        try:
            handle = file.open("rb")
        except FileNotFoundError:  # rotated away between listing and opening
            continue
        limit = end if end is not None and file == path else None
        consumed = 0
        with handle:
            for raw in handle:
                consumed += len(raw)
                if limit is not None and consumed > limit:
                    break
                entry = _parse_line(raw)
                if entry is not None and filters.matches(entry):
                    yield entry


def _with_since(filters: LogFilter, since: datetime) -> LogFilter:
    return dataclasses.replace(filters, since=since)


def _reverse_lines(handle: BinaryIO, end: int) -> Iterator[bytes]:
    """Lines of ``handle[:end]`` last first, reading ``_READ_BLOCK`` bytes at a time."""
    position = end
    pending = b""
    while position > 0:
        size = min(_READ_BLOCK, position)
        position -= size
        handle.seek(position)
        block = handle.read(size) + pending
        lines = block.split(b"\n")
        pending = lines[0]  # maybe the tail of a line that starts in an earlier block
        yield from reversed(lines[1:])
    if pending:
        yield pending


def _reverse_entries(path: Path, end: int | None = None) -> Iterator[Entry]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        size = os.fstat(handle.fileno()).st_size
        for raw in _reverse_lines(handle, size if end is None else min(end, size)):
            entry = _parse_line(raw)
            if entry is not None:
                yield entry


def tail(
    path: Path, n: int, filters: LogFilter = MATCH_ALL, *, end: int | None = None
) -> list[Entry]:
    """The last ``n`` matching entries, oldest first, reading backwards from the end.

    Stops at the first line older than ``filters.since``: the log is in time order.
    ``end`` caps how much of ``path`` itself is read, so a caller that then follows
    from that offset neither misses nor repeats a line.
    """
    if n <= 0:
        return []
    found: list[Entry] = []
    for file in reversed(rotated_paths(path)):
        for entry in _reverse_entries(file, end if file == path else None):
            if not filters.is_recent(entry):
                return found[::-1]
            if filters.matches(entry):
                found.append(entry)
                if len(found) >= n:
                    return found[::-1]
    return found[::-1]


def follow(
    path: Path,
    filters: LogFilter = MATCH_ALL,
    stop: threading.Event | None = None,
    *,
    from_start: bool = False,
    start_offset: int | None = None,
    poll_interval: float = 0.2,
) -> Generator[Entry, None, None]:
    """Matching entries appended to ``path`` from now on (all of it with ``from_start``,
    or from byte ``start_offset``, e.g. where a ``tail(..., end=...)`` stopped).

    Survives rotation like ``tail -F``: when ``path`` names another inode, or the file
    shrank, the rest of the old file is read and the new one is opened from its start.
    Runs until ``stop`` is set (checked every ``poll_interval`` seconds when idle). As
    with ``tail -F``, a file that is rotated away twice within one poll is missed.
    """
    stop = stop if stop is not None else threading.Event()
    reader = _LineReader(filters)
    handle = _open_at(path, at_end=not from_start, offset=start_offset)
    try:
        while not stop.is_set():
            if handle is None:
                handle = _open_at(path, at_end=False)
                if handle is None:
                    stop.wait(poll_interval)
                    continue
            batch = reader.drain(handle)
            if batch:
                yield from batch
                continue
            if _replaced(path, handle):
                # The writer rotated (rename) or truncated: finish the old file first.
                yield from reader.drain(handle)
                handle.close()
                reader.pending = b""
                handle = _open_at(path, at_end=False)
                continue
            stop.wait(poll_interval)
    finally:
        if handle is not None:
            handle.close()


def _open_at(path: Path, *, at_end: bool, offset: int | None = None) -> BinaryIO | None:
    """``path`` opened for ``follow`` at ``offset``, its end, or its start; None if absent."""
    try:
        opened = path.open("rb")
    except FileNotFoundError:
        return None
    if offset is not None:
        # A file shorter than the offset was rotated since: read it all.
        opened.seek(offset if os.fstat(opened.fileno()).st_size >= offset else 0)
    elif at_end:
        opened.seek(0, os.SEEK_END)
    return opened


class _LineReader:
    """Whole lines from a growing file; an incomplete last line waits for its newline."""

    def __init__(self, filters: LogFilter) -> None:
        self.filters = filters
        self.pending = b""

    def drain(self, source: BinaryIO) -> list[Entry]:
        data = source.read()
        if not data:
            return []
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        return [e for raw in lines
                if (e := _parse_line(raw)) is not None and self.filters.matches(e)]


def _replaced(path: Path, handle: BinaryIO) -> bool:
    try:
        current = path.stat()
    except FileNotFoundError:
        return False  # between the rename and the new file: keep reading the old one
    mine = os.fstat(handle.fileno())
    if (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino):
        return True
    return current.st_size < handle.tell()
