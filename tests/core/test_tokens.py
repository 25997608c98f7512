"""The pure token decision machine: table tests and properties on a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubsync.core import tokens
from hubsync.core.tokens import Action, Decision, TokenState
from hubsync.model import AuthState

T0 = 1_000_000.0
HOUR = 3600.0
OFFLINE_NO_TOKEN = TokenState(AuthState.OFFLINE, failures=2, retry_at=T0 + 4)


def ok(issued: float, expires: float) -> TokenState:
    return TokenState(auth=AuthState.OK, issued_at=issued, expires_at=expires)


@pytest.mark.parametrize(
    ("state", "now", "expected"),
    [
        # nothing cached yet
        (TokenState(), T0, Decision(Action.REFRESH)),
        # a one-hour token: used until 5 minutes before expiry, then refreshed
        (ok(T0, T0 + HOUR), T0, Decision(Action.USE)),
        (ok(T0, T0 + HOUR), T0 + HOUR - 301, Decision(Action.USE)),
        (ok(T0, T0 + HOUR), T0 + HOUR - 300, Decision(Action.REFRESH)),
        (ok(T0, T0 + HOUR), T0 + HOUR + 1, Decision(Action.REFRESH)),
        # a 10-second token: refreshed when a fifth (2 s) is left, not 5 minutes ahead
        (ok(T0, T0 + 10), T0 + 7.9, Decision(Action.USE)),
        (ok(T0, T0 + 10), T0 + 8.0, Decision(Action.REFRESH)),
        # exchange in flight: a valid token is still used, otherwise callers join it
        (TokenState(AuthState.REFRESHING, T0, T0 + HOUR), T0 + HOUR - 10, Decision(Action.USE)),
        (TokenState(AuthState.REFRESHING), T0, Decision(Action.JOIN)),
        # offline: the old token carries on while valid; without one, wait for retry_at
        (TokenState(AuthState.OFFLINE, T0, T0 + HOUR, failures=1, retry_at=T0 + HOUR - 100),
         T0 + HOUR - 200, Decision(Action.USE)),
        (OFFLINE_NO_TOKEN, T0, Decision(Action.WAIT, T0 + 4)),
        (OFFLINE_NO_TOKEN, T0 + 4, Decision(Action.REFRESH)),
        # held states never refresh by themselves
        (TokenState(AuthState.UNAUTHORIZED), T0, Decision(Action.HOLD)),
        (TokenState(AuthState.NO_KEY), T0, Decision(Action.HOLD)),
    ],
)
def test_decide_table(state: TokenState, now: float, expected: Decision) -> None:
    """Each (state, now) gives the documented action."""
    assert tokens.decide(state, now) == expected


@pytest.mark.parametrize(
    ("issued", "expires", "due"),
    [
        (0.0, 3600.0, 3300.0),  # long TTL: 5 minutes ahead
        (0.0, 1500.0, 1200.0),  # exactly 25 minutes: both rules agree
        (0.0, 600.0, 480.0),  # short TTL: a fifth of the lifetime
        (0.0, 2.0, 1.6),
        (10.0, 5.0, 5.0),  # nonsense (expiry before issue): due at once
    ],
)
def test_refresh_due_at(issued: float, expires: float, due: float) -> None:
    """Refresh is due 5 minutes before expiry, or at 4/5 of a short lifetime."""
    assert tokens.refresh_due_at(issued, expires) == pytest.approx(due)


@pytest.mark.parametrize(
    ("failures", "jitter", "delay"),
    [(1, 0.0, 0.5), (1, 1.0, 1.0), (2, 0.5, 1.5), (4, 1.0, 8.0),
     (20, 0.0, 150.0), (20, 1.0, 300.0)],
)
def test_backoff_delay_table(failures: int, jitter: float, delay: float) -> None:
    """Backoff doubles per failure, half fixed and half jitter, capped at 5 minutes."""
    assert tokens.backoff_delay(failures, jitter) == pytest.approx(delay)


def test_event_transitions() -> None:
    """The event functions produce the states the manager relies on."""
    started = tokens.exchange_started(TokenState())
    assert started.auth is AuthState.REFRESHING
    good = tokens.exchange_succeeded(started, T0, T0 + HOUR)
    assert good == TokenState(AuthState.OK, T0, T0 + HOUR)
    offline = tokens.exchange_failed_transient(tokens.exchange_started(good), T0 + 3400, 0.0)
    assert offline.auth is AuthState.OFFLINE
    assert offline.expires_at == T0 + HOUR  # the old token is kept
    assert offline.retry_at == T0 + 3400 + 0.5
    assert tokens.exchange_failed_transient(offline, T0 + 3401, 0.0).failures == 2
    assert tokens.exchange_rejected(good) == TokenState(AuthState.UNAUTHORIZED)
    expired = tokens.token_expired(good)
    assert expired.expires_at is None
    assert tokens.decide(expired, T0 + 1) == Decision(Action.REFRESH)
    assert tokens.token_expired(TokenState(AuthState.UNAUTHORIZED)).auth is AuthState.UNAUTHORIZED
    assert tokens.key_missing(good) == TokenState(AuthState.NO_KEY)
    assert tokens.key_changed(TokenState(AuthState.UNAUTHORIZED)) == TokenState()


def test_token_expired_while_offline_forces_one_exchange() -> None:
    """A 401 expired while backing off clears the backoff: one exchange is allowed now."""
    offline = TokenState(AuthState.OFFLINE, T0, T0 + 100, failures=3, retry_at=T0 + 50)
    after = tokens.token_expired(offline)
    assert tokens.decide(after, T0 + 1) == Decision(Action.REFRESH)


# --- properties: drive the machine with a fake clock and a fake server ----------------------

events = st.lists(
    st.tuples(
        st.sampled_from(["succeed", "transient", "reject", "expired", "key_changed", "missing"]),
        st.floats(min_value=0.0, max_value=400.0),  # time passing before the event
        st.floats(min_value=0.0, max_value=1.0),  # jitter
        st.floats(min_value=1.0, max_value=7200.0),  # TTL of a granted token
    ),
    max_size=40,
)


def _apply(state: TokenState, event: str, now: float, jitter: float, ttl: float) -> TokenState:
    if event == "succeed":
        return tokens.exchange_succeeded(tokens.exchange_started(state), now, now + ttl)
    if event == "transient":
        return tokens.exchange_failed_transient(tokens.exchange_started(state), now, jitter)
    if event == "reject":
        return tokens.exchange_rejected(state)
    if event == "expired":
        return tokens.token_expired(state)
    if event == "key_changed":
        return tokens.key_changed(state)
    return tokens.key_missing(state)


@settings(max_examples=300, deadline=None)
@given(events)
def test_never_use_an_expired_token(history: list[tuple[str, float, float, float]]) -> None:
    """Whatever happened, USE is only ever decided while the cached token is unexpired."""
    state, now = TokenState(), T0
    for event, elapsed, jitter, ttl in history:
        now += elapsed
        state = _apply(state, event, now, jitter, ttl)
        for probe in (now, now + elapsed / 2, now + elapsed):
            decision = tokens.decide(state, probe)
            if decision.action is Action.USE:
                assert state.expires_at is not None
                assert probe < state.expires_at


@settings(max_examples=300, deadline=None)
@given(events)
def test_held_states_only_leave_on_key_or_success(
    history: list[tuple[str, float, float, float]],
) -> None:
    """UNAUTHORIZED and NO_KEY hold at every later time until a key change or a success."""
    state, now = TokenState(), T0
    for event, elapsed, jitter, ttl in history:
        before = state
        now += elapsed
        state = _apply(state, event, now, jitter, ttl)
        if before.auth in (AuthState.UNAUTHORIZED, AuthState.NO_KEY) and event == "expired":
            assert state == before
        if state.auth in (AuthState.UNAUTHORIZED, AuthState.NO_KEY):
            assert tokens.decide(state, now + 10 * HOUR).action is Action.HOLD


@settings(max_examples=200, deadline=None)
@given(
    failures=st.integers(min_value=1, max_value=10_000),
    jitter=st.floats(min_value=0.0, max_value=1.0),
)
def test_backoff_is_bounded_and_positive(failures: int, jitter: float) -> None:
    """Backoff never retries at once and never waits more than the cap."""
    delay = tokens.backoff_delay(failures, jitter)
    assert 0.5 <= delay <= tokens.BACKOFF_CAP_S


@settings(max_examples=200, deadline=None)
@given(
    ttl=st.floats(min_value=0.5, max_value=86_400.0),
    offsets=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=20),
)
def test_fresh_token_is_refreshed_before_expiry(ttl: float, offsets: list[float]) -> None:
    """A fresh token of any TTL is due for refresh strictly before it expires, never before 4/5."""
    state = tokens.exchange_succeeded(TokenState(), T0, T0 + ttl)
    due = tokens.refresh_due_at(T0, T0 + ttl)
    assert T0 + 0.8 * ttl - 1e-6 <= due < T0 + ttl
    for fraction in offsets:
        probe = T0 + fraction * ttl
        expected = Action.REFRESH if probe >= due else Action.USE
        assert tokens.decide(state, probe).action is expected


@settings(max_examples=200, deadline=None)
@given(
    failures=st.integers(min_value=0, max_value=50),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    wait=st.floats(min_value=0.0, max_value=1000.0),
)
def test_offline_without_token_waits_until_retry(failures: int, jitter: float, wait: float) -> None:
    """Offline with nothing cached: WAIT before retry_at, REFRESH from retry_at on."""
    state = tokens.exchange_failed_transient(
        TokenState(AuthState.REFRESHING, failures=failures), T0, jitter
    )
    assert state.retry_at is not None
    probe = T0 + wait
    expected = Action.REFRESH if probe >= state.retry_at else Action.WAIT
    assert tokens.decide(state, probe).action is expected
