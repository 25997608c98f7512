"""The token manager against the emulator over real HTTP: refresh, single flight, holds."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
import structlog

from hubsync.auth import TokenManager
from hubsync.config import Account
from hubsync.credentials import KeySource
from hubsync.emulator import Emulator
from hubsync.emulator.server import Endpoint
from hubsync.errors import KeyNotFound, KeyRejected, PortalMismatch, TransientError
from hubsync.hubspot import HubSpotClient
from hubsync.model import AccessToken, AuthState
from tests.auth.hubsync_auth_testing import SANDBOX, STAGING, EmulatorFactory, emulator_keys


def exchanges(emu: Emulator, portal_id: int | None = None) -> int:
    """How many key exchanges the emulator answered (for one portal, if given)."""
    return sum(1 for r in emu.requests if r.endpoint is Endpoint.AUTH
               and (portal_id is None or r.portal_id == portal_id))


def state_of(tm: TokenManager) -> AuthState:
    """The state now (a call, so mypy does not carry a narrowed value across awaits)."""
    return tm.state


def hs(tm: TokenManager) -> HubSpotClient:
    """The manager's client as the HubSpot client it is (the manager only needs the port)."""
    assert isinstance(tm.client, HubSpotClient)
    return tm.client


def manager(emu: Emulator, account: Account, **kwargs: object) -> TokenManager:
    return TokenManager(account, HubSpotClient(emu.url, account.portal_id),
                        key_lookup=emulator_keys(emu), **kwargs)  # type: ignore[arg-type]


async def test_first_token_and_identity(make_emulator: EmulatorFactory) -> None:
    """The first token() exchanges once and records who the key is, email included."""
    emu = await make_emulator()
    tm = manager(emu, SANDBOX)
    async with hs(tm):
        assert state_of(tm) is AuthState.UNKNOWN
        token = await tm.token()
        assert await tm.token() is token
    assert state_of(tm) is AuthState.OK
    assert tm.identity is not None
    assert (tm.identity.hub_id, tm.identity.user_id) == (111, 9001)
    assert tm.identity.email == "jane@example.com"
    assert tm.identity.hub_name == "Sandbox Hub"
    assert tm.token_expires_at == token.expires_at
    assert tm.key_source is KeySource.ENV
    assert exchanges(emu) == 1


async def test_concurrent_callers_share_one_exchange(make_emulator: EmulatorFactory) -> None:
    """Many callers at once, and again after every token expired: one exchange each time."""
    emu = await make_emulator()
    tm = manager(emu, SANDBOX)
    async with hs(tm):
        tokens = await asyncio.gather(*(tm.token() for _ in range(25)))
        assert len({t.value for t in tokens}) == 1
        assert exchanges(emu) == 1
        emu.expire_all_tokens()
        results = await asyncio.gather(
            *(tm.call(lambda t: hs(tm).meta(t, "")) for _ in range(25)))
    assert len(results) == 25
    assert exchanges(emu) == 2


async def test_token_expiring_every_two_seconds_never_fails_a_request(
    make_emulator: EmulatorFactory,
) -> None:
    """Tokens living 2 s, 200 requests over ~5 s from 8 workers: every request succeeds."""
    emu = await make_emulator(token_ttl_s=2.0)
    tm = manager(emu, SANDBOX)
    done: list[int] = []

    async def worker(worker_id: int) -> None:
        for _ in range(25):
            meta = await tm.call(lambda t: hs(tm).meta(t, ""))
            assert isinstance(meta, dict)
            done.append(worker_id)
            await asyncio.sleep(0.2)

    async with hs(tm):
        await asyncio.gather(*(worker(i) for i in range(8)))
    assert len(done) == 200
    failed = [r for r in emu.requests if r.endpoint is Endpoint.META and r.status != 200]
    # A request may still meet a token expiring in flight; call() absorbed those, and
    # refresh-ahead kept them rare.
    assert len(failed) <= 8
    assert exchanges(emu) >= 3
    assert state_of(tm) is AuthState.OK


