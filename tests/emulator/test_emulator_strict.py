"""Issue 12: the emulator is strict where HubSpot is, checked with raw HTTP requests.

Each rule has a request HubSpot would refuse and the emulator's refusal, plus, where the
rule could be too strict, the request it must still accept.
"""

from __future__ import annotations

import io
import ssl
from typing import Any

import aiohttp
import pytest
from yarl import URL

from hubsync.emulator import Emulator, Endpoint
from tests.emulator.emulator_wire import FILEMAPPER, Reply, Wire, assert_error_shape, encoded

PORTAL = 111


async def _token(wire: Wire, emulator: Emulator) -> str:
    return await wire.token(emulator.account("sandbox").key)


def _form(*parts: tuple[str, bytes, str | None]) -> aiohttp.MultipartWriter:
    """A multipart body with the given (name, content, filename) parts, in order."""
    writer = aiohttp.MultipartWriter("form-data")
    for name, content, filename in parts:
        part = writer.append_payload(aiohttp.payload.BytesIOPayload(io.BytesIO(content)))
        if filename:
            part.set_content_disposition("form-data", name=name, filename=filename)
        else:
            part.set_content_disposition("form-data", name=name)
    return writer


async def _post(wire: Wire, token: str, url: str, data: Any) -> Reply:
    return await wire.raw("POST", url, data=data, headers={"Authorization": f"Bearer {token}"})


def _upload_url(path: str, query: str = "buffer=false&environmentId=1") -> str:
    return f"{FILEMAPPER}/upload/{encoded(path)}?{query}&portalId={PORTAL}"


async def test_two_parts_named_file_are_refused(wire: Wire, emulator: Emulator) -> None:
    """Two parts named ``file`` -> 400 naming both parts; nothing is stored."""
    token = await _token(wire, emulator)
    body = _form(("file", b"a{}", "a.css"), ("file", b"b{}", "a.css"))
    reply = await _post(wire, token, _upload_url("t/a.css"), body)
    error = assert_error_shape(reply, 400, "VALIDATION_ERROR")
    assert "exactly one" in error["message"]
    assert emulator.files(PORTAL) == {}


async def test_file_plus_another_part_is_refused(wire: Wire, emulator: Emulator) -> None:
    """``file`` plus any other part (before or after it) -> 400; nothing is stored."""
    token = await _token(wire, emulator)
    for parts in ((("file", b"a{}", "a.css"), ("extra", b"1", None)),
                  (("extra", b"1", None), ("file", b"a{}", "a.css"))):
        reply = await _post(wire, token, _upload_url("t/a.css"), _form(*parts))
        error = assert_error_shape(reply, 400, "VALIDATION_ERROR")
        assert "'extra'" in error["message"]
    assert emulator.files(PORTAL) == {}


async def test_no_part_named_file_is_refused(wire: Wire, emulator: Emulator) -> None:
    """A single part under another name -> 400 saying ``file`` is missing."""
    token = await _token(wire, emulator)
    reply = await _post(wire, token, _upload_url("t/a.css"), _form(("upload", b"a{}", "a.css")))
    assert "Missing multipart part named 'file'" in assert_error_shape(reply, 400)["message"]


async def test_source_code_upload_is_as_strict(wire: Wire, emulator: Emulator) -> None:
    """The Source Code API's PUT refuses two ``file`` parts too, on both path families."""
    token = await _token(wire, emulator)
    for base in ("/cms/source-code/2026-03", "/cms/v3/source-code"):
        body = _form(("file", b"a{}", "a.css"), ("file", b"b{}", "a.css"))
        reply = await wire.raw("PUT", f"{base}/published/content/t/a.css?portalId={PORTAL}",
                               data=body, headers={"Authorization": f"Bearer {token}"})
        assert_error_shape(reply, 400, "VALIDATION_ERROR")
    assert emulator.files(PORTAL) == {}


