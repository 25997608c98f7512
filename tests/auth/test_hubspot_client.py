"""The HubSpot client: wire format against the emulator, error translation for every status."""

from __future__ import annotations

import asyncio
import email.utils
import json
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hubsync.errors import (
    ConfigError,
    Forbidden,
    HubSpotError,
    KeyRejected,
    NotFound,
    RateLimited,
    TokenExpired,
    TransientError,
    ValidationFailed,
)
from hubsync.hubspot import (
    USER_AGENT,
    ApiResult,
    HubSpotClient,
    check_base_url,
    error_for_response,
    parse_rate_limit,
    parse_retry_after,
)
from hubsync.model import AccessToken, RateLimitInfo
from tests.auth.hubsync_auth_testing import EmulatorFactory

SEEN = web.AppKey("seen", list[tuple[str, str, dict[str, str]]])
TOKEN = AccessToken(value="tok-SECRET-123", expires_at=9e12)
ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


@pytest.fixture
async def serve() -> Any:
    """Run an aiohttp app on 127.0.0.1 (port 0) for one test."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> TestServer:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


def canned(status: int, body: object, headers: dict[str, str] | None = None) -> web.Application:
    """An app answering every request with one response, recording what it received."""
    app = web.Application()
    app[SEEN] = []

    async def handler(request: web.Request) -> web.Response:
        app[SEEN].append((request.method, request.raw_path, dict(request.headers)))
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(status=status, text=text, headers=headers or {},
                            content_type="application/json")

    app.router.add_route("*", "/{tail:.*}", handler)
    return app


# --- pure parts --------------------------------------------------------------------------------


def test_parse_rate_limit_headers() -> None:
    """All five X-HubSpot-RateLimit-* headers are read; junk and absent ones are None."""
    info = parse_rate_limit({
        "X-HubSpot-RateLimit-Max": "190", "X-HubSpot-RateLimit-Remaining": "12",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        "X-HubSpot-RateLimit-Daily": "junk",
    })
    assert info == RateLimitInfo(max=190, remaining=12, interval_ms=10000)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("Thu, 01 Jan 1970 00:01:40 GMT", 90.0),
     ("soon", None), (None, None), ("", None), ("99999999", 3600.0)],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    """Retry-After is delta-seconds or an HTTP-date, clamped to [0, 1 h]."""
    assert parse_retry_after(value, now=10.0) == seconds


@pytest.mark.parametrize(
    ("url", "ok"),
    [("https://api.hubapi.com", True), ("https://api.hubapi.com/", True),
     ("http://127.0.0.1:8080", True), ("http://[::1]:9", True), ("http://localhost:1", True),
     ("http://api.hubapi.com", False), ("ftp://x", False), ("http://10.0.0.1", False)],
)
def test_base_url_rule(url: str, ok: bool) -> None:
    """Only https is allowed, plain http only on loopback; the client refuses others."""
    if ok:
        assert check_base_url(url) == url.rstrip("/")
        HubSpotClient(url, 1)
    else:
        with pytest.raises(ConfigError):
            HubSpotClient(url, 1)


ERROR_TABLE = [
    (400, {"message": "Template error", "correlationId": "c-1",
           "errors": [{"message": "unclosed tag", "errorTokens": {"line": [12]}},
                      {"message": "bad json"}]}, {}, ValidationFailed),
    (401, {"message": "expired", "category": "EXPIRED_AUTHENTICATION"}, {}, TokenExpired),
    (401, {"message": "nope", "category": "INVALID_AUTHENTICATION"}, {}, Forbidden),
    (403, {"message": "scopes", "category": "MISSING_SCOPES"}, {}, Forbidden),
    (404, {"message": "not there"}, {}, NotFound),
    (408, "timeout", {}, TransientError),
    (409, {"message": "conflict"}, {}, HubSpotError),
    (429, {"message": "slow down", "policyName": "TEN_SECONDLY_ROLLING"},
     {"Retry-After": "3"}, RateLimited),
    (500, "<html>oops</html>", {"X-HubSpot-Correlation-Id": "hdr-9"}, TransientError),
    (502, "", {}, TransientError),
    (503, {"message": "unavailable"}, {}, TransientError),
    (504, {}, {}, TransientError),
]


@pytest.mark.parametrize(("status", "body", "headers", "kind"), ERROR_TABLE)
async def test_error_translation_over_http(
    serve: ServerFactory, status: int, body: object, headers: dict[str, str],
    kind: type[HubSpotError],
) -> None:
    """Each error status becomes its class, with correlation id, rate limits, and no token."""
    rate = {"X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "0"}
    server = await serve(canned(status, body, {**headers, **rate}))
    seen_limits: list[RateLimitInfo] = []
    async with HubSpotClient(str(server.make_url("")), 111,
                             on_rate_limit=seen_limits.append) as client:
        with pytest.raises(HubSpotError) as caught:
            await client.delete(TOKEN, "theme/a.css")
    error = caught.value
    assert type(error) is kind
    assert error.status == status
    assert TOKEN.value not in str(error)
    assert TOKEN.value not in error.describe()
    assert seen_limits == [RateLimitInfo(max=100, remaining=0)]
    if status == 400:
        assert error.correlation_id == "c-1"
        assert error.describe().splitlines() == [
            "Template error", "- line 12: unclosed tag", "- bad json"]
    if status == 500:
        assert error.correlation_id == "hdr-9"
    if isinstance(error, RateLimited):
        assert error.retry_after == 3.0
        assert error.policy == "TEN_SECONDLY_ROLLING"


def test_error_message_scrubs_echoed_secrets() -> None:
    """A server message that echoes the token is redacted before it becomes our error."""
    error = error_for_response(400, "Bad", {}, json.dumps(
        {"message": f"bad token {TOKEN.value}", "errors": [{"message": TOKEN.value}]}).encode(),
        secrets=(TOKEN.value,))
    assert TOKEN.value not in error.describe()
    assert "<redacted>" in error.message


async def test_connection_refused_is_transient() -> None:
    """Nothing listening: TransientError, not a crash or a permanent error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with HubSpotClient(f"http://127.0.0.1:{port}", 111) as client:
        with pytest.raises(TransientError, match="network error"):
            await client.meta(TOKEN, "theme")
        with pytest.raises(TransientError):
            await client.exchange_key("pat-na1-key")


