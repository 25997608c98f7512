"""The archive path: a large batch of one account's uploads sent as ONE zip archive that
HubSpot extracts, instead of one request per file (issue 13; hubspot-api.md §4).

Per batch, about ``4 + polls + folders`` requests instead of one per file:

1. store a zip of the files (entries relative to the watch's ``dest``) at a unique
   temporary path in that folder (Source Code API ``PUT published/content``, ``.zip``);
2. ``POST extract/async`` with that path; poll the task's status through the account's
   pacer (every poll is a request) with backoff, until :data:`EXTRACT_DEADLINE_S`;
3. verify by metadata: one listing per folder touched (``children``), never one request
   per file;
4. delete the archive, always (also after a failure or a stop);
5. feed one ``Result`` per file to the decision core (``Engine.finish``), exactly as a
   per-file upload does: the file is looked at again first (changed during the upload ->
   the core marks it unknown and queues the new content), the base row and the ``pushed``
   sync log line (with ``via: "archive"``) follow from the core's outcome rules.

What HubSpot does not document, and how it is met:

- Extraction order is not documented (the emulator extracts in path order, so
  ``fields.json`` lands before ``meta.json``). A NEW module's ``meta.json`` must be stored
  first (hubspot-api.md §3), so new modules' ``meta.json`` files go before the rest: as an
  archive of their own when there are at least :data:`META_ARCHIVE_MIN`, else one by
  one; the module's other files are in the second archive (``core/ordering.py``'s rule
  holds: they are dispatched only after their ``meta.json`` is acknowledged).
- Whether a personal-access-key token may use the Source Code API and its extraction is
  not confirmed. ``bulk = "auto"`` tries once per account: a refusal (4xx on storing the
  archive or on ``extract``, a CANCELED task without file errors, no completion before
  the deadline) sends the batch file by file AND is remembered in the state
  (``StateStore.record_bulk_refusal``), so later batches, also in later runs, go straight
  to files. ``bulk = "archive"`` tries every batch and reports each refusal as a warning;
  ``"files"`` never tries.
- A CANCELED task that names refused entries stored nothing (all or nothing): the batch
  goes file by file, so the good files land and the bad one fails with its own message.
  The account accepted extraction, so this is not remembered as a refusal.
- Extraction writes the live files: watches in ``draft`` mode never use this path.

Deletes never go by archive. Files falling back are handed back to the core as not sent
(``Outbox.unsent``), so the worker's ordinary loop sends them with its usual concurrency,
pacing, offline probing and stop handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import posixpath
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import structlog

from hubsync.core import retry
from hubsync.core.effects import Result
from hubsync.core.ordering import upload_rank
from hubsync.core.paths import is_module_meta
from hubsync.errors import (
    AuthError,
    CredentialError,
    HubSpotError,
    HubsyncError,
    NotFound,
    RateLimited,
    TokenExpired,
    TransientError,
)
from hubsync.model import AccessToken, Mode, OpKind, OutboxEntry, OutboxState, RemoteMeta
from hubsync.ports import ApiAnswer
from hubsync.state import BulkRefusal

if TYPE_CHECKING:
    from hubsync.engine.worker import AccountWorker

log = structlog.get_logger("hubsync.engine")

ARCHIVE_MIN_FILES = 50
"""A batch of at least this many due uploads for one account goes as an archive.

