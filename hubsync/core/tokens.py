"""The token decision machine: what an account's token manager does next.

Pure: stdlib only, no asyncio, no clock, no I/O. ``now`` is always a parameter and so
is the random jitter, so every decision is reproducible in a table test.

The manager (``hubsync.auth``) asks :func:`decide` before each request and feeds the
outcome of every exchange back through the event functions, which return a new
:class:`TokenState`::

    UNKNOWN --started--> REFRESHING --succeeded--> OK --(refresh due)--> REFRESHING
                              |  \\--rejected--> UNAUTHORIZED --key_changed--> UNKNOWN
                              \\--transient--> OFFLINE --(retry_at)--> REFRESHING
    any --key_missing--> NO_KEY --key_changed--> UNKNOWN
    OK --token_expired--> OK without a token (refresh now)

A cached token stays usable while a refresh is in flight or failing, until it expires:
an outage shorter than the remaining lifetime costs nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from hubsync.model import AuthState

REFRESH_AHEAD_S = 300.0
"""Refresh when less than this is left, as HubSpot's own CLI does."""
SHORT_TTL_FRACTION = 0.2
"""For lifetimes under 25 minutes, refresh when less than this fraction is left instead."""
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 300.0


class Action(enum.StrEnum):
    """What the manager does before a request."""

    USE = "use"
    """The cached token is valid and not due for refresh: use it."""
    REFRESH = "refresh"
    """Exchange the key now (nothing cached, refresh due, or the backoff has elapsed)."""
    JOIN = "join"
    """An exchange is in flight and nothing usable is cached: wait for that exchange."""
    WAIT = "wait"
    """Offline with no usable token: fail fast until ``Decision.at``."""
    HOLD = "hold"
    """Unauthorized or no key: hold all work until the key changes."""


@dataclass(frozen=True, slots=True)
class Decision:
    """An :class:`Action` and, for ``WAIT``, the epoch second of the next attempt."""

    action: Action
    at: float | None = None


@dataclass(frozen=True, slots=True)
class TokenState:
    """Everything the machine knows about one account's token (never the token itself)."""

    auth: AuthState = AuthState.UNKNOWN
    issued_at: float | None = None
    """When the cached token was obtained; with ``expires_at`` gives its lifetime."""
    expires_at: float | None = None
    """Expiry of the cached token; None when nothing usable is cached."""
    failures: int = 0
    """Consecutive transient exchange failures."""
    retry_at: float | None = None
    """Earliest next exchange after a transient failure."""

    def has_token(self, now: float) -> bool:
        """Whether a cached token exists and has not expired at ``now``."""
        return self.expires_at is not None and now < self.expires_at


def refresh_due_at(issued_at: float, expires_at: float) -> float:
    """When to refresh a token: 5 minutes before expiry, or a fifth of a short lifetime."""
    lifetime = max(0.0, expires_at - issued_at)
    return expires_at - min(REFRESH_AHEAD_S, lifetime * SHORT_TTL_FRACTION)


def backoff_delay(failures: int, jitter: float) -> float:
    """Seconds to wait after ``failures`` consecutive failures (>= 1); ``jitter`` in [0, 1].

    Equal jitter: half the exponential ceiling is fixed so a retry never comes at once,
    the other half is random so many accounts do not retry in step.
    """
    exponent = min(max(failures, 1) - 1, 30)
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0**exponent)
    clamped = min(1.0, max(0.0, jitter))
    return ceiling / 2 + ceiling / 2 * clamped


def decide(state: TokenState, now: float) -> Decision:
    """What to do before a request at ``now``."""
    if state.auth in (AuthState.UNAUTHORIZED, AuthState.NO_KEY):
        return Decision(Action.HOLD)
    usable = state.has_token(now)
    if state.auth is AuthState.REFRESHING:
        return Decision(Action.USE if usable else Action.JOIN)
    if state.auth is AuthState.OFFLINE and state.retry_at is not None and now < state.retry_at:
        return Decision(Action.USE) if usable else Decision(Action.WAIT, state.retry_at)
    if not usable:
        return Decision(Action.REFRESH)
    assert state.expires_at is not None
    issued_at = state.expires_at - REFRESH_AHEAD_S / SHORT_TTL_FRACTION
    if state.issued_at is not None:
        issued_at = state.issued_at
    if now >= refresh_due_at(issued_at, state.expires_at):
        return Decision(Action.REFRESH)
    return Decision(Action.USE)


def exchange_started(state: TokenState) -> TokenState:
    """An exchange was sent; the cached token (if any) stays usable meanwhile."""
    return replace(state, auth=AuthState.REFRESHING)


def exchange_succeeded(state: TokenState, now: float, expires_at: float) -> TokenState:
    """A new token arrived, valid until ``expires_at``."""
    return TokenState(auth=AuthState.OK, issued_at=now, expires_at=expires_at)


def exchange_failed_transient(state: TokenState, now: float, jitter: float) -> TokenState:
    """Network error, timeout, 429 or 5xx: back off, keep any still-valid token."""
    failures = state.failures + 1
    return replace(
        state,
        auth=AuthState.OFFLINE,
        failures=failures,
        retry_at=now + backoff_delay(failures, jitter),
    )


def exchange_rejected(state: TokenState) -> TokenState:
    """HubSpot refused the key (401/403/4xx) or it is for another portal: hold."""
    return TokenState(auth=AuthState.UNAUTHORIZED)


def token_expired(state: TokenState) -> TokenState:
    """A request got 401 EXPIRED_AUTHENTICATION: the cached token is dead, refresh now.

    Any transient backoff is cleared too: one forced exchange is what HubSpot expects.
    """
    if state.auth in (AuthState.UNAUTHORIZED, AuthState.NO_KEY):
        return state
    auth = AuthState.UNKNOWN if state.auth is AuthState.OFFLINE else state.auth
    return replace(state, auth=auth, issued_at=None, expires_at=None, retry_at=None)


def key_missing(state: TokenState) -> TokenState:
    """No key in any source (or the keyring cannot be read): hold."""
    return TokenState(auth=AuthState.NO_KEY)


def key_changed(state: TokenState) -> TokenState:
    """A different key appeared: forget everything, exchange on next use."""
    return TokenState()
