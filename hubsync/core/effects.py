"""The values the decision core (:mod:`hubsync.core.outbox`) takes and returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hubsync.core import retry
from hubsync.core.brake import DEFAULT_MAX_DELETES, DEFAULT_SETTLE_S, DEFAULT_WINDOW_S
from hubsync.model import Conflict, EngineEvent, OutboxEntry, RemoteVersion, SyncedFile

Key = tuple[str, str]
"""(account, remote path): the key of an outbox entry and of a base row."""

UNKNOWN_CONTENT = ""
"""The ``sha256`` of a base row whose remote content hubsync does not know: an upload
landed while the file changed (the bytes read may be neither version), or a request
ended so that it may or may not have been applied (a 5xx, a timeout). It equals no real
hash, so the next observation re-sends the file, or deletes it when it is gone: the
remote holds something hubsync put there, and it must end up equal to the local file."""


MAYBE_DELETED = "deleted"
"""The ``OutboxEntry.sent_sha256`` of a path whose earlier delete may have been applied
without hubsync learning so (the process stopped while it was in flight): a remote that
no longer holds the file is then hubsync's own doing, not a teammate's delete."""


@dataclass(frozen=True, slots=True)
class Seen:
    """A local file as the tracker saw it: content hash and size in bytes."""

    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class WatchSpec:
    """What the core needs to know of one watch."""

    name: str
    dest: str
    accounts: tuple[str, ...]
    delete_remote: bool = False


@dataclass(frozen=True, slots=True)
class Policy:
    """The limits decisions follow. Times in seconds."""

    max_deletes: int = DEFAULT_MAX_DELETES
    brake_window_s: float = DEFAULT_WINDOW_S
    delete_settle_s: float = DEFAULT_SETTLE_S
    allow_deletes: bool = False
    """Deletes skip the brake (``push --allow-deletes``, ``settings.allow_deletes``)."""
    give_up_after: int | None = None
    """Stop retrying an entry in this session after this many failed attempts (``push``
    uses 12); it stays pending in the state for the next run. None: keep retrying."""
    unexpected_max_attempts: int = 5
    """An unexpected error (a bug, a local failure) is retried this many times, then the
    entry is parked with the error until its content changes: never a retry loop."""
    backoff_cap_s: float = 300.0
    prefer_local: bool = False
    """``--prefer local``: on first contact, a remote file hubsync never synced that differs
    from the local one is overwritten instead of becoming an ``unsynced`` conflict."""
    write_before_send: bool = True
    """An entry is sent only once the state reports its row written (``Outbox.written``):
    nothing goes out that a full disk would keep from being recorded. False where writes
    are synchronous with the decision (the core's own tests)."""


@dataclass(frozen=True, slots=True)
class Result:
    """How one request ended, as the worker saw it.

    ``after`` is the local content right after an upload (None: the file is gone or no
    longer a file); ``fields`` are extra sync log fields (duration, identity) copied into
    the event.
    """

    outcome: retry.Outcome
    error: str | None = None
    status: int | None = None
    correlation_id: str | None = None
    retry_after_s: float | None = None
    after: Seen | None = None
    remote: RemoteVersion | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


ROW_LISTS = ("upsert", "remove", "synced", "unsynced", "conflicts", "resolved",
             "left_remote")
"""The fields of :class:`Effects` the state writes, in the order it writes them."""


@dataclass(slots=True)
class Effects:
    """What follows from one decision. The seven row lists are applied in one transaction."""

    upsert: list[OutboxEntry] = field(default_factory=list)
    """Outbox rows to insert or replace (by ``key``)."""
    remove: list[Key] = field(default_factory=list)
    """Outbox rows to delete."""
    synced: list[SyncedFile] = field(default_factory=list)
    """Base rows to insert or replace."""
    unsynced: list[Key] = field(default_factory=list)
    """Base rows to delete."""
    conflicts: list[Conflict] = field(default_factory=list)
    """Conflict rows to insert or replace (by ``key``): remote versions not to overwrite."""
    resolved: list[Key] = field(default_factory=list)
    """Conflict rows to delete (resolved, or the remote is ours again)."""
    left_remote: list[tuple[Key, float]] = field(default_factory=list)
    """(key, epoch seconds): remote files left in place on purpose after a local delete
    (``delete_remote = false``); a later base row for the key ends it."""
    events: list[EngineEvent] = field(default_factory=list)
    reprobe: list[tuple[str, str]] = field(default_factory=list)
    """(watch, rel) to look at again: the tracker observes them."""
    block: list[tuple[str, str]] = field(default_factory=list)
    """(account, reason): stop sending for the account until its key works again."""

    @property
    def durable(self) -> bool:
        """Whether anything must be written to the state."""
        return any(getattr(self, name) for name in ROW_LISTS)

    def rows(self) -> Effects:
        """A copy of the row lists alone (what the state writes), so the caller may go
        on filling this one meanwhile."""
        return Effects(**{name: list(getattr(self, name)) for name in ROW_LISTS})

    def extend(self, other: Effects) -> None:
        for name in (*ROW_LISTS, "events", "reprobe", "block"):
            getattr(self, name).extend(getattr(other, name))

    def emit(self, event: str, **fields: Any) -> None:
        self.events.append(EngineEvent(event, {k: v for k, v in fields.items()
                                               if v is not None}))
