"""The engine's seams: what it needs from the outside world, as Protocols.

Each port has a real adapter and an in-memory twin shipped in :mod:`hubsync.testing`, the
way httpx pairs its transports with ``MockTransport``. Only the composition root
(:mod:`hubsync.app`) picks the real ones; tests pass the twins.

==============  =====================================  ================================
port            real adapter                           twin (``hubsync.testing``)
==============  =====================================  ================================
RemoteApi       ``hubspot.HubSpotClient``              ``MemoryApi``
WatcherFactory  ``watcher.Watcher``                    ``ScriptedWatcher``
Clock           ``SystemClock`` (below)                ``FakeClock``
KeyLookup       ``credentials.find_key``               an ``async`` dict lookup
==============  =====================================  ================================
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from hubsync.credentials import KeySource
from hubsync.model import AccessToken, RemoteMeta, TokenGrant

__all__ = [
    "ApiAnswer", "Clock", "DirtySink", "KeyLookup", "RemoteApi", "SystemClock", "TreeWatcher",
    "WatcherFactory",
]


class ApiAnswer(Protocol):
    """What a successful write answered (``hubspot.ApiResult`` has these fields)."""

    @property
    def status(self) -> int: ...

    @property
    def correlation_id(self) -> str | None: ...

    @property
    def meta(self) -> RemoteMeta | None:
        """What the answer said of the file written (None: it said nothing usable)."""
        ...


class RemoteApi(Protocol):
    """One account's HubSpot file API, already bound to its portal and API base.

    Errors are raised as the ``hubsync.errors`` classes (``ValidationFailed``, ``NotFound``,
    ``RateLimited``, ``TokenExpired``, ``Forbidden``, ``TransientError``); a 2xx returns.
    """

    async def exchange_key(self, key: str) -> TokenGrant:
        """Personal access key -> token and identity (``hubspot-api.md`` §1)."""
        ...

    async def fetch_email(self, token: AccessToken) -> str | None:
        """The key user's email, best effort (None when HubSpot does not say)."""
        ...

    async def upload(
        self, token: AccessToken, remote_path: str, local_file: Path, *, publish: bool
    ) -> ApiAnswer:
        """Create or overwrite ``remote_path`` with the bytes of ``local_file``."""
        ...

    async def delete(self, token: AccessToken, remote_path: str) -> ApiAnswer:
        """Delete a file or (recursively) a folder; ``NotFound`` when it is not there."""
        ...

    async def metadata(self, token: AccessToken, remote_path: str, *,
                       publish: bool = True) -> RemoteMeta | None:
        """What the remote holds at ``remote_path`` (file or folder), None when nothing
        (404). One request against the rate limit (the conflict guard's read)."""
        ...

    async def download(self, token: AccessToken, remote_path: str, *,
                       publish: bool = True) -> bytes:
        """The stored bytes of one file; ``NotFound`` when it is not there."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class DirtySink(Protocol):
    """``on_dirty(rel, is_dir, complete=False)``: a path under the root may have changed
    (loop thread). ``complete``: the event says the file is whole under this name (closed
    after writing, or moved here), so it need not wait out the quiet period."""

    def __call__(self, rel: str, is_dir: bool, complete: bool = False, /) -> None: ...


class TreeWatcher(Protocol):
    """Reports dirty paths of one root on the event loop (``watcher.Watcher``)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def is_alive(self) -> bool: ...


class WatcherFactory(Protocol):
    """Builds the watcher of one root: ``factory(root, on_dirty, on_overflow)``."""

    def __call__(
        self, root: Path, on_dirty: DirtySink, on_overflow: Callable[[], None]
    ) -> TreeWatcher: ...


class Clock(Protocol):
    """Time as the engine reads it, and waiting for it.

    ``time()`` is epoch seconds (stored: survives restarts); ``monotonic()`` measures
    intervals (quiet periods, durations). ``wait(event, seconds)`` returns when ``event``
    is set or ``seconds`` (None: no limit) have passed on this clock.
    """

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    async def wait(self, event: asyncio.Event, seconds: float | None) -> None: ...


class SystemClock:
    """The real clock: ``time.time``, ``time.monotonic`` and ``asyncio.timeout``."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def wait(self, event: asyncio.Event, seconds: float | None) -> None:
        if seconds is not None and seconds <= 0:
            return
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            return


KeyLookup = Callable[[str], Awaitable[tuple[str, KeySource]]]
"""``await lookup(account)`` -> (key, where it came from); raises ``CredentialError``."""
