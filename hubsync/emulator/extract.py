"""The Source Code API's archive extraction: ``POST extract/async`` and its task status.

Choices where HubSpot documents nothing (hubspot-api.md §4 leaves them open):

- ``POST …/extract/async`` with JSON ``{"path": "<archive>"}``: the archive must be a
  ``.zip`` already stored (published); 404 when it is not there, 400 for another
  extension or a bad body. Answers 202 ``{"id", "links": {"status": url}}``. The call
  counts as ONE request against the rate limit however many files the archive holds.
- The task is ``PENDING`` for half of ``ExtractFaults.delay_ms``, ``PROCESSING`` for the
  other half, then ``COMPLETE`` or, when any entry is refused, ``CANCELED`` with
  ``errors[]`` (``{message, in, code}`` per refused entry) and nothing stored: the
  extraction is all or nothing. Timestamps are ISO 8601 (UTC, ms).
- Entries land relative to the archive's folder, overwrite what is there, and are
  written by the requesting user to published and draft. Each is checked as an upload
  (extension, empty file, HubL, JSON); an entry path with ``..`` or the like is refused.
- ``GET …/extract/async/tasks/{taskId}/status``: 404 for an unknown task or another
  portal's.
"""

from __future__ import annotations

import asyncio
import io
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from hubsync.emulator.base import now_ms
from hubsync.emulator.files import FileOps
from hubsync.emulator.records import Endpoint, Exchange, ExtractFaults, ExtractTask, Token
from hubsync.emulator.store import Environment, StoredFile, normalize_path
from hubsync.emulator.validate import check_upload

_Handler = Callable[[], Awaitable[web.StreamResponse]]


