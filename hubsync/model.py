"""Values and kinds shared by every part of hubsync.

Frozen, slotted dataclasses and enums only: no I/O, no behaviour beyond derived
properties. Anything holding a secret hides it from ``repr`` so that a stray
``log.info(thing=...)`` or a traceback cannot print it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


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
