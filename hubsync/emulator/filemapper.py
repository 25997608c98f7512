"""The Design Manager "filemapper" API the ``hs`` CLI uses (hubspot-api.md §3)."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from hubsync.emulator.files import FileOps
from hubsync.emulator.records import Endpoint, Exchange, Token
from hubsync.emulator.store import Environment, RemoteTree

ENVIRONMENT_IDS: Final = frozenset({"1", "2"})
"""``environmentId`` values ``hs`` sends: 1 production, 2 staging (``--staging``). Staging
uploads are stored in the same tree (what HubSpot's staging does with them is not
documented); the request log keeps the id."""


class FilemapperRoutes(FileOps):
    """``upload``, ``delete``, ``meta`` and ``stream`` under ``/content/filemapper/v1/``."""

    upload_answer_meta: bool = True
    """Whether a filemapper upload answers the stored file's metadata (``updatedAt``...).
    HubSpot does not document the answer's body (hubspot-api.md §3), so both outcomes are
    served: True (the default) answers metadata, False an empty JSON object
    (``Emulator.set_upload_answer``; tests run the conflict guard under both)."""

    def set_upload_answer(self, *, meta: bool) -> None:
        """Serve filemapper upload answers with metadata (``meta=True``) or empty."""
        self.upload_answer_meta = bool(meta)

    async def _filemapper(
        self, request: web.Request, exchange: Exchange, endpoint: Endpoint, decoded: str
    ) -> web.StreamResponse:
        token = self._admitted(request, exchange)
        if isinstance(token, web.Response):
            return token
        path = self._checked_path(exchange, decoded, allow_root=endpoint is Endpoint.META)
        if isinstance(path, web.Response):
            return path
        query = self._filemapper_query(exchange, request, required_buffer=endpoint is
                                       Endpoint.UPLOAD)
        if isinstance(query, web.Response):
            return query
        environment = query
        portal_id = token.account.portal_id
        if endpoint is Endpoint.UPLOAD:
            return await self._upload(request, exchange, token, path, environment)
        if endpoint is Endpoint.DELETE:
            return await self._delete(exchange, portal_id, path)
        if endpoint is Endpoint.META:
            return self._meta(exchange, portal_id, path, environment)
        return self._stream(exchange, portal_id, path, environment)

    def _filemapper_query(
        self, exchange: Exchange, request: web.Request, *, required_buffer: bool
    ) -> Environment | web.Response:
        """``buffer`` (required on uploads, as ``hs`` always sends it) and ``environmentId``
        (1 production, 2 staging: ``hs --staging``), or the 400 for a bad value."""
        raw_buffer = request.query.get("buffer")
        if raw_buffer is None and required_buffer:
            return self._error(exchange, 400, "Missing required query parameter buffer "
                               "(true writes the draft, false publishes)", "VALIDATION_ERROR")
        buffer = (raw_buffer or "false").lower()
        if buffer not in ("true", "false"):
            return self._error(exchange, 400, f"buffer must be true or false, not {buffer!r}",
                               "VALIDATION_ERROR")
        environment_id = request.query.get("environmentId", "1")
        if environment_id not in ENVIRONMENT_IDS:
            return self._error(exchange, 400, f"Unknown environmentId {environment_id!r}: "
                               "use 1 (production) or 2 (staging)", "VALIDATION_ERROR")
        exchange.environment_id = int(environment_id)
        return Environment.DRAFT if buffer == "true" else Environment.PUBLISHED

    async def _upload(
        self, request: web.Request, exchange: Exchange, token: Token, path: str,
        environment: Environment,
    ) -> web.Response:
        content = await self._receive(request, exchange, path)
        if isinstance(content, web.Response):
            return content
        stored = await self._store(token, path, environment, content)
        if not self.upload_answer_meta:
            # hubspot-api.md §3: "the body is not relied on". The bare outcome: a client
            # must learn the new version by a metadata read.
            return web.json_response({})
        return web.json_response({
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "folder": False,
            "children": [],
            "createdAt": stored.created_at_ms,
            "updatedAt": stored.updated_at_ms,
            "updatedById": stored.user_id,
        })

    def _meta(
        self, exchange: Exchange, portal_id: int, path: str, environment: Environment
    ) -> web.Response:
        with self._lock:
            tree = self._trees.get((portal_id, environment), RemoteTree())
            node = tree.node(path)
        if node is None:
            return self._error(exchange, 404, f"Path not found: {path}", "OBJECT_NOT_FOUND")
        body: dict[str, Any] = {
            "name": node.name,
            "path": node.path,
            "folder": node.folder,
            "children": list(node.children),
            "createdAt": node.created_at_ms,
            "updatedAt": node.updated_at_ms,
        }
        if node.writer_user_id is not None:
            # Not documented by HubSpot (its Design Manager shows the writer): optional.
            body["updatedById"] = node.writer_user_id
        return web.json_response(body)
