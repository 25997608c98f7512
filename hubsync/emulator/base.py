"""State, Python API and request plumbing shared by every route family of the emulator.

Every piece of mutable state sits behind one ``threading.RLock`` held only between
awaits, so the Python API may be called from any thread (``EmulatorThread``) while the
server runs on its own loop. The route families (``auth``, ``files``, ``filemapper``,
``source_code``, ``extras``, ``control``) are mixins over this class; ``server.Emulator``
combines them and owns the listening socket.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import math
import random
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from hubsync.emulator.records import (
    DEFAULT_SCOPES,
    EmulatedAccount,
    Endpoint,
    Exchange,
    ExtractFaults,
    ExtractTask,
    Faults,
    RequestRecord,
    Token,
)
from hubsync.emulator.store import (
    Environment,
    RemoteTree,
    StoredFile,
    load_mirror,
    module_meta_path,
    normalize_path,
)
from hubsync.emulator.tls import Tls

DEFAULT_MAX_UPLOAD_BYTES: Final = 64 * 1024 * 1024
_MAX_REQUEST_LOG: Final = 200_000
CORRELATION_ID: Final = web.RequestKey("correlation_id", str)

MISSING_CREDENTIALS_MESSAGE: Final = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
    "you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def now_ms() -> int:
    """The wall clock in epoch milliseconds, as HubSpot's timestamps."""
    return int(time.time() * 1000)


def policy_name(window_ms: int) -> str:
    """HubSpot's name for a rolling window, as in its 429 bodies."""
    if window_ms == 10_000:
        return "TEN_SECONDLY_ROLLING"
    if window_ms == 1_000:
        return "SECONDLY"
    return f"ROLLING_{window_ms}_MS"


def new_key() -> str:
    """A personal access key shaped like HubSpot's; random, never derived from the seed."""
    return "CiR" + secrets.token_urlsafe(42)


def new_token() -> str:
    """An access token shaped like HubSpot's."""
    return "CK" + secrets.token_urlsafe(96)


_WRITES: Final = frozenset({Endpoint.UPLOAD, Endpoint.DELETE, Endpoint.V3_UPLOAD,
                           Endpoint.V3_DELETE})
"""The endpoints whose answers ``withhold_answers`` keeps back."""


