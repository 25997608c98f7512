"""The HubSpot client with transport="source-code": the v3 wire format and error translation."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hubsync import config, hubspot
from hubsync.emulator import Emulator, Endpoint
from hubsync.errors import (
    ConfigError,
    Forbidden,
    NotFound,
    RateLimited,
    TokenExpired,
    TransientError,
    ValidationFailed,
)
from hubsync.hubspot import TRANSPORTS, USER_AGENT, ApiResult, HubSpotClient
from hubsync.model import AccessToken, RateLimitInfo
from tests.auth.hubsync_auth_testing import EmulatorFactory

TOKEN = AccessToken(value="tok-SECRET-v3", expires_at=9e12)
HOME = "theme/templates/home.html"
Seen = list[tuple[str, str, dict[str, str], bytes]]
SEEN = web.AppKey("seen", Seen)


def recording_app() -> web.Application:
    """An app answering 200 ``{}`` to everything, recording method, raw path, headers, body."""
    app = web.Application()
    app[SEEN] = []

    async def handler(request: web.Request) -> web.Response:
        app[SEEN].append((request.method, request.raw_path, dict(request.headers),
                          await request.read()))
        return web.json_response({})

    app.router.add_route("*", "/{tail:.*}", handler)
    return app


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[TestServer, web.Application]]:
    """A started recording server on 127.0.0.1 and its app, closed after the test."""
    app = recording_app()
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, app
    await server.close()


def test_transport_names_match_the_config() -> None:
    """The client accepts exactly the transports the config file accepts."""
    assert TRANSPORTS == config.TRANSPORTS


def test_unknown_transport_is_refused_at_construction() -> None:
    """A transport the client does not speak is a ValueError before any request."""
    with pytest.raises(ValueError, match="source-code"):
        HubSpotClient("https://api.hubapi.com", 111, transport="sourcecode")
    assert HubSpotClient("https://api.hubapi.com", 111).transport == "filemapper"


@pytest.mark.parametrize(("version", "prefix"), [
    (None, "/cms/source-code/2026-03"),
    ("2026-03", "/cms/source-code/2026-03"),
    ("v3", "/cms/v3/source-code"),
])
async def test_source_code_requests_on_the_wire(
    recorder: tuple[TestServer, web.Application], tmp_path: Path, version: str | None,
    prefix: str,
) -> None:
    """PUT/DELETE/GET/POST under {prefix}/{env}/, path raw with encoded segments: the dated
    family by default, the v3 family when the version setting says ``v3``."""
    server, app = recorder
    local = tmp_path / "a.css"
    local.write_text("body{}")
    base = str(server.make_url(""))
    client = HubSpotClient(base, 111, transport="source-code") if version is None else \
        HubSpotClient(base, 111, transport="source-code", source_code_version=version)
    async with client:
        await client.upload(TOKEN, "my theme/css/a.css", local, publish=False)
        await client.upload(TOKEN, "my theme/css/a.css", local, publish=True)
        await client.delete(TOKEN, "my theme/css/a.css")
        await client.delete(TOKEN, "my theme/css/a.css", publish=False)
        await client.meta(TOKEN, "my theme/css")
        await client.download(TOKEN, "my theme/css/a.css", publish=False)
        await client.validate(TOKEN, "my theme/css/a.css", local)
    requests = [(method, path) for method, path, _, _ in app[SEEN]]
    assert requests == [
        ("PUT", f"{prefix}/draft/content/my%20theme/css/a.css?portalId=111"),
        ("PUT", f"{prefix}/published/content/my%20theme/css/a.css?portalId=111"),
        ("DELETE", f"{prefix}/published/content/my%20theme/css/a.css?portalId=111"),
        ("DELETE", f"{prefix}/draft/content/my%20theme/css/a.css?portalId=111"),
        ("GET", f"{prefix}/published/metadata/my%20theme/css?portalId=111"),
        ("GET", f"{prefix}/draft/content/my%20theme/css/a.css?portalId=111"),
        ("POST", f"{prefix}/published/validate/my%20theme/css/a.css?portalId=111"),
    ]
    for _, _, headers, _ in app[SEEN]:
        assert headers["Authorization"] == f"Bearer {TOKEN.value}"
        assert headers["User-Agent"] == USER_AGENT
    upload_headers, upload_body = app[SEEN][0][2], app[SEEN][0][3]
    assert upload_headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="file"; filename="a.css"' in upload_body
    assert b"body{}" in upload_body


async def test_round_trip_against_emulator(
    make_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """Upload (draft, publish), meta, download, validate and delete over v3 on the emulator."""
    emu = await make_emulator()
    local = tmp_path / "home.html"
    local.write_text("<h1>{{ title }}</h1>")
    seen: list[RateLimitInfo] = []
    async with HubSpotClient(emu.url, 111, transport="source-code",
                             on_rate_limit=seen.append) as client:
        grant = await client.exchange_key(emu.accounts["sandbox"].key)
        token = grant.token
        draft = await client.upload(token, HOME, local, publish=False)
        assert (draft.status, bool(draft.correlation_id)) == (200, True)
        assert HOME not in emu.files(111, "published")
        assert await client.download(token, HOME, publish=False) == local.read_bytes()
        with pytest.raises(NotFound):
            await client.download(token, HOME)
        await client.upload(token, HOME, local, publish=True)
        stored = emu.files(111, "published")[HOME]
        assert (stored.content, stored.user_id) == (local.read_bytes(), 9001)
        assert await client.download(token, HOME) == local.read_bytes()
        meta = await client.meta(token, HOME)
        assert meta["id"] == HOME
        assert meta["folder"] is False
        assert meta["hash"] == stored.sha256
        assert (await client.meta(token, "theme/templates"))["children"] == ["home.html"]
        assert (await client.validate(token, HOME, local)).status == 200
        deleted = await client.delete(token, HOME)
        assert deleted.status == 204
        with pytest.raises(NotFound):
            await client.delete(token, HOME)
    assert emu.files(111, "published") == {}
    assert emu.files(111, "draft") == {}
    endpoints = [r.endpoint for r in emu.requests if r.endpoint is not Endpoint.AUTH]
    assert endpoints == [
        Endpoint.V3_UPLOAD, Endpoint.V3_DOWNLOAD, Endpoint.V3_DOWNLOAD, Endpoint.V3_UPLOAD,
        Endpoint.V3_DOWNLOAD, Endpoint.V3_METADATA, Endpoint.V3_METADATA, Endpoint.V3_VALIDATE,
        Endpoint.V3_DELETE, Endpoint.V3_DELETE,
    ]
    assert len(seen) == len(emu.requests)


async def test_filemapper_and_source_code_clients_share_files(
    make_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """A file pushed by a filemapper client is read by a source-code client, and back."""
    emu = await make_emulator()
    local = tmp_path / "main.css"
    local.write_text("body{}")
    async with HubSpotClient(emu.url, 111) as filemapper, \
            HubSpotClient(emu.url, 111, transport="source-code") as source_code:
        token = (await filemapper.exchange_key(emu.accounts["sandbox"].key)).token
        await filemapper.upload(token, "theme/css/main.css", local, publish=True)
        assert await source_code.download(token, "theme/css/main.css") == b"body{}"
        await source_code.delete(token, "theme/css/main.css")
        with pytest.raises(NotFound):
            await filemapper.download(token, "theme/css/main.css")


async def test_validation_errors_carry_lines(
    make_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """A broken template is ValidationFailed with its line, from validate and from upload."""
    emu = await make_emulator()
    broken = tmp_path / "home.html"
    broken.write_text("<p>\n{% if x\n</p>")
    empty = tmp_path / "empty.css"
    empty.write_bytes(b"")
    async with HubSpotClient(emu.url, 111, transport="source-code") as client:
        token = (await client.exchange_key(emu.accounts["sandbox"].key)).token
        calls: tuple[Callable[[], Awaitable[ApiResult]], ...] = (
            lambda: client.validate(token, HOME, broken),
            lambda: client.upload(token, HOME, broken, publish=True),
        )
        for call in calls:
            with pytest.raises(ValidationFailed) as caught:
                await call()
            assert caught.value.status == 400
            assert caught.value.correlation_id
            assert [d.line for d in caught.value.details] == [2]
            assert token.value not in caught.value.describe()
        with pytest.raises(ValidationFailed, match="cannot be empty"):
            await client.upload(token, "theme/empty.css", empty, publish=False)
    assert emu.files(111, "draft") == {}


async def test_auth_errors_translate(make_emulator: EmulatorFactory, tmp_path: Path) -> None:
    """Another portal's id is Forbidden; an expired token is TokenExpired; no token in text."""
    emu = await make_emulator()
    local = tmp_path / "a.css"
    local.write_text("a{}")
    async with HubSpotClient(emu.url, 222, transport="source-code") as wrong_portal:
        token = (await wrong_portal.exchange_key(emu.accounts["sandbox"].key)).token
        with pytest.raises(Forbidden) as forbidden:
            await wrong_portal.upload(token, "t/a.css", local, publish=True)
        assert forbidden.value.status == 403
        emu.expire_all_tokens()
        with pytest.raises(TokenExpired) as expired:
            await wrong_portal.meta(token, "t")
    assert expired.value.category == "EXPIRED_AUTHENTICATION"
    for error in (forbidden.value, expired.value):
        assert token.value not in str(error)
        assert emu.accounts["sandbox"].key not in str(error)
    assert emu.files(222) == {}


