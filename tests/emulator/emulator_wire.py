"""A minimal client for the emulator tests, written from hubspot-api.md alone.

Deliberately NOT hubsync's client: plain aiohttp requests, so the emulator is checked
against the contract document, not against our own reading of it.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

FILEMAPPER = "/content/filemapper/v1"


@dataclass(frozen=True, slots=True)
class Reply:
    """Status, headers and body of one response, read fully."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def encoded(path: str) -> str:
    """The remote path as ONE segment, as JavaScript's encodeURIComponent does."""
    return quote(path, safe="")


def per_segment(path: str) -> str:
    """The remote path with each segment encoded and ``/`` kept (for meta)."""
    return "/".join(quote(segment, safe="") for segment in path.split("/"))


class Wire:
    """The contract's requests against one base URL, for one token and portal."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def _send(self, method: str, url: str, **kwargs: Any) -> Reply:
        async with self.session.request(method, self.base + url, **kwargs) as response:
            body = await response.read()
            return Reply(response.status, dict(response.headers), body)

    async def exchange(self, key: str, portal_id: int | None = None) -> Reply:
        """POST /localdevauth/v1/auth/refresh with the key, no Authorization header."""
        query = f"?portalId={portal_id}" if portal_id is not None else ""
        return await self._send("POST", f"/localdevauth/v1/auth/refresh{query}",
                                json={"encodedOAuthRefreshToken": key})

    async def token(self, key: str) -> str:
        """A fresh access token for ``key`` (asserts the exchange succeeded)."""
        reply = await self.exchange(key)
        assert reply.status == 200, reply.body
        token = reply.json()["oauthAccessToken"]
        assert isinstance(token, str)
        return token

    async def token_info(self, token: str) -> Reply:
        """GET /oauth/v1/access-tokens/{token}."""
        return await self._send("GET", f"/oauth/v1/access-tokens/{token}")

    @staticmethod
    def _auth(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token is not None else {}

    async def upload(self, token: str | None, portal_id: int | str | None, path: str,
                     content: bytes, *, buffer: bool = False,
                     part_name: str = "file") -> Reply:
        """POST upload/{encoded}?buffer=&environmentId=1&portalId= with one part ``file``."""
        form = aiohttp.FormData()
        # BytesIO, not bytes: aiohttp warns about big raw-bytes bodies blocking the loop.
        form.add_field(part_name, io.BytesIO(content), filename=path.rsplit("/", 1)[-1],
                       content_type="application/octet-stream")
        query = f"?buffer={'true' if buffer else 'false'}&environmentId=1"
        if portal_id is not None:
            query += f"&portalId={portal_id}"
        return await self._send("POST", f"{FILEMAPPER}/upload/{encoded(path)}{query}",
                                data=form, headers=self._auth(token))

    async def delete(self, token: str | None, portal_id: int, path: str) -> Reply:
        """DELETE delete/{encoded}?portalId=."""
        return await self._send("DELETE", f"{FILEMAPPER}/delete/{encoded(path)}"
                                f"?portalId={portal_id}", headers=self._auth(token))

    async def meta(self, token: str | None, portal_id: int, path: str,
                   *, buffer: bool | None = None) -> Reply:
        """GET meta/{per-segment encoded}?portalId=."""
        query = f"?portalId={portal_id}"
        if buffer is not None:
            query += f"&buffer={'true' if buffer else 'false'}"
        return await self._send("GET", f"{FILEMAPPER}/meta/{per_segment(path)}{query}",
                                headers=self._auth(token))

    async def stream(self, token: str | None, portal_id: int, path: str,
                     *, buffer: bool | None = None) -> Reply:
        """GET stream/{encoded}?portalId=."""
        query = f"?portalId={portal_id}"
        if buffer is not None:
            query += f"&buffer={'true' if buffer else 'false'}"
        return await self._send("GET", f"{FILEMAPPER}/stream/{encoded(path)}{query}",
                                headers=self._auth(token))

    async def raw_url(self, method: str, url: URL, **kwargs: Any) -> Reply:
        """A request to exactly ``url`` (built with ``encoded=True``: sent as written)."""
        async with self.session.request(method, url, **kwargs) as response:
            return Reply(response.status, dict(response.headers), await response.read())

    async def raw(self, method: str, url: str, **kwargs: Any) -> Reply:
        """Any request relative to the base URL (control API, malformed calls)."""
        return await self._send(method, url, **kwargs)


def assert_error_shape(reply: Reply, status: int, category: str | None = None) -> dict[str, Any]:
    """The reply is a HubSpot error body with every field the contract promises."""
    assert reply.status == status, (reply.status, reply.body)
    body = reply.json()
    assert isinstance(body, dict)
    assert body["status"] == "error"
    assert body["message"]
    assert body["correlationId"] == reply.headers["X-HubSpot-Correlation-Id"]
    assert body["category"]
    if category is not None:
        assert body["category"] == category, body
    return body