async def test_timeout_is_transient(serve: ServerFactory) -> None:
    """A server slower than timeout_s gives TransientError."""
    app = web.Application()

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="{}")

    app.router.add_route("*", "/{tail:.*}", slow)
    server = await serve(app)
    async with HubSpotClient(str(server.make_url("")), 111, timeout_s=0.2) as client:
        with pytest.raises(TransientError, match="in time"):
            await client.download(TOKEN, "theme/a.css")


async def test_headers_and_query_on_every_call(serve: ServerFactory, tmp_path: Path) -> None:
    """Bearer token, portalId and our User-Agent on each call; the path is one %2F segment."""
    app = canned(200, {"name": "a.css", "folder": False})
    server = await serve(app)
    local = tmp_path / "a.css"
    local.write_text("body{}")
    async with HubSpotClient(str(server.make_url("")), 111) as client:
        await client.upload(TOKEN, "my theme/css/a.css", local, publish=False)
        await client.meta(TOKEN, "my theme/css")
    (method, path, headers), (_, meta_path, _) = app[SEEN]
    assert method == "POST"
    assert path.startswith("/content/filemapper/v1/upload/my%20theme%2Fcss%2Fa.css?")
    assert "buffer=true" in path
    assert "environmentId=1" in path
    assert "portalId=111" in path
    assert headers["Authorization"] == f"Bearer {TOKEN.value}"
    assert headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("hubsync/")
    assert meta_path.startswith("/content/filemapper/v1/meta/my%20theme/css?portalId=111")