async def test_rate_limit_and_faults_translate(tmp_path: Path) -> None:
    """Rate-limit headers reach the callback; a storm is RateLimited; 5xx is TransientError."""
    local = tmp_path / "a.css"
    local.write_text("a{}")
    emu = Emulator(rate_limit=50, rate_window_ms=10_000)
    account = emu.add_account("sandbox", portal_id=111, user_id=9001)
    seen: list[RateLimitInfo] = []
    async with emu, HubSpotClient(emu.url, 111, transport="source-code",
                                  on_rate_limit=seen.append) as client:
        token = (await client.exchange_key(account.key)).token
        await client.upload(token, "t/a.css", local, publish=True)
        assert seen[-1] == RateLimitInfo(max=50, remaining=49, interval_ms=10_000)
        emu.set_faults(storm_seconds=30, retry_after=2)
        with pytest.raises(RateLimited) as limited:
            await client.delete(token, "t/a.css")
        assert limited.value.retry_after == 2.0
        assert limited.value.policy == "TEN_SECONDLY_ROLLING"
        emu.set_faults(error_rate=1.0)
        with pytest.raises(TransientError) as failed:
            await client.download(token, "t/a.css")
        assert failed.value.status in (500, 502, 503, 504)
    assert "t/a.css" in emu.files(111)


