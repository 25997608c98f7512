"""The conflict guard's I/O, one per account worker: the remote reads the decision core
asks for before a write or a delete, and the remote copy of a conflicting file.

The worker calls :meth:`Guard.check` for each entry before sending it; the core
(:func:`hubsync.core.guard.judge`, through ``Outbox.guard_verdict``) asks for one read at
a time (a folder listing, a metadata read, a download) until it decides. Every read is
one request through the account's pacer, so it counts against the same rate budget as
the uploads (hubspot-api.md §6). Folder listings (filemapper ``meta/{folder}``: the
children's names) are cached per folder for :data:`LISTING_TTL_S`: first contact with a
theme costs one request per folder, not one per file.

A SEND verdict the archive path asks to keep (``check(keep=True)``, engine/bulk.py) is
reused once by the per-file loop for the same entry and base within
:data:`CLEARANCE_TTL_S`: a file the archive hands back (a refusal, a file rejected inside
the archive) is guarded once, not twice.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubsync.core.guard import RemoteView, Step, Verdict
from hubsync.errors import NotFound
from hubsync.model import (
    AccessToken,
    Mode,
    OpKind,
    OutboxEntry,
    RemoteMeta,
    RemoteVersion,
    SyncedFile,
)
from hubsync.state import conflict_copy_path, keep_remote_copy

if TYPE_CHECKING:
    from hubsync.engine.worker import AccountWorker

LISTING_TTL_S = 30.0
"""How long a folder listing is trusted (monotonic seconds): a push is over well within
it; a watch session lists again when a new file arrives later."""
CLEARANCE_TTL_S = LISTING_TTL_S
"""How long a SEND verdict the archive path kept (``check(keep=True)``) stands for the
per-file loop (monotonic seconds): as long as a listing is trusted. A batch that falls
back within it (a refusal, a file rejected inside the archive, too few files left) sends
its files on that verdict; one that took longer (an extraction that never completed)
is read again."""
MAX_STEPS = 8
"""More reads than any verdict needs (listing, metadata, download, metadata): a bug
guard, never reached by the rules."""


@dataclass(frozen=True, slots=True)
class _Clearance:
    """A SEND verdict kept for one entry: valid while the entry and the base are as they
    were when it was decided, for :data:`CLEARANCE_TTL_S`."""

    op: OpKind
    sha256: str | None
    base: SyncedFile | None
    at_s: float


@dataclass(frozen=True, slots=True)
class Guarded:
    """The guard decided not to send: ``verdict`` (DONE, ADOPT or CONFLICT) on ``view``."""

    verdict: Verdict
    view: RemoteView


def version_of(meta: RemoteMeta | None) -> RemoteVersion | None:
    """The version a metadata answer states (None: no answer, or no updatedAt/hash)."""
    if meta is None or (meta.updated_at_ms is None and meta.hash is None):
        return None
    return RemoteVersion(meta.updated_at_ms, meta.hash, meta.writer_user_id)


class Guard:
    """One account's guard reads (see the module docstring). Loop thread only."""

    def __init__(self, worker: AccountWorker) -> None:
        self._worker = worker
        self._listings: dict[str, tuple[float, frozenset[str] | None]] = {}
        """folder -> (monotonic time listed, child names; None: no such folder)."""
        self._listing: dict[str, asyncio.Task[frozenset[str] | None]] = {}
        """Listings in flight: concurrent entries of one folder share one request."""
        self.reads = 0
        """Guard requests made in this session (the bench counts them)."""
        self._cleared: dict[str, _Clearance] = {}
        """remote path -> a SEND verdict kept by ``check(keep=True)``, until used."""

    @property
    def enabled(self) -> bool:
        return self._worker.account.guard

    def sees(self, entry: OutboxEntry) -> bool:
        """Whether the guard can read the version ``entry`` would replace. Not for a
        draft-mode watch on the filemapper API: its uploads write the draft buffer, but
        ``meta/`` and ``stream/`` show only the live file (hubspot-api.md §3 documents no
        draft read), so every check would compare against the wrong file. The Source Code
        API reads the draft (``draft/metadata``)."""
        return self.enabled and (self._publish(entry)
                                 or self._worker.account.transport == "source-code")

    async def check(self, entry: OutboxEntry, *, dry: bool = False, keep: bool = False
                    ) -> Guarded | None:
        """None when ``entry`` may be sent now; otherwise why not. Raises the request's
        ``HubsyncError`` when a read fails (the entry is retried like a failed send).
        ``dry``: only look (``--dry-run``): no remote copy is kept, no verdict reused.
        ``keep``: a SEND verdict is kept, and the next check of the same entry (same
        content, same base, within :data:`CLEARANCE_TTL_S`) returns None without a read:
        the archive path vets a batch, and the files it hands back to the per-file loop
        are not guarded twice."""
        if not dry and self._cleared_now(entry):
            return None
        outbox = self._worker.engine.outbox
        view = RemoteView()
        content: bytes | None = None
        for _ in range(MAX_STEPS):
            identity = self._worker.tokens.identity
            verdict = outbox.guard_verdict(entry, view, guard=self.sees(entry),
                                           user_id=identity.user_id if identity else None)
            step = verdict.step
            if step is Step.SEND:
                if keep and not dry:
                    self._cleared[entry.remote_path] = _Clearance(
                        entry.op, entry.sha256, self._base(entry),
                        self._worker.engine.clock.monotonic())
                return None
            if step is Step.READ_LISTING:
                view = replace(view, listed=await self._listed(entry.remote_path))
            elif step is Step.READ_META:
                view = await self._read_meta(entry, view)
            elif step is Step.READ_CONTENT:
                content, view = await self._read_content(entry, view)
            else:
                if step is Step.CONFLICT and content is not None and not dry:
                    # Kept before the conflict is recorded: the record names this file.
                    await asyncio.to_thread(self._keep, entry.remote_path, content)
                return Guarded(verdict, view)
        raise RuntimeError(f"guard for {entry.remote_path}: no verdict after {MAX_STEPS} "
                           "reads (a bug)")

    def _base(self, entry: OutboxEntry) -> SyncedFile | None:
        return self._worker.engine.outbox.base(self._worker.name).get(entry.remote_path)

    def _cleared_now(self, entry: OutboxEntry) -> bool:
        """Whether a kept SEND verdict stands for ``entry`` (used once, then dropped)."""
        kept = self._cleared.pop(entry.remote_path, None)
        if kept is None:
            return False
        age_s = self._worker.engine.clock.monotonic() - kept.at_s
        return (kept.op is entry.op and kept.sha256 == entry.sha256
                and kept.base == self._base(entry) and 0 <= age_s < CLEARANCE_TTL_S)

    def settled(self, remote_path: str) -> None:
        """Drop a kept verdict for ``remote_path``: its entry was sent and recorded."""
        self._cleared.pop(remote_path, None)

    def _keep(self, remote_path: str, content: bytes) -> None:
        keep_remote_copy(self._state_dir, self._worker.name, remote_path, content)

    @property
    def _state_dir(self) -> Path:
        return self._worker.engine.config.settings.state_dir

    def _publish(self, entry: OutboxEntry) -> bool:
        return self._worker.engine.tracker(entry.watch).watch.mode is Mode.PUBLISH

    async def _read_meta(self, entry: OutboxEntry, view: RemoteView) -> RemoteView:
        publish = self._publish(entry)

        async def read(token: AccessToken) -> RemoteMeta | None:
            return await self._worker.api.metadata(token, entry.remote_path, publish=publish)
        meta = await self._call(read)
        exists = meta is not None and not meta.folder
        return replace(view, meta_read=True, exists=exists,
                       version=version_of(meta) if exists else None)

    async def _read_content(self, entry: OutboxEntry, view: RemoteView
                            ) -> tuple[bytes | None, RemoteView]:
        publish = self._publish(entry)

        async def read(token: AccessToken) -> bytes:
            return await self._worker.api.download(token, entry.remote_path, publish=publish)
        try:
            content = await self._call(read)
        except NotFound:
            # Gone between the listing (or metadata) and the download.
            return None, replace(view, meta_read=True, exists=False, version=None,
                                 listed=False)
        copy = conflict_copy_path(self._state_dir, self._worker.name, entry.remote_path)
        return content, replace(view, content_sha256=hashlib.sha256(content).hexdigest(),
                                copy_path=str(copy))

    async def _listed(self, remote_path: str) -> bool:
        folder, _, name = remote_path.strip("/").rpartition("/")
        children = await self._children(folder)
        return children is not None and name in children

    async def _children(self, folder: str) -> frozenset[str] | None:
        now = self._worker.engine.clock.monotonic()
        cached = self._listings.get(folder)
        if cached is not None and now - cached[0] < LISTING_TTL_S:
            return cached[1]
        task = self._listing.get(folder)
        if task is None:
            task = asyncio.ensure_future(self._list(folder))
            self._listing[folder] = task
            task.add_done_callback(lambda _t: self._listing.pop(folder, None))
        return await asyncio.shield(task)

    async def _list(self, folder: str) -> frozenset[str] | None:
        async def read(token: AccessToken) -> RemoteMeta | None:
            return await self._worker.api.metadata(token, folder)
        meta = await self._call(read)
        children = frozenset(meta.children) if meta is not None and meta.folder else None
        self._listings[folder] = (self._worker.engine.clock.monotonic(), children)
        return children

    def listed(self) -> dict[str, frozenset[str]]:
        """folder -> the child names its listing gave, for every folder listed so far."""
        return {folder: children for folder, (_, children) in self._listings.items()
                if children is not None}

    def forget(self, remote_path: str) -> None:
        """Drop the cached listing of ``remote_path``'s folder (it changed)."""
        self._listings.pop(remote_path.strip("/").rpartition("/")[0], None)

    async def _call(self, call: Callable[[AccessToken], Awaitable[Any]]) -> Any:
        self.reads += 1
        return await self._worker.paced(call)
