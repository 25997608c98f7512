"""Values and kinds shared by every part of hubsync.

Frozen, slotted dataclasses and enums only: no I/O, no behaviour beyond derived
properties. Anything holding a secret hides it from ``repr`` so that a stray
``log.info(thing=...)`` or a traceback cannot print it.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Env(enum.StrEnum):
    """Which HubSpot environment an account lives in."""

    PROD = "prod"
    """Production: https://api.hubapi.com"""
    QA = "qa"
    """HubSpot's QA environment: https://api.hubapiqa.com"""

    @property
    def default_api_base(self) -> str:
        return "https://api.hubapiqa.com" if self is Env.QA else "https://api.hubapi.com"


class Mode(enum.StrEnum):
    """Whether uploads publish or only write the draft (``buffer=true``)."""

    PUBLISH = "publish"
    """``buffer=false``: the change is live."""
    DRAFT = "draft"
    """``buffer=true``: the change lands in the draft buffer."""


class AuthState(enum.StrEnum):
    """What the token manager knows about an account's key."""

    UNKNOWN = "unknown"
    """No exchange attempted yet."""
    OK = "ok"
    """The last exchange succeeded and a token is cached."""
    REFRESHING = "refreshing"
    """An exchange is in flight."""
    OFFLINE = "offline"
    """The last exchange failed for a network or 5xx reason; retrying with backoff."""
    UNAUTHORIZED = "unauthorized"
    """HubSpot refused the key (401/403); work is held until a new key appears."""
    NO_KEY = "no_key"
    """No key was found in any source."""


class OpKind(enum.StrEnum):
    """What one operation does to the remote tree."""

    UPLOAD = "upload"
    """Write one file's content."""
    DELETE = "delete"
    """Remove one file, or one folder recursively."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a personal access key authenticates as: the attribution identity."""

    hub_id: int
    user_id: int
    hub_name: str = ""
    account_type: str = ""
    email: str | None = None
    scope_groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token from the key exchange. ``value`` never appears in ``repr``."""

    value: str = field(repr=False)
    expires_at: float
    """Epoch seconds when HubSpot stops accepting it."""

    def __str__(self) -> str:  # pragma: no cover - guard against accidental formatting
        return "AccessToken(<redacted>)"


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """The useful part of a successful exchange: the token and who it belongs to.

    The raw response is never kept: it may echo the key (``encodedOAuthRefreshToken``).
    """

    token: AccessToken
    identity: Identity


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    """What HubSpot's ``X-HubSpot-RateLimit-*`` headers said on one response."""

    max: int | None = None
    remaining: int | None = None
    interval_ms: int | None = None
    daily: int | None = None
    daily_remaining: int | None = None


# --- the sync engine's values ------------------------------------------------------------
# One outbox row type, one base row type, and the effects the pure core returns, shared by
# ``core.outbox`` (decides), ``state`` (stores) and ``engine`` (carries out). Times ending in
# ``_s`` are epoch seconds (wall clock: they survive a restart); ``_ms`` are epoch ms as
# HubSpot sends them.


class Api(enum.StrEnum):
    """Which HubSpot file API an account speaks (``hubspot-api.md`` §3 and §4)."""

    FILEMAPPER = "filemapper"
    """The Design Manager ``content/filemapper/v1`` API the ``hs`` CLI uses: the default."""
    SOURCE_CODE = "source-code"
    """The public CMS Source Code API (dated or ``v3`` paths)."""


@dataclass(frozen=True, slots=True)
class Target:
    """The remote identity that durable state is keyed by: one portal over one API.

    An account's config name is only a label: pointing ``sandbox`` at another portal (or
    another API base) is a new target with nothing synced, so everything is pushed again.
    """

    portal_id: int
    api_base: str
    api: Api = Api.FILEMAPPER

    def __str__(self) -> str:
        return f"portal {self.portal_id} at {self.api_base} ({self.api})"