The measured break-even in wall time (bench/bulk.py, archive section; bench/README.md):
with the emulator at 50 ms latency, an archive of 10 to 80 files took 1.0-1.5 s (store,
extraction and polling, one listing per folder, delete: 6 requests), per-file uploads
0.9 s for 40 files and 1.3-2.2 s for 60, paced under a fresh 100 / 10 s budget or
unpaced alike. From 50 files on, the archive is as fast or faster and spends under a
tenth of the requests; below it, file by file is faster (and a save of a few files keeps
its per-file latency)."""
META_ARCHIVE_MIN = 8
"""New modules' ``meta.json`` files go as an archive of their own from this many on;
fewer go one by one (cheaper than the archive's fixed requests)."""
EXTRACT_DEADLINE_S = 120.0
"""An extraction not finished this long after it was asked for is given up: the batch
goes file by file and the account's refusal is remembered (``auto``)."""
POLL_FIRST_S = 0.2
POLL_MAX_S = 2.0
POLL_GROWTH = 1.5
"""Status polls wait 0.2 s, then 1.5 times longer each time, at most 2 s: a small theme
extracts in well under a second (emulator: 0.3 s), a big one is not polled to death."""
ARCHIVE_PREFIX = "hubsync-archive-"

_T = TypeVar("_T")


@runtime_checkable
class ArchiveApi(Protocol):
    """What the archive path needs of an account's client (``hubspot.HubSpotClient``).

    A client without these (the in-memory twin) never uses the archive path.
    """

    async def store_archive(self, token: AccessToken, remote_path: str, content: bytes
                            ) -> ApiAnswer: ...

    async def extract(self, token: AccessToken, archive_remote_path: str) -> str: ...

    async def extract_status(self, token: AccessToken, task_id: str) -> Any: ...

    async def metadata(self, token: AccessToken, remote_path: str, *, publish: bool = True
                       ) -> RemoteMeta | None: ...

    async def delete(self, token: AccessToken, remote_path: str) -> ApiAnswer: ...


class Refused(Exception):
    """The account refused the archive path: remembered for ``auto``."""


class FellBack(Exception):
    """This batch could not go by archive (server trouble, a rejected file): not remembered."""


@dataclass(slots=True)
class _Packed:
    """One archive's worth: the entries in it and the zip bytes."""

    entries: list[OutboxEntry]
    content: bytes


class ArchivePath:
    """The archive path of one account's worker. ``offer`` is called by the worker's loop
    before it dispatches per-file requests."""

    def __init__(self, worker: AccountWorker) -> None:
        self.worker = worker
        self.mode = worker.account.bulk
        self.refusal: BulkRefusal | None = None
        """The account's remembered refusal (loaded from the state on first use)."""
        self._loaded = False
        self._task: asyncio.Task[None] | None = None
        self._held: dict[str, OutboxEntry] = {}
        """remote path -> an entry this path took (in flight in the core), until it is
        recorded or handed back."""
        self._resting = False
        """After a fallback: no new archive until the account's backlog has drained, so
        the loop does not take the same batch again and again."""

    # --- the decision -------------------------------------------------------------------

    def offer(self, now: float, group: asyncio.TaskGroup) -> None:
        """Start sending the account's due uploads as an archive if the batch is large
        enough and the account may (see the module docstring). Marks them in flight."""
        if not self._may_try(now) or not self._take(now):
            return
        task = group.create_task(self._run(), name=f"archive-{self.worker.name}")
        self._task = task
        requests = self.worker._requests
        requests.add(task)  # drained and cancelled on a stop like any request
        task.add_done_callback(requests.discard)

    def _may_try(self, now: float) -> bool:
        worker = self.worker
        if self.mode == "files" or (self._task is not None and not self._task.done()):
            return False
        if self.mode == "auto" and self.refusal is not None:
            return False
        pending = worker.engine.outbox.count(worker.name, OutboxState.PENDING)
        if self._resting:
            self._resting = pending > 0
            return False
        if pending < ARCHIVE_MIN_FILES or worker.engine._store is None:
            return False
        return isinstance(worker.api, ArchiveApi) and worker._free(now) > 0

    def _take(self, now: float) -> bool:
        """Take the due uploads of publish-mode watches (in flight from now on); False
        when there are too few."""
        worker = self.worker
        outbox = worker.engine.outbox
        entries = outbox.entries(worker.name)
        due = sum(1 for e in entries if e.due_s <= now and e.state is OutboxState.PENDING
                  and self._archivable(e))
        if due < ARCHIVE_MIN_FILES:
            return False
        self._hold_due(now, len(entries))
        return bool(self._held)

    def _hold_due(self, now: float, limit: int) -> None:
        """Everything dispatchable now (``Outbox.next_batch``: a module file only once its
        meta.json is acknowledged); what cannot go by archive is handed back at once."""
        batch = self.worker.engine.outbox.next_batch(self.worker.name, now, limit)
        for entry in batch:
            self._held[entry.remote_path] = entry
        self._release([e for e in batch if not self._archivable(e)])

    def _archivable(self, entry: OutboxEntry) -> bool:
        if entry.op is not OpKind.UPLOAD or entry.folder:
            return False
        return self.worker.engine.tracker(entry.watch).watch.mode is Mode.PUBLISH

    # --- one batch ----------------------------------------------------------------------

    async def _run(self) -> None:
        """Send what is held by archive; whatever does not land goes back to the core as
        not sent, for the per-file loop."""
        try:
            await self._load_refusal()
            if self.mode == "auto" and self.refusal is not None:
                return
            base = self.worker.engine.outbox.base(self.worker.name)
            metas = [e for e in self._held.values()
                     if is_module_meta(e.rel) and e.remote_path not in base]
            if metas:
                await self._meta_first(metas)
                # Their modules' files are dispatchable now.
                outbox = self.worker.engine.outbox
                self._hold_due(self.worker.engine.clock.time(),
                               len(outbox.entries(self.worker.name)))
            await self._vet()
            if len(self._held) < ARCHIVE_MIN_FILES:
                self._resting = True
                return
            await self._send(list(self._held.values()))
        except (Refused, FellBack) as exc:
            self._resting = True
            await self._fell_back(exc, len(self._held))
        finally:
            self._release(list(self._held.values()))
            self.worker.wake.set()

    async def _vet(self) -> None:
        """The conflict guard (engine/guard.py), as before a per-file upload: extraction
        overwrites whatever is at a path, so a file someone else changed, or one hubsync
        never synced that differs, must not go into the archive. Files never synced cost
        one listing per folder; files synced before, one metadata read each. What the guard
        keeps back is finished by the core (conflict, adopted, done); a failed read hands
        the file back to the per-file loop, which retries it with its own guard."""
        limit = asyncio.Semaphore(self.worker.concurrency)
        engine = self.worker.engine

        async def vet(entry: OutboxEntry) -> None:
            async with limit:
                try:
                    guarded = await self.worker.guard.check(entry)
                except HubsyncError:
                    self._release([entry])
                    return
            if guarded is not None and self._held.pop(entry.remote_path, None) is entry:
                engine.finish_guarded(entry, guarded)

        await asyncio.gather(*(vet(e) for e in list(self._held.values())))

    async def _meta_first(self, metas: list[OutboxEntry]) -> None:
        if len(metas) >= META_ARCHIVE_MIN:
            await self._send(metas)
            # One that did not land goes file by file, before its module's files (the
            # core holds those back while it is pending).
            self._release([e for e in metas if e.remote_path in self._held])
            return
        # A few: one by one, the worker's own request path (paced, recorded as usual).
        limit = asyncio.Semaphore(self.worker.concurrency)

        async def one(entry: OutboxEntry) -> None:
            async with limit:
                if self._held.pop(entry.remote_path, None) is entry:
                    await self.worker._request(entry)

        await asyncio.gather(*(one(e) for e in metas))

    async def _send(self, entries: list[OutboxEntry]) -> None:
        """Archive ``entries``, one archive per watch; what lands is recorded (and no
        longer held), the rest stays held."""
        by_watch: dict[str, list[OutboxEntry]] = {}
        for entry in entries:
            by_watch.setdefault(entry.watch, []).append(entry)
        for watch, group in by_watch.items():
            packed = await self._pack(watch, group)
            if packed is not None:
                await self._extract(watch, packed)

    async def _pack(self, watch: str, entries: list[OutboxEntry]) -> _Packed | None:
        """Read and zip ``entries``; a file that changed or vanished since it was hashed is
        handed back (the tracker looks again), as a per-file upload would find it."""
        tracker = self.worker.engine.tracker(watch)
        ordered = sorted(entries, key=lambda e: upload_rank(e.rel))
        contents = await asyncio.to_thread(_read_all, tracker.root, ordered)
        files: list[tuple[str, bytes]] = []
        kept: list[OutboxEntry] = []
        for entry, content in zip(ordered, contents, strict=True):
            if content is None or hashlib.sha256(content).hexdigest() != entry.sha256:
                if self._held.pop(entry.remote_path, None) is entry:
                    self.worker.engine.unsent(entry)
                continue
            kept.append(entry)
            files.append((entry.rel, content))
        if not kept:
            return None
        return _Packed(kept, await asyncio.to_thread(_zip, files))

    async def _extract(self, watch: str, packed: _Packed) -> None:
        """Store, extract, verify, delete; record what landed."""
        dest = self.worker.engine.tracker(watch).watch.dest
        archive = f"{dest}/{ARCHIVE_PREFIX}{uuid.uuid4().hex}.zip"
        began = time.monotonic()
        stored = False
        try:
            await self._call(lambda t, a: a.store_archive(t, archive, packed.content),
                             "storing the archive")
            stored = True
            task_id = await self._call(lambda t, a: a.extract(t, archive), "extract")
            await self._wait_for(task_id, began)
            landed = await self._verify(packed.entries)
        finally:
            if stored:
                await self._delete(archive)
        await self._record(landed, task_id, began)

    async def _wait_for(self, task_id: str, began: float) -> None:
        """Poll until COMPLETE; raise Refused/FellBack for anything else."""
        wait_s = POLL_FIRST_S
        while True:
            left_s = EXTRACT_DEADLINE_S - (time.monotonic() - began)
            if left_s <= 0:
                raise Refused(f"the extraction did not complete within "
                              f"{EXTRACT_DEADLINE_S:g} s")
            await asyncio.sleep(min(wait_s, left_s))
            wait_s = min(POLL_MAX_S, wait_s * POLL_GROWTH)
            status = await self._call(lambda t, a: a.extract_status(t, task_id),
                                      "extract status")
            if status.status == "COMPLETE":
                return
            if status.status == "CANCELED":
                if status.errors:
                    # Files refused inside the archive: nothing stored (all or nothing).
                    raise FellBack("HubSpot refused files inside the archive: "
                                   + "; ".join(d.message for d in status.errors[:3]))
                raise Refused("HubSpot canceled the extraction")

    async def _verify(self, entries: list[OutboxEntry]) -> list[OutboxEntry]:
        """The entries whose names the listing of their folder shows (one request per
        folder); the others fall back."""
        folders: dict[str, list[OutboxEntry]] = {}
        for entry in entries:
            folders.setdefault(posixpath.dirname(entry.remote_path), []).append(entry)
        limit = asyncio.Semaphore(self.worker.concurrency)

        async def listed(folder: str) -> set[str]:
            async with limit:
                try:
                    meta = await self._call(lambda t, a: a.metadata(t, folder),
                                            "verify the extraction")
                except (Refused, FellBack):
                    return set()
            return set(meta.children) if meta is not None and meta.folder else set()

        names = await asyncio.gather(*(listed(f) for f in folders))
        landed = [e for group, children in zip(folders.values(), names, strict=True)
                  for e in group if posixpath.basename(e.remote_path) in children]
        if len(landed) < len(entries):
            log.warning("archive_unverified", account=self.worker.name,
                        files=len(entries) - len(landed),
                        note="not seen after extraction; sent file by file")
        return landed

    async def _record(self, landed: list[OutboxEntry], task_id: str, began: float) -> None:
        """One outcome per file, as a per-file upload reports it (looked at again after)."""
        worker = self.worker
        engine = worker.engine
        duration_ms = round((time.monotonic() - began) * 1000)
        for entry in landed:
            after = await engine.tracker(entry.watch).look(entry.rel)
            if self._held.pop(entry.remote_path, None) is not entry:
                continue
            fields = {"mode": str(Mode.PUBLISH), "duration_ms": duration_ms,
                      "via": "archive", "extract_task": task_id}
            engine.finish(entry, Result(retry.Outcome.OK, after=after, fields=fields))
        worker.conditions.last_push_s = engine.clock.time()
        worker.conditions.last_error = None

    async def _delete(self, archive: str) -> None:
        """Remove the archive, also when the batch failed or is being cancelled."""

        async def delete(token: AccessToken, api: ArchiveApi) -> None:
            with contextlib.suppress(NotFound):
                await api.delete(token, archive)

        deleting = asyncio.ensure_future(self._call(delete, "delete the archive",
                                                    cleanup=True))
        try:
            await asyncio.shield(deleting)
        except asyncio.CancelledError:
            # A stop: give the delete a moment to finish before giving up on it.
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(deleting, 5.0)
            if not deleting.done() or deleting.cancelled() or deleting.exception():
                log.warning("archive_left_behind", account=self.worker.name, path=archive,
                            note="delete it in the Design Manager")
            raise
        except (Refused, FellBack) as exc:
            log.warning("archive_left_behind", account=self.worker.name, path=archive,
                        error=str(exc), note="delete it in the Design Manager")

    # --- requests -----------------------------------------------------------------------

    async def _call(self, request: Callable[[AccessToken, ArchiveApi], Awaitable[_T]],
                    what: str, *, cleanup: bool = False) -> _T:
        """One request of the archive path, through the pacer and the token manager;
        HubSpot's refusals (4xx) become Refused, anything else FellBack. A ``cleanup``
        request still goes while the session stops."""
        worker = self.worker
        api = worker.api
        assert isinstance(api, ArchiveApi)
        await worker.pacer.acquire()
        if worker.engine.stopping and not cleanup:
            raise FellBack("the session is stopping")
        try:
            return await worker.tokens.call(lambda token: request(token, api))
        except RateLimited as exc:
            worker.pacer.rate_limited(exc.retry_after)
            raise FellBack(f"{what}: {exc}") from exc
        except (TransientError, TokenExpired, AuthError, CredentialError) as exc:
            # The server is unwell or the key is in trouble: the per-file path meets the
            # same condition and handles it (offline probing, blocking the account).
            raise FellBack(f"{what}: {exc}") from exc
        except HubSpotError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                raise Refused(f"{what}: {exc.describe().splitlines()[0]}") from exc
            raise FellBack(f"{what}: {exc}") from exc
        except HubsyncError as exc:
            raise FellBack(f"{what}: {exc}") from exc

    # --- refusals and fallback ----------------------------------------------------------

    async def _load_refusal(self) -> None:
        if self._loaded:
            return
        store = self.worker.engine._store
        if store is not None:
            self.refusal = (await store.bulk_refusals()).get(self.worker.name)
        self._loaded = True

    async def _fell_back(self, exc: Exception, files: int) -> None:
        worker = self.worker
        reason = str(exc)
        remembered = isinstance(exc, Refused) and self.mode == "auto"
        if remembered:
            self.refusal = BulkRefusal(reason, worker.engine.clock.time())
            store = worker.engine._store
            if store is not None:
                await store.record_bulk_refusal(worker.name, self.refusal)
        fields: dict[str, Any] = {"account": worker.name, "files": files,
                                  "bulk": self.mode, "remembered": remembered}
        if isinstance(exc, Refused):
            note = ('later batches go file by file (bulk = "archive" tries every batch)'
                    if remembered else "this batch goes file by file")
            worker.engine.emit("archive_refused", **fields, error=reason, note=note)
            if self.mode == "archive":
                log.warning("archive_refused", **fields, error=reason)
            else:
                log.info("archive_refused", **fields, error=reason)
        else:
            log.info("archive_fallback", **fields, error=reason)

    def _release(self, entries: Iterable[OutboxEntry]) -> None:
        """Hand entries this path holds back to the core: not sent after all."""
        outbox = self.worker.engine.outbox
        for entry in entries:
            if self._held.get(entry.remote_path) is entry:
                del self._held[entry.remote_path]
                outbox.unsent(entry)
        self.worker.engine.check_idle()


def _read_all(root: Path, entries: list[OutboxEntry]) -> list[bytes | None]:
    """Each entry's bytes, or None when it cannot be read now (gone, a folder, ...)."""
    contents: list[bytes | None] = []
    for entry in entries:
        try:
            contents.append((root / entry.rel).read_bytes())
        except OSError:
            contents.append(None)
    return contents


def _zip(files: list[tuple[str, bytes]]) -> bytes:
    """A zip of ``(name, bytes)`` in the given order (deflated: theme text shrinks ~4x)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6
                         ) as archive:
        for name, content in files:
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content,
                             compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
