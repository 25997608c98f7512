"""The CMS Source Code API v3 routes: content, metadata, validate, on the filemapper's store.

Plain aiohttp requests written from hubspot-api.md section 4, not hubsync's client.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from hubsync.emulator import Emulator, Endpoint
from tests.emulator.emulator_wire import Reply, Wire, assert_error_shape

V3 = "/cms/v3/source-code"
HOME = "marketing-theme/templates/home.html"


def v3_path(path: str) -> str:
    """The path raw with ``/``, each segment percent-encoded."""
    return "/".join(quote(segment, safe="") for segment in path.split("/"))


class SourceCode:
    """The v3 requests against the emulator, for one token and portal."""

    def __init__(self, wire: Wire, token: str | None, portal_id: int | None = 111) -> None:
        self.wire = wire
        self.token = token
        self.portal_id = portal_id

    def _kwargs(self) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token is not None else {}
        return {"headers": headers}

    def _url(self, environment: str, operation: str, path: str) -> str:
        query = f"?portalId={self.portal_id}" if self.portal_id is not None else ""
        return f"{V3}/{environment}/{operation}/{v3_path(path)}{query}"

    @staticmethod
    def _form(path: str, content: bytes) -> aiohttp.FormData:
        form = aiohttp.FormData()
        form.add_field("file", io.BytesIO(content), filename=path.rsplit("/", 1)[-1],
                       content_type="application/octet-stream")
        return form

    async def put(self, environment: str, path: str, content: bytes) -> Reply:
        """PUT {environment}/content/{path} with one part ``file``."""
        return await self.wire.raw("PUT", self._url(environment, "content", path),
                                   data=self._form(path, content), **self._kwargs())

    async def validate(self, environment: str, path: str, content: bytes) -> Reply:
        """POST {environment}/validate/{path} with one part ``file``."""
        return await self.wire.raw("POST", self._url(environment, "validate", path),
                                   data=self._form(path, content), **self._kwargs())

    async def get(self, environment: str, path: str) -> Reply:
        """GET {environment}/content/{path}."""
        return await self.wire.raw("GET", self._url(environment, "content", path),
                                   **self._kwargs())

    async def metadata(self, environment: str, path: str) -> Reply:
        """GET {environment}/metadata/{path}."""
        return await self.wire.raw("GET", self._url(environment, "metadata", path),
                                   **self._kwargs())

    async def delete(self, environment: str, path: str) -> Reply:
        """DELETE {environment}/content/{path}."""
        return await self.wire.raw("DELETE", self._url(environment, "content", path),
                                   **self._kwargs())


@pytest.fixture
async def v3(emulator: Emulator, wire: Wire) -> SourceCode:
    """The v3 API as the sandbox user (portal 111)."""
    return SourceCode(wire, await wire.token(emulator.account("sandbox").key))


async def test_put_published_stores_both_and_answers_metadata(
    emulator: Emulator, v3: SourceCode
) -> None:
    """PUT published writes published and draft as the token's user; 200 with v3 metadata."""
    content = b"<h1>{{ content.title }}</h1>\n"
    reply = await v3.put("published", HOME, content)
    assert reply.status == 200, reply.body
    body = reply.json()
    stored = emulator.files(111, "published")[HOME]
    assert body == {
        "id": HOME, "name": "home.html", "folder": False,
        "createdAt": stored.created_at_ms, "updatedAt": stored.updated_at_ms,
        "hash": hashlib.sha256(content).hexdigest(),
        "updatedById": 9001,
    }
    assert emulator.files(111, "draft")[HOME].content == content
    assert (stored.content, stored.user_id) == (content, 9001)
    assert emulator.files(222) == {}


async def test_put_draft_leaves_published_alone(emulator: Emulator, v3: SourceCode) -> None:
    """PUT draft writes only the draft; GET content/metadata read the environment named."""
    await v3.put("published", HOME, b"v1")
    assert (await v3.put("draft", HOME, b"draft")).status == 200
    assert emulator.files(111, "published")[HOME].content == b"v1"
    assert emulator.files(111, "draft")[HOME].content == b"draft"
    assert (await v3.get("published", HOME)).body == b"v1"
    assert (await v3.get("draft", HOME)).body == b"draft"
    await v3.put("draft", "t/only-draft.css", b"a{}")
    assert_error_shape(await v3.metadata("published", "t/only-draft.css"), 404,
                       "OBJECT_NOT_FOUND")
    assert (await v3.metadata("draft", "t/only-draft.css")).json()["hash"] == \
        hashlib.sha256(b"a{}").hexdigest()


async def test_one_store_for_both_apis(emulator: Emulator, wire: Wire, v3: SourceCode) -> None:
    """A file uploaded through filemapper is read through v3, and the other way round."""
    assert v3.token is not None
    await wire.upload(v3.token, 111, HOME, b"<p>filemapper</p>")
    assert (await v3.get("published", HOME)).body == b"<p>filemapper</p>"
    await v3.put("published", "marketing-theme/css/main.css", b"body{}")
    assert (await wire.stream(v3.token, 111, "marketing-theme/css/main.css")).body == b"body{}"
    assert (await wire.meta(v3.token, 111, "marketing-theme")).json()["children"] == \
        ["css", "templates"]
    assert (await v3.delete("published", HOME)).status == 204
    assert (await wire.stream(v3.token, 111, HOME)).status == 404


