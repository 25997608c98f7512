"""Two-way watch: remote edits (the Design Manager, a teammate) come down while you work.

Opt-in per watch (``two_way = true``, or ``hubsync watch --two-way``). One
:class:`RemotePoller` per (watch, account) lists the watch's remote folder over and over
and compares each file's version (``updatedAt``, and the Source Code API's ``hash``) with
the base, what hubsync last synced there:

- unchanged remotely: nothing (no download);
- changed remotely, unchanged locally: downloaded, written into the local file (temp +
  rename), recorded as the new base and logged as ``pulled``. The base is updated in
  memory *before* the file is written, so when the watcher reports the write the local
  side finds the content equal to the base and uploads nothing;
- changed remotely and locally (a local edit not yet pushed, pending or parked): a
  ``both`` conflict, never a silent overwrite either way; the local file stays;
- remote content equal to the local file: the new version is recorded, nothing written;
- a synced file gone remotely: a ``deleted`` conflict, the local file stays.

**Budget.** Polling must not slow pushes down: its reads go through the account's own
pacer (so together they stay under HubSpot's limit) *and* are spaced at least
``window / (POLL_SHARE × limit)`` seconds apart, ``limit``/``window`` being the account's
learned rate limit (``X-HubSpot-RateLimit-*``; 100 per 10 s until HubSpot says). With the
default share of 10 % and 100 per 10 s that is one read per second: a theme of N files and
folders is polled every N s + ``POLL_PAUSE_S``; uploads keep the other 90 %. One poll
costs one metadata read per remote file and folder, plus a download per changed file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from hubsync.core.effects import Effects
from hubsync.engine.resolve import generated_by
from hubsync.errors import HubsyncError
from hubsync.model import Conflict, ConflictKind, EngineEvent, RemoteMeta, SyncedFile
from hubsync.ratelimit import Pacer
from hubsync.remote import (
    Local,
    RemoteFile,
    RemoteFiles,
    Verdict,
    decide,
    left_out_reason,
    pulled_fields,
    same_version,
    sha256_of,
    version_of,
    write_atomically,
)
from hubsync.state import keep_remote_copy

if TYPE_CHECKING:
    from hubsync.engine.session import Engine
    from hubsync.engine.tracker import WatchTracker
    from hubsync.engine.worker import AccountWorker

log = structlog.get_logger("hubsync.engine")

POLL_SHARE = 0.10
"""Share of the account's rate limit the polling may use."""
POLL_PAUSE_S = 5.0
"""Pause between the end of one poll and the start of the next (seconds)."""


