"""The remote side of one account: list its tree, read metadata, download files.

Reads go through the account's client, its token manager and its :class:`Pacer` (by
``ratelimit.paced``, as every request), the same pacer its pushes use, so a pull, an
``ls`` or the two-way watch's polling share the account's rate budget with uploads
instead of competing with them (hubspot-api.md §6). A 429 pauses the whole account
(``Pacer.rate_limited``) and the read is tried again after the pause; other transient
failures (a 5xx, a dropped connection) are retried with a capped backoff, each try paced
again: ``READ_ATTEMPTS`` tries while nothing has answered yet (an outage is said soon),
``FLAKY_READ_ATTEMPTS`` once the server has answered a read of this reader (a flaky
network must not throw a whole listing away for one lost connection).

Concurrent reads (:func:`all_of`) raise the first failure as itself, never inside an
``ExceptionGroup``: callers catch ``HubsyncError`` and say what to do next.

Listing (hubspot-api.md §3-4): filemapper ``GET meta/{folder}`` and the Source Code
API's ``metadata/{folder}`` both answer a folder with its children's *names*, so a tree
of N files and folders costs one metadata read per node, as ``hs cms fetch`` spends.

Also here, shared by ``hubsync pull`` and the two-way watch (``engine/poller.py``):
``write_atomically`` (``hubsync.atomic``'s, rooted at a watch folder), ``keep_overwritten``
(a copy of a local file about to be overwritten on request) and ``decide``, the
pure rule for what a remote file means for the local one given the base (what hubsync
last synced).
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from hubsync import atomic
from hubsync.core.conflicts import iso_ms
from hubsync.core.extracted import window_of, within
from hubsync.core.ignore import IgnoreRules
from hubsync.core.paths import is_allowed, name_problem
from hubsync.errors import RateLimited, TransientError, cause_of
from hubsync.model import AccessToken, Identity, RemoteMeta, RemoteVersion, SyncedFile
from hubsync.ratelimit import Limiter, paced

T = TypeVar("T")

READ_ATTEMPTS = 5
"""Tries of one read after transient failures while no read of the reader has been
answered yet (429s do not count: they pause instead)."""
FLAKY_READ_ATTEMPTS = 12
"""Tries of one read once the server has answered this reader: with half the requests
failing (a very flaky network) a read still fails for good only once in ~4000."""
RETRY_BASE_S = 0.5
"""First backoff after a transient failure (seconds); doubles per attempt."""
RETRY_CAP_S = 4.0
"""Longest backoff between two tries of one read (seconds)."""


async def all_of(works: Iterable[Awaitable[None]]) -> None:
    """Await ``works`` concurrently (a TaskGroup). The first failure cancels the others
    and is raised as itself (a ``HubsyncError`` where one was raised, the first of ours
    when several failed: ``errors.cause_of``), never wrapped in an ``ExceptionGroup``
    that an ``except HubsyncError`` would miss."""
    try:
        async with asyncio.TaskGroup() as group:
            for work in works:
                group.create_task(_awaited(work))
    except BaseExceptionGroup as failed:
        raise cause_of(failed) from None


async def _awaited(work: Awaitable[None]) -> None:
    await work


class RemoteReader(Protocol):
    """The reads of ``hubspot.HubSpotClient`` this module uses."""

    async def metadata(self, token: AccessToken, remote_path: str, *,
                       publish: bool = True) -> RemoteMeta | None: ...

    async def download(self, token: AccessToken, remote_path: str, *,
                       publish: bool = True) -> bytes: ...


class Authorizer(Protocol):
    """``auth.TokenManager``: ``call`` runs ``fn(token)`` with a fresh token;
    ``next_exchange_in_s`` is how long a failed key exchange waits before it is tried
    again (seconds; None when nothing holds it back)."""

    async def call(self, fn: Callable[[AccessToken], Awaitable[T]]) -> T: ...

    @property
    def next_exchange_in_s(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One remote file found by a listing: its path relative to the listed root."""

    rel: str
    meta: RemoteMeta

    @property
    def version(self) -> RemoteVersion:
        return version_of(self.meta)