async def test_revoked_key_holds_one_account_only(make_emulator: EmulatorFactory) -> None:
    """A revoked key makes that account unauthorized; the other goes on; rotation heals it."""
    emu = await make_emulator()
    sandbox, staging = manager(emu, SANDBOX), manager(emu, STAGING)
    async with hs(sandbox), hs(staging):
        await sandbox.token()
        await staging.token()
        emu.revoke_key(emu.accounts["sandbox"].key)
        emu.expire_all_tokens()

        with pytest.raises(KeyRejected) as caught:
            await sandbox.call(lambda t: hs(sandbox).meta(t, ""))
        assert "hubsync auth add sandbox --portal 111" in str(caught.value)
        assert "revoked" in str(caught.value)
        assert state_of(sandbox) is AuthState.UNAUTHORIZED
        assert await staging.call(lambda t: hs(staging).meta(t, "")) is not None
        assert state_of(staging) is AuthState.OK

        # Held: no new exchange is attempted with the refused key, however often asked.
        before = exchanges(emu, 111)
        for _ in range(5):
            with pytest.raises(KeyRejected):
                await sandbox.token()
        assert exchanges(emu, 111) == before
        assert await sandbox.recheck() is AuthState.UNAUTHORIZED  # same key: still held

        emu.rotate_key("sandbox")
        assert await sandbox.recheck() is AuthState.OK
        assert await sandbox.call(lambda t: hs(sandbox).meta(t, "")) is not None
    assert sandbox.last_error is None


async def test_portal_mismatch_is_held(make_emulator: EmulatorFactory) -> None:
    """A key whose hubId differs from the configured portal raises PortalMismatch and holds."""
    emu = await make_emulator()
    wrong = Account(name="sandbox", portal_id=999)
    tm = manager(emu, wrong)
    async with hs(tm):
        with pytest.raises(PortalMismatch, match="belongs to portal 111"):
            await tm.token()
    assert state_of(tm) is AuthState.UNAUTHORIZED


async def test_network_errors_are_offline_not_rejection(make_emulator: EmulatorFactory) -> None:
    """5xx during refresh: OFFLINE with backoff, the old token is used while it lasts."""
    emu = await make_emulator()
    offset = [0.0]
    tm = manager(emu, SANDBOX, clock=lambda: time.time() + offset[0], jitter=lambda: 0.0)
    async with hs(tm):
        first = await tm.token()
        emu.set_faults(error_rate=1.0)
        offset[0] = 1800 - 200  # inside the refresh window, token still valid
        assert await tm.token() is first
        assert state_of(tm) is AuthState.OFFLINE
        assert tm.last_error is not None
        offset[0] = 1800 + 1  # expired, and backing off
        with pytest.raises(TransientError, match="cannot reach HubSpot"):
            await tm.token()
        assert state_of(tm) is AuthState.OFFLINE
        emu.set_faults()
        offset[0] = 1800 + 400  # past any backoff
        fresh = await tm.token()
    assert fresh.value != first.value
    assert state_of(tm) is AuthState.OK


async def test_no_key_then_key_appears(make_emulator: EmulatorFactory) -> None:
    """Without a key: KeyNotFound and NO_KEY; recheck after the key appears resumes."""
    emu = await make_emulator()
    available: dict[str, str] = {}

    async def lookup(account: str) -> tuple[str, KeySource]:
        if account not in available:
            raise KeyNotFound(f"no key for account {account!r}")
        return available[account], KeySource.KEYRING

    tm = TokenManager(SANDBOX, HubSpotClient(emu.url, 111), key_lookup=lookup)
    async with hs(tm):
        with pytest.raises(KeyNotFound):
            await tm.token()
        assert state_of(tm) is AuthState.NO_KEY
        available["sandbox"] = emu.accounts["sandbox"].key
        assert await tm.recheck() is AuthState.OK
        assert isinstance(await tm.token(), AccessToken)