class OutboxState(enum.StrEnum):
    """Where an outbox entry stands."""

    PENDING = "pending"
    """Waiting to be sent at ``due_s`` (deletes also wait for the brake's approval)."""
    PARKED = "parked"
    """Failed for good (HubSpot rejected the content, or too many attempts); waits until
    the local content changes."""
    HELD = "held"
    """A delete held by the safety brake until released (``hubsync deletes release``,
    ``push --allow-deletes``) or discarded."""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One operation owed to one account: the only outbox row type.

    Keyed by (``account``, ``remote_path``): at most one entry per remote path, holding
    the newest wanted state (newest content wins).
    """

    account: str
    """The account's config name; the state maps it to its :class:`Target`."""
    remote_path: str
    watch: str
    rel: str
    """The path relative to the watch root (``/``-separated)."""
    op: OpKind
    sha256: str | None = None
    """Content to upload (None for a delete)."""
    size: int | None = None
    folder: bool = False
    """A delete of a whole remote folder (recursive on HubSpot)."""
    attempts: int = 0
    due_s: float = 0.0
    """Not sent before this epoch time (a retry's backoff)."""
    state: OutboxState = OutboxState.PENDING
    last_error: str | None = None
    enqueued_s: float = 0.0
    approved: bool = False
    """A delete the brake let through (or a user released); uploads ignore it."""
    sent_sha256: str | None = None
    """Content an earlier send to this path may have put on the remote without hubsync
    learning so (the process stopped while it was in flight): the conflict guard takes a
    remote holding exactly this content as hubsync's own write, not a teammate's."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.account, self.remote_path)



@dataclass(frozen=True, slots=True)
class RemoteVersion:
    """What the remote said of one file at one moment (filled by remote awareness)."""

    updated_at_ms: int | None = None
    hash: str | None = None
    """Opaque content hash of the Source Code API; compare only with another one it gave."""
    writer_user_id: int | None = None


@dataclass(frozen=True, slots=True)
class SyncedFile:
    """The base: what one account holds at one remote path because hubsync put it there."""

    account: str
    remote_path: str
    watch: str
    rel: str
    sha256: str
    size: int | None = None
    synced_s: float = 0.0
    remote: RemoteVersion | None = None
    """The remote's version right after hubsync's write, when known."""


class ConflictKind(enum.StrEnum):
    """Why hubsync did not write (or delete) a remote file: someone else's version is there.

    A ``StrEnum``: ``ConflictKind.CHANGED == "changed"``, and the value is what the state,
    the sync log and ``hubsync conflicts --json`` show.
    """

    CHANGED = "changed"
    """The remote changed since hubsync last synced it (its version differs from the base's)."""
    DELETED = "deleted"
    """The remote file was deleted since hubsync last synced it."""
    UNSYNCED = "unsynced"
    """The remote file exists, hubsync never synced it, and its content differs."""
    BOTH = "both"
    """Changed on both sides since the last sync (seen by two-way watch)."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """One remote path hubsync will not write until a person decides (``hubsync resolve``).

    Keyed by (``account``, ``remote_path``) like the base: at most one conflict per path,
    the newest detection wins. Stored in the state's ``conflicts`` table
    (``StateStore.record_conflict``); the remote copy, when one was downloaded, is a file at
    ``copy_path`` (``state.conflict_copy_path``), never inside a watch folder.
    """

    account: str
    remote_path: str
    """No leading ``/``."""
    watch: str
    rel: str
    """The path relative to the watch root (``/``-separated)."""
    kind: ConflictKind
    local_sha256: str | None = None
    """The local file's content when detected; None when it is gone locally."""
    base_sha256: str | None = None
    """What hubsync last synced there (the base row); None when it never did."""
    remote: RemoteVersion | None = None
    """The remote version found (updatedAt, hash, writer); None when deleted or unknown."""
    remote_sha256: str | None = None
    """sha256 of the downloaded remote copy; None when none was downloaded."""
    copy_path: str | None = None
    """Where the remote copy is kept (absolute path in the state dir), or None."""
    detected_s: float = 0.0
    """Epoch seconds."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.account, self.remote_path)

    def to_json(self) -> dict[str, Any]:
        """The shape of ``hubsync conflicts --json`` and the control socket's
        ``conflicts``: every field, the remote version flattened, ``remote_updated_at``
        as ISO 8601 UTC."""
        remote = self.remote
        updated = remote.updated_at_ms if remote else None
        return {
            "account": self.account, "remote_path": self.remote_path, "watch": self.watch,
            "path": self.rel, "kind": str(self.kind), "local_sha256": self.local_sha256,
            "base_sha256": self.base_sha256, "remote_sha256": self.remote_sha256,
            "remote_updated_ms": updated,
            "remote_updated_at": None if updated is None else dt.datetime.fromtimestamp(
                updated / 1000, tz=dt.UTC).isoformat(timespec="milliseconds"
                                                      ).replace("+00:00", "Z"),
            "remote_hash": remote.hash if remote else None,
            "remote_user_id": remote.writer_user_id if remote else None,
            "copy_path": self.copy_path, "detected_s": self.detected_s,
        }


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """One thing that happened: a sync log line (``journal.Event``), or ``watching``
    (front end only), and a console line."""

    event: str
    fields: Mapping[str, Any]


# --- what a running session reports (``hubsync status``, the control socket) -------------


@dataclass(frozen=True, slots=True)
class RateStatus:
    """An account's pacing: the learned limit and how much of the window is used."""

    limit: int
    window_ms: int
    budget: int
    used: int
    paused_for_ms: int
    rate_limited: int
    """429 answers received in this session."""


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """One account of a running session."""

    name: str
    portal_id: int
    auth: str
    """``AuthState`` value; never "ok" while the account is blocked."""
    hub_user_id: int | None = None
    hub_user_email: str | None = None
    token_expires_at: float | None = None
    blocked: bool = False
    """HubSpot refused the key: nothing is sent until it works again."""
    paused: bool = False
    offline: bool = False
    """The last request could not connect; one probe at a time until it answers."""
    pending: int = 0
    parked: int = 0
    held_deletes: int = 0
    """Files the held deletes would remove."""
    in_flight: int = 0
    last_push: float | None = None
    last_error: str | None = None
    rate: RateStatus | None = None

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__ if name != "rate"}
        del data["name"]
        data["held"] = self.blocked  # the name 0.1 used; readers of old clients rely on it
        data["rate"] = None if self.rate is None else {
            name: getattr(self.rate, name) for name in self.rate.__slots__}
        return data


