"""The one HubSpot HTTP client, and the one place aiohttp errors become ours.

One :class:`HubSpotClient` per account: its own connection pool (at most
``max_connections``, as HubSpot's CLI), created lazily inside the running loop.
It speaks the wire contract of ``hubspot-api.md``: the key exchange, the best-effort
email lookup, and the file calls (upload/delete/meta/metadata/download) over one of two
transports chosen per account: ``"filemapper"`` (the Design Manager API the ``hs`` CLI
uses, the default) or ``"source-code"`` (the public CMS Source Code API, which adds
``validate`` and archive ``extract``; dated ``/cms/source-code/2026-03/`` by default,
``source_code_version="v3"`` for the ``/cms/v3/source-code/`` family). Uploads are
multipart bodies byte for byte as ``hs`` sends them (one part ``file``, the filename in
raw UTF-8).

Every response, success or error, has its ``X-HubSpot-RateLimit-*`` headers parsed and
handed to ``on_rate_limit``; every request's latency and status (None: no answer) go to
``on_answer`` (the pacer sizes the account's concurrency with them). Failures are
raised as the ``hubsync.errors`` class their status says (400 ValidationFailed, 401
expired TokenExpired, other 401/403 Forbidden, 404 NotFound, 429 RateLimited, 408/5xx
and network errors TransientError), built from the response only: messages never
contain the key, the token, or a request header.
"""

from __future__ import annotations

import asyncio
import email.utils
import io
import itertools
import json
import mimetypes
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import aiohttp
from yarl import URL

from hubsync import __version__
from hubsync.core.urls import api_base_problem
from hubsync.errors import (
    ConfigError,
    ErrorDetail,
    Forbidden,
    HubSpotError,
    KeyRejected,
    NotFound,
    RateLimited,
    TokenExpired,
    TransientError,
    ValidationFailed,
)
from hubsync.model import AccessToken, Identity, RateLimitInfo, RemoteMeta, TokenGrant

USER_AGENT = f"hubsync/{__version__} (python aiohttp/{aiohttp.__version__})"
FILEMAPPER = "/content/filemapper/v1"
SOURCE_CODE_VERSION = "2026-03"
"""The dated Source Code API version used by default (hubspot-api.md §4)."""
SOURCE_CODE_V3 = "v3"
"""The previous, numbered family: ``/cms/v3/source-code/...``."""
TRANSPORT_FILEMAPPER = "filemapper"
TRANSPORT_SOURCE_CODE = "source-code"
TRANSPORTS = (TRANSPORT_FILEMAPPER, TRANSPORT_SOURCE_CODE)
"""Kept equal to ``hubsync.config.TRANSPORTS`` (a test checks); not imported from there
so that this module stays free of the config machinery."""
EXCHANGE_PATH = "/localdevauth/v1/auth/refresh"
RETRY_AFTER_CAP_S = 3600.0
CLOCK_SKEW_IGNORED_S = 30.0
_REDACTED = "<redacted>"
REFUSED_PREFIX = "HubSpot refused the key: "


@dataclass(frozen=True, slots=True)
class ApiResult:
    """The outcome of one successful write call."""

    status: int
    duration_ms: float
    correlation_id: str | None
    rate_limit: RateLimitInfo
    meta: RemoteMeta | None = None
    """What the answer said about the file written (the Source Code API answers its
    metadata; filemapper answers are not relied on, so None there)."""


@dataclass(frozen=True, slots=True)
class ExtractStatus:
    """One archive extraction task, as ``extract/async/tasks/{id}/status`` reports it."""

    task_id: str
    status: str
    """``PENDING``, ``PROCESSING``, ``COMPLETE`` or ``CANCELED`` (HubSpot's words)."""
    requested_at: str | None = None
    """ISO 8601, as HubSpot sends it."""
    started_at: str | None = None
    completed_at: str | None = None
    errors: tuple[ErrorDetail, ...] = ()
    """Why entries were refused (a CANCELED task); ``line`` when HubSpot gave one."""

    @property
    def done(self) -> bool:
        """The task will not change any more (COMPLETE or CANCELED)."""
        return self.status in ("COMPLETE", "CANCELED")


