"""Run an ``Emulator`` on its own event loop in a daemon thread, for synchronous callers.

Tests that start ``hubsync`` as a subprocess, and any sync code, use this instead of
awaiting. The emulator's state is guarded by a lock, so the delegating methods call it
directly from the caller's thread; only start and stop are marshalled onto its loop.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import TracebackType
from typing import Self

from hubsync.emulator.server import EmulatedAccount, Emulator, Faults, RequestRecord
from hubsync.emulator.store import Environment, StoredFile

_START_TIMEOUT_S = 30.0


class EmulatorThread:
    """``with EmulatorThread(Emulator(...)) as emu:`` gives a running emulator and its url."""

    def __init__(self, emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator
        self._host = host
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    def start(self) -> None:
        """Start the server thread and wait until it listens (re-raising a start failure)."""
        if self._thread is not None:
            raise RuntimeError("EmulatorThread is already started")
        self._thread = threading.Thread(target=self._run, name="hubsync-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise RuntimeError("the emulator thread did not start in time")
        if self._failure is not None:
            self._thread.join()
            self._thread = None
            raise self._failure

    def stop(self) -> None:
        """Stop the server and join its thread. Stored state stays readable."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._stop_event is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)
        thread.join()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        try:
            await self.emulator.start(self._host, self._port)
        except BaseException as exc:  # handed to start() in the caller's thread
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            await self.emulator.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # The same API as Emulator, callable from this thread.

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` with ``tls``) of the running server."""
        return self.emulator.url

    @property
    def ca_path(self) -> Path | None:
        """See ``Emulator.ca_path``."""
        return self.emulator.ca_path

    def add_account(
        self,
        name: str,
        *,
        portal_id: int,
        user_id: int,
        email: str | None = None,
        hub_name: str | None = None,
        account_type: str = "STANDARD",
    ) -> EmulatedAccount:
        """See ``Emulator.add_account``."""
        return self.emulator.add_account(name, portal_id=portal_id, user_id=user_id, email=email,
                                         hub_name=hub_name, account_type=account_type)

    @property
    def accounts(self) -> dict[str, EmulatedAccount]:
        """See ``Emulator.accounts``."""
        return self.emulator.accounts

    def account(self, name: str) -> EmulatedAccount:
        """See ``Emulator.account``."""
        return self.emulator.account(name)

    def files(
        self, portal_id: int, environment: str | Environment = Environment.PUBLISHED
    ) -> dict[str, StoredFile]:
        """See ``Emulator.files``."""
        return self.emulator.files(portal_id, environment)

    def folders(
        self, portal_id: int, environment: str | Environment = Environment.PUBLISHED
    ) -> list[str]:
        """See ``Emulator.folders``."""
        return self.emulator.folders(portal_id, environment)

    @property
    def requests(self) -> list[RequestRecord]:
        """See ``Emulator.requests``."""
        return self.emulator.requests

    @property
    def max_in_flight(self) -> int:
        """See ``Emulator.max_in_flight``."""
        return self.emulator.max_in_flight

    def clear_requests(self) -> None:
        """See ``Emulator.clear_requests``."""
        self.emulator.clear_requests()

    @property
    def faults(self) -> Faults:
        """See ``Emulator.faults``."""
        return self.emulator.faults

    def set_faults(
        self,
        latency_ms: float = 0,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        storm_seconds: float = 0.0,
        retry_after: float | None = None,
    ) -> None:
        """See ``Emulator.set_faults``."""
        self.emulator.set_faults(latency_ms, error_rate, drop_rate, storm_seconds, retry_after)

    def revoke_key(self, key: str) -> None:
        """See ``Emulator.revoke_key``."""
        self.emulator.revoke_key(key)

    def rotate_key(self, name: str) -> str:
        """See ``Emulator.rotate_key``."""
        return self.emulator.rotate_key(name)

    def expire_all_tokens(self) -> None:
        """See ``Emulator.expire_all_tokens``."""
        self.emulator.expire_all_tokens()

    def set_rate_limit(self, limit: int, window_ms: int = 10_000) -> None:
        """See ``Emulator.set_rate_limit``."""
        self.emulator.set_rate_limit(limit, window_ms)

    def edit_as(self, portal_id: int, path: str, content: bytes, *, user_id: int,
                publish: bool = True) -> StoredFile:
        """See ``Emulator.edit_as``."""
        return self.emulator.edit_as(portal_id, path, content, user_id=user_id,
                                     publish=publish)

    def delete_as(self, portal_id: int, path: str) -> bool:
        """See ``Emulator.delete_as``."""
        return self.emulator.delete_as(portal_id, path)

    def withhold_answers(self, on: bool) -> None:
        """See ``Emulator.withhold_answers``."""
        self.emulator.withhold_answers(on)

    @property
    def withheld(self) -> int:
        """See ``Emulator.withheld``."""
        return self.emulator.withheld

    def set_upload_answer(self, *, meta: bool) -> None:
        """See ``Emulator.set_upload_answer``."""
        self.emulator.set_upload_answer(meta=meta)

    def set_extract_faults(self, refuse_status: int | None = None,
                           reject_entries: tuple[str, ...] = (), never_complete: bool = False,
                           delay_ms: float = 300.0) -> None:
        """See ``Emulator.set_extract_faults``."""
        self.emulator.set_extract_faults(refuse_status, reject_entries, never_complete,
                                         delay_ms)