async def test_buffer_is_required_on_filemapper_uploads(wire: Wire, emulator: Emulator) -> None:
    """An upload without ``buffer`` -> 400 naming it; with ``buffer=false`` it is stored."""
    token = await _token(wire, emulator)
    reply = await _post(wire, token, _upload_url("t/a.css", "environmentId=1"),
                        _form(("file", b"a{}", "a.css")))
    assert "buffer" in assert_error_shape(reply, 400, "VALIDATION_ERROR")["message"]
    assert emulator.files(PORTAL) == {}
    ok = await _post(wire, token, _upload_url("t/a.css"), _form(("file", b"a{}", "a.css")))
    assert ok.status == 200, ok.body
    assert list(emulator.files(PORTAL)) == ["t/a.css"]


@pytest.mark.parametrize("path", ["t/x%252Fy.css", "x%252Fy.css", "t%2520u/a.css"])
async def test_double_encoded_paths_are_refused(
    wire: Wire, emulator: Emulator, path: str
) -> None:
    """A path encoded twice (``%252F``, ``%2520``) -> 400 on upload, delete, stream and the
    Source Code API; no file literally named ``x%2Fy.css`` is created."""
    token = await _token(wire, emulator)
    auth = {"Authorization": f"Bearer {token}"}
    # The path segment as the client sent it: already encoded once, then once more.
    once = path.replace("/", "%2F")
    calls = [
        ("POST", f"{FILEMAPPER}/upload/{once}?buffer=false&environmentId=1&portalId={PORTAL}",
         _form(("file", b"a{}", "y.css"))),
        ("DELETE", f"{FILEMAPPER}/delete/{once}?portalId={PORTAL}", None),
        ("GET", f"{FILEMAPPER}/stream/{once}?portalId={PORTAL}", None),
        ("PUT", f"/cms/source-code/2026-03/published/content/{path}?portalId={PORTAL}",
         _form(("file", b"a{}", "y.css"))),
    ]
    for method, url, data in calls:
        reply = await wire.raw_url(method, URL(wire.base + url, encoded=True), data=data,
                                   headers=auth)
        error = assert_error_shape(reply, 400, "VALIDATION_ERROR")
        assert "encoded twice" in error["message"], (method, error)
    assert emulator.files(PORTAL) == {}
    assert emulator.folders(PORTAL) == []


@pytest.mark.parametrize("environment_id", ["1", "2"])
async def test_environment_ids_1_and_2_are_accepted(
    wire: Wire, emulator: Emulator, environment_id: str
) -> None:
    """``environmentId`` 1 (production) and 2 (``hs --staging``) upload; the log keeps it."""
    token = await _token(wire, emulator)
    reply = await _post(wire, token,
                        _upload_url("t/a.css", f"buffer=false&environmentId={environment_id}"),
                        _form(("file", b"a{}", "a.css")))
    assert reply.status == 200, reply.body
    upload = [r for r in emulator.requests if r.endpoint is Endpoint.UPLOAD][-1]
    assert upload.environment_id == int(environment_id)


@pytest.mark.parametrize("environment_id", ["0", "3", "staging", ""])
async def test_other_environment_ids_are_refused(
    wire: Wire, emulator: Emulator, environment_id: str
) -> None:
    """Any ``environmentId`` but 1 or 2 -> 400 naming the allowed values; nothing stored."""
    token = await _token(wire, emulator)
    reply = await _post(wire, token,
                        _upload_url("t/a.css", f"buffer=false&environmentId={environment_id}"),
                        _form(("file", b"a{}", "a.css")))
    assert "1 (production) or 2 (staging)" in assert_error_shape(reply, 400)["message"]
    assert emulator.files(PORTAL) == {}


