"""What both file APIs share: reading a multipart upload strictly, storing, deleting, streaming.

Strict where HubSpot is strict (issue 12): the body must be multipart with exactly one
part, named ``file``; anything else is a 400 before a byte is stored.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from typing import Any, Final
from urllib.parse import quote

from aiohttp import BodyPartReader, hdrs, web

from hubsync.emulator.base import EmulatorBase, now_ms
from hubsync.emulator.records import Exchange, Token
from hubsync.emulator.store import (
    Environment,
    StoredFile,
    normalize_path,
)
from hubsync.emulator.validate import Problem, check_upload

# Big uploads are hashed off the loop; small ones are cheaper to hash in place.
_HASH_IN_THREAD_BYTES: Final = 1024 * 1024
_READ_CHUNK: Final = 256 * 1024
_ESCAPE: Final = re.compile(r"%[0-9A-Fa-f]{2}")


class FileOps(EmulatorBase):
    """Upload reading and validation, the store, delete and download, for both APIs."""

    async def _receive(
        self, request: web.Request, exchange: Exchange, path: str, *, archive_ok: bool = False
    ) -> bytes | web.Response:
        """The bytes of the ``file`` part if HubSpot would store them, else the 400/413."""
        if not request.content_type.startswith("multipart/"):
            return self._error(exchange, 400,
                               "Expected multipart/form-data with one part named 'file'",
                               "VALIDATION_ERROR")
        content = await self._read_file_part(request, exchange)
        if isinstance(content, str):
            return self._error(exchange, 400, content, "VALIDATION_ERROR")
        if len(content) > self.max_upload_bytes:
            return self._error(exchange, 413,
                               f"File larger than {self.max_upload_bytes} bytes",
                               "VALIDATION_ERROR")
        problem = check_upload(path, content, archive_ok=archive_ok)
        if problem is not None:
            return self._problem(exchange, problem, path)
        return content

    async def _store(
        self, token: Token, path: str, environment: Environment, content: bytes
    ) -> StoredFile:
        """Write ``content`` as the token's user: the draft only, or published and draft."""
        now = now_ms()
        user_id = token.account.user_id
        if len(content) > _HASH_IN_THREAD_BYTES:
            template = await asyncio.to_thread(StoredFile.build, content, user_id=user_id,
                                               now_ms=now)
        else:
            template = StoredFile.build(content, user_id=user_id, now_ms=now)
        portal_id = token.account.portal_id
        stored, targets = self._put(portal_id, path, environment, template)
        for env in targets:
            await self._mirror(self._mirror_write, portal_id, env, path, content)
        return stored

    async def _read_file_part(self, request: web.Request, exchange: Exchange) -> bytes | str:
        """The content of the one part, named ``file``, streamed; or why the body is refused.

        Every part is read (the rest released unread), so that a second ``file`` part or
        any other part is seen and refused, as HubSpot does, instead of silently ignored.
        """
        try:
            return await self._read_parts(request, exchange)
        except ValueError as exc:
            # aiohttp's reader raises ValueError for a body cut short or without its
            # closing boundary; HubSpot refuses such a body too.
            return f"The multipart body is malformed or cut short ({exc})"

    async def _read_parts(self, request: web.Request, exchange: Exchange) -> bytes | str:
        reader = await request.multipart()
        names: list[str] = []
        content: bytes | None = None
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                names.append("(nested multipart)")
                await part.release()
                continue
            names.append(part.name or "(unnamed)")
            if part.name != "file" or content is not None:
                await part.release()
                continue
            exchange.file_disposition = part.headers.get(hdrs.CONTENT_DISPOSITION)
            buffer = bytearray()
            while chunk := await part.read_chunk(_READ_CHUNK):
                buffer += chunk
                if len(buffer) > self.max_upload_bytes:
                    await part.release()
                    break
            content = bytes(buffer)
        if names == ["file"] and content is not None:
            return content
        if not names.count("file"):
            return "Missing multipart part named 'file'"
        return ("Expected exactly one multipart part, named 'file'; got "
                + ", ".join(repr(name) for name in names))

    def _checked_path(
        self, exchange: Exchange, decoded: str, *, allow_root: bool
    ) -> str | web.Response:
        """The stored form of a once-decoded remote path, or HubSpot's 400 for it.

        A path that still holds a percent escape after decoding was encoded twice
        (``%252F``): HubSpot refuses it rather than store a file literally named
        ``x%2Fy.css``, and so does the emulator, so a client's double encoding shows.
        """
        if _ESCAPE.search(decoded):
            return self._error(
                exchange, 400, f"Invalid remote path {decoded!r}: it still holds a percent "
                "escape after decoding (was it encoded twice?)", "VALIDATION_ERROR")
        path = normalize_path(decoded)
        if path is None or (not path and not allow_root):
            return self._error(exchange, 400, f"Invalid remote path {decoded!r}",
                               "VALIDATION_ERROR")
        exchange.remote_path = path
        return path

    def _problem(self, exchange: Exchange, problem: Problem, path: str) -> web.Response:
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
        self, exchange: Exchange, portal_id: int, path: str,
        environments: tuple[Environment, ...] = tuple(Environment),
    ) -> web.Response:
        removed = self._remove(portal_id, path, environments)
        if not removed:
            return self._error(exchange, 404, f"Path not found: {path}", "OBJECT_NOT_FOUND")
        for env in removed:
            await self._mirror(self._mirror_delete, portal_id, env, path)
        return web.Response(status=204)

    def _stream(
        self, exchange: Exchange, portal_id: int, path: str, environment: Environment
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
            # Epoch ms, not HTTP dates: hs reads both with parseInt (hs-on-loopback.md).
            f'creation-date="{stored.created_at_ms}"; '
            f'modification-date="{stored.updated_at_ms}"'
        )
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return web.Response(body=stored.content, content_type=content_type,
                            headers={"Content-Disposition": disposition})