@dataclass(frozen=True, slots=True)
class WatchStatus:
    """One watch of a running session."""

    name: str
    root: str
    dest: str
    accounts: tuple[str, ...]
    files: int
    last_reconcile: float | None = None
    watcher_alive: bool | None = None
    """None when no watcher runs (``push``, or the root is missing)."""

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "dest": self.dest, "accounts": list(self.accounts),
                "files": self.files, "last_reconcile": self.last_reconcile,
                "watcher_alive": self.watcher_alive}


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """Everything ``hubsync status`` shows of a running session."""

    accounts: tuple[AccountStatus, ...] = ()
    watches: tuple[WatchStatus, ...] = ()
    state_error: str | None = None
    """Why sending is stopped: the state could not be written (a full disk…)."""
    conflicts: tuple[Conflict, ...] = ()
    """Unresolved conflicts of the session's accounts, oldest first."""

    def account(self, name: str) -> AccountStatus | None:
        return next((a for a in self.accounts if a.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """The control socket's JSON shape: ``{"accounts": {name: …}, "watches": {…},
        "state_error": …, "conflicts": [Conflict.to_json(), …]}``."""
        return {"accounts": {a.name: a.to_json() for a in self.accounts},
                "watches": {w.name: w.to_json() for w in self.watches},
                "state_error": self.state_error,
                "conflicts": [c.to_json() for c in self.conflicts]}


@dataclass(frozen=True, slots=True)
class RemoteMeta:
    """What HubSpot says about one remote file or folder (filemapper ``meta/``, Source Code
    API ``metadata/``, or the Source Code API's upload answer); hubspot-api.md §3-4."""

    path: str
    """The remote path, no leading ``/``."""
    folder: bool
    created_at_ms: int | None
    """Epoch ms; None when the answer has none."""
    updated_at_ms: int | None
    """Epoch ms; None when the answer has none."""
    hash: str | None = None
    """The Source Code API's opaque content hash; compare only with an earlier one from the
    same API. None on filemapper, which has none."""
    children: tuple[str, ...] = ()
    """Names (not paths) of a folder's children; () for files."""
    writer_user_id: int | None = None
    """The HubSpot user who last wrote it, when the answer says (undocumented: optional)."""