async def test_draft_and_published_are_kept_apart(wire: Wire, emulator: Emulator) -> None:
    """``buffer=true`` changes the draft only: ``stream``/``meta`` without buffer still read
    the published bytes; publishing makes both the same again."""
    token = await _token(wire, emulator)
    assert (await wire.upload(token, PORTAL, "t/a.css", b"live{}")).status == 200
    assert (await wire.upload(token, PORTAL, "t/a.css", b"draft{}", buffer=True)).status == 200
    assert (await wire.stream(token, PORTAL, "t/a.css")).body == b"live{}"
    assert (await wire.stream(token, PORTAL, "t/a.css", buffer=True)).body == b"draft{}"
    assert (await wire.upload(token, PORTAL, "t/new.css", b"n{}", buffer=True)).status == 200
    assert (await wire.stream(token, PORTAL, "t/new.css")).status == 404
    children = (await wire.meta(token, PORTAL, "t")).json()["children"]
    assert children == ["a.css"]
    assert (await wire.upload(token, PORTAL, "t/a.css", b"v2{}")).status == 200
    assert (await wire.stream(token, PORTAL, "t/a.css", buffer=True)).body == b"v2{}"


async def test_retry_after_is_an_integer(wire: Wire, emulator: Emulator) -> None:
    """A fractional ``retry_after`` goes out rounded up to whole seconds (``1``, not 0.3)."""
    token = await _token(wire, emulator)
    emulator.set_faults(storm_seconds=60, retry_after=0.3)
    reply = await wire.upload(token, PORTAL, "t/a.css", b"a{}")
    assert_error_shape(reply, 429)
    assert reply.headers["Retry-After"] == "1"


async def test_correlation_id_on_every_answer(wire: Wire, emulator: Emulator) -> None:
    """Success, API errors, unknown paths (also under the control prefix), control API
    errors and usage events all carry a distinct ``X-HubSpot-Correlation-Id``."""
    token = await _token(wire, emulator)
    replies = [
        await wire.upload(token, PORTAL, "t/a.css", b"a{}"),
        await wire.stream(token, PORTAL, "t/missing.css"),
        await wire.raw("GET", "/no/such/api"),
        await wire.raw("PATCH", "/_emulator/faults"),
        await wire.raw("GET", "/_emulator/content/111/published/none.css"),
        await wire.raw("POST", "/local/dev/tools/proxy/v1/usage", json={}),
    ]
    ids = [reply.headers.get("X-HubSpot-Correlation-Id") for reply in replies]
    assert all(ids), [(r.status, r.headers) for r in replies]
    assert len(set(ids)) == len(ids)
    assert [r.status for r in replies] == [200, 404, 404, 404, 404, 200]


@pytest.mark.parametrize("prefix", ["/api.hubapi.com", "/api.hubapiqa.com"])
async def test_host_prefix_of_hs_is_accepted(
    wire: Wire, emulator: Emulator, prefix: str
) -> None:
    """``hs`` under HUBAPI_DOMAIN_OVERRIDE puts the host name first: every API answers
    the same behind it (exchange, upload, meta, firealarm)."""
    key = emulator.account("sandbox").key
    reply = await wire.raw("POST", f"{prefix}/localdevauth/v1/auth/refresh?portalId={PORTAL}",
                           json={"encodedOAuthRefreshToken": key})
    assert reply.status == 200, reply.body
    token = reply.json()["oauthAccessToken"]
    auth = {"Authorization": f"Bearer {token}"}
    upload = await wire.raw("POST", prefix + _upload_url("t/a.css"),
                            data=_form(("file", b"a{}", "a.css")), headers=auth)
    assert upload.status == 200, upload.body
    meta = await wire.raw("GET", f"{prefix}{FILEMAPPER}/meta/t?portalId={PORTAL}", headers=auth)
    assert meta.json()["children"] == ["a.css"]
    alarms = await wire.raw("GET", f"{prefix}/firealarm/v4/alarm/hubspot-cli/{PORTAL}"
                            f"?portalId={PORTAL}", headers=auth)
    assert (alarms.status, alarms.json()) == (200, [])


