"""Values and kinds shared by every part of hubsync.

Frozen, slotted dataclasses and enums only: no I/O, no behaviour beyond derived
properties. Anything holding a secret hides it from ``repr`` so that a stray
``log.info(thing=...)`` or a traceback cannot print it.
"""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """One thing that happened: a sync log line (``journal.Event``), or ``watching``
    (front end only), and a console line."""

    event: str
    fields: Mapping[str, Any]
