"""One :class:`AccountWorker` per account: the outbox's next batch -> pacer -> token ->
HubSpot -> the outcome back to the decision core.

The worker decides nothing about files: :class:`~hubsync.core.outbox.Outbox` says what to
send and what follows from each answer. The worker owns the account's live conditions,
which are not durable: paused by the user, blocked (HubSpot refused the key), offline
(cannot connect: one probe request at a time until the server answers, then everything
due goes at once, so an outage does not leave per-file backoff behind it).

Offline means an outage, not one lost connection: the account goes offline after
``OFFLINE_AFTER`` connection failures in a row with no answer between them (one
``account_offline`` warning), and comes back at the next answer (one ``account_online``
line). A dropped connection that its retry fixes is just a retry. While offline the loop
sleeps until the probe may go (never spins: nothing can be sent before it), and the
probe waits for the key exchange's own next try when that is later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from hubsync.auth import TokenManager
from hubsync.config import Account
from hubsync.core import retry
from hubsync.core.effects import Result, Seen
from hubsync.engine.bulk import ArchivePath
from hubsync.engine.folders import FolderPath
from hubsync.engine.guard import Guard, version_of
from hubsync.errors import AuthError, CredentialError, HubSpotError, HubsyncError, RateLimited
from hubsync.journal import Event
from hubsync.model import AccessToken, AuthState, Mode, OpKind, OutboxEntry, RemoteVersion
from hubsync.ports import ApiAnswer, RemoteApi
from hubsync.ratelimit import Pacer, paced

if TYPE_CHECKING:
    from hubsync.engine.session import Engine

log = structlog.get_logger("hubsync.engine")

OFFLINE_PROBE_S = 1.0
"""While an account cannot connect, one request is tried this often (seconds), or when
the key exchange may be tried again, whichever is later."""
OFFLINE_AFTER = 3
"""Connection failures in a row, with no answer from HubSpot between them, that make an
account offline (fewer are a flaky connection: the entries' own retries cover them)."""


@dataclass(slots=True)
class Conditions:
    """An account's live conditions (not durable)."""

    paused: bool = False
    blocked: str | None = None
    """Why HubSpot refused the key; nothing is sent until it works again."""
    offline_since: float | None = None
    """Epoch seconds of the first connection failure of the current outage."""
    next_probe_s: float = 0.0
    failed_connections: int = 0
    """Connection failures since HubSpot last answered (``OFFLINE_AFTER``)."""
    last_push_s: float | None = None
    last_error: str | None = None


class AccountWorker:
    """Sends one account's outbox. ``run`` until the engine stops."""

    def __init__(self, engine: Engine, account: Account, api: RemoteApi,
                 tokens: TokenManager, pacer: Pacer, concurrency: int) -> None:
        self.engine = engine
        self.account = account
        self.name = account.name
        self.api = api
        self.tokens = tokens
        self.pacer = pacer
        self.concurrency = concurrency
        self.conditions = Conditions()
        self.missing_key: CredentialError | None = None
        """Why the first token could not be had when it was a key nowhere to be found
        (``push`` stops on it: exit 78 or 75, nothing reconciled)."""
        self.wake = asyncio.Event()
        self._requests: set[asyncio.Task[None]] = set()
        self._pacing: set[asyncio.Task[Any]] = set()
        """Requests still waiting for the rate limit: nothing sent yet, cancelled at once
        on a stop (a Ctrl-C must not wait out a rate-limit window)."""
        self.guard = Guard(self)
        self.archive = ArchivePath(self)
        """Large batches of uploads as one zip archive (``accounts.NAME.bulk``)."""
        self.folders = FolderPath(self)
        """A removed local folder as one remote folder delete, when the remote folder
        holds nothing else (engine/folders.py)."""

    # --- the loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, group: asyncio.TaskGroup) -> None:
        engine = self.engine
        # The probe waits for the key exchange's next try (_note): it must not back off
        # longer than the entries' own retries would (push: seconds, not minutes).
        self.tokens.backoff_cap_s = min(self.tokens.backoff_cap_s,
                                        engine.outbox.policy.backoff_cap_s)
        while not stop.is_set():
            self.wake.clear()
            now = engine.clock.time()
            engine.commit(engine.outbox.vet_deletes(self.name, now))
            # Before anything else takes the approved deletes one by one.
            self.folders.offer(now, group)
            self.archive.offer(now, group)  # a large batch: one archive, see engine/bulk.py
            for entry in engine.outbox.next_batch(self.name, now, self._free(now)):
                task = group.create_task(self._request(entry), name=f"push-{entry.remote_path}")
                self._requests.add(task)
                task.add_done_callback(self._requests.discard)
            await engine.clock.wait(self.wake, self._sleep_s(now))

    def _free(self, now: float) -> int:
        """How many requests may start now."""
        conditions = self.conditions
        if conditions.paused or conditions.blocked or self.engine.sending_stopped:
            return 0
        in_flight = self.engine.outbox.in_flight(self.name)
        if conditions.offline_since is not None:
            # One probe at a time while the server is away.
            return 1 if in_flight == 0 and now >= conditions.next_probe_s else 0
        # The configured concurrency, or more while the budget is large and the server
        # slow, fewer after trouble (Pacer.slots); the pacer still gates every request.
        return self.pacer.slots(self.concurrency) - in_flight

    def _sleep_s(self, now: float) -> float | None:
        """Seconds until something can be sent (None: until ``wake``, which every answer,
        change, resume and flush sets). While offline and idle, nothing goes before the
        probe: an entry already due must not make this 0 (the loop would spin, ~30 % of
        a core, until the probe time)."""
        wake = self.engine.outbox.next_wake(self.name, now)
        probing = self.engine.outbox.in_flight(self.name) > 0
        if self.conditions.offline_since is not None and not probing \
                and now < self.conditions.next_probe_s:
            # The answer to a probe in flight wakes us; an idle outage waits for the probe.
            return self.conditions.next_probe_s - now
        return None if wake is None else max(0.0, wake - now)

    async def authenticate(self) -> None:
        """Get the first token; a refused or missing key blocks the account."""
        try:
            await self.tokens.token()
        except HubsyncError as exc:
            if isinstance(exc, AuthError | CredentialError):
                self.conditions.blocked = str(exc)
            if isinstance(exc, CredentialError):
                self.missing_key = exc
            self.conditions.last_error = str(exc)
            self.engine.emit(Event.AUTH_FAILED, account=self.name, error=str(exc))
            return
        identity = self.tokens.identity
        self.engine.emit(Event.AUTH_OK, account=self.name,
                   hub_name=identity.hub_name if identity else None,
                   account_type=identity.account_type if identity else None)

    async def authenticate_quietly(self) -> bool:
        """Get a token without a sync log line (``--dry-run``'s guard reads); False when
        the key does not work."""
        try:
            await self.tokens.token()
        except HubsyncError:
            return False
        return True

    async def recheck(self) -> None:
        """Re-read the key (rotated, or appeared); a blocked account that works again goes on."""
        state = await self.tokens.recheck()
        if state is AuthState.OK and self.conditions.blocked:
            self.conditions.blocked = None
            self.conditions.last_error = None
            identity = self.tokens.identity
            self.engine.emit(Event.AUTH_OK, account=self.name,
                       hub_name=identity.hub_name if identity else None)
            self.wake.set()

    async def drain(self, timeout_s: float) -> int:
        """Wait for requests in flight at most ``timeout_s``; cancel the rest, say how many."""
        for task in list(self._pacing):
            task.cancel()
        if not self._requests:
            return 0
        _done, still = await asyncio.wait(set(self._requests), timeout=timeout_s)
        for task in still:
            task.cancel()
        return len(still)

    # --- one request ---------------------------------------------------------------------

    async def _request(self, entry: OutboxEntry, *, checked: bool = False) -> None:
        """Guard, send and report ``entry`` (in flight). ``checked``: the guard has just
        said it may be sent (engine/folders.py's fallback): no second read."""
        engine = self.engine
        began = time.monotonic()
        try:
            try:
                guarded = None if checked else await self.guard.check(entry)
            except HubsyncError as exc:  # a guard read failed: retried like a send
                result = self._failure(exc, self._fields(entry, began))
            else:
                if guarded is not None:
                    engine.finish_guarded(entry, guarded)
                    return
                result = await self._send(entry, began)
        except FileNotFoundError:
            # Gone between hash and read: the tracker looks again and the core decides.
            engine.unsent(entry)
            return
        except asyncio.CancelledError:
            engine.unsent(entry)
            raise
        except Exception as exc:
            # A bug or a library refusing our input must not take the account down: it is
            # an attempt like any other, with a bounded number of tries (core.outbox).
            log.exception("push_crashed", account=self.name, path=entry.rel)
            result = Result(retry.Outcome.UNEXPECTED, error=f"{type(exc).__name__}: {exc}",
                            fields=self._fields(entry, began))
        finally:
            self.wake.set()
        self._note(result)
        engine.finish(entry, result)

    async def paced(self, call: Callable[[AccessToken], Any]) -> Any:
        """``call(token)`` through :func:`hubsync.ratelimit.paced` (a stop while waiting
        cancels it: nothing was sent). Raises what the call raises."""
        return await paced(self.pacer, lambda: self.tokens.call(call), acquire=self._acquire)

    async def _acquire(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._pacing.add(task)
        try:
            await self.pacer.acquire()
        finally:
            self._pacing.discard(task)
        if self.engine.stopping:
            # Stopped while waiting for the rate limit: not started, so not sent.
            raise asyncio.CancelledError

    async def _send(self, entry: OutboxEntry, began: float) -> Result:
        tracker = self.engine.tracker(entry.watch)
        error: HubsyncError | None = None
        answer: ApiAnswer | None = None
        call = self._call_for(entry, tracker.watch.mode)

        async def send() -> ApiAnswer:
            nonlocal began
            began = time.monotonic()  # the request's duration, not its wait for the pacer
            return await self.tokens.call(call)

        try:
            answer = await paced(self.pacer, send, acquire=self._acquire)
        except HubsyncError as exc:  # HubSpot's answer, or the key refused or missing
            error = exc
        fields = self._fields(entry, began)
        if error is not None:
            return self._failure(error, fields)
        after: Seen | None = None
        remote: RemoteVersion | None = None
        if entry.op is OpKind.UPLOAD:
            after = await tracker.look(entry.rel)
            assert answer is not None
            remote = await self._written_version(entry, answer, tracker.watch.mode)
        assert answer is not None
        return Result(retry.Outcome.OK, status=answer.status,
                      correlation_id=answer.correlation_id, after=after, remote=remote,
                      fields=fields)

    async def _written_version(self, entry: OutboxEntry, answer: ApiAnswer,
                               mode: Mode) -> RemoteVersion | None:
        """The remote version right after hubsync's write: from the answer when it says
        (the Source Code API's PUT does), else one metadata read (guard on only: it is
        what the next guard compares with). None when unknown."""
        version = version_of(getattr(answer, "meta", None))
        if version is not None or not self.guard.sees(entry):
            return version
        try:
            async def read(token: AccessToken) -> Any:
                return await self.api.metadata(token, entry.remote_path,
                                               publish=mode is Mode.PUBLISH)
            self.guard.reads += 1
            return version_of(await self.paced(read))
        except HubsyncError:
            # The write is done; without its version the next guard compares content.
            return None

    def _call_for(self, entry: OutboxEntry, mode: Mode) -> Callable[[AccessToken], Any]:
        tracker = self.engine.tracker(entry.watch)
        if entry.op is OpKind.UPLOAD:

            async def upload(token: AccessToken) -> ApiAnswer:
                # The file itself, or a fields.js's converted output (hubsync.fieldsjs).
                local_file = await tracker.upload_source(entry.rel)
                return await self.api.upload(token, entry.remote_path, local_file,
                                             publish=mode is Mode.PUBLISH)
            return upload

        async def delete(token: AccessToken) -> ApiAnswer:
            return await self.api.delete(token, entry.remote_path)
        return delete

    def _failure(self, error: HubsyncError, fields: dict[str, Any]) -> Result:
        retry_after = None
        if isinstance(error, RateLimited):
            # ratelimit.paced paused the whole account; the entry's own retry time says
            # the same.
            retry_after = self.pacer.paused_for()
        elif getattr(error, "status", None) is None:
            # Could not connect: nothing goes before the key exchange's next try (or the
            # offline probe), so the retry time the line says is when it really goes.
            retry_after = max(OFFLINE_PROBE_S, self.tokens.next_exchange_in_s or 0.0)
        status = getattr(error, "status", None)
        message = error.describe() if isinstance(error, HubSpotError) else str(error)
        return Result(retry.outcome_of(error), error=message, status=status,
                      correlation_id=getattr(error, "correlation_id", None),
                      retry_after_s=retry_after, fields=fields)

    def _fields(self, entry: OutboxEntry, began: float) -> dict[str, Any]:
        mode = self.engine.tracker(entry.watch).watch.mode
        return {"mode": str(mode), "duration_ms": round((time.monotonic() - began) * 1000)}

    def _note(self, result: Result) -> None:
        """Keep the account's live conditions up to date with one answer."""
        conditions = self.conditions
        now = self.engine.clock.time()
        cannot_connect = result.outcome is retry.Outcome.TRANSIENT and result.status is None
        if cannot_connect:
            conditions.failed_connections += 1
            if conditions.offline_since is None \
                    and conditions.failed_connections >= OFFLINE_AFTER:
                conditions.offline_since = now
                log.warning("account_offline", account=self.name, error=result.error)
            # Never before the key exchange may go again: a probe then fails at once.
            conditions.next_probe_s = now + max(OFFLINE_PROBE_S,
                                                self.tokens.next_exchange_in_s or 0.0)
        else:
            conditions.failed_connections = 0
            if conditions.offline_since is not None:
                # At the account_offline warning's level: the user saw that line, so the
                # line saying it is over must reach them too (one each per outage).
                log.warning("account_online", account=self.name,
                            offline_s=round(now - conditions.offline_since, 1))
                conditions.offline_since = None
                # Backoff that grew while the server was away must not delay catching
                # up; what push gave up on stays given up (said once, not sent again).
                self.engine.outbox.reschedule_all(self.name, now, forgive=False)
        if result.outcome is retry.Outcome.OK:
            conditions.last_push_s = now
            conditions.last_error = None
        elif result.error:
            conditions.last_error = result.error.splitlines()[0]