def iso(epoch_ms: int | None) -> str | None:
    """ISO 8601 in UTC with milliseconds, as HubSpot's task timestamps."""
    if epoch_ms is None:
        return None
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_archive(content: bytes) -> dict[str, bytes] | str:
    """A zip's files (entry name -> bytes; folders skipped), or why it cannot be read."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist()
                    if not info.is_dir()}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return f"The archive cannot be read as a zip file: {exc}"


class ExtractRoutes(FileOps):
    """``extract/async`` and ``extract/async/tasks/{id}/status`` of both path families."""

    # ----------------------------------------------------------------- Python API

    @property
    def extract_faults(self) -> ExtractFaults:
        """The extraction faults last set."""
        with self._lock:
            return self._extract_faults

    def set_extract_faults(
        self, refuse_status: int | None = None, reject_entries: tuple[str, ...] = (),
        never_complete: bool = False, delay_ms: float = 300.0,
    ) -> None:
        """Replace every extraction fault; ``set_extract_faults()`` makes it healthy."""
        faults = ExtractFaults(refuse_status, frozenset(reject_entries), never_complete,
                               float(delay_ms))
        with self._lock:
            self._extract_faults = faults

    def extract_tasks(self) -> list[ExtractTask]:
        """Every extraction task so far (copies' fields may change while they run)."""
        with self._lock:
            return list(self._extract_tasks.values())

    async def cancel_extractions(self) -> None:
        """Stop every running extraction job (at server stop)."""
        jobs = list(self._extract_jobs)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    # ----------------------------------------------------------------- routing

    def extract_handler(self, request: web.Request, exchange: Exchange, rest: str,
                        status_base: str) -> _Handler:
        """The handler for ``rest`` (``extract/async...``) after the family prefix."""
        method = request.method
        if rest == "extract/async":
            exchange.endpoint = Endpoint.EXTRACT
            if method == "POST":
                return lambda: self._extract_start(request, exchange, status_base)
        else:
            exchange.endpoint = Endpoint.EXTRACT_STATUS
            head, _, task_id = rest.removesuffix("/status").rpartition("/")
            if head != "extract/async/tasks" or not rest.endswith("/status") or not task_id:
                return self._refusal(exchange, 404, f"No Source Code API endpoint {rest!r}",
                                     "OBJECT_NOT_FOUND")
            if method == "GET":
                return lambda: self._extract_status(request, exchange, task_id)
        return self._refusal(exchange, 405, f"{method} is not allowed on {rest}",
                             "VALIDATION_ERROR")

    def _refusal(self, exchange: Exchange, status: int, message: str, category: str
                 ) -> _Handler:
        response = self._error(exchange, status, message, category)

        async def refuse() -> web.StreamResponse:
            return response

        return refuse

    # ----------------------------------------------------------------- handlers

    async def _extract_start(
        self, request: web.Request, exchange: Exchange, status_base: str
    ) -> web.Response:
        token = self._admitted(request, exchange)
        if isinstance(token, web.Response):
            return token
        faults = self.extract_faults
        if faults.refuse_status == 403:
            return self._error(exchange, 403, "This token lacks the scope to extract archives "
                               "(emulated refusal)", "MISSING_SCOPES")
        archive = await self._archive_to_extract(request, exchange, token, faults)
        if isinstance(archive, web.Response):
            return archive
        path, content = archive
        task = ExtractTask(id=str(uuid.uuid4()), portal_id=token.account.portal_id,
                           archive=path, requested_at_ms=now_ms())
        with self._lock:
            self._extract_tasks[task.id] = task
        job = asyncio.create_task(self._run_extraction(task, token, content, faults))
        self._extract_jobs.add(job)
        job.add_done_callback(self._extract_jobs.discard)
        status_url = f"{status_base}/extract/async/tasks/{task.id}/status"
        return web.json_response({"id": task.id, "links": {"status": status_url}}, status=202)

    async def _archive_to_extract(
        self, request: web.Request, exchange: Exchange, token: Token, faults: ExtractFaults,
    ) -> tuple[str, bytes] | web.Response:
        """The stored archive the JSON body names, or the 400/404 for it."""
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        raw = body.get("path") if isinstance(body, dict) else None
        if not isinstance(raw, str) or not raw.strip("/"):
            return self._error(exchange, 400, 'Request body must be JSON {"path": "<archive>"}',
                               "VALIDATION_ERROR")
        path = self._checked_path(exchange, raw, allow_root=False)
        if isinstance(path, web.Response):
            return path
        if not path.lower().endswith(".zip"):
            return self._error(exchange, 400, f"Only .zip archives can be extracted, not {path}",
                               "VALIDATION_ERROR")
        with self._lock:
            tree = self._trees.get((token.account.portal_id, Environment.PUBLISHED))
            stored = tree.files.get(path) if tree else None
        if stored is None or faults.refuse_status == 404:
            return self._error(exchange, 404, f"Archive not found: {path}", "OBJECT_NOT_FOUND")
        return path, stored.content

    async def _run_extraction(self, task: ExtractTask, token: Token, content: bytes,
                              faults: ExtractFaults) -> None:
        await asyncio.sleep(faults.delay_ms / 2000)
        with self._lock:
            task.status, task.started_at_ms = "PROCESSING", now_ms()
        if faults.never_complete:
            return
        await asyncio.sleep(faults.delay_ms / 2000)
        entries = await asyncio.to_thread(read_archive, content)
        folder = task.archive.rpartition("/")[0]
        planned, errors = self._plan_entries(entries, folder, faults)
        if not errors:
            for remote, data in planned.items():
                template = StoredFile.build(data, user_id=token.account.user_id, now_ms=now_ms())
                _, targets = self._put(task.portal_id, remote, Environment.PUBLISHED, template)
                for env in targets:
                    await self._mirror(self._mirror_write, task.portal_id, env, remote, data)
        with self._lock:
            task.completed_at_ms = now_ms()
            task.status = "CANCELED" if errors else "COMPLETE"
            task.errors = errors
            task.extracted = () if errors else tuple(sorted(planned))

    @staticmethod
    def _plan_entries(entries: dict[str, bytes] | str, folder: str, faults: ExtractFaults
                      ) -> tuple[dict[str, bytes], list[dict[str, object]]]:
        """Remote path -> bytes for every entry, and one error per refused entry."""
        if isinstance(entries, str):
            return {}, [{"message": entries, "in": "", "code": "INVALID_ARCHIVE"}]
        planned: dict[str, bytes] = {}
        errors: list[dict[str, object]] = []
        for name, data in sorted(entries.items()):
            relative = normalize_path(name)
            if not relative:
                errors.append({"message": f"Invalid entry path {name!r}", "in": name,
                               "code": "INVALID_PATH"})
                continue
            remote = f"{folder}/{relative}" if folder else relative
            problem = check_upload(remote, data)
            if name in faults.reject_entries:
                errors.append({"message": f"{remote} was refused (emulated rejection)",
                               "in": name, "code": "REJECTED"})
            elif problem is not None:
                errors.append({"message": problem.message, "in": name, "code": "INVALID_FILE",
                               "errors": [{"message": e.message, "line": e.line}
                                          for e in problem.errors]})
            else:
                planned[remote] = data
        return planned, errors

    async def _extract_status(
        self, request: web.Request, exchange: Exchange, task_id: str
    ) -> web.Response:
        token = self._admitted(request, exchange)
        if isinstance(token, web.Response):
            return token
        with self._lock:
            task = self._extract_tasks.get(task_id)
            if task is None or task.portal_id != token.account.portal_id:
                return self._error(exchange, 404, f"No extraction task {task_id}",
                                   "OBJECT_NOT_FOUND")
            body: dict[str, Any] = {
                "id": task.id,
                "status": task.status,
                "requestedAt": iso(task.requested_at_ms),
                "startedAt": iso(task.started_at_ms),
                "completedAt": iso(task.completed_at_ms),
            }
            if task.errors:
                body["errors"] = list(task.errors)
                body["numErrors"] = len(task.errors)
        return web.json_response({k: v for k, v in body.items() if v is not None})