async def test_validate_needs_the_source_code_transport(
    recorder: tuple[TestServer, web.Application], tmp_path: Path
) -> None:
    """On a filemapper client, validate is a ConfigError naming the setting; nothing is sent."""
    server, app = recorder
    local = tmp_path / "a.css"
    local.write_text("a{}")
    async with HubSpotClient(str(server.make_url("")), 111) as client:
        with pytest.raises(ConfigError, match='transport = "source-code"'):
            await client.validate(TOKEN, "t/a.css", local)
    assert app[SEEN] == []


async def test_filemapper_requests_are_unchanged(
    recorder: tuple[TestServer, web.Application], tmp_path: Path
) -> None:
    """The default transport still speaks filemapper; ``publish`` does not change delete/meta."""
    server, app = recorder
    local = tmp_path / "a.css"
    local.write_text("a{}")
    async with HubSpotClient(str(server.make_url("")), 111) as client:
        await client.upload(TOKEN, "t/a.css", local, publish=True)
        await client.delete(TOKEN, "t/a.css", publish=False)
        await client.meta(TOKEN, "t", publish=False)
        await client.download(TOKEN, "t/a.css")
    paths = [path for _, path, _, _ in app[SEEN]]
    assert paths[0].startswith("/content/filemapper/v1/upload/t%2Fa.css?")
    assert "buffer=false" in paths[0]
    assert paths[1:] == [
        "/content/filemapper/v1/delete/t%2Fa.css?portalId=111",
        "/content/filemapper/v1/meta/t?portalId=111",
        "/content/filemapper/v1/stream/t%2Fa.css?portalId=111",
    ]


@pytest.mark.parametrize("version", ["2026-3", "2026-13", "v4", "latest", ""])
def test_bad_source_code_version_is_refused(version: str) -> None:
    """A version that is neither YYYY-MM nor v3 is a ValueError at construction, and the
    config file refuses the same value with its key named."""
    with pytest.raises(ValueError, match="not a Source Code API version"):
        HubSpotClient("https://api.hubapi.com", 111, source_code_version=version)
    assert hubspot.source_code_version_problem(version) is not None