def check_base_url(url: str) -> str:
    """``url`` without a trailing slash, if it may be an API base (``core.urls``).

    Raises ConfigError otherwise: a key sent over plain HTTP to another host is leaked.
    """
    problem = api_base_problem(url)
    if problem is not None:
        raise ConfigError(None, f"api_base: {problem}")
    return url.rstrip("/")


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimitInfo:
    """``X-HubSpot-RateLimit-*`` headers -> RateLimitInfo; absent or junk values are None."""

    def number(name: str) -> int | None:
        raw = headers.get(f"X-HubSpot-RateLimit-{name}")
        try:
            return int(raw) if raw is not None else None
        except ValueError:
            return None

    return RateLimitInfo(
        max=number("Max"),
        remaining=number("Remaining"),
        interval_ms=number("Interval-Milliseconds"),
        daily=number("Daily"),
        daily_remaining=number("Daily-Remaining"),
    )


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from ``now``: delta-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    if seconds != seconds:  # NaN
        return None
    return min(RETRY_AFTER_CAP_S, max(0.0, seconds))


def _server_time(date_header: str) -> float | None:
    """An HTTP Date header as epoch seconds, or None when it is not a zoned HTTP-date."""
    try:
        server = email.utils.parsedate_to_datetime(date_header)
    except (TypeError, ValueError):
        return None
    return server.timestamp() if server.tzinfo is not None else None


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    return text


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _details(payload: Mapping[str, Any], secrets: tuple[str, ...]) -> tuple[ErrorDetail, ...]:
    entries = payload.get("errors")
    if not isinstance(entries, list):
        return ()
    details = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        line: int | None = None
        tokens = entry.get("errorTokens")
        if isinstance(tokens, dict):
            lines = tokens.get("line")
            if isinstance(lines, list) and lines:
                try:
                    line = int(lines[0])
                except (TypeError, ValueError):
                    line = None
        message = _scrub(str(entry.get("message", "")), secrets)
        details.append(ErrorDetail(message=message, line=line))
    return tuple(details)


def error_for_response(
    status: int,
    reason: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: tuple[str, ...] = (),
    now: float | None = None,
) -> HubSpotError:
    """The error a non-2xx response means. Pure, so every status is unit-testable."""
    payload = _json_object(body)
    message = _scrub(str(payload.get("message") or f"HTTP {status} {reason}".strip()), secrets)
    category = payload.get("category")
    category = str(category) if category is not None else None
    correlation_id = payload.get("correlationId") or headers.get("X-HubSpot-Correlation-Id")
    common: dict[str, Any] = {
        "status": status,
        "category": category,
        "correlation_id": str(correlation_id) if correlation_id else None,
    }
    if status == 400:
        return ValidationFailed(message, details=_details(payload, secrets), **common)
    if status == 401 and category == "EXPIRED_AUTHENTICATION":
        return TokenExpired(message, **common)
    if status in (401, 403):
        return Forbidden(message, **common)
    if status == 404:
        return NotFound(message, **common)
    if status == 429:
        policy = payload.get("policyName")
        return RateLimited(
            message,
            retry_after=parse_retry_after(
                headers.get("Retry-After"), time.time() if now is None else now
            ),
            policy=str(policy) if policy else None,
            **common,
        )
    if status == 408 or status >= 500:
        return TransientError(message, **common)
    return HubSpotError(message, **common)


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: bytes
    duration_ms: float
    correlation_id: str | None
    rate_limit: RateLimitInfo
    clock_skew_s: float = 0.0
    """Server clock minus ours, from the Date header; 0 when under CLOCK_SKEW_IGNORED_S."""

    def result(self) -> ApiResult:
        return ApiResult(self.status, self.duration_ms, self.correlation_id, self.rate_limit)


