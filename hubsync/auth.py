"""The per-account token manager: keeps a valid access token, shares one exchange.

A :class:`TokenManager` drives the pure machine of ``hubsync.core.tokens`` with real
time and real I/O: it looks the key up (``hubsync.credentials``), exchanges it
(``hubsync.hubspot``), and remembers the token and the identity in memory only.

- ``token()`` gives a valid token; concurrent callers share one in-flight exchange.
- ``call(fn)`` runs ``fn(token)``; on ``TokenExpired`` it refreshes once, retries once.
  The token ``fn`` gets is checked again when its value is read to build the request
  (after any wait inside ``fn``: a pacer, a full connection pool, a SIGSTOP), so an
  expired token is never sent; a stale one raises ``TokenExpired`` there instead.
- A refused key (401/403) or a key for another portal holds the account
  (``UNAUTHORIZED``) without touching other accounts; ``recheck()`` re-reads the key,
  and a new one brings the account back.
- Network errors during the exchange are never taken for a bad key: the account is
  ``OFFLINE`` and retried with backoff, still using the old token while it is valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar, cast

import structlog

from hubsync import credentials
from hubsync.config import Account
from hubsync.core import tokens
from hubsync.core.tokens import Action, TokenState
from hubsync.credentials import KeySource
from hubsync.errors import (
    CredentialError,
    HubSpotError,
    HubsyncError,
    KeyNotFound,
    KeyRejected,
    PortalMismatch,
    RateLimited,
    TokenExpired,
    TransientError,
    clause,
)
from hubsync.hubspot import REFUSED_PREFIX
from hubsync.model import AccessToken, AuthState, Identity
from hubsync.ports import KeyLookup, RemoteApi

T = TypeVar("T")
EMAIL_LOOKUP_TIMEOUT_S = 5.0
RATE_WINDOW_S = 10.0
"""How long a 429 without Retry-After holds the key exchange back: HubSpot's rolling
window (hubspot-api.md §6, ``ten_secondly_rolling``)."""
SEND_MARGIN_S = 1.0
"""A token that expires within this many seconds (local clock) is not sent: the request
must still find it valid when HubSpot reads it. For short-lived tokens the margin is a
tenth of the lifetime instead, inside the fifth before expiry when ``core.tokens``
refreshes anyway, so the check only bites after a wait."""

log = structlog.get_logger("hubsync.auth")


class TokenManager:
    """Access tokens for one account. Create one per account, inside or outside a loop."""

    def __init__(
        self,
        account: Account,
        client: RemoteApi,
        *,
        key_lookup: KeyLookup = credentials.find_key,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.account = account
        self.client = client
        self._key_lookup = key_lookup
        self._clock = clock
        self._jitter = jitter
        self._machine = TokenState()
        # Both secrets live here only: never logged, never written anywhere.
        self._key: str | None = None
        self._token: AccessToken | None = None
        self._key_source: KeySource | None = None
        self._identity: Identity | None = None
        self._hold_error: HubsyncError | None = None
        self._last_error: str | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._exchanges = 0
        self._rate_limited = False
        """Whether the last failed exchange was answered 429 (``_waiting``)."""
        self.backoff_cap_s = tokens.BACKOFF_CAP_S
        """Longest wait (seconds) before the exchange is tried again after it could not
        connect; ``push`` shortens it to its own retries' cap (it runs to a deadline)."""

    # --- what callers may look at ---------------------------------------------------------

    @property
    def state(self) -> AuthState:
        """The account's auth state (``REFRESHING`` while an exchange is in flight)."""
        return self._machine.auth

    @property
    def identity(self) -> Identity | None:
        """Who the key authenticated as at the last successful exchange."""
        return self._identity

    @property
    def token_expires_at(self) -> float | None:
        """Epoch seconds when the cached token expires; None when nothing is cached."""
        return self._machine.expires_at

    @property
    def last_error(self) -> str | None:
        """The last exchange or lookup failure, as a user-facing line; None after success."""
        return self._last_error

    @property
    def key_source(self) -> KeySource | None:
        """Where the key in use came from."""
        return self._key_source

    @property
    def next_exchange_in_s(self) -> float | None:
        """Seconds until the key exchange may be tried again after a failed one (the
        backoff, or a 429's wait); None when nothing holds it back."""
        retry_at = self._machine.retry_at
        if self._machine.auth is not AuthState.OFFLINE or retry_at is None:
            return None
        return max(0.0, retry_at - self._clock())

    @property
    def exchanges(self) -> int:
        """How many exchanges this manager has sent (for status and tests)."""
        return self._exchanges

    # --- getting a token ------------------------------------------------------------------

    async def token(self) -> AccessToken:
        """A valid access token.

        Raises KeyRejected or PortalMismatch while unauthorized, KeyNotFound or
        KeyringUnavailable without a key, TransientError while offline.
        """
        while True:
            decision = tokens.decide(self._machine, self._clock())
            if decision.action is Action.USE:
                assert self._token is not None
                return self._token
            if decision.action is Action.HOLD:
                assert self._hold_error is not None
                raise self._hold_error
            if decision.action is Action.WAIT:
                raise self._waiting(max(0.0, (decision.at or 0.0) - self._clock()))
            try:
                await self._shared_exchange()
            except HubsyncError:
                # The machine has recorded the failure: decide again, which uses a token
                # that is still valid, waits, or holds. Only a new exchange started
                # meanwhile would ask for another one; do not chase it.
                again = tokens.decide(self._machine, self._clock()).action
                if again in (Action.REFRESH, Action.JOIN):
                    raise
                continue
            # HubSpot has just issued this token: use it even if our clock already thinks
            # it is due (a very short TTL, or a clock far ahead). Asking again would loop;
            # if it really is dead, call() refreshes once on TokenExpired.
            if self._token is not None and self._machine.auth is AuthState.OK:
                return self._token

    async def call(self, fn: Callable[[AccessToken], Awaitable[T]]) -> T:
        """``fn(token)``; after TokenExpired, one refresh and one retry.

        ``fn`` gets a token whose ``value`` is checked for freshness when it is read
        (``SEND_MARGIN_S``), so however long ``fn`` waits before building its request,
        it never sends an expired token: it raises ``TokenExpired`` instead, which is
        answered here like HubSpot's own 401 (refresh once, retry once). Raises what
        ``token()`` and ``fn`` raise, and ``TokenExpired`` when the retry too is stale.
        """
        token = await self.token()
        try:
            return await fn(self._checked(token))
        except TokenExpired:
            self._expire(token)
        token = await self.token()
        return await fn(self._checked(token))

    def _checked(self, token: AccessToken) -> AccessToken:
        received = self._machine.issued_at
        lifetime = token.expires_at - received if received is not None else 0.0
        if lifetime <= 0:
            # Expired on arrival by our clock (far ahead of HubSpot's): it cannot judge
            # this token, so HubSpot's 401 will (see token()).
            return token
        margin = min(SEND_MARGIN_S, lifetime / 10)
        return cast(AccessToken, _SendTimeToken(token, self._clock, margin))

    def _expire(self, token: AccessToken) -> None:
        # Many requests fail with the same dead token at once: only the first one to report
        # it drops the cache, so they all share one exchange instead of one each.
        if self._token is token:
            self._token = None
            self._machine = tokens.token_expired(self._machine)

    async def _shared_exchange(self) -> None:
        if self._inflight is None:
            self._inflight = asyncio.create_task(
                self._exchange(), name=f"hubsync-auth-{self.account.name}"
            )
            # Consume the outcome even if every waiter was cancelled.
            self._inflight.add_done_callback(_consume)
        # shield: one cancelled caller must not cancel the exchange the others wait for.
        await asyncio.shield(self._inflight)

    async def _exchange(self) -> None:
        try:
            if self._key is None:
                await self._read_key()
            key = self._key
            assert key is not None
            self._machine = tokens.exchange_started(self._machine)
            self._exchanges += 1
            try:
                grant = await self.client.exchange_key(key)
            except KeyRejected as exc:
                raise self._reject(
                    KeyRejected(
                        f"HubSpot refused the key of account {self.account.name!r}: "
                        f"{clause(_hubspot_message(exc))}; run `hubsync auth add "
                        f"{self.account.name} --portal {self.account.portal_id}` with a new key",
                        status=exc.status,
                        correlation_id=exc.correlation_id,
                    ),
                    status=exc.status,
                    correlation_id=exc.correlation_id,
                ) from None
            except HubSpotError as exc:
                self._offline(exc)
                if isinstance(exc, TransientError):
                    raise
                raise TransientError(
                    str(exc), status=exc.status, correlation_id=exc.correlation_id
                ) from exc
            if grant.identity.hub_id != self.account.portal_id:
                raise self._reject(
                    PortalMismatch(
                        f"the key of account {self.account.name!r} belongs to portal "
                        f"{grant.identity.hub_id} ({grant.identity.hub_name}), not "
                        f"{self.account.portal_id}; run `hubsync auth add "
                        f"{self.account.name} --portal {self.account.portal_id}` with "
                        "the right key"
                    )
                )
            await self._accept(grant.token, grant.identity)
        finally:
            self._inflight = None

    async def _read_key(self) -> None:
        try:
            self._key, self._key_source = await self._key_lookup(self.account.name)
        except CredentialError as exc:
            self._machine = tokens.key_missing(self._machine)
            self._token = None
            self._hold_error = exc
            self._last_error = str(exc)
            log.warning("auth_failed", account=self.account.name,
                        portal_id=self.account.portal_id, reason=type(exc).__name__,
                        error=str(exc))
            raise

    def _reject(
        self, error: HubsyncError, *, status: int | None = None,
        correlation_id: str | None = None,
    ) -> HubsyncError:
        self._machine = tokens.exchange_rejected(self._machine)
        self._token = None
        self._hold_error = error
        self._last_error = str(error)
        log.error("auth_failed", account=self.account.name, portal_id=self.account.portal_id,
                  reason=type(error).__name__, status=status, correlation_id=correlation_id,
                  error=str(error))
        return error

    def _waiting(self, wait_s: float) -> TransientError:
        """What ``token()`` raises while the exchange waits to be tried again: rate limited
        (a 429 answered it: ``RateLimited`` with the wait, so the pacer pauses the account
        that long) or cannot reach HubSpot. The wait is not in the message: the caller
        says when it tries again (one clock on a line, not two)."""
        name = self.account.name
        if self._rate_limited:
            return RateLimited(
                f"account {name!r} is rate limited by HubSpot ({self._last_error}); "
                f"the key exchange waits {wait_s:.0f} s", retry_after=wait_s)
        return TransientError(f"account {name!r} cannot reach HubSpot ({self._last_error})")

    def _offline(self, exc: HubSpotError) -> None:
        now = self._clock()
        self._machine = tokens.exchange_failed_transient(self._machine, now, self._jitter())
        self._rate_limited = isinstance(exc, RateLimited)
        if self._machine.retry_at is not None:
            retry_at = min(self._machine.retry_at, now + self.backoff_cap_s)
            self._machine = replace(self._machine, retry_at=retry_at)
        if isinstance(exc, RateLimited):
            # HubSpot said how long (Retry-After), else its rolling window: asking sooner
            # is only refused again.
            wait_s = exc.retry_after if exc.retry_after is not None else RATE_WINDOW_S
            retry_at = max(self._machine.retry_at or now, now + wait_s)
            self._machine = replace(self._machine, retry_at=retry_at)
        self._last_error = str(exc)
        log.warning("auth_failed", account=self.account.name, portal_id=self.account.portal_id,
                    reason=type(exc).__name__, status=exc.status,
                    correlation_id=exc.correlation_id, error=str(exc),
                    failures=self._machine.failures,
                    retry_in_s=round((self._machine.retry_at or 0) - self._clock(), 1))

    async def _accept(self, token: AccessToken, identity: Identity) -> None:
        first = self._identity is None or (
            (self._identity.hub_id, self._identity.user_id) != (identity.hub_id, identity.user_id)
        )
        if first:
            email = None
            with contextlib.suppress(TimeoutError):
                email = await asyncio.wait_for(
                    self.client.fetch_email(token), EMAIL_LOOKUP_TIMEOUT_S
                )
            identity = replace(identity, email=email)
        else:
            assert self._identity is not None
            identity = replace(identity, email=self._identity.email)
        now = self._clock()
        self._token = token
        self._identity = identity
        self._hold_error = None
        self._last_error = None
        self._machine = tokens.exchange_succeeded(self._machine, now, token.expires_at)
        log.info(
            "auth_ok" if first else "token_refreshed",
            account=self.account.name,
            portal_id=identity.hub_id,
            user_id=identity.user_id,
            key_source=str(self._key_source) if self._key_source else None,
            expires_in_s=round(token.expires_at - now, 1),
        )

    # --- coming back ----------------------------------------------------------------------

    async def recheck(self) -> AuthState:
        """Re-read the key; a new key (or one that appeared) is exchanged at once.

        Call it on reload and periodically (with backoff) while the account is
        unauthorized or has no key. An unchanged key changes nothing.
        """
        if self._inflight is not None:
            with contextlib.suppress(HubsyncError):
                await asyncio.shield(self._inflight)
        try:
            key, source = await self._key_lookup(self.account.name)
        except KeyNotFound as exc:
            self._key = None
            self._token = None
            self._machine = tokens.key_missing(self._machine)
            self._hold_error = exc
            self._last_error = str(exc)
            return self.state
        except CredentialError as exc:
            # The keyring may be locked for a while; keep any key we already hold.
            self._last_error = str(exc)
            return self.state
        if key == self._key:
            self._key_source = source
            return self.state
        self._key, self._key_source = key, source
        self._token = None
        self._hold_error = None
        self._machine = tokens.key_changed(self._machine)
        log.info("auth_key_changed", account=self.account.name,
                 portal_id=self.account.portal_id, key_source=str(source))
        with contextlib.suppress(HubsyncError):
            await self.token()
        return self.state


class _SendTimeToken:
    """An ``AccessToken`` stand-in whose ``value`` is only given while it is fresh.

    The client reads ``value`` when it builds the request's ``Authorization`` header, the
    last moment before the bytes go out that hubsync controls.
    """

    __slots__ = ("_clock", "_margin", "_token")

    def __init__(self, token: AccessToken, clock: Callable[[], float], margin: float) -> None:
        self._token = token
        self._clock = clock
        self._margin = margin

    @property
    def value(self) -> str:
        left = self._token.expires_at - self._clock()
        if left <= self._margin:
            raise TokenExpired(
                "the access token expired while the request waited to be sent "
                f"({-left:.1f} s ago); refreshing it" if left < 0 else
                f"the access token expires in {left:.1f} s, too soon to send; refreshing it",
                status=None, category="EXPIRED_AUTHENTICATION",
            )
        return self._token.value

    @property
    def expires_at(self) -> float:
        return self._token.expires_at

    def __repr__(self) -> str:
        return "AccessToken(<redacted>)"

    __str__ = __repr__


def _hubspot_message(exc: KeyRejected) -> str:
    return str(exc).removeprefix(REFUSED_PREFIX)


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
