"""The public CMS Source Code API, dated (``/cms/source-code/2026-03/``) and v3 families."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import unquote

from aiohttp import web

from hubsync.emulator.files import FileOps
from hubsync.emulator.records import Endpoint, Exchange
from hubsync.emulator.store import Environment, RemoteTree

V3_OPERATIONS: Final[dict[str, dict[str, Endpoint]]] = {
    "content": {"PUT": Endpoint.V3_UPLOAD, "DELETE": Endpoint.V3_DELETE,
                "GET": Endpoint.V3_DOWNLOAD},
    "metadata": {"GET": Endpoint.V3_METADATA},
    "validate": {"POST": Endpoint.V3_VALIDATE},
}
"""Source Code API: operation -> method -> endpoint."""

SOURCE_CODE_VERSIONS: Final = frozenset({"2026-03"})
"""Dated versions served under ``/cms/source-code/{version}/`` (hubspot-api.md §4); the
numbered ``/cms/v3/source-code/`` family answers the same."""


class SourceCodeRoutes(FileOps):
    """``{environment}/{content|metadata|validate}/{path}`` of the Source Code API."""

    def source_code_handler(
        self, request: web.Request, exchange: Exchange, rest: str
    ) -> Callable[[], Awaitable[web.StreamResponse]]:
        """The handler for ``rest``, the path after the family's prefix and version."""
        environment, _, rest = rest.partition("/")
        operation, _, tail = rest.partition("/")
        method = request.method
        endpoint = V3_OPERATIONS.get(operation, {}).get(method)
        if endpoint is None:
            status, message = (405, f"{method} is not allowed on {operation}") \
                if operation in V3_OPERATIONS else (404, f"No Source Code API operation "
                                                         f"{unquote(operation)!r}")
            response = self._error(exchange, status, message,
                                   "VALIDATION_ERROR" if status == 405 else "OBJECT_NOT_FOUND")

            async def refuse() -> web.StreamResponse:
                return response

            return refuse
        exchange.endpoint = endpoint
        # The path is raw, `/` kept; each segment may be percent-encoded.
        decoded = "/".join(unquote(segment) for segment in tail.split("/"))
        exchange.remote_path = decoded.strip("/")
        return lambda: self._source_code(request, exchange, endpoint, unquote(environment),
                                         decoded)

    async def _source_code(
        self, request: web.Request, exchange: Exchange, endpoint: Endpoint,
        environment_name: str, decoded: str,
    ) -> web.StreamResponse:
        token = self._admitted(request, exchange)
        if isinstance(token, web.Response):
            return token
        if environment_name not in {env.value for env in Environment}:
            return self._error(
                exchange, 400,
                f"Unknown environment {environment_name!r}: use draft or published",
                "VALIDATION_ERROR")
        environment = Environment(environment_name)
        path = self._checked_path(exchange, decoded,
                                  allow_root=endpoint is Endpoint.V3_METADATA)
        if isinstance(path, web.Response):
            return path
        portal_id = token.account.portal_id
        if endpoint is Endpoint.V3_UPLOAD or endpoint is Endpoint.V3_VALIDATE:
            content = await self._receive(request, exchange, path, archive_ok=True)
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
        self, exchange: Exchange, portal_id: int, path: str, environment: Environment
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
        if node.writer_user_id is not None:
            body["updatedById"] = node.writer_user_id
        return web.json_response(body)