class HubSpotClient:
    """HTTP access to one HubSpot account (portal). Use as an async context manager."""

    def __init__(
        self,
        base_url: str,
        portal_id: int | None,
        *,
        max_connections: int = 5,
        timeout_s: float = 15.0,
        upload_read_timeout_s: float = 60.0,
        on_rate_limit: Callable[[RateLimitInfo], None] | None = None,
        on_answer: Callable[[float, int | None], None] | None = None,
        transport: str = TRANSPORT_FILEMAPPER,
        source_code_version: str = SOURCE_CODE_VERSION,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
        problem = source_code_version_problem(source_code_version)
        if problem is not None:
            raise ValueError(f"source_code_version: {problem}")
        self.transport = transport
        self.source_code_base = source_code_base(source_code_version)
        """``/cms/source-code/{version}`` or ``/cms/v3/source-code``."""
        self.base_url = check_base_url(base_url)
        self.portal_id = portal_id
        self.on_rate_limit = on_rate_limit
        self.on_answer = on_answer
        """Told ``(seconds from send to the whole answer read, status or None)`` per request."""
        self._max_connections = max_connections
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        # No total for uploads: a big asset on a slow link may take minutes; a stalled
        # socket is what we want to notice.
        self._upload_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout_s, sock_read=upload_read_timeout_s
        )
        self._session: aiohttp.ClientSession | None = None
        self._date_seen: tuple[str, float | None] | None = None
        """The last Date header answered and the server time it says (``_skew``)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool; the client may be used again afterwards."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=self._max_connections
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT},
                # Each account has its own session; cookies must never cross accounts or
                # carry state we did not ask for.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    def _answered(self, started: float, status: int | None) -> float:
        """Seconds since ``started`` (``perf_counter``), told to ``on_answer``."""
        elapsed = time.perf_counter() - started
        if self.on_answer is not None:
            self.on_answer(elapsed, status)
        return elapsed

    def _skew(self, date_header: str | None) -> float:
        """Server clock minus ours from a response's Date header, when the gap is worth
        correcting (beyond CLOCK_SKEW_IGNORED_S: Date has one-second resolution, so small
        gaps are noise); else 0. Each distinct header is parsed once: it changes once a
        second, and a bulk push gets hundreds of answers a second."""
        if not date_header:
            return 0.0
        if self._date_seen is None or self._date_seen[0] != date_header:
            self._date_seen = (date_header, _server_time(date_header))
        server = self._date_seen[1]
        if server is None:
            return 0.0
        skew = server - time.time()
        return skew if abs(skew) > CLOCK_SKEW_IGNORED_S else 0.0

    def _url(self, encoded_path: str) -> URL:
        return URL(self.base_url + encoded_path, encoded=True)

    def _params(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        params = dict(extra or {})
        if self.portal_id is not None:
            params["portalId"] = str(self.portal_id)
        return params

    async def _send(
        self,
        method: str,
        url: URL,
        *,
        token: AccessToken | None,
        params: Mapping[str, str],
        secrets: tuple[str, ...] = (),
        what: str,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> _Response:
        """One request; returns a 2xx response or raises our error for anything else."""
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token.value}"
        if token is not None:
            secrets = (*secrets, token.value)
        started = time.perf_counter()
        try:
            async with self._get_session().request(
                method, url, params=params, headers=headers, **kwargs
            ) as response:
                body = await response.read()
                status, reason = response.status, response.reason or ""
                response_headers = response.headers
        except TimeoutError as exc:
            self._answered(started, None)
            raise TransientError(f"{what}: HubSpot did not answer in time") from exc
        except aiohttp.ClientError as exc:
            self._answered(started, None)
            # Connection errors name host and port, never the path or headers; scrub
            # anyway in case a future aiohttp adds the URL.
            detail = _scrub(str(exc), secrets) or type(exc).__name__
            raise TransientError(f"{what}: network error: {detail}") from exc
        duration_ms = self._answered(started, status) * 1000
        rate_limit = parse_rate_limit(response_headers)
        if self.on_rate_limit is not None:
            self.on_rate_limit(rate_limit)
        if status >= 300:
            error = error_for_response(status, reason, response_headers, body, secrets=secrets)
            error.args = (f"{what}: {error.message}",)
            raise error
        return _Response(
            status=status,
            body=body,
            duration_ms=duration_ms,
            correlation_id=response_headers.get("X-HubSpot-Correlation-Id"),
            rate_limit=rate_limit,
            clock_skew_s=self._skew(response_headers.get("Date")),
        )

    # --- authentication -------------------------------------------------------------------

    async def exchange_key(self, key: str) -> TokenGrant:
        """Trade a personal access key for an access token and the identity behind it.

        4xx (except 408/429) -> KeyRejected with HubSpot's message; 408/429/5xx and
        network errors -> TransientError. The response echoes the key back
        (``encodedOAuthRefreshToken``): only the fields we need are kept.
        """
        params = {"portalId": str(self.portal_id)} if self.portal_id is not None else {}
        try:
            response = await self._send(
                "POST",
                self._url(EXCHANGE_PATH),
                token=None,
                params=params,
                json={"encodedOAuthRefreshToken": key},
                secrets=(key,),
                what="key exchange",
            )
        except (TransientError, TokenExpired):
            raise
        except HubSpotError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                raise KeyRejected(
                    f"{REFUSED_PREFIX}{exc.message}",
                    status=exc.status,
                    correlation_id=exc.correlation_id,
                ) from None
            raise
        return _grant_from(_json_object(response.body), skew_s=response.clock_skew_s)

    async def fetch_email(self, token: AccessToken) -> str | None:
        """The email of the token's user, or None if HubSpot will not say. Never raises.

        The token is in the URL path here, so no error from this call may escape: their
        text could one day carry the URL.
        """
        path = "/oauth/v1/access-tokens/" + quote(token.value, safe="")
        try:
            response = await self._send(
                "GET", self._url(path), token=token, params=self._params(), what="email lookup"
            )
        except Exception:  # best effort by contract: any failure means no email
            return None
        user = _json_object(response.body).get("user")
        return user if isinstance(user, str) and "@" in user else None

    # --- Design Manager files ---------------------------------------------------------------

    @property
    def _source_code(self) -> bool:
        return self.transport == TRANSPORT_SOURCE_CODE

    def _v3_url(self, operation: str, remote_path: str, *, publish: bool) -> URL:
        environment = "published" if publish else "draft"
        return self._url(
            f"{self.source_code_base}/{environment}/{operation}/{_per_segment(remote_path)}")

    async def _send_file(
        self, method: str, url: URL, token: AccessToken, local_file: Path,
        params: Mapping[str, str], what: str,
    ) -> _Response:
        """A multipart request with ONE part ``file`` holding ``local_file``.

        The bytes are read once, up front (``read_upload``), and the multipart body is
        built from them as one ``bytes`` per call (``multipart_body``). Streaming the open
        file instead announces a Content-Length from the size at the start; an editor
        truncating the file during the upload then leaves the server waiting for bytes
        that never come, until the read timeout. Theme files are small, so holding one in
        memory is cheap; the engine re-hashes after the upload to catch a change made
        meanwhile.
        """
        content = await read_upload(local_file)
        content_type, body = multipart_body(local_file.name, content)
        # aiohttp sends a big ``bytes`` body in one write that can hold the loop (and
        # warns); a file-like body of the same bytes is sent in chunks.
        data: bytes | io.BytesIO = body if len(body) <= _ONE_WRITE_BYTES else io.BytesIO(body)
        return await self._send(
            method, url, token=token, params=params, data=data,
            headers={aiohttp.hdrs.CONTENT_TYPE: content_type},
            timeout=self._upload_timeout, what=what,
        )

    async def upload(
        self, token: AccessToken, remote_path: str, local_file: Path, *, publish: bool
    ) -> ApiResult:
        """Create or overwrite ``remote_path`` with the bytes of ``local_file``.

        ``publish`` makes it live; otherwise only the draft changes. Filemapper:
        ``POST upload/{path as one segment}?buffer=``; source-code: ``PUT
        {published|draft}/content/{path}``.
        """
        if self._source_code:
            response = await self._send_file(
                "PUT", self._v3_url("content", remote_path, publish=publish), token,
                local_file, self._params(), f"upload {remote_path}",
            )
            meta = remote_meta(_json_object(response.body), remote_path, source_code=True)
            return replace(response.result(), meta=meta)
        url = self._url(f"{FILEMAPPER}/upload/{quote(remote_path, safe='')}")
        params = self._params({"buffer": "false" if publish else "true", "environmentId": "1"})
        response = await self._send_file("POST", url, token, local_file, params,
                                         f"upload {remote_path}")
        # The filemapper answer is not documented (hubspot-api.md §3): use it only when it
        # is metadata with an updatedAt; otherwise the caller reads the metadata.
        meta = remote_meta(_json_object(response.body), remote_path, source_code=False)
        if meta is None or meta.folder or meta.updated_at_ms is None:
            meta = None
        return replace(response.result(), meta=meta)

    async def delete(
        self, token: AccessToken, remote_path: str, *, publish: bool = True
    ) -> ApiResult:
        """Delete a file or a whole folder. NotFound when it is not there (caller decides).

        Filemapper deletes it everywhere (``publish`` is ignored); source-code deletes
        in ``published`` (the live file: the default) or, with ``publish=False``, in
        ``draft``.
        """
        if self._source_code:
            url = self._v3_url("content", remote_path, publish=publish)
        else:
            url = self._url(f"{FILEMAPPER}/delete/{quote(remote_path, safe='')}")
        response = await self._send(
            "DELETE", url, token=token, params=self._params(), what=f"delete {remote_path}"
        )
        return response.result()

    async def meta(
        self, token: AccessToken, remote_path: str, *, publish: bool = True
    ) -> dict[str, object]:
        """Metadata of a file or folder, as the transport shapes it.

        Filemapper: ``{name, path, folder, children, createdAt?, updatedAt?}`` of what is
        live (``publish`` is ignored). Source-code: ``{id, name, folder, createdAt,
        updatedAt, archivedAt?, children?, hash?}`` in ``published`` or ``draft``.
        """
        if self._source_code:
            url = self._v3_url("metadata", remote_path, publish=publish)
        else:
            url = self._url(f"{FILEMAPPER}/meta/{_per_segment(remote_path)}")
        response = await self._send(
            "GET", url, token=token, params=self._params(), what=f"meta {remote_path}"
        )
        return dict(_json_object(response.body))

    async def metadata(
        self, token: AccessToken, remote_path: str, *, publish: bool = True
    ) -> RemoteMeta | None:
        """What the remote holds at ``remote_path`` (file or folder), or None when nothing.

        One request against the rate limit. Filemapper: ``meta/`` of what is live
        (``hash`` None); source-code: ``metadata/`` of ``published`` or ``draft``. Raises
        as every call does (Forbidden, RateLimited, TransientError, ...) except on 404.
        """
        try:
            payload = await self.meta(token, remote_path, publish=publish)
        except NotFound:
            return None
        return remote_meta(payload, remote_path, source_code=self._source_code)

    async def store_archive(self, token: AccessToken, remote_path: str, content: bytes
                            ) -> ApiResult:
        """Store the ``.zip`` bytes ``content`` at ``remote_path`` (published) with the Source
        Code API's ``PUT published/content/{path}``, whatever this account's ``transport``:
        the filemapper API refuses archives, and ``extract`` only reads what is stored.
        One request. Raises as every call does (Forbidden when the token may not use the
        Source Code API, ValidationFailed, RateLimited, TransientError, ...).
        """
        url = self._v3_url("content", remote_path, publish=True)
        form = multipart_file(remote_path.rpartition("/")[2], content)
        response = await self._send("PUT", url, token=token, params=self._params(), data=form,
                                    timeout=self._upload_timeout,
                                    what=f"store archive {remote_path}")
        return response.result()

    async def delete_archive(self, token: AccessToken, remote_path: str) -> ApiResult:
        """Delete an archive ``store_archive`` stored: the Source Code API's ``DELETE
        published/content/{path}`` (live and draft), whatever this account's
        ``transport``, so the archive's whole life is on the one API that stored it.
        NotFound when it is not there (the caller decides)."""
        response = await self._send(
            "DELETE", self._v3_url("content", remote_path, publish=True), token=token,
            params=self._params(), what=f"delete archive {remote_path}")
        return response.result()

    async def extract(self, token: AccessToken, archive_remote_path: str) -> str:
        """Ask HubSpot to unpack a ``.zip`` already stored at ``archive_remote_path``; returns
        the task id to poll with ``extract_status``. One request, however big the archive.
        Always the Source Code API, whatever this account's ``transport`` (the filemapper
        API has no such call; whether HubSpot lets the token use it is learnt from the
        answer: Forbidden or NotFound).
        """
        url = self._url(f"{self.source_code_base}/extract/async")
        response = await self._send("POST", url, token=token, params=self._params(),
                                    json={"path": archive_remote_path},
                                    what=f"extract {archive_remote_path}")
        task_id = _json_object(response.body).get("id")
        if not isinstance(task_id, str) or not task_id:
            raise HubSpotError(f"extract {archive_remote_path}: the answer has no task id")
        return task_id

    async def extract_status(self, token: AccessToken, task_id: str) -> ExtractStatus:
        """The state of an extraction task (NotFound for an unknown id); Source Code API,
        whatever the ``transport``."""
        url = self._url(f"{self.source_code_base}/extract/async/tasks/"
                        f"{quote(task_id, safe='')}/status")
        response = await self._send("GET", url, token=token, params=self._params(),
                                    what=f"extract status {task_id}")
        payload = _json_object(response.body)

        def text(key: str) -> str | None:
            value = payload.get(key)
            return str(value) if value is not None else None

        return ExtractStatus(
            task_id=task_id,
            status=text("status") or "UNKNOWN",
            requested_at=text("requestedAt"),
            started_at=text("startedAt"),
            completed_at=text("completedAt"),
            errors=_details(payload, ()),
        )

    def _require_source_code(self, what: str) -> None:
        if not self._source_code:
            raise ConfigError(
                None,
                f'transport: {what} needs transport = "{TRANSPORT_SOURCE_CODE}" for this '
                "account (it uses the filemapper API, which has no such call)",
            )

    async def download(
        self, token: AccessToken, remote_path: str, *, publish: bool = True
    ) -> bytes:
        """The stored bytes of one file (source-code: of ``published`` or ``draft``)."""
        if self._source_code:
            url = self._v3_url("content", remote_path, publish=publish)
        else:
            url = self._url(f"{FILEMAPPER}/stream/{quote(remote_path, safe='')}")
        response = await self._send(
            "GET", url, token=token, params=self._params(), what=f"download {remote_path}"
        )
        return response.body

    async def validate(
        self, token: AccessToken, remote_path: str, local_file: Path, *, publish: bool = True
    ) -> ApiResult:
        """Ask HubSpot whether ``local_file`` would be accepted at ``remote_path``.

        Nothing is stored. ValidationFailed (with ``details``) when it would be refused.
        Only the source-code transport has this call; on a filemapper account it raises
        ConfigError before sending anything.
        """
        self._require_source_code("validation")
        response = await self._send_file(
            "POST", self._v3_url("validate", remote_path, publish=publish), token,
            local_file, self._params(), f"validate {remote_path}",
        )
        return response.result()


def remote_meta(payload: Mapping[str, Any], remote_path: str, *, source_code: bool
                ) -> RemoteMeta | None:
    """A metadata answer (filemapper ``meta/``, Source Code ``metadata/`` or upload) as
    RemoteMeta; None when it has no ``folder`` flag (not metadata at all)."""
    folder = payload.get("folder")
    if not isinstance(folder, bool):
        return None

    def integer(key: str) -> int | None:
        value = payload.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    children = payload.get("children")
    digest = payload.get("hash")
    return RemoteMeta(
        path=remote_path.strip("/"),
        folder=folder,
        created_at_ms=integer("createdAt"),
        updated_at_ms=integer("updatedAt"),
        hash=str(digest) if source_code and isinstance(digest, str) and digest else None,
        children=tuple(str(c) for c in children) if folder and isinstance(children, list)
        else (),
        writer_user_id=integer("updatedById"),
    )


def source_code_version_problem(version: str) -> str | None:
    """Why ``version`` cannot name a Source Code API version (``YYYY-MM`` or ``v3``), or None."""
    if version == SOURCE_CODE_V3 or re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", version):
        return None
    return (f"{version!r} is not a Source Code API version: use a dated one like "
            f'"{SOURCE_CODE_VERSION}" (the default) or "{SOURCE_CODE_V3}" for the previous family')


def source_code_base(version: str) -> str:
    """The path prefix of the Source Code API ``version`` (checked by the caller)."""
    if version == SOURCE_CODE_V3:
        return "/cms/v3/source-code"
    return f"/cms/source-code/{version}"


def form_data_filename(name: str) -> str:
    """``name`` as the ``hs`` CLI writes it in a part's ``filename="..."`` parameter.

    Raw UTF-8, with only CR, LF and ``"`` escaped as ``%0D``, ``%0A``, ``%22`` (the
    ``form-data`` package behind ``hs``'s axios). aiohttp's default percent-encodes every
    non-ASCII byte instead, so HubSpot would store ``caf%C3%A9.css`` for ``café.css``.
    """
    return name.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def multipart_file(name: str, content: bytes) -> aiohttp.MultipartWriter:
    """A ``multipart/form-data`` body of ONE part ``file`` holding ``content``, byte for byte
    what ``hs`` sends for a file called ``name`` (content type from its extension), as
    aiohttp's own writer (a random boundary from ``uuid4``, several writes per body).

    The client sends ``multipart_body`` instead (the same bytes, built at once); this one
    stays for ``bench/floor.py``, a minimal aiohttp client, and for comparing the two.
    """
    writer = aiohttp.MultipartWriter("form-data")
    # A file-like part: every aiohttp version serializes it without warnings.
    part = aiohttp.payload.BytesIOPayload(io.BytesIO(content), content_type=_content_type(name))
    part.headers[aiohttp.hdrs.CONTENT_DISPOSITION] = (
        f'form-data; name="file"; filename="{form_data_filename(name)}"'
    )
    writer.append_payload(part)
    return writer


_BOUNDARY_PREFIX = secrets.token_hex(8)
"""Random per process: with the counter below, a boundary no body can predict."""
_boundaries = itertools.count()


def multipart_body(name: str, content: bytes) -> tuple[str, bytes]:
    """``(Content-Type header, body)``: the same ``multipart/form-data`` bytes as
    ``multipart_file`` (one part ``file``, ``hs``'s raw UTF-8 filename, the type from the
    extension), joined into one ``bytes``.

    A bulk push spent ~15 % of its CPU in aiohttp's writer (a ``uuid4`` per body, a
    payload object and five socket writes per upload); this is one join, and the request
    goes out in one or two writes. The boundary is 32 hex digits (a per-process random
    prefix and a counter) and is checked against ``content``: a body containing it gets
    the next one, so no file can end its own part early.
    """
    boundary = f"{_BOUNDARY_PREFIX}{next(_boundaries):016x}"
    while boundary.encode("ascii") in content:
        boundary = f"{_BOUNDARY_PREFIX}{next(_boundaries):016x}"
    head = (f"--{boundary}\r\nContent-Type: {_content_type(name)}\r\n"
            f'Content-Disposition: form-data; name="file"; '
            f'filename="{form_data_filename(name)}"\r\n\r\n')
    body = b"".join((head.encode("utf-8", "surrogateescape"), content,
                     f"\r\n--{boundary}--\r\n".encode("ascii")))
    return f"multipart/form-data; boundary={boundary}", body


def _content_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


_ONE_WRITE_BYTES = 1024 * 1024
"""Upload bodies up to this size are handed to aiohttp as ``bytes`` (its own limit for
that, ``aiohttp.payload.TOO_LARGE_BYTES_BODY``)."""

INLINE_READ_BYTES = 256 * 1024
"""Files up to this size are read on the event loop (bytes)."""


async def read_upload(local_file: Path) -> bytes:
    """The bytes of ``local_file``, read once. OSError (FileNotFoundError when it is gone)
    as ``open`` raises it.

    A theme file (up to INLINE_READ_BYTES) is read on the loop: from the page cache that
    costs a few microseconds, a hand-off to a thread and back costs more than that in
    CPU and wakes, and a bulk push does one per file. A bigger file is read in a thread.
    """
    head = _read_head(local_file)
    if head is not None:
        return head
    return await asyncio.to_thread(local_file.read_bytes)


def _read_head(local_file: Path) -> bytes | None:
    """The whole file if it holds at most INLINE_READ_BYTES, else None (read it in a
    thread): one ``open`` and one ``read`` on the caller's thread, by design."""
    with local_file.open("rb") as stream:
        head = stream.read(INLINE_READ_BYTES + 1)
    return head if len(head) <= INLINE_READ_BYTES else None