async def test_metadata_of_folder_file_and_root(v3: SourceCode) -> None:
    """Folders have children and no hash; ids are full paths; segments may be encoded."""
    await v3.put("published", HOME, b"<p>home</p>")
    await v3.put("published", "marketing-theme/css/my styles.css", b"a{}")
    folder = (await v3.metadata("published", "marketing-theme")).json()
    assert folder["id"] == "marketing-theme"
    assert folder["name"] == "marketing-theme"
    assert folder["folder"] is True
    assert folder["children"] == ["css", "templates"]
    assert "hash" not in folder
    assert "archivedAt" not in folder
    assert isinstance(folder["createdAt"], int)
    assert isinstance(folder["updatedAt"], int)
    spaced = (await v3.metadata("published", "marketing-theme/css/my styles.css")).json()
    assert spaced["id"] == "marketing-theme/css/my styles.css"
    assert (spaced["name"], spaced["folder"]) == ("my styles.css", False)
    assert "children" not in spaced
    root = await v3.wire.raw("GET", f"{V3}/published/metadata/?portalId=111",
                             headers={"Authorization": f"Bearer {v3.token}"})
    assert root.json()["children"] == ["marketing-theme"]


async def test_delete_published_draft_and_missing(emulator: Emulator, v3: SourceCode) -> None:
    """DELETE published removes both copies (204); draft removes the draft; absent is 404."""
    await v3.put("published", HOME, b"<p>v1</p>")
    await v3.put("published", "t/a.css", b"a{}")
    assert (await v3.delete("draft", "t/a.css")).status == 204
    assert "t/a.css" in emulator.files(111, "published")
    assert "t/a.css" not in emulator.files(111, "draft")
    reply = await v3.delete("published", HOME)
    assert (reply.status, reply.body) == (204, b"")
    assert HOME not in emulator.files(111, "published")
    assert HOME not in emulator.files(111, "draft")
    body = assert_error_shape(await v3.delete("published", HOME), 404, "OBJECT_NOT_FOUND")
    assert HOME in body["message"]


async def test_delete_of_a_folder_is_recursive(emulator: Emulator, v3: SourceCode) -> None:
    """DELETE of a folder path removes every file under it."""
    await v3.put("published", "theme/a/one.css", b"a{}")
    await v3.put("published", "theme/a/b/two.css", b"b{}")
    await v3.put("published", "theme/keep.css", b"c{}")
    assert (await v3.delete("published", "theme/a")).status == 204
    assert list(emulator.files(111)) == ["theme/keep.css"]


async def test_validate_stores_nothing(emulator: Emulator, v3: SourceCode) -> None:
    """validate answers 200 for good content and 400 with line errors for bad; never stores."""
    assert (await v3.validate("published", HOME, b"<p>{{ ok }}</p>")).status == 200
    body = assert_error_shape(
        await v3.validate("published", HOME, b"<p>\n{% if x\n</p>"), 400, "VALIDATION_ERROR")
    assert body["errors"][0]["errorTokens"]["line"] == [2]
    assert body["errors"][0]["in"] == HOME
    empty = assert_error_shape(await v3.validate("draft", "t/a.css", b""), 400)
    assert empty["message"] == "File source stream cannot be empty"
    assert "Unsupported file type" in \
        assert_error_shape(await v3.validate("draft", "t/a.exe", b"MZ"), 400)["message"]
    assert emulator.files(111, "published") == {}
    assert emulator.files(111, "draft") == {}


async def test_put_refuses_what_validate_refuses(emulator: Emulator, v3: SourceCode) -> None:
    """A PUT of broken HubL or JSON is 400 with its line and leaves the store unchanged."""
    body = assert_error_shape(await v3.put("published", HOME, b"{# never closed"), 400)
    assert body["errors"][0]["errorTokens"]["line"] == [1]
    json_body = assert_error_shape(await v3.put("draft", "t/fields.json", b'{\n"a": }'), 400)
    assert json_body["errors"][0]["errorTokens"]["line"] == [2]
    assert emulator.files(111, "draft") == {}


async def test_module_file_before_meta_is_flagged(emulator: Emulator, v3: SourceCode) -> None:
    """Inside a *.module folder, a file PUT before meta.json is stored with before_meta."""
    await v3.put("published", "t/modules/hero.module/module.html", b"<p>hero</p>")
    await v3.put("published", "t/modules/card.module/meta.json", b"{}")
    await v3.put("published", "t/modules/card.module/module.html", b"<p>card</p>")
    files = emulator.files(111)
    assert files["t/modules/hero.module/module.html"].before_meta is True
    assert files["t/modules/card.module/module.html"].before_meta is False


