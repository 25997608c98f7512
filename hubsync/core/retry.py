"""What to do after one attempt: done, retry at a time, park, or hold the account.

Nothing is dropped: transient failures are retried forever with capped, jittered
exponential backoff, and the caller logs every attempt (``log_level`` escalates) so
nothing is retried silently. The jitter is a number the caller draws, keeping this
module deterministic.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hubsync.errors import (
    AuthError,
    CredentialError,
    Forbidden,
    HubSpotError,
    HubsyncError,
    NotFound,
    RateLimited,
    TokenExpired,
    TransientError,
    ValidationFailed,
)
from hubsync.model import OpKind


class Outcome(enum.StrEnum):
    """How one request ended, as far as retrying is concerned."""

    OK = "ok"
    """2xx: the content is stored."""
    TRANSIENT = "transient"
    """5xx, 408, timeout, reset, offline: worth trying again later."""
    RATE_LIMITED = "rate_limited"
    """429: wait for Retry-After or one rate-limit window."""
    VALIDATION = "validation"
    """400: HubSpot rejected this content; retrying the same bytes cannot help."""
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - an outcome name, not a secret
    """401 EXPIRED_AUTHENTICATION: the token manager refreshes; retry right away."""
    AUTH = "auth"
    """The key itself was refused: nothing for this account can succeed until a new key."""
    FORBIDDEN = "forbidden"
    """401 (not expiry) or 403: the user lacks a permission; hold the account."""
    NOT_FOUND = "not_found"
    """404."""
    UNEXPECTED = "unexpected"
    """Not an error hubsync knows (a bug, a library refusing a header): retried with
    backoff a few times, then parked with the error (``core.outbox.Policy``)."""


class DecisionKind(enum.StrEnum):
    """What the worker does with the outbox item next."""

    DONE = "done"
    """Remove the item: it succeeded, or there is nothing left to do (404 on delete)."""
    RETRY = "retry"
    """Keep it pending and try again at ``Decision.at``."""
    PARK = "park"
    """Keep it but do not retry until the file's content changes."""
    HOLD_ACCOUNT = "hold_account"
    """Stop sending for the whole account until its key is fixed."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The next step for one item; ``at`` is set for RETRY (same clock as ``now``)."""

    kind: DecisionKind
    at: float | None = None
    reason: str = ""


def outcome_of(error: BaseException | None) -> Outcome:
    """Classify an exception from one request (None means success).

    Our HubSpot errors by class; a refused or missing key is AUTH; another hubsync error
    or an ``OSError`` (a file that vanished between hash and read) is transient; anything
    else is UNEXPECTED, which is retried a bounded number of times.
    """
    if error is None:
        return Outcome.OK
    if isinstance(error, RateLimited):
        return Outcome.RATE_LIMITED
    if isinstance(error, TransientError):
        return Outcome.TRANSIENT
    if isinstance(error, ValidationFailed):
        return Outcome.VALIDATION
    if isinstance(error, TokenExpired):
        return Outcome.TOKEN_EXPIRED
    if isinstance(error, Forbidden):
        return Outcome.FORBIDDEN
    if isinstance(error, NotFound):
        return Outcome.NOT_FOUND
    if isinstance(error, AuthError):
        return Outcome.AUTH
    if isinstance(error, CredentialError):
        return Outcome.AUTH
    if isinstance(error, HubSpotError) and error.status is not None and error.status < 500:
        return Outcome.VALIDATION if error.status in (400, 409, 413, 415, 422) else (
            Outcome.TRANSIENT)
    if isinstance(error, HubsyncError | OSError):
        return Outcome.TRANSIENT
    return Outcome.UNEXPECTED


def backoff_s(attempt: int, *, jitter: float, base_s: float = 1.0, cap_s: float = 300.0) -> float:
    """Delay before attempt ``attempt + 1``: jittered exponential, at least ``base_s``.

    "Full jitter" (uniform below the exponential ceiling) spreads retries apart; the
    floor of ``base_s`` keeps a jitter of 0 from turning into an immediate retry storm.
    """
    if not 0.0 <= jitter <= 1.0:
        raise ValueError("jitter must be within 0..1")
    exponent = min(max(attempt, 1) - 1, 62)  # 2**62 already dwarfs any cap
    ceiling = min(cap_s, base_s * (2.0 ** exponent))
    return min(cap_s, base_s + jitter * max(0.0, ceiling - base_s))


def decide(
    outcome: Outcome,
    *,
    op: OpKind,
    attempt: int,
    now: float,
    retry_after: float | None = None,
    window_s: float = 10.0,
    jitter: float,
    base_s: float = 1.0,
    cap_s: float = 300.0,
) -> Decision:
    """The next step after attempt number ``attempt`` (1 for the first) ended in ``outcome``.

    ``retry_after`` (seconds): a 429's wait; for another transient failure, the soonest
    the request could go again (a transient retry never comes sooner)."""
    if outcome is Outcome.OK:
        return Decision(DecisionKind.DONE, reason="stored")
    if outcome is Outcome.NOT_FOUND and op is OpKind.DELETE:
        return Decision(DecisionKind.DONE, reason="already gone")
    if outcome is Outcome.VALIDATION:
        return Decision(DecisionKind.PARK,
                        reason="rejected by HubSpot; waiting for the file to change")
    if outcome in (Outcome.FORBIDDEN, Outcome.AUTH):
        return Decision(DecisionKind.HOLD_ACCOUNT, reason="the account's key was refused")
    if outcome is Outcome.RATE_LIMITED:
        wait = window_s if retry_after is None or retry_after < 0 else retry_after
        wait = min(wait, cap_s)
        # A little spread so every worker that got a 429 does not return at once.
        wait += jitter * min(1.0, 0.1 * wait)
        return Decision(DecisionKind.RETRY, at=now + wait, reason="rate limited")
    if outcome is Outcome.TOKEN_EXPIRED and attempt <= 1:
        return Decision(DecisionKind.RETRY, at=now, reason="token refreshed")
    delay = backoff_s(attempt, jitter=jitter, base_s=base_s, cap_s=cap_s)
    if retry_after is not None and retry_after > delay:
        # Nothing can go sooner (the key exchange waits that long): say the true time.
        delay = retry_after
    reason = "not found" if outcome is Outcome.NOT_FOUND else "transient failure"
    return Decision(DecisionKind.RETRY, at=now + delay, reason=reason)


WARN_FROM_ATTEMPT = 3
ERROR_FROM_ATTEMPT = 10


def should_warn(attempt: int) -> bool:
    """Whether a failed attempt is logged as a warning rather than info."""
    return attempt >= WARN_FROM_ATTEMPT


def log_level(attempt: int) -> str:
    """``"info"``, ``"warning"`` or ``"error"`` for failed attempt number ``attempt``."""
    if attempt >= ERROR_FROM_ATTEMPT:
        return "error"
    return "warning" if should_warn(attempt) else "info"