def _per_segment(remote_path: str) -> str:
    """The remote path with each segment percent-encoded and ``/`` kept raw."""
    return "/".join(quote(segment, safe="") for segment in remote_path.split("/"))


def _grant_from(payload: Mapping[str, Any], *, skew_s: float = 0.0) -> TokenGrant:
    """The fields of an exchange response we use; anything malformed is a HubSpotError.

    ``skew_s`` (server clock minus ours) moves the expiry onto our clock, so a machine
    whose clock is off by more than a token's lifetime does not see every token expired.
    """
    try:
        token_value = payload["oauthAccessToken"]
        expires_ms = payload["expiresAtMillis"]
        hub_id = int(payload["hubId"])
        user_id = int(payload["userId"])
        if not isinstance(token_value, str) or not token_value:
            raise TypeError("oauthAccessToken")
        expires_at = float(expires_ms) / 1000.0 - skew_s
    except (KeyError, TypeError, ValueError) as exc:
        # Never include the payload: it holds the key and the token.
        raise HubSpotError(
            f"the key exchange answered without a usable {exc.args[0] if exc.args else 'field'}"
        ) from None
    scopes = payload.get("scopeGroups")
    identity = Identity(
        hub_id=hub_id,
        user_id=user_id,
        hub_name=str(payload.get("hubName") or ""),
        account_type=str(payload.get("accountType") or ""),
        scope_groups=tuple(str(s) for s in scopes) if isinstance(scopes, list) else (),
    )
    return TokenGrant(token=AccessToken(value=token_value, expires_at=expires_at),
                      identity=identity)


__all__ = [
    "SOURCE_CODE_V3",
    "SOURCE_CODE_VERSION",
    "TRANSPORTS",
    "TRANSPORT_FILEMAPPER",
    "TRANSPORT_SOURCE_CODE",
    "USER_AGENT",
    "ApiResult",
    "ExtractStatus",
    "HubSpotClient",
    "check_base_url",
    "error_for_response",
    "multipart_body",
    "multipart_file",
    "parse_rate_limit",
    "parse_retry_after",
    "read_upload",
    "remote_meta",
    "source_code_base",
    "source_code_version_problem",
]
