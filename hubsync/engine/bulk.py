"""The archive path: a large batch of one account's uploads sent as ONE zip archive that
HubSpot extracts, instead of one request per file (issue 13; hubspot-api.md §4).

Per batch of at least :data:`ARCHIVE_MIN_FILES` due uploads (``ArchivePath.offer``, called
by the account's worker loop), about ``5 + polls + folders`` requests instead of one per
file, every one through the account's pacer and token manager:

0. the conflict guard vets each file as before a per-file upload (``_vet_by_guard``,
   engine/guard.py); a file this path later hands back to the per-file loop is sent on
   that verdict (``Guard.check(keep=True)``), not read a second time;
1. the files are read (a file whose bytes no longer match the hash the core queued is
   handed back, as a per-file upload would find it) and zipped, entries relative to the
   watch's ``dest``; the archive's unique path in that folder is written to the state
   (``bulk_archives``) BEFORE it is stored (Source Code API ``PUT published/content``),
   so a killed process's archive is deleted at the next start;
2. ``POST extract/async`` with that path; the task's status is polled with backoff until
   :data:`EXTRACT_DEADLINE_S`;
3. checked by metadata: one listing per folder touched (``children``: every name there),
   and the ``updatedAt`` of a few files synced before against the task's ``requestedAt``
   (did it overwrite?); never one request per file;
4. the archive is deleted, always (also after a failure, and on a stop: once stored, the
   archive is a request in flight, which the stop's drain waits for);
5. one ``Result`` per file goes to the decision core (``Engine.finish``), exactly as a
   per-file upload's: the file is looked at again first (changed during the extraction ->
   the core marks it unknown and queues the new content), the base row and the ``pushed``
   sync log line (with ``via: "archive"`` and ``extract_task``) follow from the core's
   outcome rules, in the committer's batched transactions. Each base row records the
   extraction's window as the file's remote version (``_written_version``,
   core/extracted.py): from the task's ``startedAt`` to its ``completedAt``, by the key's
   user. No request: HubSpot states no ``updatedAt`` for many files at once, and a
   metadata read per file after the extraction would know no more than the window. So
   the next push's guard reads each file's metadata, as after a per-file upload, and
   downloads nothing (bench/README.md, "Archive push, then the guard").

A 429 or a 5xx of one of these requests is tried again (:data:`CALL_ATTEMPTS`) before the
batch falls back; any unexpected error falls back too, never ending the session.

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
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import structlog

from hubsync.core import retry
from hubsync.core.effects import Result
from hubsync.core.extracted import extraction_version
from hubsync.core.ordering import upload_rank
from hubsync.core.paths import is_module_meta
from hubsync.errors import (
    AuthError,
    CredentialError,
    HubSpotError,
    HubsyncError,
    NotFound,
    TokenExpired,
    TransientError,
)
from hubsync.model import (
    AccessToken,
    Mode,
    OpKind,
    OutboxEntry,
    OutboxState,
    RemoteMeta,
    RemoteVersion,
)
from hubsync.ports import ApiAnswer
from hubsync.ratelimit import paced
from hubsync.state import AsyncStateStore, BulkRefusal

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
POLL_MAX_S = 1.0
POLL_GROWTH = 1.5
"""Status polls wait 0.2 s, then 1.5 times longer each time, at most 1 s: a small theme
extracts in well under a second (emulator: 0.3 s); a long extraction costs one request a
second, a small share of any budget, and is noticed within a second of its end."""
ARCHIVE_PREFIX = "hubsync-archive-"
OVERWRITE_SAMPLE = 3
"""Files already synced before whose metadata is read after an extraction, to see that it
overwrote them (one request each)."""
CALL_ATTEMPTS = 3
"""Tries of one archive-path request that met a 429 or a transient failure (5xx, timeout)
before the batch falls back to per-file uploads."""
RETRY_WAIT_S = 0.5

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

    async def delete_archive(self, token: AccessToken, remote_path: str) -> ApiAnswer: ...


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
        self._starting: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()
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
        if not self._loaded and self._starting is None and self._usable():
            # Once per session: learn a remembered refusal, delete what a killed process
            # left (beside the per-file uploads, which go on meanwhile).
            self._starting = self._spawn(group, self._startup(), "archive-start")
        if self._task is not None and not self._task.done():
            return
        if self._may_try(now) and self._take(now):
            self._task = self._spawn(group, self._run(), "archive")

    def _spawn(self, group: asyncio.TaskGroup, work: Coroutine[Any, Any, None], name: str
               ) -> asyncio.Task[None]:
        task = group.create_task(self._guarded(work), name=f"{name}-{self.worker.name}")
        requests = self.worker._requests
        requests.add(task)  # drained and cancelled on a stop like any request
        task.add_done_callback(requests.discard)
        return task

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        """``work``, with any unexpected error logged instead of ending the session (what
        it held is handed back by ``_run``): the per-file path is always there."""
        try:
            await work
        except Exception:
            self._resting = True
            log.exception("archive_crashed", account=self.worker.name,
                          note="this batch goes file by file")

    def _usable(self) -> bool:
        """Whether this account can use the archive path at all (a real client, a state)."""
        return isinstance(self.worker.api, ArchiveApi) and self.worker.engine._store is not None

    def _may_try(self, now: float) -> bool:
        worker = self.worker
        if self.mode == "files":
            return False
        if self.mode == "auto" and self.refusal is not None:
            return False
        pending = worker.engine.outbox.count(worker.name, OutboxState.PENDING)
        if self._resting:
            self._resting = pending > 0
            return False
        if pending < ARCHIVE_MIN_FILES:
            return False
        return self._usable() and worker._free(now) > 0

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
        if len(self._held) < ARCHIVE_MIN_FILES and not any(
                is_module_meta(e.rel) for e in self._held.values()):
            # Not dispatchable yet (rows the state has not written): the next round.
            self._release(list(self._held.values()))
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
            await self._startup()
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
            await self._vet_by_guard()
            if len(self._held) < ARCHIVE_MIN_FILES:
                self._resting = True
                return
            await self._send(list(self._held.values()))
            await self._forget_refusal()
        except (Refused, FellBack) as exc:
            self._resting = True
            await self._fell_back(exc, len(self._held))
        finally:
            self._release(list(self._held.values()))
            self.worker.wake.set()

    async def _vet_by_guard(self) -> None:
        """The conflict guard (engine/guard.py) before the archive, as before any send: a
        file it would not send (someone else's version is there, or the same content) is
        settled as it says and leaves the batch; one whose read failed goes file by file.
        New files cost one listing per folder, not one read each."""
        worker = self.worker
        if not worker.guard.enabled:
            return

        async def one(entry: OutboxEntry) -> None:
            try:
                # keep: a file released to the per-file loop later in this batch is sent
                # on this verdict, not read again (Guard.check).
                guarded = await worker.guard.check(entry, keep=True)
            except HubsyncError:
                self._release([entry])
                return
            if guarded is not None and self._held.pop(entry.remote_path, None) is entry:
                worker.engine.finish_guarded(entry, guarded)

        await asyncio.gather(*(one(e) for e in list(self._held.values())))

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
        sources: list[Path | None] = []
        for entry in ordered:
            try:
                # The file itself, or a fields.js's converted output (hubsync.fieldsjs).
                sources.append(await tracker.upload_source(entry.rel))
            except FileNotFoundError:
                sources.append(None)
        contents = await asyncio.to_thread(_read_all, sources)
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
            if self.worker.engine.stopping:
                raise FellBack("the session is stopping")
            # Durable first: a process killed from here on leaves an archive the next
            # start deletes.
            await self._store().record_bulk_archive(self.worker.name, archive, time.time())
            stored = True
            await self._call(lambda t, a: a.store_archive(t, archive, packed.content),
                             "storing the archive")
            task_id = await self._call(lambda t, a: a.extract(t, archive), "extract")
            status = await self._wait_for(task_id, began)
            version = self._written_version(status)
            if not await self._check_overwrites(packed.entries, status):
                version = None
            landed = await self._verify(packed.entries)
        finally:
            if stored:
                await self._delete(archive)
        await self._record(landed, task_id, began, version)

    def _written_version(self, status: Any) -> RemoteVersion | None:
        """The version every file of a COMPLETE extraction is recorded with
        (:func:`extracted_version`), by the key's user. No request: HubSpot states no
        file's ``updatedAt`` for many files at once, and a read per file would know no
        more."""
        identity = self.worker.tokens.identity
        version = extracted_version(status, identity.user_id if identity else None)
        if version is None:
            log.info("archive_versions_unknown", account=self.worker.name,
                     note="the extraction task stated no usable times; the next push "
                     "compares content")
        return version

    async def _wait_for(self, task_id: str, began: float) -> Any:
        """Poll until COMPLETE and return that status; raise Refused/FellBack for anything
        else."""
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
                return status
            if status.status == "CANCELED":
                if status.errors:
                    # Files refused inside the archive: nothing stored (all or nothing).
                    raise FellBack("HubSpot refused files inside the archive: "
                                   + "; ".join(d.message for d in status.errors[:3]))
                raise Refused("HubSpot canceled the extraction")

    async def _check_overwrites(self, entries: list[OutboxEntry], status: Any) -> bool:
        """Whether extraction replaces files that were there is not documented: read the
        metadata of a few files hubsync had synced before (:data:`OVERWRITE_SAMPLE`
        requests) and compare their ``updatedAt`` with the task's ``requestedAt``, both
        HubSpot's clock. Older -> Refused: the archive cannot update a theme.

        The same reads check the window recorded as the files' version (core/extracted.py):
        False when a sampled file's ``updatedAt`` lies after ``completedAt`` (a clock that
        disagrees, or someone wrote it since), so this batch records no version and the
        next push compares content, as before. True otherwise (also with no sample)."""
        requested_ms = _epoch_ms(status.requested_at)
        completed_ms = _epoch_ms(status.completed_at)
        base = self.worker.engine.outbox.base(self.worker.name)
        sample = [e for e in entries if e.remote_path in base][:OVERWRITE_SAMPLE]
        if requested_ms is None or not sample:
            return True
        window_holds = True
        for entry in sample:
            meta = await self._metadata(entry.remote_path, "check the extraction")
            updated = meta.updated_at_ms if meta is not None else None
            if updated is not None and updated < requested_ms:
                raise Refused(f"the extraction left {entry.remote_path} as it was (updated "
                              "before the archive was extracted): it does not overwrite")
            if updated is not None and completed_ms is not None and updated > completed_ms:
                window_holds = False
        if not window_holds:
            log.info("archive_versions_unknown", account=self.worker.name,
                     note="a file was updated after the extraction completed; the next "
                     "push compares content")
        return window_holds

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
                    meta = await self._metadata(folder, "verify the extraction")
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

    async def _record(self, landed: list[OutboxEntry], task_id: str, began: float,
                      version: RemoteVersion | None) -> None:
        """One outcome per file, as a per-file upload reports it (looked at again after),
        with ``version`` as the remote version written (``_written_version``)."""
        worker = self.worker
        engine = worker.engine
        duration_ms = round((time.monotonic() - began) * 1000)
        for entry in landed:
            after = await engine.tracker(entry.watch).look(entry.rel)
            if self._held.pop(entry.remote_path, None) is not entry:
                continue
            worker.guard.settled(entry.remote_path)
            fields = {"mode": str(Mode.PUBLISH), "duration_ms": duration_ms,
                      "via": "archive", "extract_task": task_id}
            engine.finish(entry, Result(retry.Outcome.OK, after=after, remote=version,
                                        fields=fields))
        worker.conditions.last_push_s = engine.clock.time()
        worker.conditions.last_error = None

    async def _delete(self, archive: str) -> None:
        """Remove the archive, also when the batch failed or is being cancelled; the state
        forgets it once HubSpot answered (a 404 counts: it is gone)."""

        async def delete(token: AccessToken, api: ArchiveApi) -> None:
            with contextlib.suppress(NotFound):
                await api.delete_archive(token, archive)

        async def delete_and_forget() -> None:
            await self._call(delete, "delete the archive")
            await self._store().record_bulk_archive(self.worker.name, archive, None)

        deleting = asyncio.ensure_future(delete_and_forget())
        try:
            await asyncio.shield(deleting)
        except asyncio.CancelledError:
            # A stop: give the delete a moment to finish; if it cannot, the state still
            # names the archive and the next start deletes it.
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(deleting, 5.0)
            raise
        except (Refused, FellBack) as exc:
            log.warning("archive_left_behind", account=self.worker.name, path=archive,
                        error=str(exc), note="deleted at the next start, or delete it in "
                        "the Design Manager")

    # --- requests -----------------------------------------------------------------------

    async def _call(self, request: Callable[[AccessToken, ArchiveApi], Awaitable[_T]],
                    what: str) -> _T:
        """One request of the archive path, through the pacer and the token manager;
        HubSpot's refusals (4xx) become Refused, anything else FellBack. Once an archive
        is being stored it is a request in flight: its polls, checks and delete go on
        while the session stops (the drain waits for them, as for any request)."""
        worker = self.worker
        api = worker.api
        assert isinstance(api, ArchiveApi)
        for attempt in range(1, CALL_ATTEMPTS + 1):
            try:
                # As every request (ratelimit.paced): counted from its answer on, and a
                # 429 pauses the account.
                return await paced(worker.pacer,
                                   lambda: worker.tokens.call(lambda token: request(token, api)))
            except TransientError as exc:
                # A 429 (the pacer then waits out the pause) or a 5xx on one of a few
                # requests must not cost the whole archive: try again, a few times.
                if attempt == CALL_ATTEMPTS or exc.status is None:
                    raise self._fallback(exc, what) from exc
                await asyncio.sleep(RETRY_WAIT_S * attempt)
            except HubsyncError as exc:
                raise self._fallback(exc, what) from exc
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _metadata(self, remote_path: str, what: str) -> RemoteMeta | None:
        """One metadata read (file or folder listing) through :meth:`_call`."""

        async def read(token: AccessToken, api: ArchiveApi) -> RemoteMeta | None:
            return await api.metadata(token, remote_path)

        return await self._call(read, what)

    @staticmethod
    def _fallback(exc: HubsyncError, what: str) -> Refused | FellBack:
        """What an error of an archive-path request means for the batch."""
        if isinstance(exc, TransientError | TokenExpired | AuthError | CredentialError):
            # The server is unwell or the key is in trouble: the per-file path meets the
            # same condition and handles it (offline probing, blocking the account).
            return FellBack(f"{what}: {exc}")
        if isinstance(exc, HubSpotError) and exc.status is not None \
                and 400 <= exc.status < 500:
            return Refused(f"{what}: {exc.describe().splitlines()[0]}")
        return FellBack(f"{what}: {exc}")

    # --- refusals and fallback ----------------------------------------------------------

    def _store(self) -> AsyncStateStore:
        store = self.worker.engine._store
        assert store is not None  # _usable() said so
        return store

    async def _startup(self) -> None:
        """Once per session: the remembered refusal, and the archives a killed process
        left behind deleted (each kept in the state until its delete is answered)."""
        async with self._start_lock:
            if not self._loaded:
                await self._start()

    async def _start(self) -> None:
        # Set last: a start cancelled half-way is tried again by the next archive.
        store = self._store()
        self.refusal = (await store.bulk_refusals()).get(self.worker.name)
        for archive in await store.bulk_archives(self.worker.name):
            log.info("archive_cleanup", account=self.worker.name, path=archive,
                     note="left by an earlier run that did not finish")
            await self._delete(archive)
        self._loaded = True

    async def _forget_refusal(self) -> None:
        """An archive went through (``bulk = "archive"``): an older refusal no longer
        holds, so ``auto`` uses the archive path again."""
        store = self.worker.engine._store
        if self.refusal is not None and store is not None:
            await store.record_bulk_refusal(self.worker.name, None)
            self.refusal = None

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


def extracted_version(status: Any, user_id: int | None) -> RemoteVersion | None:
    """The remote version of each file a COMPLETE extraction task wrote (``status``: a
    ``hubspot.ExtractStatus``): the window from its ``startedAt`` (else ``requestedAt``) to
    its ``completedAt`` (ISO 8601, HubSpot's clock; hubspot-api.md §4), written by
    ``user_id`` (None: unknown); core/extracted.py. None when the task's answer lacks
    those times or they do not parse, or the window ends before it starts: the guard then
    compares content, as before."""
    started = _epoch_ms(status.started_at)
    if started is None:
        started = _epoch_ms(status.requested_at)
    completed = _epoch_ms(status.completed_at)
    if started is None or completed is None:
        return None
    return extraction_version(started, completed, user_id)


def _epoch_ms(iso: str | None) -> int | None:
    """HubSpot's ISO 8601 time (``2026-11-30T05:30:00.123Z``) in epoch ms; None if absent or
    not a time."""
    if not iso:
        return None
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _read_all(paths: list[Path | None]) -> list[bytes | None]:
    """Each file's bytes, or None when it cannot be read now (gone, a folder, ...)."""
    contents: list[bytes | None] = []
    for path in paths:
        try:
            contents.append(path.read_bytes() if path is not None else None)
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