async def test_exchange_and_files_against_emulator(
    make_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """Exchange, email, upload (publish and draft), meta, download, delete, 404 on the emulator."""
    emu = await make_emulator()
    key = emu.accounts["sandbox"].key
    local = tmp_path / "home.html"
    local.write_text("<h1>{{ title }}</h1>")
    async with HubSpotClient(emu.url, 111) as client:
        grant = await client.exchange_key(key)
        assert (grant.identity.hub_id, grant.identity.user_id) == (111, 9001)
        assert grant.identity.hub_name == "Sandbox Hub"
        assert grant.identity.account_type == "STANDARD"
        assert key not in repr(grant)
        assert grant.token.value not in repr(grant)
        assert await client.fetch_email(grant.token) == "jane@example.com"
        result = await client.upload(grant.token, "theme/templates/home.html", local, publish=True)
        assert result.status == 200
        assert result.correlation_id
        # the same Path uploads again: a new FormData and file handle each time
        await client.upload(grant.token, "theme/templates/home.html", local, publish=False)
        stored = emu.files(111)["theme/templates/home.html"]
        assert stored.content == local.read_bytes()
        assert stored.user_id == 9001
        meta = await client.meta(grant.token, "theme/templates")
        assert meta.get("folder") is True
        assert await client.download(grant.token, "theme/templates/home.html") == \
            local.read_bytes()
        await client.delete(grant.token, "theme/templates/home.html")
        with pytest.raises(NotFound):
            await client.delete(grant.token, "theme/templates/home.html")


async def test_rejected_key_against_emulator(make_emulator: EmulatorFactory) -> None:
    """A revoked key is KeyRejected with HubSpot's message and correlation id, without the key."""
    emu = await make_emulator()
    key = emu.accounts["sandbox"].key
    emu.revoke_key(key)
    async with HubSpotClient(emu.url, 111) as client:
        with pytest.raises(KeyRejected) as caught:
            await client.exchange_key(key)
    assert caught.value.status == 401
    assert "invalid or has been revoked" in str(caught.value)
    assert caught.value.correlation_id
    assert key not in str(caught.value)


async def test_fetch_email_is_best_effort(serve: ServerFactory) -> None:
    """Any failure of the email lookup is None, never an error that could carry the URL."""
    server = await serve(canned(500, "boom"))
    async with HubSpotClient(str(server.make_url("")), 111) as client:
        assert await client.fetch_email(TOKEN) is None


async def test_expired_token_against_emulator(make_emulator: EmulatorFactory) -> None:
    """After expire_all_tokens, calls raise TokenExpired (category EXPIRED_AUTHENTICATION)."""
    emu = await make_emulator()
    async with HubSpotClient(emu.url, 111) as client:
        grant = await client.exchange_key(emu.accounts["sandbox"].key)
        emu.expire_all_tokens()
        with pytest.raises(TokenExpired) as caught:
            await client.meta(grant.token, "theme")
    assert caught.value.category == "EXPIRED_AUTHENTICATION"
    assert grant.token.value not in str(caught.value)


async def test_clock_skew_moves_expiry_onto_our_clock(serve: ServerFactory) -> None:
    """A server Date an hour behind ours shifts expiresAtMillis by that hour; small gaps don't."""
    now = time.time()
    server_now = now - 3600
    body = {"oauthAccessToken": "t", "expiresAtMillis": int((server_now + 1800) * 1000),
            "hubId": 111, "userId": 9001}
    server = await serve(canned(200, body, {"Date": email.utils.formatdate(server_now,
                                                                          usegmt=True)}))
    async with HubSpotClient(str(server.make_url("")), 111) as client:
        grant = await client.exchange_key("pat-na1-key")
    assert grant.token.expires_at == pytest.approx(now + 1800, abs=5)

    server = await serve(canned(200, {**body, "expiresAtMillis": int((now + 60) * 1000)},
                                {"Date": email.utils.formatdate(now - 5, usegmt=True)}))
    async with HubSpotClient(str(server.make_url("")), 111) as client:
        grant = await client.exchange_key("pat-na1-key")
    assert grant.token.expires_at == pytest.approx(now + 60, abs=0.01)


async def test_malformed_exchange_answer_hides_payload(serve: ServerFactory) -> None:
    """A 200 without a token is a HubSpotError that does not repeat the echoed key."""
    server = await serve(canned(200, {"encodedOAuthRefreshToken": "pat-na1-echoed",
                                      "hubId": 111}))
    async with HubSpotClient(str(server.make_url("")), 111) as client:
        with pytest.raises(HubSpotError) as caught:
            await client.exchange_key("pat-na1-echoed")
    assert "pat-na1-echoed" not in str(caught.value)


async def test_file_truncated_during_upload_does_not_hang(
    make_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """An editor truncating a file while it uploads (VS Code saves in place) cannot stall
    the request: the bytes are read once, so the announced length is always sent, and what
    arrives is one consistent version of the file."""
    emu = await make_emulator()
    local = tmp_path / "big.css"
    original = b"/* x */\n" * (4 * 2**20 // 8)
    local.write_bytes(original)
    async with HubSpotClient(emu.url, 111, upload_read_timeout_s=5) as client:
        grant = await client.exchange_key(emu.accounts["sandbox"].key)
        upload = asyncio.ensure_future(
            client.upload(grant.token, "theme/big.css", local, publish=True)
        )
        await asyncio.sleep(0)
        local.write_bytes(b"/* new */\n")
        outcome = await asyncio.wait_for(asyncio.gather(upload, return_exceptions=True), 15)
    if isinstance(outcome[0], ValidationFailed):
        # Read between the truncate and the write: HubSpot refuses the empty file at once,
        # and the engine pushes the new content on the next change event.
        assert "cannot be empty" in str(outcome[0])
    else:
        assert isinstance(outcome[0], ApiResult)
        assert outcome[0].status == 200
        assert emu.files(111)["theme/big.css"].content in (original, b"/* new */\n")
