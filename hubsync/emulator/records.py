"""The emulator's value types: accounts, faults, the request log, per-request bookkeeping."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

DEFAULT_SCOPES: Final = (
    "cms.design_manager.read_write",
    "cms.functions.read_write",
    "cms.source_code.read_write",
    "content",
)


class Endpoint(enum.StrEnum):
    """Which HubSpot call a logged request was."""

    AUTH = "auth"
    """``POST /localdevauth/v1/auth/refresh``: key -> token."""
    EMAIL = "email"
    """``GET /oauth/v1/access-tokens/{token}``: who a token belongs to."""
    UPLOAD = "upload"
    """filemapper ``POST upload/{path}``."""
    DELETE = "delete"
    """filemapper ``DELETE delete/{path}``."""
    META = "meta"
    """filemapper ``GET meta/{path}``."""
    STREAM = "stream"
    """filemapper ``GET stream/{path}``."""
    V3_UPLOAD = "v3_upload"
    """Source Code API (dated or v3) ``PUT {environment}/content/{path}``."""
    V3_DELETE = "v3_delete"
    """Source Code API ``DELETE {environment}/content/{path}``."""
    V3_DOWNLOAD = "v3_download"
    """Source Code API ``GET {environment}/content/{path}``."""
    V3_METADATA = "v3_metadata"
    """Source Code API ``GET {environment}/metadata/{path}``."""
    V3_VALIDATE = "v3_validate"
    """Source Code API ``POST {environment}/validate/{path}``."""
    EXTRACT = "extract"
    """Source Code API ``POST extract/async``: unpack a stored zip archive."""
    EXTRACT_STATUS = "extract_status"
    """Source Code API ``GET extract/async/tasks/{taskId}/status``."""
    FIREALARM = "firealarm"
    """``GET /firealarm/v4/alarm/hubspot-cli/{accountId}``: ``hs`` asks for outage notices."""
    USAGE = "usage"
    """``POST /local/dev/tools/proxy/v1/usage``: ``hs`` usage tracking."""
    ACCOUNT_SELF = "account_self"
    """``GET sandbox-hubs/v1/self`` or ``integrators/test-portals/v2/self``."""
    OTHER = "other"
    """Anything else (answered 404/405)."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One API request as the emulator saw it (control API calls are not logged).

    ``status`` is 0 when the connection was dropped on purpose (fault injection).
    ``environment_id`` is the filemapper upload's ``environmentId`` (1 production,
    2 staging) and ``file_disposition`` the raw ``Content-Disposition`` header of an
    upload's ``file`` part, as received (UTF-8 bytes decoded with ``surrogateescape``,
    so ``.encode("utf-8", "surrogateescape")`` gives back the exact bytes).
    """

    ts: float
    method: str
    endpoint: Endpoint
    remote_path: str | None
    portal_id: int | None
    status: int
    user_id: int | None
    correlation_id: str = ""
    environment_id: int | None = None
    file_disposition: str | None = None


@dataclass(frozen=True, slots=True)
class EmulatedAccount:
    """A HubSpot user in a portal, with the personal access key that authenticates them."""

    name: str
    key: str = field(repr=False)
    portal_id: int
    user_id: int
    email: str
    hub_name: str
    account_type: str = "STANDARD"
    scope_groups: tuple[str, ...] = DEFAULT_SCOPES


@dataclass(frozen=True, slots=True)
class Faults:
    """What goes wrong on purpose. ``Faults()`` is a healthy server."""

    latency_ms: float = 0.0
    """Added before every API response."""
    error_rate: float = 0.0
    """Fraction of API calls answered 500/502/503/504."""
    drop_rate: float = 0.0
    """Fraction of API calls whose connection is closed without a response (nothing applied)."""
    storm_seconds: float = 0.0
    """Every API call is answered 429 for this long after the faults are set."""
    retry_after: float | None = None
    """With a storm, send ``Retry-After: <ceil(retry_after)>`` on its 429s; None sends none."""

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {value}")
        for name in ("latency_ms", "storm_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must not be negative")


@dataclass(frozen=True, slots=True)
class Token:
    """An access token the emulator issued: whose, and until when (epoch ms)."""

    account: EmulatedAccount
    expires_at_ms: int


@dataclass(slots=True)
class Exchange:
    """What one API request touched, filled in as the handler learns it."""

    correlation_id: str
    endpoint: Endpoint = Endpoint.OTHER
    remote_path: str | None = None
    portal_id: int | None = None
    user_id: int | None = None
    rate_remaining: int | None = None
    environment_id: int | None = None
    file_disposition: str | None = None


class Dropped(Exception):
    """The connection was closed on purpose; there is no response to send."""


@dataclass(frozen=True, slots=True)
class ExtractFaults:
    """How the Source Code API's archive extraction misbehaves on purpose."""

    refuse_status: int | None = None
    """403 (missing scope) or 404 (archive not found) for every ``extract/async`` call."""
    reject_entries: frozenset[str] = frozenset()
    """Archive entries (paths inside the zip) refused as HubSpot refuses a bad file."""
    never_complete: bool = False
    """Tasks stay ``PROCESSING`` forever."""
    delay_ms: float = 300.0
    """From request to ``COMPLETE`` (half of it ``PENDING``, half ``PROCESSING``)."""

    def __post_init__(self) -> None:
        if self.refuse_status not in (None, 403, 404):
            raise ValueError(f"refuse_status must be 403, 404 or None, not {self.refuse_status}")
        if self.delay_ms < 0:
            raise ValueError("delay_ms must not be negative")


@dataclass(slots=True)
class ExtractTask:
    """One extraction: its state as ``extract/async/tasks/{id}/status`` reports it."""

    id: str
    portal_id: int
    archive: str
    requested_at_ms: int
    status: str = "PENDING"
    started_at_ms: int | None = None
    completed_at_ms: int | None = None
    errors: list[dict[str, object]] = field(default_factory=list)
    extracted: tuple[str, ...] = ()
    """Remote paths written, once COMPLETE."""
