"""The emulator's aiohttp server: HubSpot's wire contract, faults, and the control API.

See the package docstring for the contract choices. Every piece of mutable state sits
behind one ``threading.RLock`` held only between awaits, so the Python API may be
called from any thread (``EmulatorThread``) while the server runs on its own loop.
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import enum
import ipaddress
import json
import math
import mimetypes
import random
import secrets
import shutil
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, web

from hubsync.emulator.store import (
    Environment,
    RemoteTree,
    StoredFile,
    load_mirror,
    module_meta_path,
    normalize_path,
)
from hubsync.emulator.validate import Problem, check_upload

FILEMAPPER_PREFIX: Final = "/content/filemapper/v1/"
SOURCE_CODE_PREFIX: Final = "/cms/v3/source-code/"
AUTH_PATH: Final = "/localdevauth/v1/auth/refresh"
TOKEN_INFO_PREFIX: Final = "/oauth/v1/access-tokens/"  # noqa: S105 - a URL path
CONTROL_PREFIX: Final = "/_emulator"
DEFAULT_MAX_UPLOAD_BYTES: Final = 64 * 1024 * 1024
# Big uploads are hashed off the loop; small ones are cheaper to hash in place.
_HASH_IN_THREAD_BYTES: Final = 1024 * 1024
_READ_CHUNK: Final = 256 * 1024
_MAX_REQUEST_LOG: Final = 200_000
CORRELATION_ID: Final = web.RequestKey("correlation_id", str)

DEFAULT_SCOPES: Final = (
    "cms.design_manager.read_write",
    "cms.functions.read_write",
    "cms.source_code.read_write",
    "content",
)

MISSING_CREDENTIALS_MESSAGE: Final = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
    "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
REJECTED_KEY_MESSAGE: Final = (
    "The personal access key is invalid or has been revoked. Generate a new personal "
    "access key in HubSpot (Settings > Integrations > Private Apps > Personal access key)."
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
    """Source Code API v3 ``PUT {environment}/content/{path}``."""
    V3_DELETE = "v3_delete"
    """Source Code API v3 ``DELETE {environment}/content/{path}``."""
    V3_DOWNLOAD = "v3_download"
    """Source Code API v3 ``GET {environment}/content/{path}``."""
    V3_METADATA = "v3_metadata"
    """Source Code API v3 ``GET {environment}/metadata/{path}``."""
    V3_VALIDATE = "v3_validate"
    """Source Code API v3 ``POST {environment}/validate/{path}``."""
    OTHER = "other"
    """Anything else (answered 404/405)."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One API request as the emulator saw it (control API calls are not logged).

    ``status`` is 0 when the connection was dropped on purpose (fault injection).
    """

    ts: float
    method: str
    endpoint: Endpoint
    remote_path: str | None
    portal_id: int | None
    status: int
    user_id: int | None
    correlation_id: str = ""


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
class _Token:
    account: EmulatedAccount
    expires_at_ms: int


@dataclass(slots=True)
class _Exchange:
    """What one API request touched, filled in as the handler learns it."""

    correlation_id: str
    endpoint: Endpoint = Endpoint.OTHER
    remote_path: str | None = None
    portal_id: int | None = None
    user_id: int | None = None
    rate_remaining: int | None = None


class _Dropped(Exception):
    """The connection was closed on purpose; there is no response to send."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _now_ms() -> int:
    return int(time.time() * 1000)


def _http_date(epoch_ms: int) -> str:
    return email.utils.format_datetime(datetime.fromtimestamp(epoch_ms / 1000, UTC), usegmt=True)


def policy_name(window_ms: int) -> str:
    """HubSpot's name for a rolling window, as in its 429 bodies."""
    if window_ms == 10_000:
        return "TEN_SECONDLY_ROLLING"
    if window_ms == 1_000:
        return "SECONDLY"
    return f"ROLLING_{window_ms}_MS"