async def test_auth_and_portal_checks(emulator: Emulator, wire: Wire, v3: SourceCode) -> None:
    """No token 401, other portal 403, no portalId 400, expired token 401 EXPIRED."""
    anonymous = SourceCode(wire, None)
    assert_error_shape(await anonymous.get("published", HOME), 401, "INVALID_AUTHENTICATION")
    other_portal = SourceCode(wire, v3.token, portal_id=222)
    assert_error_shape(await other_portal.put("published", HOME, b"x"), 403, "FORBIDDEN")
    no_portal = SourceCode(wire, v3.token, portal_id=None)
    assert_error_shape(await no_portal.metadata("published", ""), 400, "VALIDATION_ERROR")
    emulator.expire_all_tokens()
    assert_error_shape(await v3.delete("published", HOME), 401, "EXPIRED_AUTHENTICATION")
    assert emulator.files(111) == {}
    assert emulator.files(222) == {}


async def test_bad_environment_operation_method(v3: SourceCode) -> None:
    """Environment other than draft/published 400; unknown operation 404; wrong method 405."""
    body = assert_error_shape(await v3.get("staging", HOME), 400, "VALIDATION_ERROR")
    assert "draft or published" in body["message"]
    auth = {"Authorization": f"Bearer {v3.token}"}
    assert_error_shape(await v3.wire.raw("GET", f"{V3}/published/extract/{HOME}?portalId=111",
                                         headers=auth), 404)
    assert_error_shape(await v3.wire.raw("POST", f"{V3}/published/content/{HOME}?portalId=111",
                                         headers=auth), 405)
    assert_error_shape(await v3.wire.raw("DELETE", f"{V3}/draft/metadata/{HOME}?portalId=111",
                                         headers=auth), 405)
    assert_error_shape(await v3.put("published", "", b"x"), 400, "VALIDATION_ERROR")


async def test_request_log_names_v3_endpoints(emulator: Emulator, v3: SourceCode) -> None:
    """Each v3 call is logged with its endpoint, decoded path, portal, user and status."""
    emulator.clear_requests()
    await v3.put("published", "t/my file.css", b"a{}")
    await v3.metadata("published", "t/my file.css")
    await v3.get("draft", "t/my file.css")
    await v3.validate("draft", "t/my file.css", b"")
    await v3.delete("published", "t/my file.css")
    logged = [(r.method, r.endpoint, r.remote_path, r.portal_id, r.user_id, r.status)
              for r in emulator.requests]
    assert logged == [
        ("PUT", Endpoint.V3_UPLOAD, "t/my file.css", 111, 9001, 200),
        ("GET", Endpoint.V3_METADATA, "t/my file.css", 111, 9001, 200),
        ("GET", Endpoint.V3_DOWNLOAD, "t/my file.css", 111, 9001, 200),
        ("POST", Endpoint.V3_VALIDATE, "t/my file.css", 111, 9001, 400),
        ("DELETE", Endpoint.V3_DELETE, "t/my file.css", 111, 9001, 204),
    ]
    assert [str(r.endpoint) for r in emulator.requests][:2] == ["v3_upload", "v3_metadata"]
    assert all(r.correlation_id for r in emulator.requests)


@pytest.fixture
async def limited() -> AsyncIterator[tuple[Emulator, SourceCode]]:
    """An emulator allowing 2 calls per portal per 10 s, as the sandbox user over v3."""
    emu = Emulator(rate_limit=2, rate_window_ms=10_000)
    emu.add_account("sandbox", portal_id=111, user_id=9001)
    async with emu, aiohttp.ClientSession() as session:
        wire = Wire(session, emu.url)
        yield emu, SourceCode(wire, await wire.token(emu.account("sandbox").key))


async def test_v3_calls_share_the_portal_rate_limit(
    limited: tuple[Emulator, SourceCode],
) -> None:
    """v3 calls count against the portal's window with the filemapper's; the 3rd is 429."""
    emu, v3 = limited
    first = await v3.put("published", "t/a.css", b"a{}")
    assert first.headers["X-HubSpot-RateLimit-Max"] == "2"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "1"
    assert v3.token is not None
    assert (await v3.wire.meta(v3.token, 111, "t")).status == 200
    body = assert_error_shape(await v3.get("published", "t/a.css"), 429, "RATE_LIMITS")
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert emu.requests[-1].endpoint is Endpoint.V3_DOWNLOAD


async def test_faults_apply_to_v3(emulator: Emulator, v3: SourceCode) -> None:
    """A 429 storm with Retry-After, then 5xx errors, answer v3 calls; nothing is stored."""
    emulator.set_faults(storm_seconds=30, retry_after=4.2)
    storm = await v3.put("published", HOME, b"<p>x</p>")
    assert_error_shape(storm, 429, "RATE_LIMITS")
    assert storm.headers["Retry-After"] == "5"
    emulator.set_faults(error_rate=1.0)
    failed = await v3.put("published", HOME, b"<p>x</p>")
    assert failed.status in (500, 502, 503, 504)
    assert_error_shape(failed, failed.status, "INTERNAL_ERROR")
    emulator.set_faults()
    assert emulator.files(111) == {}
    assert (await v3.put("published", HOME, b"<p>x</p>")).status == 200