async def test_hs_extras(wire: Wire, emulator: Emulator) -> None:
    """Firealarm needs a token and answers ``[]``; usage events need none and answer an
    empty 200; the sandbox probe of a standard portal is 404."""
    token = await _token(wire, emulator)
    auth = {"Authorization": f"Bearer {token}"}
    alarm = f"/firealarm/v4/alarm/hubspot-cli/{PORTAL}?portalId={PORTAL}"
    assert_error_shape(await wire.raw("GET", alarm), 401)
    assert (await wire.raw("GET", alarm, headers=auth)).json() == []
    for path in ("/local/dev/tools/proxy/v1/usage",
                 "/content/filemapper/v1/cms-cli-usage/authenticated"):
        usage = await wire.raw("POST", path, json={"eventName": "cli-interaction"})
        assert (usage.status, usage.body) == (200, b"")
    probe = await wire.raw("GET", f"/sandbox-hubs/v1/self?portalId={PORTAL}", headers=auth)
    assert_error_shape(probe, 404)
    endpoints = [r.endpoint for r in emulator.requests]
    assert Endpoint.FIREALARM in endpoints
    assert Endpoint.USAGE in endpoints


async def test_stream_dates_are_epoch_ms(wire: Wire, emulator: Emulator) -> None:
    """``stream``'s Content-Disposition dates are epoch ms (``hs`` parseInt's them)."""
    token = await _token(wire, emulator)
    await wire.upload(token, PORTAL, "t/a.css", b"a{}")
    stored = emulator.files(PORTAL)["t/a.css"]
    disposition = (await wire.stream(token, PORTAL, "t/a.css")).headers["Content-Disposition"]
    assert f'creation-date="{stored.created_at_ms}"' in disposition
    assert f'modification-date="{stored.updated_at_ms}"' in disposition


async def test_dated_and_v3_source_code_paths(wire: Wire, emulator: Emulator) -> None:
    """``/cms/source-code/2026-03/`` and ``/cms/v3/source-code/`` reach the same store; an
    unknown dated version is a 404 naming the known ones."""
    token = await _token(wire, emulator)
    auth = {"Authorization": f"Bearer {token}"}
    put = await wire.raw("PUT", f"/cms/source-code/2026-03/published/content/t/a.css"
                         f"?portalId={PORTAL}", data=_form(("file", b"a{}", "a.css")),
                         headers=auth)
    assert put.status == 200, put.body
    got = await wire.raw("GET", f"/cms/v3/source-code/published/content/t/a.css"
                         f"?portalId={PORTAL}", headers=auth)
    assert got.body == b"a{}"
    unknown = await wire.raw("GET", f"/cms/source-code/2019-01/published/content/t/a.css"
                             f"?portalId={PORTAL}", headers=auth)
    assert "2026-03" in assert_error_shape(unknown, 404)["message"]


async def test_tls_serves_https_with_a_printed_ca() -> None:
    """``Emulator(tls=True)`` serves https for 127.0.0.1 with a CA at ``ca_path``; a client
    trusting that CA exchanges a key; one that does not fails verification; the CA
    file is removed at stop."""
    emulator = Emulator(rate_limit=0, tls=True)
    account = emulator.add_account("sandbox", portal_id=PORTAL, user_id=9001)
    async with emulator:
        assert emulator.url.startswith("https://127.0.0.1:")
        ca_path = emulator.ca_path
        assert ca_path is not None
        assert b"BEGIN CERTIFICATE" in ca_path.read_bytes()
        trusting = ssl.create_default_context(cafile=str(ca_path))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=trusting)) as s:
            reply = await Wire(s, emulator.url).exchange(account.key)
            assert reply.status == 200
        async with aiohttp.ClientSession() as untrusting:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await Wire(untrusting, emulator.url).exchange(account.key)
    assert not ca_path.exists()


@pytest.mark.parametrize("body", [
    b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.css"\r\n\r\na{}',
    b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.css"\r\n\r\na{}\r\n--b',
    b"no boundary at all",
])
async def test_malformed_multipart_is_a_400(wire: Wire, emulator: Emulator, body: bytes) -> None:
    """A body cut short or without its closing boundary -> 400 in HubSpot's shape, and
    nothing stored (not a 500, not a traceback)."""
    token = await _token(wire, emulator)
    reply = await wire.raw("POST", _upload_url("t/a.css"), data=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "multipart/form-data; boundary=b"})
    message = assert_error_shape(reply, 400, "VALIDATION_ERROR")["message"]
    assert "malformed or cut short" in message or "Missing multipart part" in message
    assert emulator.files(PORTAL) == {}