def test_source_code_version_default_matches_the_config(tmp_path: Path) -> None:
    """Client and config default to the same dated version and accept the same values."""
    assert config.DEFAULT_SOURCE_CODE_VERSION == hubspot.SOURCE_CODE_VERSION
    path = tmp_path / "config.toml"
    path.write_text('[accounts.a]\nportal_id = 1\ntransport = "source-code"\n'
                    '[accounts.b]\nportal_id = 2\nsource_code_version = "v3"\n')
    loaded = config.load_config(path)
    assert loaded.accounts["a"].source_code_version == "2026-03"
    assert loaded.accounts["b"].source_code_version == "v3"
    path.write_text('[accounts.a]\nportal_id = 1\nsource_code_version = "2026-13"\n')
    with pytest.raises(ConfigError, match=r"accounts\.a\.source_code_version: '2026-13'"):
        config.load_config(path)


@pytest.mark.parametrize("version", ["2026-03", "v3"])
async def test_round_trip_on_both_families(
    make_emulator: EmulatorFactory, tmp_path: Path, version: str
) -> None:
    """Both path families upload, read back and delete against the emulator."""
    emu = await make_emulator()
    local = tmp_path / "a.css"
    local.write_text("a{}")
    async with HubSpotClient(emu.url, 111, transport="source-code",
                             source_code_version=version) as client:
        token = (await client.exchange_key(emu.accounts["sandbox"].key)).token
        await client.upload(token, "t/a.css", local, publish=True)
        assert await client.download(token, "t/a.css") == b"a{}"
        await client.delete(token, "t/a.css")
    assert emu.files(111) == {}


@pytest.mark.parametrize("transport", ["filemapper", "source-code"])
async def test_multipart_filename_is_raw_utf8_like_hs(
    make_emulator: EmulatorFactory, tmp_path: Path, transport: str
) -> None:
    """The ``file`` part of ``café crème.css`` carries ``filename="café crème.css"`` in raw
    UTF-8 bytes, as ``hs`` sends it (not aiohttp's percent-encoding), on both APIs; a
    ``"`` in a name is escaped as ``%22``, as ``hs``'s form-data does."""
    emu = await make_emulator()
    names = ["café crème.css", 'say "hi".css']
    async with HubSpotClient(emu.url, 111, transport=transport) as client:
        token = (await client.exchange_key(emu.accounts["sandbox"].key)).token
        for name in names:
            local = tmp_path / name
            local.write_text("a{}")
            await client.upload(token, f"t/{name}", local, publish=True)
    uploads = [r for r in emu.requests if r.endpoint in (Endpoint.UPLOAD, Endpoint.V3_UPLOAD)]
    raw = [(r.file_disposition or "").encode("utf-8", "surrogateescape") for r in uploads]
    assert raw == [
        'form-data; name="file"; filename="café crème.css"'.encode(),
        b'form-data; name="file"; filename="say %22hi%22.css"',
    ]
    assert sorted(emu.files(111)) == ["t/café crème.css", 't/say "hi".css']


@pytest.mark.parametrize("transport", ["filemapper", "source-code"])
async def test_metadata_of_files_folders_and_nothing(
    make_emulator: EmulatorFactory, tmp_path: Path, transport: str
) -> None:
    """``metadata()``: a file's times and last writer (hash only from the Source Code
    API), a folder's children, None for a missing path; an edit by another user in the
    Design Manager shows as a new writer, a later time and (source-code) a new hash."""
    emu = await make_emulator()
    local = tmp_path / "a.css"
    local.write_text("a{}")
    async with HubSpotClient(emu.url, 111, transport=transport) as client:
        token = (await client.exchange_key(emu.accounts["sandbox"].key)).token
        await client.upload(token, "t/css/a.css", local, publish=True)
        mine = await client.metadata(token, "t/css/a.css")
        assert mine is not None
        stored = emu.files(111)["t/css/a.css"]
        assert (mine.path, mine.folder, mine.children) == ("t/css/a.css", False, ())
        assert (mine.created_at_ms, mine.updated_at_ms) == (stored.created_at_ms,
                                                            stored.updated_at_ms)
        assert mine.writer_user_id == 9001
        assert (mine.hash is not None) == (transport == "source-code")
        folder = await client.metadata(token, "t")
        assert folder is not None
        assert (folder.folder, folder.children) == (True, ("css",))
        assert await client.metadata(token, "t/none.css") is None
        emu.edit_as(111, "t/css/a.css", b"theirs{}", user_id=4242)
        theirs = await client.metadata(token, "t/css/a.css")
        assert theirs is not None
        assert theirs.writer_user_id == 4242
        assert theirs.created_at_ms == mine.created_at_ms
        assert theirs.updated_at_ms is not None
        assert mine.updated_at_ms is not None
        assert theirs.updated_at_ms >= mine.updated_at_ms
        if transport == "source-code":
            assert theirs.hash != mine.hash
        assert await client.download(token, "t/css/a.css") == b"theirs{}"
        emu.delete_as(111, "t/css")
        assert await client.metadata(token, "t/css/a.css") is None


