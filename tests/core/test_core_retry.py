"""Retry decisions: 429 waits, transient backs off, 400 parks, 404 delete is done."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubsync.core.retry import (
    Decision,
    DecisionKind,
    Outcome,
    backoff_s,
    decide,
    log_level,
    outcome_of,
    should_warn,
)
from hubsync.errors import (
    ErrorDetail,
    Forbidden,
    HubSpotError,
    KeyRejected,
    NotFound,
    RateLimited,
    TokenExpired,
    TransientError,
    ValidationFailed,
)
from hubsync.model import OpKind

UP, DEL = OpKind.UPLOAD, OpKind.DELETE


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, Outcome.OK),
        (RateLimited("slow down", retry_after=3.0, status=429), Outcome.RATE_LIMITED),
        (TransientError("502", status=502), Outcome.TRANSIENT),
        (ValidationFailed("bad", status=400, details=(ErrorDetail("x", 3),)),
         Outcome.VALIDATION),
        (TokenExpired("expired", status=401), Outcome.TOKEN_EXPIRED),
        (Forbidden("no scope", status=403), Outcome.FORBIDDEN),
        (NotFound("nope", status=404), Outcome.NOT_FOUND),
        (KeyRejected("revoked", status=401), Outcome.AUTH),
        (HubSpotError("teapot", status=418), Outcome.TRANSIENT),
        (HubSpotError("conflict", status=409), Outcome.VALIDATION),
        (ConnectionResetError(), Outcome.TRANSIENT),
    ],
)
def test_outcome_of(error: BaseException | None, outcome: Outcome) -> None:
    """Our error classes map to outcomes by class; anything unknown is transient."""
    assert outcome_of(error) is outcome


def test_ok_is_done() -> None:
    """Success removes the item."""
    assert decide(Outcome.OK, op=UP, attempt=1, now=0, jitter=0.5).kind is DecisionKind.DONE


def test_404_on_delete_is_done_but_on_upload_retries() -> None:
    """Deleting what is already gone is success; a 404 upload is retried."""
    assert decide(Outcome.NOT_FOUND, op=DEL, attempt=1, now=0, jitter=0).kind is (
        DecisionKind.DONE)
    assert decide(Outcome.NOT_FOUND, op=UP, attempt=1, now=0, jitter=0).kind is (
        DecisionKind.RETRY)


def test_validation_parks() -> None:
    """400: not retried until the content changes."""
    decision = decide(Outcome.VALIDATION, op=UP, attempt=1, now=0, jitter=0.3)
    assert decision.kind is DecisionKind.PARK
    assert decision.at is None


@pytest.mark.parametrize("outcome", [Outcome.FORBIDDEN, Outcome.AUTH])
def test_refused_key_holds_the_account(outcome: Outcome) -> None:
    """401/403 (not expiry) stops the account, not just this file."""
    assert decide(outcome, op=UP, attempt=1, now=0, jitter=0).kind is DecisionKind.HOLD_ACCOUNT


def test_rate_limited_uses_retry_after_capped() -> None:
    """429 with Retry-After waits that long (capped); without it, one window."""
    assert decide(Outcome.RATE_LIMITED, op=UP, attempt=1, now=100, retry_after=7,
                  jitter=0) == Decision(DecisionKind.RETRY, at=107, reason="rate limited")
    assert decide(Outcome.RATE_LIMITED, op=UP, attempt=1, now=100, jitter=0,
                  window_s=10).at == 110
    capped = decide(Outcome.RATE_LIMITED, op=UP, attempt=1, now=0, retry_after=3600,
                    jitter=0, cap_s=300)
    assert capped.at == 300


def test_rate_limited_jitter_spreads_a_little() -> None:
    """Jitter adds at most a second (or a tenth of the wait) to a 429 wait."""
    at = decide(Outcome.RATE_LIMITED, op=UP, attempt=1, now=0, retry_after=2, jitter=1).at
    assert at is not None
    assert 2 < at <= 2.2


def test_token_expired_retries_at_once_then_backs_off() -> None:
    """The token manager refreshed: retry now once, then like any transient failure."""
    assert decide(Outcome.TOKEN_EXPIRED, op=UP, attempt=1, now=5, jitter=0.9).at == 5
    later = decide(Outcome.TOKEN_EXPIRED, op=UP, attempt=2, now=5, jitter=0.9).at
    assert later is not None
    assert later > 5


def test_transient_backoff_grows_and_is_capped() -> None:
    """Exponential ceiling: 1, 2, 4, ... seconds, never above the cap."""
    assert [backoff_s(n, jitter=1.0) for n in range(1, 6)] == [1, 2, 4, 8, 16]
    assert backoff_s(50, jitter=1.0, cap_s=300) == 300
    assert backoff_s(10_000, jitter=1.0) == 300
    assert backoff_s(5, jitter=0.0) == 1.0


def test_jitter_out_of_range() -> None:
    """The caller's jitter must be within 0..1."""
    with pytest.raises(ValueError, match="jitter"):
        backoff_s(1, jitter=1.5)


@given(attempt=st.integers(1, 10_000), jitter=st.floats(0, 1),
       now=st.floats(0, 1e9), base=st.floats(0.1, 5), cap=st.floats(5, 600))
def test_transient_retry_is_in_the_future_within_cap(attempt: int, jitter: float, now: float,
                                                     base: float, cap: float) -> None:
    """A transient failure is always retried, at least base_s and at most cap_s later."""
    decision = decide(Outcome.TRANSIENT, op=UP, attempt=attempt, now=now, jitter=jitter,
                      base_s=base, cap_s=cap)
    assert decision.kind is DecisionKind.RETRY
    assert decision.at is not None
    assert now + base - 1e-6 <= decision.at <= now + cap + 1e-6


def test_log_level_escalates() -> None:
    """Early retries are info, then warning, then error: never silent, never spammy."""
    assert [log_level(n) for n in (1, 2, 3, 9, 10, 100)] == [
        "info", "info", "warning", "warning", "error", "error"]
    assert not should_warn(1)
    assert should_warn(3)