def version_of(meta: RemoteMeta) -> RemoteVersion:
    """The version to record in a base row for what ``meta`` describes."""
    return RemoteVersion(meta.updated_at_ms, meta.hash, meta.writer_user_id)


class RemoteFiles:
    """Paced, authenticated reads of one account's Design Manager files.

    ``publish`` picks what is read on the Source Code API (``published`` or ``draft``);
    filemapper always reads what is live. ``concurrency`` bounds reads in flight (the
    account's ``settings.concurrency``).
    """

    def __init__(self, api: RemoteReader, tokens: Authorizer, pacer: Limiter, *,
                 publish: bool = True, concurrency: int = 5,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.api = api
        self.tokens = tokens
        self.pacer = pacer
        self.publish = publish
        self.requests = 0
        """Reads sent (for ``pull``'s summary and the poller's budget)."""
        self._gate = asyncio.Semaphore(max(1, concurrency))
        self._sleep = sleep
        self._answered = False
        """Whether a read of this reader has been answered: its failures are then a
        flaky connection, tried ``FLAKY_READ_ATTEMPTS`` times, not an outage."""

    async def _read(self, fn: Callable[[AccessToken], Awaitable[T]]) -> T:
        """``fn(token)`` through :func:`hubsync.ratelimit.paced`; a 429 (which paused the
        account there) is tried again once the pause is over, other transient errors up
        to ``READ_ATTEMPTS`` (``FLAKY_READ_ATTEMPTS`` once the server has answered) times,
        ``RETRY_BASE_S`` doubling to ``RETRY_CAP_S`` apart. Raises the last error."""
        async def send() -> T:
            self.requests += 1
            return await self.tokens.call(fn)

        async with self._gate:
            return await self._retrying(lambda: paced(self.pacer, send))

    async def check_key(self) -> None:
        """Get a token (the key exchange), retried like a read: ``pull`` checks the key
        before it lists anything, and one lost connection must not end it. Raises
        ``HubsyncError`` subclasses (KeyRejected, KeyNotFound, TransientError...)."""
        async def noop(_token: AccessToken) -> None:
            return None
        # Paced: a 429 on the exchange pauses the account, which acquire then waits out.
        await self._retrying(lambda: paced(self.pacer, lambda: self.tokens.call(noop)))

    async def _retrying(self, attempt_once: Callable[[], Awaitable[T]]) -> T:
        """``attempt_once()`` until it answers; a 429 (the pacer paused the account) is not
        counted, another transient failure is, up to the limit, the next try waiting the
        backoff or until the key exchange may go again, whichever is later (a try before
        that fails without reaching HubSpot)."""
        attempt = 0
        while True:
            try:
                answer = await attempt_once()
            except RateLimited:
                continue  # the pacer pauses every request of the account: acquire waits
            except TransientError:
                attempt += 1
                limit = FLAKY_READ_ATTEMPTS if self._answered else READ_ATTEMPTS
                if attempt >= limit:
                    raise
                backoff = min(RETRY_CAP_S, RETRY_BASE_S * 2 ** (attempt - 1))
                await self._sleep(max(backoff, self.tokens.next_exchange_in_s or 0.0))
                continue
            self._answered = True
            return answer

    async def metadata(self, remote_path: str) -> RemoteMeta | None:
        """The file or folder at ``remote_path``; None when nothing is there.

        Raises ``HubsyncError`` subclasses (Forbidden, KeyRejected, TransientError after
        the retries...).
        """
        async def call(token: AccessToken) -> RemoteMeta | None:
            return await self.api.metadata(token, remote_path, publish=self.publish)
        return await self._read(call)

    async def download(self, remote_path: str) -> bytes:
        """The bytes of the file at ``remote_path`` (NotFound when it is gone)."""
        async def call(token: AccessToken) -> bytes:
            return await self.api.download(token, remote_path, publish=self.publish)
        return await self._read(call)

    async def walk(self, root: str, *, recursive: bool = True,
                   folders: bool = False) -> list[RemoteFile]:
        """Every file under the remote folder ``root`` (and, with ``folders``, every
        folder), ``rel`` relative to it, sorted. ``[]`` when ``root`` does not exist; a
        file at ``root`` itself is returned with ``rel == ""``.

        One metadata read per node; children of a folder are read concurrently.
        """
        top = await self.metadata(root.strip("/"))
        if top is None:
            return []
        if not top.folder:
            return [RemoteFile("", top)]
        found: list[RemoteFile] = []
        await self._walk_children(top, "", found, recursive=recursive, folders=folders)
        return sorted(found, key=lambda f: f.rel)

    async def _walk_children(self, folder: RemoteMeta, prefix: str, found: list[RemoteFile],
                             *, recursive: bool, folders: bool) -> None:
        async def one(name: str) -> None:
            rel = f"{prefix}{name}"
            meta = await self.metadata(f"{folder.path}/{name}" if folder.path else name)
            if meta is None:
                return  # removed between the listing and this read
            if not meta.folder:
                found.append(RemoteFile(rel, meta))
                return
            if folders:
                found.append(RemoteFile(rel, meta))
            if recursive:
                await self._walk_children(meta, rel + "/", found, recursive=True,
                                          folders=folders)

        await all_of(one(name) for name in folder.children)


def left_out_reason(rel: str, rules: IgnoreRules) -> str | None:
    """Why the local rules leave the remote file ``rel`` out of the watch (an ignored
    folder on its way, an ignore pattern, an extension or a name HubSpot does not sync),
    or None when it is pulled: what push would not send is not pulled either."""
    parts = rel.split("/")
    for depth in range(1, len(parts)):
        reason = rules.reason("/".join(parts[:depth]), is_dir=True)
        if reason is not None:
            return reason
    reason = rules.reason(rel)
    if reason is not None:
        return reason
    if not is_allowed(rel):
        return "extension HubSpot does not sync"
    problem = name_problem(rel)
    return None if problem is None else str(problem)


# --- writing pulled content --------------------------------------------------------------


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def write_atomically(root: Path, rel: str, content: bytes) -> Path:
    """Write ``content`` to ``root/rel`` through :func:`hubsync.atomic.write_atomically`
    (temp file ``.hubsync-pull-*`` in the same folder, fsync, rename, fsync the folder;
    parent folders created): a reader (the watcher, an editor) sees the old file or the
    new one, never half of it. A new file gets the umask's mode, a replaced one keeps its
    mode. The temp name starts with a dot, which the default ignore rules leave out, so a
    watcher never pushes it. Returns the path. Raises OSError."""
    return atomic.write_atomically(root / rel, content, purpose="pull")


OVERWRITTEN_DIR = "overwritten"
"""``<state_dir>/overwritten/``: local files hubsync replaced or removed on request
(``pull --force``, ``resolve --keep remote``), kept for the person who asked."""


def keep_overwritten(state_dir: Path, watch: str, root: Path, rel: str, *,
                     now: float) -> Path | None:
    """Copy the local file ``root/rel``, about to be overwritten or removed on request,
    to ``<state_dir>/overwritten/<watch>/<UTC time>/<rel>`` (``20261130T091500Z``, the
    time ``now`` in seconds since the epoch; ``-2``, ``-3``... when that copy exists
    already), before anything touches it. Returns the copy's path, None when there is no
    regular file to keep (already deleted; a symlink is never followed).

    The copy is written through :func:`hubsync.atomic.write_atomically` (mode 0600, new
    folders 0700: it may hold unpublished work), in the state folder, never in a watch
    folder (a watcher would push it). The remote version always had its copy under
    ``<state_dir>/conflicts/``; this is the local side's. Raises OSError (the caller
    then must not overwrite the file)."""
    source = root / rel
    if source.is_symlink() or not source.is_file():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    base = state_dir / OVERWRITTEN_DIR / watch
    folder, tries = base / stamp, 1
    while (folder / rel).exists():
        tries += 1
        folder = base / f"{stamp}-{tries}"
    return atomic.write_atomically(folder / rel, source.read_bytes(), purpose="keep",
                                   mode=0o600, folder_mode=0o700)


# --- what a remote file means for the local one ------------------------------------------


class Verdict(enum.StrEnum):
    """What to do with one remote file (``decide``)."""

    CURRENT = "current"
    """The base says the local file already holds this remote version: nothing to do."""
    WRITE = "write"
    """Write the remote content into the local file (new, or unchanged locally)."""
    ADOPT = "adopt"
    """The local file already equals the remote content: only record the base."""
    LOCAL_CHANGE = "local-change"
    """The local file holds work the remote does not have: overwriting would lose it."""


@dataclass(frozen=True, slots=True)
class Local:
    """The local file as seen now: its sha256, or None when there is no file."""

    sha256: str | None


def same_version(base: SyncedFile | None, meta: RemoteMeta) -> bool:
    """Whether ``meta`` is the remote version recorded in ``base``: its hash when both
    have one (Source Code API), else its ``updatedAt``. False when either is unknown."""
    if base is None or base.remote is None:
        return False
    if window_of(base.remote) is not None:
        # Written by an archive extraction: a window, not an instant (core/extracted.py).
        return within(base.remote, version_of(meta))
    if base.remote.hash is not None and meta.hash is not None:
        return base.remote.hash == meta.hash
    return base.remote.updated_at_ms is not None and \
        base.remote.updated_at_ms == meta.updated_at_ms


def decide(local: Local, base: SyncedFile | None, meta: RemoteMeta,
           remote_sha256: str | None) -> Verdict:
    """What the remote file ``meta`` means for the local file, given the base.

    ``remote_sha256`` is the downloaded content's sha256, or None when not downloaded
    yet: the verdict is then CURRENT when the base says nothing changed on either side,
    else WRITE/LOCAL_CHANGE as far as the base tells (call again with the hash to tell
    ADOPT from LOCAL_CHANGE). The rule, as ``hs cms fetch`` lacks it: a local file that
    differs from the base, or that has no base and differs from the remote, is work
    that a write would lose.
    """
    unchanged_locally = base is not None and local.sha256 == base.sha256
    if unchanged_locally and same_version(base, meta):
        return Verdict.CURRENT
    if remote_sha256 is not None and local.sha256 == remote_sha256:
        return Verdict.ADOPT
    if local.sha256 is None and base is None:
        return Verdict.WRITE
    if unchanged_locally:
        return Verdict.WRITE
    return Verdict.LOCAL_CHANGE


def pulled_fields(*, watch: str, account: str, portal_id: int, identity: Identity | None,
                  rel: str, meta: RemoteMeta, content: bytes, mode: str | None = None
                  ) -> dict[str, Any]:
    """The sync log fields of a ``pulled`` (or ``adopted``) line: the same identity fields
    as ``pushed`` (the key's HubSpot user; ``local_user`` and ``host`` are added by the
    journal), the content's ``bytes`` and ``sha256``, and the remote version taken, named
    as on ``conflict`` lines: ``remote_updated_at`` (ISO 8601 UTC), ``remote_hash`` (Source
    Code API) and, where HubSpot says who wrote it, ``remote_user_id`` (user id)."""
    fields: dict[str, Any] = {
        "watch": watch, "account": account, "portal_id": portal_id,
        "hub_user_id": identity.user_id if identity else None,
        "hub_user_email": identity.email if identity else None,
        "path": rel, "remote_path": meta.path, "mode": mode, "bytes": len(content),
        "sha256": sha256_of(content), "remote_updated_at": iso_ms(meta.updated_at_ms),
        "remote_hash": meta.hash, "remote_user_id": meta.writer_user_id,
    }
    return {k: v for k, v in fields.items() if v is not None}