class ShareLimiter:
    """The account's pacer, with this reader's requests spaced to ``share`` of its limit
    (a :class:`hubsync.ratelimit.Limiter`: the poller's reads go through ``paced``, so
    they count from their answers and a 429 pauses the account, as any request)."""

    def __init__(self, pacer: Pacer, share: float = POLL_SHARE, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.pacer = pacer
        self.share = share
        self._clock = clock
        self._next = 0.0

    def spacing_s(self) -> float:
        """Seconds between two reads: ``window / (share × limit)``."""
        return self.pacer.window_s / max(1e-9, self.share * self.pacer.limit)

    async def acquire(self) -> None:
        now = self._clock()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(now, self._next) + self.spacing_s()
        await self.pacer.acquire()

    def answered(self) -> None:
        self.pacer.answered()

    def rate_limited(self, retry_after: float | None = None) -> float:
        return self.pacer.rate_limited(retry_after)


class RemotePoller:
    """Brings one watch's remote changes from one account down while ``run`` runs."""

    def __init__(self, engine: Engine, tracker: WatchTracker, worker: AccountWorker, *,
                 pause_s: float = POLL_PAUSE_S) -> None:
        self.engine = engine
        self.tracker = tracker
        self.worker = worker
        self.account = worker.name
        self.pause_s = pause_s
        publish = tracker.watch.mode.value == "publish"
        self.remote = RemoteFiles(worker.api, worker.tokens,
                                  ShareLimiter(worker.pacer), publish=publish, concurrency=1)
        self.dest = tracker.watch.dest.strip("/")
        self._reported: dict[str, tuple[int | None, str | None]] = {}
        """remote path -> the remote version last reported as a conflict (said once)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop``; a failed poll is logged and tried again after the pause.

        Not while the account is blocked or offline (its worker's probe finds out when
        HubSpot is back). A run of failed polls is one ``two_way_poll_failed`` warning
        (later ones are info) until a poll gets through again: a flaky network must not
        flood stderr."""
        failing = False
        while not stop.is_set():
            conditions = self.worker.conditions
            if not conditions.blocked and conditions.offline_since is None:
                try:
                    await self.poll_once()
                    failing = False
                except HubsyncError as exc:
                    (log.info if failing else log.warning)(
                        "two_way_poll_failed", account=self.account,
                        watch=self.tracker.watch.name, error=str(exc))
                    failing = True
                except Exception:
                    # A bug here must not end the session (pushes go on); say it and
                    # poll again after the pause.
                    log.exception("two_way_poll_crashed", account=self.account,
                                  watch=self.tracker.watch.name)
            await self.engine.clock.wait(stop, self.pause_s)

    async def poll_once(self) -> None:
        """One pass over the remote folder (see the module docstring for the rules)."""
        started_s = self.engine.clock.time()
        files = await self.remote.walk(self.dest)
        listed = {item.meta.path for item in files}
        for item in files:
            if self.engine.stopping:
                return
            if left_out_reason(item.rel, self.tracker.rules) is None:
                await self._check(item)
        if files:
            # An empty answer is more likely a moved dest than a teammate removing the
            # whole theme: say nothing rather than one conflict per file.
            await self._gone_remotely(listed, started_s)

    def _base(self) -> Mapping[str, SyncedFile]:
        return self.engine.outbox.base(self.account)

    def _busy(self, remote_path: str) -> bool | None:
        """True when an operation is owed for the path (a local change not pushed yet);
        None while any request of the account is in flight: its answer moves the base,
        so the path is judged at the next poll instead."""
        if self.engine.outbox.in_flight(self.account):
            return None
        return any(e.remote_path == remote_path for e in self.engine.outbox.entries(self.account))

    async def _check(self, item: RemoteFile) -> None:
        meta = item.meta
        before = self._base().get(meta.path)
        if before is not None and same_version(before, meta):
            return
        if self._reported.get(meta.path) == (meta.updated_at_ms, meta.hash):
            return
        if self.engine.outbox.in_conflict(self.account, meta.path) is not None:
            return  # a person decides (`hubsync resolve`); nothing comes down meanwhile
        if self._busy(meta.path) is None:
            return
        if before is None and self.engine.outbox.left_remote(self.account, meta.path) \
                and await self.tracker.look(item.rel) is None:
            # Deleted here and kept remotely on purpose (delete_remote = false, discarded
            # deletes): a local delete is a local change, not undone by a poll.
            return
        content = await self.remote.download(meta.path)
        busy = self._busy(meta.path)
        if busy is None or self._moved(meta.path, before):
            # A push of this account ran or answered while we read (or its guard found a
            # conflict meanwhile): the base we judged against may be stale, and writing
            # now could put older content over a newer save. The next poll judges again.
            return
        seen = await self.tracker.look(item.rel)
        if self._moved(meta.path, before):
            return  # the same, for what happened while the local file was looked at
        await self._judge(item, content, before, seen.sha256 if seen is not None else None,
                          busy=busy)

    def _moved(self, remote_path: str, before: SyncedFile | None) -> bool:
        """Whether the path must be judged again at the next poll: a request of the
        account is in flight (its guard decides for it), its base row changed, or a
        conflict was recorded for it meanwhile (never a second line for one conflict)."""
        return (self._busy(remote_path) is None
                or self._base().get(remote_path) is not before
                or self.engine.outbox.in_conflict(self.account, remote_path) is not None)

    async def _judge(self, item: RemoteFile, content: bytes, base: SyncedFile | None,
                     local_sha: str | None, *, busy: bool) -> None:
        verdict = decide(Local(local_sha), base, item.meta, sha256_of(content))
        if busy and verdict is Verdict.WRITE:
            verdict = Verdict.LOCAL_CHANGE  # an upload is owed: the local side changed
        source = self._generated_by(item.rel)
        if verdict is Verdict.ADOPT:
            self._record(item, content, event="adopted" if base is None else None)
        elif verdict is Verdict.WRITE and source is None:
            await self._write(item, content, base)
        elif verdict in (Verdict.WRITE, Verdict.LOCAL_CHANGE):
            # A fields.json generated from a fields.js here is never written: beside its
            # source it would be ignored, and the source's output pushed over the
            # teammate's version. Someone changed the remote one: a person decides.
            if base is None:
                kind = ConflictKind.UNSYNCED
            elif verdict is Verdict.WRITE:
                kind = ConflictKind.CHANGED  # only the remote side changed
            else:
                kind = ConflictKind.BOTH
            await self._conflict(kind, item.rel, item.meta, base, local_sha, content,
                                 source=source)

    def _generated_by(self, rel: str) -> str | None:
        """The fields.js (or .mjs/.cjs) here that ``rel`` is converted from, or None."""
        if not self.tracker.fields.enabled:
            return None
        return generated_by(self.tracker.root, rel)

    def _row(self, item: RemoteFile, content: bytes) -> SyncedFile:
        return SyncedFile(account=self.account, remote_path=item.meta.path,
                          watch=self.tracker.watch.name, rel=item.rel,
                          sha256=sha256_of(content), size=len(content),
                          synced_s=self.engine.clock.time(), remote=item.version)

    def _record(self, item: RemoteFile, content: bytes, *, event: str | None) -> None:
        """The remote version is what the local file holds: record it as the base."""
        row = self._row(item, content)
        self.engine.outbox.load((), (row,))
        # The local file holds the remote version: a conflict recorded there is settled.
        effects = Effects(synced=[row], resolved=[(self.account, row.remote_path)])
        if event is not None:
            effects.events.append(EngineEvent(event, self._fields(item, content)))
        self.engine.commit(effects)

    async def _write(self, item: RemoteFile, content: bytes, old: SyncedFile | None) -> None:
        row = self._row(item, content)
        # First the base (memory), then the file: the watcher's report of the write then
        # finds local == base and owes nothing. Undone if the write fails.
        self.engine.outbox.load((), (row,))
        try:
            await asyncio.to_thread(write_atomically, self.tracker.root, item.rel, content)
        except OSError as exc:
            if old is not None:
                self.engine.outbox.load((), (old,))
            log.warning("two_way_write_failed", path=item.rel, error=str(exc))
            return
        effects = Effects(synced=[row], resolved=[(self.account, row.remote_path)])
        effects.events.append(EngineEvent("pulled", self._fields(item, content)))
        self.engine.commit(effects)

    def _fields(self, item: RemoteFile, content: bytes) -> dict[str, Any]:
        return pulled_fields(watch=self.tracker.watch.name, account=self.account,
                             portal_id=self.worker.account.portal_id,
                             identity=self.worker.tokens.identity, rel=item.rel,
                             meta=item.meta, content=content,
                             mode=self.tracker.watch.mode.value)

    async def _gone_remotely(self, listed: set[str], started_s: float) -> None:
        """Synced files missing from the listing. Rows written after the listing began
        (a push meanwhile) and paths with an operation owed (a local delete on its way)
        are not judged."""
        watch = self.tracker.watch.name
        for remote_path, row in list(self._base().items()):
            if row.watch != watch or remote_path in listed or row.synced_s >= started_s:
                continue
            if self._busy(remote_path) is not False or \
                    self.engine.outbox.in_conflict(self.account, remote_path) is not None:
                continue
            if self._reported.get(remote_path) == (None, None):
                continue
            if left_out_reason(row.rel, self.tracker.rules) is not None:
                continue
            seen = await self.tracker.look(row.rel)
            await self._conflict(ConflictKind.DELETED, row.rel, None, row,
                                 seen.sha256 if seen is not None else None, None,
                                 remote_path=remote_path)

    async def _conflict(self, kind: ConflictKind, rel: str, meta: RemoteMeta | None,
                        base: SyncedFile | None, local_sha: str | None,
                        content: bytes | None, *, remote_path: str | None = None,
                        source: str | None = None) -> None:
        """Record the conflict (the remote copy kept in the state dir, never in the watch
        folder) and say it once per remote version; the local file is left as it is.
        ``source``: the fields.js the file is generated from (the line names it)."""
        path = meta.path if meta is not None else remote_path or ""
        copy: Path | None = None
        if content is not None:
            copy = await asyncio.to_thread(keep_remote_copy, self.engine.config.settings.state_dir,
                                           self.account, path, content)
        if self._moved(path, base):
            # A push went out (its guard judges the path and says any conflict once), or
            # a conflict was recorded meanwhile: not a second line for it.
            return
        self._reported[path] = ((meta.updated_at_ms, meta.hash) if meta is not None
                                else (None, None))
        conflict = Conflict(
            account=self.account, remote_path=path, watch=self.tracker.watch.name, rel=rel,
            kind=kind, local_sha256=local_sha,
            base_sha256=base.sha256 if base is not None else None,
            remote=version_of(meta) if meta is not None else None,
            remote_sha256=sha256_of(content) if content is not None else None,
            copy_path=str(copy) if copy is not None else None,
            detected_s=self.engine.clock.time())
        # Through the decision core: the path is then held (nothing owed or sent for it
        # until `hubsync resolve`), and the line has the guard's fields (docs/sync-log.md).
        effects = Effects()
        self.engine.outbox.record(conflict, effects)
        if source is not None:
            effects.events = [_naming_source(e, source) for e in effects.events]
        self.engine.commit(effects)


def _naming_source(event: EngineEvent, source: str) -> EngineEvent:
    """A ``conflict`` line of a generated fields.json, saying what to do about it."""
    if event.event != "conflict":
        return event
    rel = event.fields.get("path", "")
    return EngineEvent(event.event, {
        **event.fields, "source": source,
        "note": f"{rel} is generated from {source}: not written beside it, and not pushed "
                f"over the remote version. Put the change into {source} (their version: "
                f"`hubsync conflicts`), then `hubsync resolve {rel} --keep local`"})


def start_pollers(engine: Engine, trackers: Iterable[WatchTracker],
                  workers: Mapping[str, AccountWorker], group: asyncio.TaskGroup,
                  stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """A polling task per (two-way watch, account), in ``group``; the tasks to cancel."""
    tasks = []
    for tracker in trackers:
        if not getattr(tracker.watch, "two_way", False):
            continue
        for account in tracker.watch.accounts:
            if account in workers:
                poller = RemotePoller(engine, tracker, workers[account])
                tasks.append(group.create_task(poller.run(stop),
                                               name=f"poll-{tracker.watch.name}-{account}"))
    return tasks
