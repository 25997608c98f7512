"""The folder-delete path: a removed local folder as ONE remote folder delete, only when the
remote folder holds nothing but the files hubsync synced there (issue 10, "scoped deletes").

The rules are the decision core's (:mod:`hubsync.core.folders`); this is their I/O, one per
account worker, called by the worker's loop before it dispatches per-file requests:

0. ``offer``: the core's sendable deletes (approved by the delete brake, which counted
   them one file each) name their folders; those missing locally go back to the core,
   which takes the *whole* ones (every synced file under it deleted, nothing else owed,
   no open conflict) in flight and marks the folder busy;
1. the remote folder is listed **recursively** (filemapper ``meta/{folder}``: child names
   only, so each sub-folder is one more listing; a name hubsync did not sync costs one
   read to learn whether it is a file or a folder; on the Source Code API the draft
   environment is listed too). Any file hubsync did not sync, or a failed listing:
   every delete goes back to the per-file loop (nothing else spent);
2. the conflict guard checks each file as before a per-file delete
   (:meth:`hubsync.engine.guard.Guard.check`: one paced metadata read each);
3. only if the guard would send every one, the folder is listed again right before the
   delete (a teammate's file added meanwhile shows), and then ONE ``DELETE`` of the folder
   goes; its answer becomes one result per file (``core.folders.folder_results``), so
   every file gets its own ``deleted`` sync log line, base row removal and brake count;
4. otherwise the per-file deletes follow what the guard found for each: a conflict or
   "already gone" is settled as the guard says, the rest are sent one by one at once
   (their check was just made), a failed read is retried as a failed send.

Every request goes through the account's pacer and token manager, like any other. The
window between the second listing and the delete remains: HubSpot has no conditional
delete (docs/teams.md, "Limits"). Draft-mode watches always delete file by file: the
filemapper API lists only live files (hubspot-api.md §3), and a folder delete also takes
the drafts under it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import structlog

from hubsync.core import retry
from hubsync.core.effects import Result
from hubsync.core.folders import FolderGroup, Listing, decide, folder_results
from hubsync.engine.guard import Guarded
from hubsync.errors import HubsyncError
from hubsync.model import AccessToken, Mode, OutboxEntry, RemoteMeta
from hubsync.ports import ApiAnswer

if TYPE_CHECKING:
    from hubsync.engine.worker import AccountWorker

log = structlog.get_logger("hubsync.engine")

MAX_LISTINGS = 200
"""At most this many listing requests for one folder: a bigger tree goes file by file
(each listing is a request against the rate budget; per-file deletes cost two per file)."""


class FolderPath:
    """One account's folder deletes. ``offer`` is called by the worker's loop."""

    def __init__(self, worker: AccountWorker) -> None:
        self.worker = worker
        self.tried: set[tuple[str, str]] = set()
        """``(watch, rel folder)`` taken in the current delete batch: each is tried once,
        so a folder that went file by file is not taken again while its deletes finish.
        Forgotten when no delete is left to send."""
        self.folder_deletes = 0
        """Folder delete requests sent in this session."""

    def offer(self, now: float, group: asyncio.TaskGroup) -> None:
        """Take the account's whole removed folders (see the module docstring) and start
        working on each; their deletes are in flight in the core from now on."""
        worker = self.worker
        outbox = worker.engine.outbox
        if worker._free(now) <= 0 or worker.conditions.offline_since is not None:
            return
        candidates = outbox.folder_candidates(worker.name, now)
        if not candidates:
            self.tried.clear()
            return
        gone = {c for c in candidates if c not in self.tried and self._gone_locally(*c)}
        if not gone:
            return
        for folder in outbox.take_folders(worker.name, now, gone):
            self.tried.add((folder.watch, folder.rel))
            self._spawn(group, self._run(folder), f"folder-delete-{folder.remote_folder}")

    def _gone_locally(self, watch: str, rel: str) -> bool:
        tracker = self.worker.engine.tracker(watch)
        if tracker.watch.mode is not Mode.PUBLISH:
            return False
        # lexists: a dangling symlink where the folder was is still something there.
        return not os.path.lexists(tracker.root / rel)

    def _spawn(self, group: asyncio.TaskGroup, work: Coroutine[Any, Any, None],
               name: str) -> None:
        task = group.create_task(work, name=name)
        requests = self.worker._requests
        requests.add(task)  # drained and cancelled on a stop like any request
        task.add_done_callback(requests.discard)

    # --- one folder -----------------------------------------------------------------------

    async def _run(self, folder: FolderGroup) -> None:
        """Work on ``folder``; whatever is not answered by the end goes back to the core as
        not sent, for the per-file loop."""
        engine = self.worker.engine
        left = {e.remote_path: e for e in folder.entries}
        try:
            await self._work(folder, left)
        except Exception:
            # A bug must not end the session: the per-file path is always there.
            log.exception("folder_delete_crashed", account=self.worker.name,
                          folder=folder.remote_folder, note="its files go one by one")
        finally:
            for entry in left.values():
                engine.unsent(entry)
            engine.outbox.folder_done(folder)
            self.worker.wake.set()

    async def _work(self, folder: FolderGroup, left: dict[str, OutboxEntry]) -> None:
        began = time.monotonic()
        listing = await self._listing(folder)
        if not decide(folder, listing, dict.fromkeys(folder.synced, True)):
            self._declined(folder, listing, "the remote folder does not hold exactly the "
                           "files hubsync synced there" if listing is not None
                           else "listing failed")
            return  # everything is given back: per-file deletes, each guarded
        checks = await self._checks(folder)
        sendable = {path: check is None for path, check in checks.items()}
        if decide(folder, listing, sendable):
            # Listed again right before the delete: the window for a teammate's new file
            # is one round trip (HubSpot has no conditional delete).
            relisted = await self._listing(folder)
            if decide(folder, relisted, sendable):
                await self._delete_folder(folder, left, began)
                return
            self._declined(folder, relisted, "the remote folder changed while checking")
        else:
            self._declined(folder, listing, "the guard would not delete every file")
        await self._per_file(folder, checks, left, began)

    def _declined(self, folder: FolderGroup, listing: Listing | None, reason: str) -> None:
        extra = sorted(listing.files - folder.synced)[:5] if listing is not None else []
        log.info("folder_delete_declined", account=self.worker.name,
                 folder=folder.remote_folder, files=len(folder.entries), reason=reason,
                 others=extra or None, note="its files are deleted one by one")

    async def _checks(self, folder: FolderGroup
                      ) -> dict[str, Guarded | HubsyncError | None]:
        """The guard's answer for each file: None (it would send the delete), a
        ``Guarded`` (a conflict, or already gone), or the error of a failed read."""
        limit = asyncio.Semaphore(max(1, self.worker.concurrency))

        async def one(entry: OutboxEntry) -> Guarded | HubsyncError | None:
            async with limit:
                try:
                    return await self.worker.guard.check(entry)
                except HubsyncError as exc:
                    return exc

        answers = await asyncio.gather(*(one(e) for e in folder.entries))
        return {e.remote_path: a for e, a in zip(folder.entries, answers, strict=True)}

    async def _per_file(self, folder: FolderGroup,
                        checks: dict[str, Guarded | HubsyncError | None],
                        left: dict[str, OutboxEntry], began: float) -> None:
        """The fallback: each file as the guard found it; the sendable ones deleted one
        by one now (through the worker's own request path, without a second check)."""
        worker = self.worker
        engine = worker.engine
        sends: list[OutboxEntry] = []
        for entry in folder.entries:
            check = checks.get(entry.remote_path)
            if isinstance(check, Guarded):
                del left[entry.remote_path]
                engine.finish_guarded(entry, check)
            elif isinstance(check, HubsyncError):
                del left[entry.remote_path]
                result = worker._failure(check, worker._fields(entry, began))
                worker._note(result)
                engine.finish(entry, result)
            else:
                sends.append(entry)
        limit = asyncio.Semaphore(max(1, worker.concurrency))

        async def one(entry: OutboxEntry) -> None:
            async with limit:
                if left.pop(entry.remote_path, None) is entry:
                    await worker._request(entry, checked=True)

        await asyncio.gather(*(one(e) for e in sends))

    async def _delete_folder(self, folder: FolderGroup, left: dict[str, OutboxEntry],
                             began: float) -> None:
        """ONE delete of the folder; its answer is every file's (``folder_results``)."""
        worker = self.worker

        async def call(token: AccessToken) -> ApiAnswer:
            return await worker.api.delete(token, folder.remote_folder)

        fields = worker._fields(folder.entries[0], began)
        self.folder_deletes += 1
        try:
            answer = await worker.paced(call)
        except HubsyncError as exc:
            result = worker._failure(exc, fields)
        else:
            result = Result(retry.Outcome.OK, status=answer.status,
                            correlation_id=answer.correlation_id,
                            fields={**fields, "duration_ms": round(
                                (time.monotonic() - began) * 1000)})
        worker._note(result)
        log.info("folder_deleted" if result.outcome is retry.Outcome.OK else
                 "folder_delete_failed", account=worker.name, folder=folder.remote_folder,
                 files=len(folder.entries), status=result.status, error=result.error)
        worker.guard.forget(folder.remote_folder)
        for entry, each in folder_results(folder, result):
            worker.guard.forget(entry.remote_path)
            if left.pop(entry.remote_path, None) is entry:
                worker.engine.finish(entry, each)

    async def _listing(self, folder: FolderGroup) -> Listing | None:
        """Every file and sub-folder under ``folder.remote_folder``, recursively, live and
        (Source Code API) draft; stops at the first file hubsync did not sync (that
        already decides). None when a read failed, a sub-folder vanished meanwhile, or
        the tree is too big to list."""
        # The filemapper API lists only live files (hubspot-api.md §3); the Source Code
        # API can list the drafts too, where a teammate's unpublished file would be.
        drafts = self.worker.account.transport == "source-code"
        files: set[str] = set()
        folders: set[str] = set()
        for publish in (True, False) if drafts else (True,):
            try:
                listed = await self._list_tree(folder, publish)
            except HubsyncError as exc:
                log.info("folder_listing_failed", account=self.worker.name,
                         folder=folder.remote_folder, error=str(exc))
                return None
            if listed is None:
                return None
            files |= listed.files
            folders |= listed.folders
            if not files <= folder.synced:
                break
        return Listing(frozenset(files), frozenset(folders))

    async def _list_tree(self, folder: FolderGroup, publish: bool) -> Listing | None:
        """One environment's recursive listing (see ``_listing``); raises a read's
        ``HubsyncError``."""
        synced = folder.synced
        files: set[str] = set()
        folders: set[str] = set()
        todo = [folder.remote_folder]
        while todo:
            if len(folders) >= MAX_LISTINGS:
                return None
            path = todo.pop()
            meta = await self._meta(path, publish)
            if meta is None:
                # The folder itself gone: nothing there. A sub-folder gone while listing:
                # the tree is changing; not now.
                return Listing(frozenset()) if path == folder.remote_folder else None
            if not meta.folder:
                files.add(path)
                if path not in synced:
                    break  # someone else's file: decided
                continue
            folders.add(path)
            for child in meta.children:
                child_path = f"{path}/{child}"
                if child_path in synced:
                    files.add(child_path)  # the guard's read then says it is a file
                else:
                    todo.append(child_path)  # a sub-folder, or someone else's file
        return Listing(frozenset(files), frozenset(folders))

    async def _meta(self, path: str, publish: bool) -> RemoteMeta | None:
        async def read(token: AccessToken) -> RemoteMeta | None:
            return await self.worker.api.metadata(token, path, publish=publish)

        self.worker.guard.reads += 1
        meta: RemoteMeta | None = await self.worker.paced(read)
        return meta