async def test_cancelled_caller_does_not_cancel_shared_exchange(
    make_emulator: EmulatorFactory,
) -> None:
    """One waiter cancelled mid-exchange: the others still get the token from that exchange."""
    emu = await make_emulator()
    emu.set_faults(latency_ms=200)
    tm = manager(emu, SANDBOX)
    async with hs(tm):
        doomed = asyncio.create_task(tm.token())
        survivor = asyncio.create_task(tm.token())
        await asyncio.sleep(0.05)
        doomed.cancel()
        token = await survivor
        assert doomed.cancelled()
        assert token.value
    assert exchanges(emu) == 1


async def test_manager_never_logs_secrets(
    make_emulator: EmulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """auth_ok, token_refreshed, auth_failed events carry ids, never the key or a token."""
    emu = await make_emulator(token_ttl_s=1.0)
    key = emu.accounts["sandbox"].key
    caplog.set_level(logging.DEBUG)
    seen_tokens: list[str] = []
    tm = manager(emu, SANDBOX)
    with structlog.testing.capture_logs() as events:
        async with hs(tm):
            seen_tokens.append((await tm.token()).value)
            await asyncio.sleep(0.9)
            seen_tokens.append((await tm.token()).value)
            emu.revoke_key(key)
            emu.expire_all_tokens()
            with pytest.raises(KeyRejected) as caught:
                await tm.call(lambda t: hs(tm).meta(t, ""))
    names = [e["event"] for e in events]
    assert names[:2] == ["auth_ok", "token_refreshed"]
    assert "auth_failed" in names
    assert all(e.get("account") == "sandbox" for e in events)
    assert events[0]["user_id"] == 9001
    everything = repr(events) + caplog.text + str(caught.value) + repr(tm.__dict__)
    assert key not in everything.replace(repr(tm._key), "")  # the manager's own field
    for value in seen_tokens:
        assert value not in repr(events) + caplog.text + str(caught.value)


async def test_token_is_checked_when_sent_not_when_fetched(
        make_emulator: EmulatorFactory, tmp_path: Path) -> None:
    """A send that waits (a barrier here; a pacer, a full pool or SIGSTOP in life) past the
    token's expiry after call() handed it over never sends it: the stale token is caught
    when the request is built, refreshed once, and the emulator never sees an expired one."""
    emu = await make_emulator(token_ttl_s=2.0)
    tm = manager(emu, SANDBOX)
    page = tmp_path / "page.html"
    page.write_text("<p>hi</p>")
    waited: list[float] = []

    async def send(token: AccessToken) -> object:
        if not waited:
            # The first attempt stalls until its token is past expiry by our clock.
            await asyncio.sleep(max(0.0, token.expires_at + 0.2 - time.time()))
            waited.append(time.time())
        return await hs(tm).upload(token, "theme/page.html", page, publish=True)

    async with hs(tm):
        await tm.call(send)
    assert waited, "the first attempt really waited past expiry"
    uploads = [r.status for r in emu.requests if r.endpoint is Endpoint.UPLOAD]
    assert uploads == [200]  # one upload, sent once, with a fresh token
    assert all(r.status != 401 for r in emu.requests)
    assert exchanges(emu) == 2
    assert emu.files(111)["theme/page.html"].content == b"<p>hi</p>"


async def test_checked_token_is_redacted_and_keeps_its_expiry(
        make_emulator: EmulatorFactory) -> None:
    """The token handed to a send prints no secret and reports the real expiry."""
    emu = await make_emulator()
    tm = manager(emu, SANDBOX)
    seen: list[AccessToken] = []

    async def send(token: AccessToken) -> None:
        seen.append(token)

    async with hs(tm):
        await tm.call(send)
        raw = await tm.token()
    (token,) = seen
    assert raw.value not in repr(token)
    assert raw.value not in str(token)
    assert token.expires_at == raw.expires_at
    assert token.value == raw.value