class EmulatorBase:
    """The emulator's state and the helpers every route family uses (see ``Emulator``)."""

    def __init__(
        self,
        token_ttl_s: float = 1800.0,
        rate_limit: int = 100,
        rate_window_ms: int = 10_000,
        data_dir: Path | str | None = None,
        seed: int = 0,
        *,
        latency_ms: float = 0.0,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        storm_seconds: float = 0.0,
        retry_after: float | None = None,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        tls: bool = False,
    ) -> None:
        self.tls = tls
        """Serve https with a throwaway CA made at start (``ca_path``), as ``hs`` needs."""
        self.token_ttl_s = token_ttl_s
        self.max_upload_bytes = max_upload_bytes
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._lock = threading.RLock()
        self._rng = random.Random(seed)  # noqa: S311 - reproducible faults, not secrets
        self._accounts: dict[str, EmulatedAccount] = {}
        self._revoked: set[str] = set()
        self._tokens: dict[str, Token] = {}
        self._trees: dict[tuple[int, Environment], RemoteTree] = (
            load_mirror(self.data_dir) if self.data_dir is not None else {}
        )
        self._requests: collections.deque[RequestRecord] = collections.deque(
            maxlen=_MAX_REQUEST_LOG
        )
        self._windows: dict[int, collections.deque[float]] = {}
        self._in_flight = 0
        self._max_in_flight = 0
        self._rate_limit = 0
        self._rate_window_ms = 10_000
        self.set_rate_limit(rate_limit, rate_window_ms)
        self._faults = Faults()
        self._storm_until = 0.0
        self.set_faults(latency_ms, error_rate, drop_rate, storm_seconds, retry_after)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._tls: Tls | None = None
        self._extract_faults = ExtractFaults()
        self._withholding = False
        """Writes are applied and their answers kept back (``withhold_answers``)."""
        self.withheld = 0
        """Writes applied whose answer is being kept back right now."""
        self._extract_tasks: dict[str, ExtractTask] = {}
        self._extract_jobs: set[asyncio.Task[None]] = set()
        # One writer thread keeps mirror writes in request order.
        self._disk: ThreadPoolExecutor | None = None

    # ----------------------------------------------------------------- Python API

    def add_account(
        self,
        name: str,
        *,
        portal_id: int,
        user_id: int,
        email: str | None = None,
        hub_name: str | None = None,
        account_type: str = "STANDARD",
        scope_groups: tuple[str, ...] = DEFAULT_SCOPES,
    ) -> EmulatedAccount:
        """Create a user with a fresh personal access key in a portal (made on first use)."""
        with self._lock:
            if name in self._accounts:
                raise ValueError(f"an account named {name!r} already exists")
            account = EmulatedAccount(
                name=name,
                key=new_key(),
                portal_id=int(portal_id),
                user_id=int(user_id),
                email=email or f"{name}@example.com",
                hub_name=hub_name or f"{name.title()} ({portal_id})",
                account_type=account_type,
                scope_groups=tuple(scope_groups),
            )
            self._accounts[name] = account
            return account

    @property
    def accounts(self) -> dict[str, EmulatedAccount]:
        """Every account by name, with its current key."""
        with self._lock:
            return dict(self._accounts)

    def account(self, name: str) -> EmulatedAccount:
        """One account by name (``KeyError`` if unknown)."""
        with self._lock:
            return self._accounts[name]

    def files(
        self, portal_id: int, environment: str | Environment = Environment.PUBLISHED
    ) -> dict[str, StoredFile]:
        """The stored files of one portal: remote path (no leading ``/``) -> file."""
        with self._lock:
            tree = self._trees.get((int(portal_id), Environment(environment)))
            return dict(sorted(tree.files.items())) if tree else {}

    def folders(
        self, portal_id: int, environment: str | Environment = Environment.PUBLISHED
    ) -> list[str]:
        """The folders of one portal (they outlive their last file, as in HubSpot)."""
        with self._lock:
            tree = self._trees.get((int(portal_id), Environment(environment)))
            return sorted(tree.folders) if tree else []

    @property
    def requests(self) -> list[RequestRecord]:
        """Every API request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the request log and the in-flight high-water mark."""
        with self._lock:
            self._requests.clear()
            self._max_in_flight = self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most API requests (key exchange included) that were being handled at once,
        latency included, since the start or ``clear_requests``."""
        with self._lock:
            return self._max_in_flight

    def _enter_request(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave_request(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def faults(self) -> Faults:
        """The faults last set."""
        with self._lock:
            return self._faults

    def storm_remaining_s(self) -> float:
        """Seconds left in the current 429 storm (0 when none)."""
        with self._lock:
            return max(0.0, self._storm_until - time.monotonic())

    def set_faults(
        self,
        latency_ms: float = 0,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        storm_seconds: float = 0.0,
        retry_after: float | None = None,
    ) -> None:
        """Replace every fault setting; a storm starts now. ``set_faults()`` clears all."""
        faults = Faults(float(latency_ms), float(error_rate), float(drop_rate),
                        float(storm_seconds), retry_after)
        with self._lock:
            self._faults = faults
            self._storm_until = time.monotonic() + storm_seconds if storm_seconds else 0.0

    def withhold_answers(self, on: bool) -> None:
        """While on, every upload and delete is applied and its answer kept back until
        it is turned off: what a client sees when it dies (or its connection does) after
        the server stored a write and before the answer arrived. ``withheld`` counts the
        answers kept back, so a test can wait for one before killing the client."""
        with self._lock:
            self._withholding = on

    async def _withhold(self, endpoint: Endpoint | None) -> None:
        """Keep a write's answer back while ``withhold_answers`` is on (polled: a test
        control, not a hot path)."""
        if endpoint not in _WRITES:
            return
        with self._lock:
            if not self._withholding:
                return
            self.withheld += 1
        try:
            # Turned off from the test's thread, so no loop-bound Event can carry it.
            while self._withholding:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        finally:
            with self._lock:
                self.withheld -= 1

    def revoke_key(self, key: str) -> None:
        """Make the key fail the exchange from now on. Tokens already issued live on until
        they expire, like HubSpot's; call ``expire_all_tokens`` to end them too."""
        with self._lock:
            self._revoked.add(key)

    def rotate_key(self, name: str) -> str:
        """Give account ``name`` a new key and revoke the old one; returns the new key."""
        with self._lock:
            old = self._accounts[name]
            self._revoked.add(old.key)
            new = replace(old, key=new_key())
            self._accounts[name] = new
            return new.key

    def expire_all_tokens(self) -> None:
        """Every token issued so far is expired from now on (401 EXPIRED_AUTHENTICATION)."""
        now = now_ms()
        with self._lock:
            for value, token in self._tokens.items():
                expires = min(token.expires_at_ms, now - 1)
                self._tokens[value] = replace(token, expires_at_ms=expires)

    def set_rate_limit(self, limit: int, window_ms: int = 10_000) -> None:
        """Allow ``limit`` API calls per portal per rolling ``window_ms``; 0 disables limiting."""
        if limit < 0 or window_ms <= 0:
            raise ValueError("rate limit must be >= 0 and its window > 0 ms")
        with self._lock:
            self._rate_limit = int(limit)
            self._rate_window_ms = int(window_ms)

    @property
    def rate_limit(self) -> tuple[int, int]:
        """``(limit, window_ms)``; a limit of 0 means unlimited."""
        with self._lock:
            return self._rate_limit, self._rate_window_ms
    def edit_as(
        self, portal_id: int, path: str, content: bytes, *, user_id: int, publish: bool = True,
    ) -> StoredFile:
        """Write ``path`` as user ``user_id`` would in the Design Manager (for tests and the
        demo: "someone else changed it"). ``publish`` writes published and draft, else the
        draft only. Returns the stored record. ValueError for an invalid path."""
        normalized = normalize_path(path)
        if not normalized:
            raise ValueError(f"invalid remote path {path!r}")
        environment = Environment.PUBLISHED if publish else Environment.DRAFT
        stored, targets = self._put(int(portal_id), normalized, environment,
                                    StoredFile.build(content, user_id=user_id, now_ms=now_ms()))
        if self._disk is not None:
            for env in targets:
                self._disk.submit(self._mirror_write, int(portal_id), env, normalized, content)
        return stored

    def delete_as(self, portal_id: int, path: str) -> bool:
        """Delete a file or folder (recursively) from both environments, as another user in
        the Design Manager would; False when neither had it."""
        normalized = normalize_path(path)
        if not normalized:
            raise ValueError(f"invalid remote path {path!r}")
        removed = self._remove(int(portal_id), normalized, tuple(Environment))
        if self._disk is not None:
            for env in removed:
                self._disk.submit(self._mirror_delete, int(portal_id), env, normalized)
        return bool(removed)

    # ----------------------------------------------------------------- store

    def _put(
        self, portal_id: int, path: str, environment: Environment, template: StoredFile
    ) -> tuple[StoredFile, list[Environment]]:
        """Store ``template`` at ``path``: the draft only, or published and draft. Keeps each
        tree's creation time, marks files written before their module's meta.json."""
        targets = [Environment.DRAFT] if environment is Environment.DRAFT else list(Environment)
        meta_path = module_meta_path(path)
        with self._lock:
            for env in targets:
                tree = self._trees.setdefault((portal_id, env), RemoteTree())
                previous = tree.files.get(path)
                tree.put(path, replace(
                    template,
                    before_meta=meta_path not in (None, path) and meta_path not in tree.files,
                    created_at_ms=previous.created_at_ms if previous else template.updated_at_ms,
                ))
            return self._trees[(portal_id, environment)].files[path], targets

    def _remove(
        self, portal_id: int, path: str, environments: tuple[Environment, ...]
    ) -> list[Environment]:
        """Delete ``path`` (file, or folder recursively) from ``environments``; where it was."""
        with self._lock:
            return [
                env for env in environments
                if (tree := self._trees.get((portal_id, env))) is not None and tree.delete(path)
            ]

    # ----------------------------------------------------------------- plumbing

    def _log(self, exchange: Exchange, method: str, status: int) -> None:
        with self._lock:
            self._requests.append(
                RequestRecord(
                    ts=time.time(),
                    method=method,
                    endpoint=exchange.endpoint,
                    remote_path=exchange.remote_path,
                    portal_id=exchange.portal_id,
                    status=status,
                    user_id=exchange.user_id,
                    correlation_id=exchange.correlation_id,
                    environment_id=exchange.environment_id,
                    file_disposition=exchange.file_disposition,
                )
            )

    @staticmethod
    def _error(
        exchange: Exchange, status: int, message: str, category: str, **extra: Any
    ) -> web.Response:
        body = {
            "status": "error",
            "message": message,
            "correlationId": exchange.correlation_id,
            "category": category,
            **extra,
        }
        return web.json_response(body, status=status)

    def _too_many(self, exchange: Exchange, retry_after: float | None) -> web.Response:
        policy = policy_name(self._rate_window_ms)
        response = self._error(
            exchange,
            429,
            f"You have reached your {policy.lower()} limit.",
            "RATE_LIMITS",
            errorType="RATE_LIMIT",
            policyName=policy,
            groupName=f"filemapper:portal:{exchange.portal_id}",
        )
        exchange.rate_remaining = 0
        if retry_after is not None:
            response.headers["Retry-After"] = str(math.ceil(retry_after))
        return response

    def _rate_headers(self, exchange: Exchange, response: web.StreamResponse) -> None:
        with self._lock:
            limit, window_ms = self._rate_limit, self._rate_window_ms
            if not limit:
                # Advertising Max=0 would tell a client it has no budget at all.
                return
            remaining = exchange.rate_remaining
            if remaining is None:
                remaining = limit
                if exchange.portal_id is not None:
                    window = self._windows.get(exchange.portal_id)
                    if window is not None:
                        self._expire_window(window, time.monotonic(), window_ms)
                        remaining = max(0, limit - len(window))
        response.headers["X-HubSpot-RateLimit-Max"] = str(limit)
        response.headers["X-HubSpot-RateLimit-Remaining"] = str(remaining)
        response.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(window_ms)

    @staticmethod
    def _expire_window(window: collections.deque[float], now: float, window_ms: int) -> None:
        horizon = now - window_ms / 1000
        while window and window[0] <= horizon:
            window.popleft()

    def _admit(self, exchange: Exchange, portal_id: int) -> web.Response | None:
        """Count one call against the portal's rolling window; a 429 if it is full."""
        with self._lock:
            if not self._rate_limit:
                return None
            now = time.monotonic()
            window = self._windows.setdefault(portal_id, collections.deque())
            self._expire_window(window, now, self._rate_window_ms)
            if len(window) >= self._rate_limit:
                return self._too_many(exchange, None)
            window.append(now)
            exchange.rate_remaining = self._rate_limit - len(window)
            return None

    def _expired(self, exchange: Exchange, token: Token, now_ms: int) -> web.Response:
        minutes = max(0, (now_ms - token.expires_at_ms) // 60_000)
        return self._error(
            exchange, 401,
            f"The OAuth token used to make this call expired {minutes} minute(s) ago.",
            "EXPIRED_AUTHENTICATION",
        )

    def _admitted(self, request: web.Request, exchange: Exchange) -> Token | web.Response:
        """The caller's token once the call is counted against its portal's rate limit;
        otherwise the 4xx HubSpot answers (a bad token before any count, then a 429)."""
        token = self._authenticate(request, exchange)
        if isinstance(token, web.Response):
            return token
        limited = self._admit(exchange, token.account.portal_id)
        return limited if limited is not None else token

    def _authenticate(self, request: web.Request, exchange: Exchange) -> Token | web.Response:
        """The caller's token, or the 400/401/403 HubSpot answers instead."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        with self._lock:
            token = self._tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            return self._error(exchange, 401, MISSING_CREDENTIALS_MESSAGE,
                               "INVALID_AUTHENTICATION")
        exchange.portal_id, exchange.user_id = token.account.portal_id, token.account.user_id
        now = now_ms()
        if token.expires_at_ms <= now:
            return self._expired(exchange, token, now)
        raw_portal = request.query.get("portalId")
        if raw_portal is None:
            return self._error(exchange, 400, "Missing required query parameter portalId",
                               "VALIDATION_ERROR")
        if not raw_portal.isdigit():
            return self._error(exchange, 400, f"portalId must be a number, not {raw_portal!r}",
                               "VALIDATION_ERROR")
        if int(raw_portal) != token.account.portal_id:
            return self._error(
                exchange, 403,
                f"The access token belongs to portal {token.account.portal_id} and cannot "
                f"act on portal {raw_portal}", "FORBIDDEN")
        return token

    # ----------------------------------------------------------------- disk mirror

    async def _mirror(self, job: Callable[..., None], *args: Any) -> None:
        if self._disk is None:
            return
        await asyncio.get_running_loop().run_in_executor(self._disk, job, *args)

    def _mirror_target(self, portal_id: int, env: Environment, path: str) -> Path:
        assert self.data_dir is not None
        return self.data_dir / str(portal_id) / env.value / path

    def _mirror_write(self, portal_id: int, env: Environment, path: str, content: bytes) -> None:
        target = self._mirror_target(portal_id, env, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".emulator-partial")
        partial.write_bytes(content)
        partial.replace(target)

    def _mirror_delete(self, portal_id: int, env: Environment, path: str) -> None:
        target = self._mirror_target(portal_id, env, path)
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