class Emulator:
    """A HubSpot-compatible server: key exchange, filemapper and Source Code API v3.

    Construct, add accounts, then ``await start()`` (or ``async with``); ``url`` is the
    base URL to configure as an account's API base.
    """

    def __init__(
        self,
        token_ttl_s: float = 1800.0,
        rate_limit: int = 100,
        rate_window_ms: int = 10_000,
        data_dir: Path | str | None = None,
        seed: int = 0,
        *,
        latency_ms: float = 0.0,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        storm_seconds: float = 0.0,
        retry_after: float | None = None,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    ) -> None:
        self.token_ttl_s = token_ttl_s
        self.max_upload_bytes = max_upload_bytes
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._lock = threading.RLock()
        self._rng = random.Random(seed)  # noqa: S311 - reproducible faults, not secrets
        self._accounts: dict[str, EmulatedAccount] = {}
        self._revoked: set[str] = set()
        self._tokens: dict[str, _Token] = {}
        self._trees: dict[tuple[int, Environment], RemoteTree] = (
            load_mirror(self.data_dir) if self.data_dir is not None else {}
        )
        self._requests: collections.deque[RequestRecord] = collections.deque(
            maxlen=_MAX_REQUEST_LOG
        )
        self._windows: dict[int, collections.deque[float]] = {}
        self._rate_limit = 0
        self._rate_window_ms = 10_000
        self.set_rate_limit(rate_limit, rate_window_ms)
        self._faults = Faults()
        self._storm_until = 0.0
        self.set_faults(latency_ms, error_rate, drop_rate, storm_seconds, retry_after)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        # One writer thread keeps mirror writes in request order.
        self._disk: ThreadPoolExecutor | None = None

    # ----------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (0 picks a free port). Only loopback hosts are allowed."""
        if not is_loopback(host):
            raise ValueError(f"the emulator only listens on loopback addresses, not {host!r}")
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        app = web.Application(
            client_max_size=self.max_upload_bytes + 1024 * 1024,
            middlewares=[self._correlation_middleware],
        )
        self._add_control_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._api)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        bound_port = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        self._url = f"http://{shown}:{bound_port}"
        self._runner = runner
        if self.data_dir is not None:
            self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emulator-mirror")

    async def stop(self) -> None:
        """Stop listening and close every connection. Stored state stays readable."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        disk, self._disk = self._disk, None
        if disk is not None:
            await asyncio.to_thread(disk.shutdown, wait=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` once started."""
        if self._url is None:
            raise RuntimeError("the emulator is not started; await start() first")
        return self._url

    # ----------------------------------------------------------------- Python API

    def add_account(
        self,
        name: str,
        *,
        portal_id: int,
        user_id: int,
        email: str | None = None,
        hub_name: str | None = None,
        account_type: str = "STANDARD",
        scope_groups: tuple[str, ...] = DEFAULT_SCOPES,
    ) -> EmulatedAccount:
        """Create a user with a fresh personal access key in a portal (made on first use)."""
        with self._lock:
            if name in self._accounts:
                raise ValueError(f"an account named {name!r} already exists")
            account = EmulatedAccount(
                name=name,
                key=_new_key(),
                portal_id=int(portal_id),
                user_id=int(user_id),
                email=email or f"{name}@example.com",
                hub_name=hub_name or f"{name.title()} ({portal_id})",
                account_type=account_type,
                scope_groups=tuple(scope_groups),
            )
            self._accounts[name] = account
            return account

    @property
    def accounts(self) -> dict[str, EmulatedAccount]:
        """Every account by name, with its current key."""
        with self._lock:
            return dict(self._accounts)

    def account(self, name: str) -> EmulatedAccount:
        """One account by name (``KeyError`` if unknown)."""
        with self._lock:
            return self._accounts[name]

    def files(
        self, portal_id: int, environment: str | Environment = Environment.PUBLISHED
    ) -> dict[str, StoredFile]:
        """The stored files of one portal: remote path (no leading ``/``) -> file."""
        with self._lock:
            tree = self._trees.get((int(portal_id), Environment(environment)))
            return dict(sorted(tree.files.items())) if tree else {}

    def folders(
        self, portal_id: int, environment: str | Environment = Environment.PUBLISHED
    ) -> list[str]:
        """The folders of one portal (they outlive their last file, as in HubSpot)."""
        with self._lock:
            tree = self._trees.get((int(portal_id), Environment(environment)))
            return sorted(tree.folders) if tree else []

    @property
    def requests(self) -> list[RequestRecord]:
        """Every API request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the request log."""
        with self._lock:
            self._requests.clear()

    @property
    def faults(self) -> Faults:
        """The faults last set."""
        with self._lock:
            return self._faults

    def storm_remaining_s(self) -> float:
        """Seconds left in the current 429 storm (0 when none)."""
        with self._lock:
            return max(0.0, self._storm_until - time.monotonic())

    def set_faults(
        self,
        latency_ms: float = 0,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        storm_seconds: float = 0.0,
        retry_after: float | None = None,
    ) -> None:
        """Replace every fault setting; a storm starts now. ``set_faults()`` clears all."""
        faults = Faults(float(latency_ms), float(error_rate), float(drop_rate),
                        float(storm_seconds), retry_after)
        with self._lock:
            self._faults = faults
            self._storm_until = time.monotonic() + storm_seconds if storm_seconds else 0.0

    def revoke_key(self, key: str) -> None:
        """Make the key fail the exchange from now on. Tokens already issued live on until
        they expire, like HubSpot's; call ``expire_all_tokens`` to end them too."""
        with self._lock:
            self._revoked.add(key)

    def rotate_key(self, name: str) -> str:
        """Give account ``name`` a new key and revoke the old one; returns the new key."""
        with self._lock:
            old = self._accounts[name]
            self._revoked.add(old.key)
            new = replace(old, key=_new_key())
            self._accounts[name] = new
            return new.key

    def expire_all_tokens(self) -> None:
        """Every token issued so far is expired from now on (401 EXPIRED_AUTHENTICATION)."""
        now = _now_ms()
        with self._lock:
            for value, token in self._tokens.items():
                expires = min(token.expires_at_ms, now - 1)
                self._tokens[value] = replace(token, expires_at_ms=expires)

    def set_rate_limit(self, limit: int, window_ms: int = 10_000) -> None:
        """Allow ``limit`` API calls per portal per rolling ``window_ms``; 0 disables limiting."""
        if limit < 0 or window_ms <= 0:
            raise ValueError("rate limit must be >= 0 and its window > 0 ms")
        with self._lock:
            self._rate_limit = int(limit)
            self._rate_window_ms = int(window_ms)

    @property
    def rate_limit(self) -> tuple[int, int]:
        """``(limit, window_ms)``; a limit of 0 means unlimited."""
        with self._lock:
            return self._rate_limit, self._rate_window_ms

    # ----------------------------------------------------------------- plumbing

    @web.middleware
    async def _correlation_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        correlation_id = str(uuid.uuid4())
        request[CORRELATION_ID] = correlation_id
        response = await handler(request)
        response.headers["X-HubSpot-Correlation-Id"] = correlation_id
        return response

    def _log(self, exchange: _Exchange, method: str, status: int) -> None:
        with self._lock:
            self._requests.append(
                RequestRecord(
                    ts=time.time(),
                    method=method,
                    endpoint=exchange.endpoint,
                    remote_path=exchange.remote_path,
                    portal_id=exchange.portal_id,
                    status=status,
                    user_id=exchange.user_id,
                    correlation_id=exchange.correlation_id,
                )
            )

    @staticmethod
    def _error(
        exchange: _Exchange, status: int, message: str, category: str, **extra: Any
    ) -> web.Response:
        body = {
            "status": "error",
            "message": message,
            "correlationId": exchange.correlation_id,
            "category": category,
            **extra,
        }
        return web.json_response(body, status=status)

    def _too_many(self, exchange: _Exchange, retry_after: float | None) -> web.Response:
        policy = policy_name(self._rate_window_ms)
        response = self._error(
            exchange,
            429,
            f"You have reached your {policy.lower()} limit.",
            "RATE_LIMITS",
            errorType="RATE_LIMIT",
            policyName=policy,
            groupName=f"filemapper:portal:{exchange.portal_id}",
        )
        exchange.rate_remaining = 0
        if retry_after is not None:
            response.headers["Retry-After"] = str(math.ceil(retry_after))
        return response

    def _rate_headers(self, exchange: _Exchange, response: web.StreamResponse) -> None:
        with self._lock:
            limit, window_ms = self._rate_limit, self._rate_window_ms
            if not limit:
                # Advertising Max=0 would tell a client it has no budget at all.
                return
            remaining = exchange.rate_remaining
            if remaining is None:
                remaining = limit
                if exchange.portal_id is not None:
                    window = self._windows.get(exchange.portal_id)
                    if window is not None:
                        self._expire_window(window, time.monotonic(), window_ms)
                        remaining = max(0, limit - len(window))
        response.headers["X-HubSpot-RateLimit-Max"] = str(limit)
        response.headers["X-HubSpot-RateLimit-Remaining"] = str(remaining)
        response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(window_ms)

    @staticmethod
    def _expire_window(window: collections.deque[float], now: float, window_ms: int) -> None:
        horizon = now - window_ms / 1000
        while window and window[0] <= horizon:
            window.popleft()

    def _admit(self, exchange: _Exchange, portal_id: int) -> web.Response | None:
        """Count one call against the portal's rolling window; a 429 if it is full."""
        with self._lock:
            if not self._rate_limit:
                return None
            now = time.monotonic()
            window = self._windows.setdefault(portal_id, collections.deque())
            self._expire_window(window, now, self._rate_window_ms)
            if len(window) >= self._rate_limit:
                return self._too_many(exchange, None)
            window.append(now)
            exchange.rate_remaining = self._rate_limit - len(window)
            return None

    async def _api(self, request: web.Request) -> web.StreamResponse:
        exchange = _Exchange(correlation_id=request[CORRELATION_ID])
        try:
            response = await self._api_inner(request, exchange)
        except _Dropped:
            self._log(exchange, request.method, 0)
            raise web.HTTPInternalServerError() from None  # never sent: the transport is closed
        self._rate_headers(exchange, response)
        self._log(exchange, request.method, response.status)
        return response

    async def _api_inner(self, request: web.Request, exchange: _Exchange) -> web.StreamResponse:
        route = self._route(request, exchange)
        with self._lock:
            faults = self._faults
            storm = self._storm_until > time.monotonic()
            drop = faults.drop_rate > 0 and self._rng.random() < faults.drop_rate
            fail = faults.error_rate > 0 and self._rng.random() < faults.error_rate
            fail_status = self._rng.choice((500, 502, 503, 504)) if fail else 0
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if drop:
            if request.transport is not None:
                request.transport.close()
            raise _Dropped
        if storm:
            return self._too_many(exchange, faults.retry_after)
        if fail:
            return self._error(exchange, fail_status, "Internal error (emulated fault)",
                               "INTERNAL_ERROR")
        return await route()

    def _route(
        self, request: web.Request, exchange: _Exchange
    ) -> Callable[[], Awaitable[web.StreamResponse]]:
        """Pick the handler from the raw (still percent-encoded) path."""
        raw = request.rel_url.raw_path
        method = request.method

        def wrong_method() -> Awaitable[web.StreamResponse]:
            return _ready(self._error(exchange, 405, f"{method} is not allowed on {raw}",
                                      "VALIDATION_ERROR"))

        def not_found() -> Awaitable[web.StreamResponse]:
            return _ready(self._error(exchange, 404, f"No API endpoint at {raw}",
                                      "OBJECT_NOT_FOUND"))

        if raw == AUTH_PATH:
            exchange.endpoint = Endpoint.AUTH
            return (lambda: self._auth_refresh(request, exchange)) if method == "POST" \
                else wrong_method
        if raw.startswith(TOKEN_INFO_PREFIX) and "/" not in raw[len(TOKEN_INFO_PREFIX):]:
            exchange.endpoint = Endpoint.EMAIL
            token = unquote(raw[len(TOKEN_INFO_PREFIX):])
            return (lambda: self._token_info(exchange, token)) if method == "GET" \
                else wrong_method
        if raw.startswith(FILEMAPPER_PREFIX):
            operation, _, tail = raw[len(FILEMAPPER_PREFIX):].partition("/")
            handlers: dict[str, tuple[Endpoint, str, bool]] = {
                "upload": (Endpoint.UPLOAD, "POST", True),
                "delete": (Endpoint.DELETE, "DELETE", True),
                "stream": (Endpoint.STREAM, "GET", True),
                "meta": (Endpoint.META, "GET", False),
            }
            if operation not in handlers:
                return not_found
            endpoint, wanted_method, one_segment = handlers[operation]
            exchange.endpoint = endpoint
            if method != wanted_method:
                return wrong_method
            if one_segment and "/" in tail:
                # The contract sends the whole path as ONE segment (`/` as %2F).
                return lambda: _ready(self._error(
                    exchange, 404,
                    f"No {operation} endpoint at {raw}: encode the remote path as one "
                    "segment (every '/' as %2F)", "OBJECT_NOT_FOUND"))
            decoded = "/".join(unquote(segment) for segment in tail.split("/"))
            exchange.remote_path = decoded.strip("/")
            return lambda: self._filemapper(request, exchange, endpoint, decoded)
        if raw.startswith(SOURCE_CODE_PREFIX):
            environment, _, rest = raw[len(SOURCE_CODE_PREFIX):].partition("/")
            operation, _, tail = rest.partition("/")
            if operation not in _V3_OPERATIONS:
                return not_found
            v3_endpoint = _V3_OPERATIONS[operation].get(method)
            if v3_endpoint is None:
                return wrong_method
            exchange.endpoint = v3_endpoint
            # v3 takes the path raw, `/` kept; each segment may be percent-encoded.
            v3_decoded = "/".join(unquote(segment) for segment in tail.split("/"))
            exchange.remote_path = v3_decoded.strip("/")
            return lambda: self._source_code(
                request, exchange, v3_endpoint, unquote(environment), v3_decoded)
        return not_found

    # ----------------------------------------------------------------- auth

    async def _auth_refresh(self, request: web.Request, exchange: _Exchange) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        key = body.get("encodedOAuthRefreshToken") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key:
            return self._error(exchange, 400,
                               "Request body must be JSON with encodedOAuthRefreshToken",
                               "VALIDATION_ERROR")
        with self._lock:
            account = next((a for a in self._accounts.values() if a.key == key), None)
            if account is None or key in self._revoked:
                return self._error(exchange, 401, REJECTED_KEY_MESSAGE, "INVALID_AUTHENTICATION",
                                   subCategory="INVALID_PERSONAL_ACCESS_KEY")
            exchange.portal_id, exchange.user_id = account.portal_id, account.user_id
            value = _new_token()
            expires = _now_ms() + int(self.token_ttl_s * 1000)
            self._tokens[value] = _Token(account, expires)
        return web.json_response({
            "oauthAccessToken": value,
            "expiresAtMillis": expires,
            "hubId": account.portal_id,
            "userId": account.user_id,
            "hubName": account.hub_name,
            "scopeGroups": list(account.scope_groups),
            "enabledFeatures": {"cms-developer-mode": 1},
            "accountType": account.account_type,
            "encodedOAuthRefreshToken": key,
        })

    async def _token_info(self, exchange: _Exchange, value: str) -> web.Response:
        with self._lock:
            token = self._tokens.get(value)
        if token is None:
            return self._error(exchange, 404, "Token not found", "OBJECT_NOT_FOUND")
        account = token.account
        exchange.portal_id, exchange.user_id = account.portal_id, account.user_id
        now = _now_ms()
        if token.expires_at_ms <= now:
            return self._expired(exchange, token, now)
        if (limited := self._admit(exchange, account.portal_id)) is not None:
            return limited
        return web.json_response({
            "token": value,
            "user": account.email,
            "user_id": account.user_id,
            "hub_id": account.portal_id,
            "hub_domain": f"{account.name}-{account.portal_id}.hubspot.emulator",
            "scopes": list(account.scope_groups),
            "expires_in": (token.expires_at_ms - now) // 1000,
            "token_type": "access",
        })

    def _expired(self, exchange: _Exchange, token: _Token, now_ms: int) -> web.Response:
        minutes = max(0, (now_ms - token.expires_at_ms) // 60_000)
        return self._error(
            exchange, 401,
            f"The OAuth token used to make this call expired {minutes} minute(s) ago.",
            "EXPIRED_AUTHENTICATION",
        )

    def _authenticate(self, request: web.Request, exchange: _Exchange) -> _Token | web.Response:
        """The caller's token, or the 400/401/403 HubSpot answers instead."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        with self._lock:
            token = self._tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            return self._error(exchange, 401, MISSING_CREDENTIALS_MESSAGE,
                               "INVALID_AUTHENTICATION")
        exchange.portal_id, exchange.user_id = token.account.portal_id, token.account.user_id
        now = _now_ms()
        if token.expires_at_ms <= now:
            return self._expired(exchange, token, now)
        raw_portal = request.query.get("portalId")
        if raw_portal is None:
            return self._error(exchange, 400, "Missing required query parameter portalId",
                               "VALIDATION_ERROR")
        if not raw_portal.isdigit():
            return self._error(exchange, 400, f"portalId must be a number, not {raw_portal!r}",
                               "VALIDATION_ERROR")
        if int(raw_portal) != token.account.portal_id:
            return self._error(
                exchange, 403,
                f"The access token belongs to portal {token.account.portal_id} and cannot "
                f"act on portal {raw_portal}", "FORBIDDEN")
        return token

    # ----------------------------------------------------------------- filemapper

    async def _filemapper(
        self, request: web.Request, exchange: _Exchange, endpoint: Endpoint, decoded: str
    ) -> web.StreamResponse:
        token = self._authenticate(request, exchange)
        if isinstance(token, web.Response):
            return token
        if (limited := self._admit(exchange, token.account.portal_id)) is not None:
            return limited
        path = normalize_path(decoded)
        if path is None or (not path and endpoint is not Endpoint.META):
            return self._error(exchange, 400, f"Invalid remote path {decoded!r}",
                               "VALIDATION_ERROR")
        exchange.remote_path = path
        buffer = request.query.get("buffer", "false").lower()
        if buffer not in ("true", "false"):
            return self._error(exchange, 400, f"buffer must be true or false, not {buffer!r}",
                               "VALIDATION_ERROR")
        environment = Environment.DRAFT if buffer == "true" else Environment.PUBLISHED
        portal_id = token.account.portal_id
        if endpoint is Endpoint.UPLOAD:
            return await self._upload(request, exchange, token, path, environment)
        if endpoint is Endpoint.DELETE:
            return await self._delete(exchange, portal_id, path)
        if endpoint is Endpoint.META:
            return self._meta(exchange, portal_id, path, environment)
        return self._stream(exchange, portal_id, path, environment)

    async def _upload(
        self, request: web.Request, exchange: _Exchange, token: _Token, path: str,
        environment: Environment,
    ) -> web.Response:
        environment_id = request.query.get("environmentId", "1")
        if environment_id != "1":
            return self._error(exchange, 400, f"Unknown environmentId {environment_id!r}",
                               "VALIDATION_ERROR")
        content = await self._receive(request, exchange, path)
        if isinstance(content, web.Response):
            return content
        stored = await self._store(token, path, environment, content)
        return web.json_response({
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "folder": False,
            "children": [],
            "createdAt": stored.created_at_ms,
            "updatedAt": stored.updated_at_ms,
            "hash": stored.sha256,
        })

    async def _receive(
        self, request: web.Request, exchange: _Exchange, path: str
    ) -> bytes | web.Response:
        """The bytes of the ``file`` part if HubSpot would store them, else the 400/413."""
        if not request.content_type.startswith("multipart/"):
            return self._error(exchange, 400,
                               "Expected multipart/form-data with one part named 'file'",
                               "VALIDATION_ERROR")
        content = await self._read_file_part(request)
        if content is None:
            return self._error(exchange, 400, "Missing multipart part named 'file'",
                               "VALIDATION_ERROR")
        if len(content) > self.max_upload_bytes:
            return self._error(exchange, 413,
                               f"File larger than {self.max_upload_bytes} bytes",
                               "VALIDATION_ERROR")
        problem = check_upload(path, content)
        if problem is not None:
            return self._problem(exchange, problem, path)
        return content

    async def _store(
        self, token: _Token, path: str, environment: Environment, content: bytes
    ) -> StoredFile:
        """Write ``content`` as the token's user: the draft only, or published and draft."""
        now = _now_ms()
        targets = [Environment.DRAFT] if environment is Environment.DRAFT else list(Environment)
        user_id = token.account.user_id
        if len(content) > _HASH_IN_THREAD_BYTES:
            template = await asyncio.to_thread(StoredFile.build, content, user_id=user_id,
                                               now_ms=now)
        else:
            template = StoredFile.build(content, user_id=user_id, now_ms=now)
        meta_path = module_meta_path(path)
        portal_id = token.account.portal_id
        with self._lock:
            for env in targets:
                tree = self._trees.setdefault((portal_id, env), RemoteTree())
                previous = tree.files.get(path)
                tree.put(path, replace(
                    template,
                    before_meta=meta_path not in (None, path) and meta_path not in tree.files,
                    created_at_ms=previous.created_at_ms if previous else now,
                ))
            stored = self._trees[(portal_id, environment)].files[path]
        for env in targets:
            await self._mirror(self._mirror_write, portal_id, env, path, content)
        return stored

    async def _read_file_part(self, request: web.Request) -> bytes | None:
        """The content of the part named ``file`` (other parts are skipped), streamed."""
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name != "file":
                if isinstance(part, BodyPartReader):
                    await part.release()
                continue
            content = bytearray()
            while chunk := await part.read_chunk(_READ_CHUNK):
                content += chunk
                if len(content) > self.max_upload_bytes:
                    break
            return bytes(content)
        return None

    def _problem(self, exchange: _Exchange, problem: Problem, path: str) -> web.Response:
        extra: dict[str, Any] = {}
        if problem.errors:
            extra["errors"] = [
                {
                    "message": error.message,
                    "in": path,
                    "code": error.code,
                    "context": {"path": [path]},
                    "errorTokens": {"line": [error.line]},
                }
                for error in problem.errors
            ]
        return self._error(exchange, 400, problem.message, "VALIDATION_ERROR", **extra)

    async def _delete(
        self, exchange: _Exchange, portal_id: int, path: str,
        environments: tuple[Environment, ...] = tuple(Environment),
    ) -> web.Response:
        with self._lock:
            removed = [
                env for env in environments
                if (tree := self._trees.get((portal_id, env))) is not None and tree.delete(path)
            ]
        if not removed:
            return self._error(exchange, 404, f"Path not found: {path}", "OBJECT_NOT_FOUND")
        for env in removed:
            await self._mirror(self._mirror_delete, portal_id, env, path)
        return web.Response(status=204)

    def _meta(
        self, exchange: _Exchange, portal_id: int, path: str, environment: Environment
    ) -> web.Response:
        with self._lock:
            tree = self._trees.get((portal_id, environment), RemoteTree())
            node = tree.node(path)
        if node is None:
            return self._error(exchange, 404, f"Path not found: {path}", "OBJECT_NOT_FOUND")
        return web.json_response({
            "name": node.name,
            "path": node.path,
            "folder": node.folder,
            "children": list(node.children),
            "createdAt": node.created_at_ms,
            "updatedAt": node.updated_at_ms,
        })

    def _stream(
        self, exchange: _Exchange, portal_id: int, path: str, environment: Environment
    ) -> web.Response:
        with self._lock:
            tree = self._trees.get((portal_id, environment))
            stored = tree.files.get(path) if tree else None
        if stored is None:
            return self._error(exchange, 404, f"File not found: {path}", "OBJECT_NOT_FOUND")
        name = path.rsplit("/", 1)[-1]
        ascii_name = name.encode("ascii", "replace").decode().replace('"', "_")
        disposition = (
            f'attachment; filename="{ascii_name}"; filename*=UTF-8\'\'{quote(name)}; '
            f'creation-date="{_http_date(stored.created_at_ms)}"; '
            f'modification-date="{_http_date(stored.updated_at_ms)}"'
        )
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return web.Response(body=stored.content, content_type=content_type,
                            headers={"Content-Disposition": disposition})

    # ----------------------------------------------------------------- source code v3

    async def _source_code(
        self, request: web.Request, exchange: _Exchange, endpoint: Endpoint,
        environment_name: str, decoded: str,
    ) -> web.StreamResponse:
        token = self._authenticate(request, exchange)
        if isinstance(token, web.Response):
            return token
        if (limited := self._admit(exchange, token.account.portal_id)) is not None:
            return limited
        if environment_name not in {env.value for env in Environment}:
            return self._error(
                exchange, 400,
                f"Unknown environment {environment_name!r}: use draft or published",
                "VALIDATION_ERROR")
        environment = Environment(environment_name)
        path = normalize_path(decoded)
        if path is None or (not path and endpoint is not Endpoint.V3_METADATA):
            return self._error(exchange, 400, f"Invalid remote path {decoded!r}",
                               "VALIDATION_ERROR")
        exchange.remote_path = path
        portal_id = token.account.portal_id
        if endpoint is Endpoint.V3_UPLOAD or endpoint is Endpoint.V3_VALIDATE:
            content = await self._receive(request, exchange, path)
            if isinstance(content, web.Response):
                return content
            if endpoint is Endpoint.V3_VALIDATE:
                return web.Response(status=200)
            await self._store(token, path, environment, content)
            return self._v3_metadata(exchange, portal_id, path, environment)
        if endpoint is Endpoint.V3_DELETE:
            # Deleting what is live takes the draft with it, as the filemapper delete does.
            targets = (Environment.DRAFT,) if environment is Environment.DRAFT \
                else tuple(Environment)
            return await self._delete(exchange, portal_id, path, targets)
        if endpoint is Endpoint.V3_METADATA:
            return self._v3_metadata(exchange, portal_id, path, environment)
        return self._stream(exchange, portal_id, path, environment)

    def _v3_metadata(
        self, exchange: _Exchange, portal_id: int, path: str, environment: Environment
    ) -> web.Response:
        """``{id, name, folder, createdAt, updatedAt, children?, hash?}`` of one path."""
        with self._lock:
            tree = self._trees.get((portal_id, environment), RemoteTree())
            node = tree.node(path)
            stored = tree.files.get(path)
        if node is None:
            return self._error(exchange, 404, f"Path not found: {path}", "OBJECT_NOT_FOUND")
        body: dict[str, Any] = {
            "id": node.path,
            "name": node.name,
            "folder": node.folder,
            "createdAt": node.created_at_ms,
            "updatedAt": node.updated_at_ms,
        }
        if node.folder:
            body["children"] = list(node.children)
        if stored is not None:
            body["hash"] = stored.sha256
        return web.json_response(body)

    # ----------------------------------------------------------------- disk mirror

    async def _mirror(self, job: Callable[..., None], *args: Any) -> None:
        if self._disk is None:
            return
        await asyncio.get_running_loop().run_in_executor(self._disk, job, *args)

    def _mirror_target(self, portal_id: int, env: Environment, path: str) -> Path:
        assert self.data_dir is not None
        return self.data_dir / str(portal_id) / env.value / path

    def _mirror_write(self, portal_id: int, env: Environment, path: str, content: bytes) -> None:
        target = self._mirror_target(portal_id, env, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".emulator-partial")
        partial.write_bytes(content)
        partial.replace(target)

    def _mirror_delete(self, portal_id: int, env: Environment, path: str) -> None:
        target = self._mirror_target(portal_id, env, path)
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)

    # ----------------------------------------------------------------- control API

    def _add_control_routes(self, app: web.Application) -> None:
        routes = [
            ("GET", "/", self._c_summary),
            ("GET", "/accounts", self._c_accounts),
            ("POST", "/accounts", self._c_add_account),
            ("GET", "/files/{portal}", self._c_files),
            ("GET", "/content/{portal}/{environment}/{path:.+}", self._c_content),
            ("GET", "/requests", self._c_requests),
            ("DELETE", "/requests", self._c_clear_requests),
            ("GET", "/faults", self._c_faults),
            ("PUT", "/faults", self._c_set_faults),
            ("DELETE", "/faults", self._c_clear_faults),
            ("POST", "/revoke", self._c_revoke),
            ("POST", "/rotate", self._c_rotate),
            ("POST", "/expire-tokens", self._c_expire),
            ("GET", "/rate-limit", self._c_rate_limit),
            ("PUT", "/rate-limit", self._c_set_rate_limit),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, CONTROL_PREFIX + path, self._local_only(handler))

    @staticmethod
    def _local_only(
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not is_loopback(request.remote or ""):
                return _control_error(request, 403,
                                      "the control API only answers loopback clients")
            try:
                return await handler(request)
            except (ValueError, TypeError, KeyError, json.JSONDecodeError) as exc:
                return _control_error(request, 400, f"{type(exc).__name__}: {exc}")

        return guarded

    @staticmethod
    async def _json_body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        body = await request.json()
        if not isinstance(body, dict):
            raise TypeError("the body must be a JSON object")
        return body

    async def _c_summary(self, request: web.Request) -> web.Response:
        with self._lock:
            portals = sorted({portal for portal, _ in self._trees}
                             | {a.portal_id for a in self._accounts.values()})
        limit, window_ms = self.rate_limit
        return web.json_response({
            "url": self._url,
            "portals": portals,
            "accounts": [_public_account(a) for a in self.accounts.values()],
            "faults": self._faults_json(),
            "rate_limit": {"limit": limit, "window_ms": window_ms},
            "requests": len(self.requests),
        })

    async def _c_accounts(self, request: web.Request) -> web.Response:
        return web.json_response([_public_account(a) for a in self.accounts.values()])

    async def _c_add_account(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        account = self.add_account(
            str(body["name"]),
            portal_id=int(body["portal_id"]),
            user_id=int(body["user_id"]),
            email=body.get("email"),
            hub_name=body.get("hub_name"),
            account_type=str(body.get("account_type", "STANDARD")),
        )
        # The key of an emulated account is a throwaway the caller needs to use it.
        return web.json_response({**_public_account(account), "key": account.key}, status=201)

    async def _c_files(self, request: web.Request) -> web.Response:
        portal_id = int(request.match_info["portal"])
        environment = Environment(request.query.get("environment", "published"))
        files = {
            path: {
                "sha256": stored.sha256,
                "size": stored.size,
                "user_id": stored.user_id,
                "updated_at_ms": stored.updated_at_ms,
                "created_at_ms": stored.created_at_ms,
                "before_meta": stored.before_meta,
            }
            for path, stored in self.files(portal_id, environment).items()
        }
        return web.json_response({
            "portal_id": portal_id,
            "environment": environment.value,
            "files": files,
            "folders": self.folders(portal_id, environment),
        })

    async def _c_content(self, request: web.Request) -> web.Response:
        files = self.files(int(request.match_info["portal"]),
                           Environment(request.match_info["environment"]))
        stored = files.get(request.match_info["path"])
        if stored is None:
            return _control_error(request, 404, "no such file")
        return web.Response(body=stored.content, content_type="application/octet-stream")

    async def _c_requests(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.json_response([
            {**asdict(record), "endpoint": record.endpoint.value}
            for record in self.requests[since:]
        ])

    async def _c_clear_requests(self, request: web.Request) -> web.Response:
        self.clear_requests()
        return web.Response(status=204)

    def _faults_json(self) -> dict[str, Any]:
        return {**asdict(self.faults), "storm_remaining_s": round(self.storm_remaining_s(), 3)}

    async def _c_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self._faults_json())

    async def _c_set_faults(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        unknown = set(body) - set(Faults.__dataclass_fields__)
        if unknown:
            raise KeyError(f"unknown fault settings: {sorted(unknown)}")
        retry_after = body.get("retry_after")
        self.set_faults(
            latency_ms=float(body.get("latency_ms", 0)),
            error_rate=float(body.get("error_rate", 0)),
            drop_rate=float(body.get("drop_rate", 0)),
            storm_seconds=float(body.get("storm_seconds", 0)),
            retry_after=None if retry_after is None else float(retry_after),
        )
        return web.json_response(self._faults_json())

    async def _c_clear_faults(self, request: web.Request) -> web.Response:
        self.set_faults()
        return web.json_response(self._faults_json())

    async def _c_revoke(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        by_name = "account" in body
        key = self.account(str(body["account"])).key if by_name else str(body["key"])
        self.revoke_key(key)
        return web.Response(status=204)

    async def _c_rotate(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        return web.json_response({"key": self.rotate_key(str(body["account"]))})

    async def _c_expire(self, request: web.Request) -> web.Response:
        self.expire_all_tokens()
        return web.Response(status=204)

    async def _c_rate_limit(self, request: web.Request) -> web.Response:
        limit, window_ms = self.rate_limit
        return web.json_response({"limit": limit, "window_ms": window_ms})

    async def _c_set_rate_limit(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        self.set_rate_limit(int(body["limit"]), int(body.get("window_ms", 10_000)))
        return await self._c_rate_limit(request)


_V3_OPERATIONS: Final[dict[str, dict[str, Endpoint]]] = {
    "content": {"PUT": Endpoint.V3_UPLOAD, "DELETE": Endpoint.V3_DELETE,
                "GET": Endpoint.V3_DOWNLOAD},
    "metadata": {"GET": Endpoint.V3_METADATA},
    "validate": {"POST": Endpoint.V3_VALIDATE},
}
"""Source Code API v3: operation -> method -> endpoint."""


def _public_account(account: EmulatedAccount) -> dict[str, Any]:
    return {
        "name": account.name,
        "portal_id": account.portal_id,
        "user_id": account.user_id,
        "email": account.email,
        "hub_name": account.hub_name,
        "account_type": account.account_type,
    }


def _control_error(request: web.Request, status: int, message: str) -> web.Response:
    body = {
        "status": "error",
        "message": message,
        "correlationId": request[CORRELATION_ID],
        "category": "EMULATOR_CONTROL",
    }
    return web.json_response(body, status=status)


async def _ready(response: web.StreamResponse) -> web.StreamResponse:
    return response


def _new_key() -> str:
    # Shaped like HubSpot's base64 personal access keys; random, never derived from the seed.
    return "CiR" + secrets.token_urlsafe(42)


def _new_token() -> str:
    return "CK" + secrets.token_urlsafe(96)