@pytest.mark.parametrize("transport", ["filemapper", "source-code"])
async def test_upload_result_carries_meta_on_source_code_only(
    make_emulator: EmulatorFactory, tmp_path: Path, transport: str
) -> None:
    """The Source Code API's upload answer is metadata: ``ApiResult.meta`` holds it (with the
    hash a later ``metadata()`` repeats). The filemapper answer is not documented: used only
    when it is metadata with an ``updatedAt`` (the emulator's is), never a hash."""
    emu = await make_emulator()
    local = tmp_path / "a.css"
    local.write_text("a{}")
    async with HubSpotClient(emu.url, 111, transport=transport) as client:
        token = (await client.exchange_key(emu.accounts["sandbox"].key)).token
        result = await client.upload(token, "t/a.css", local, publish=True)
        if transport == "filemapper":
            assert result.meta is not None
            assert result.meta.hash is None
            later = await client.metadata(token, "t/a.css")
            assert later is not None
            assert result.meta.updated_at_ms == later.updated_at_ms
            return
        assert result.meta is not None
        later = await client.metadata(token, "t/a.css")
        assert later is not None
        assert result.meta.hash == later.hash
        assert result.meta.writer_user_id == 9001
        assert result.meta.updated_at_ms == emu.files(111)["t/a.css"].updated_at_ms


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("version", ["2026-03", "v3"])
async def test_extract_and_status_via_the_client(
    make_emulator: EmulatorFactory, tmp_path: Path, version: str
) -> None:
    """``extract()`` returns a task id; ``extract_status()`` goes to COMPLETE and the files
    are next to the archive; a refused entry makes a CANCELED status with its message."""
    emu = await make_emulator()
    emu.set_extract_faults(delay_ms=20)
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    good.write_bytes(_zip({"css/a.css": b"a{}"}))
    bad.write_bytes(_zip({"x.html": b"<p>{{ x </p>"}))
    async with HubSpotClient(emu.url, 111, transport="source-code",
                             source_code_version=version) as client:
        token = (await client.exchange_key(emu.accounts["sandbox"].key)).token
        for archive in (good, bad):
            await client.upload(token, f"t/{archive.name}", archive, publish=True)
        statuses = []
        for name in ("good.zip", "bad.zip"):
            task_id = await client.extract(token, f"t/{name}")
            status = await client.extract_status(token, task_id)
            while not status.done:
                await asyncio.sleep(0.01)
                status = await client.extract_status(token, task_id)
            statuses.append(status)
        with pytest.raises(NotFound):
            await client.extract_status(token, "no-such-task")
    assert [s.status for s in statuses] == ["COMPLETE", "CANCELED"]
    assert statuses[0].requested_at is not None
    assert statuses[0].completed_at is not None
    assert emu.files(111)["t/css/a.css"].content == b"a{}"
    assert [error.message for error in statuses[1].errors] == ["Template contains errors"]


async def test_archive_calls_use_the_source_code_api_on_a_filemapper_client(
    make_emulator: EmulatorFactory,
) -> None:
    """A filemapper client (the default transport) stores an archive, extracts it, polls
    the task and deletes the archive through the Source Code API: the archive path
    (engine/bulk.py) tries it whatever the account's transport, and the answer says
    whether the token may."""
    emu = await make_emulator()
    emu.set_extract_faults(delay_ms=20)
    async with HubSpotClient(emu.url, 111) as client:
        token = (await client.exchange_key(emu.accounts["sandbox"].key)).token
        await client.store_archive(token, "t/a.zip", _zip({"css/a.css": b"a{}"}))
        task_id = await client.extract(token, "t/a.zip")
        status = await client.extract_status(token, task_id)
        while not status.done:
            await asyncio.sleep(0.01)
            status = await client.extract_status(token, task_id)
        await client.delete_archive(token, "t/a.zip")
    assert status.status == "COMPLETE"
    assert emu.files(111)["t/css/a.css"].content == b"a{}"
    assert "t/a.zip" not in emu.files(111)
    assert "t/a.zip" not in emu.files(111, "draft")
    endpoints = [str(r.endpoint) for r in emu.requests if r.endpoint != Endpoint.AUTH]
    assert endpoints[:2] == ["v3_upload", "extract"]
    assert endpoints[-1] == "v3_delete"
