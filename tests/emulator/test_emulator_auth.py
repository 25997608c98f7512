"""The key exchange, the token lookup, and bearer/portal checks on every call."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from hubsync.emulator import Emulator
from tests.emulator.emulator_wire import Wire, assert_error_shape


async def test_exchange_returns_every_contract_field(emulator: Emulator, wire: Wire) -> None:
    """A known key gets a token, its expiry, and who it belongs to (hubId, userId...)."""
    key = emulator.account("sandbox").key
    before = time.time() * 1000
    reply = await wire.exchange(key, portal_id=111)
    assert reply.status == 200
    body = reply.json()
    assert set(body) >= {"oauthAccessToken", "expiresAtMillis", "hubId", "userId", "hubName",
                         "scopeGroups", "enabledFeatures", "accountType",
                         "encodedOAuthRefreshToken"}
    assert body["hubId"] == 111
    assert body["userId"] == 9001
    assert body["hubName"] == "Sandbox"
    assert body["accountType"] == "STANDARD"
    assert isinstance(body["scopeGroups"], list)
    assert body["scopeGroups"]
    assert before + 1_790_000 < body["expiresAtMillis"] < time.time() * 1000 + 1_810_000
    assert reply.headers["X-HubSpot-Correlation-Id"]


async def test_exchange_without_portal_id_works(emulator: Emulator, wire: Wire) -> None:
    """``?portalId=`` is optional on the exchange: the key decides the portal."""
    reply = await wire.exchange(emulator.account("staging").key)
    assert reply.status == 200
    assert (reply.json()["hubId"], reply.json()["userId"]) == (222, 9002)


async def test_unknown_key_is_refused_with_401(wire: Wire) -> None:
    """An unknown key fails the exchange with a HubSpot error body saying it is invalid."""
    body = assert_error_shape(await wire.exchange("CiRnot-a-real-key"), 401,
                              "INVALID_AUTHENTICATION")
    assert "invalid or has been revoked" in body["message"]


async def test_exchange_without_key_is_a_400(wire: Wire) -> None:
    """A body without ``encodedOAuthRefreshToken`` is a 400, not a crash."""
    reply = await wire.raw("POST", "/localdevauth/v1/auth/refresh", json={"nope": 1})
    assert_error_shape(reply, 400, "VALIDATION_ERROR")


async def test_revoked_key_fails_but_issued_tokens_live_on(emulator: Emulator, wire: Wire) -> None:
    """After revoke_key the exchange fails; a token issued before still works until expiry."""
    key = emulator.account("sandbox").key
    token = await wire.token(key)
    emulator.revoke_key(key)
    assert_error_shape(await wire.exchange(key), 401, "INVALID_AUTHENTICATION")
    assert (await wire.meta(token, 111, "")).status == 200


async def test_rotate_key_revokes_the_old_one(emulator: Emulator, wire: Wire) -> None:
    """rotate_key returns a new working key and the old one is refused."""
    old = emulator.account("sandbox").key
    new = emulator.rotate_key("sandbox")
    assert new != old
    assert emulator.account("sandbox").key == new
    assert (await wire.exchange(old)).status == 401
    assert (await wire.exchange(new)).json()["userId"] == 9001


async def test_token_info_names_the_user_by_email(emulator: Emulator, wire: Wire) -> None:
    """GET /oauth/v1/access-tokens/{token} gives user (email), ids, scopes and expiry."""
    token = await wire.token(emulator.account("sandbox").key)
    reply = await wire.token_info(token)
    assert reply.status == 200
    body = reply.json()
    assert body["user"] == "jane@example.com"
    assert (body["user_id"], body["hub_id"]) == (9001, 111)
    assert body["hub_domain"]
    assert body["scopes"]
    assert 1790 <= body["expires_in"] <= 1800
    assert body["token_type"] == "access"


async def test_token_info_of_unknown_token_is_404(wire: Wire) -> None:
    """A token the emulator never issued is not found."""
    assert_error_shape(await wire.token_info("CKnothing"), 404)


async def test_expired_token_gets_expired_authentication() -> None:
    """After the TTL a token gets 401 EXPIRED_AUTHENTICATION, on files and on the lookup."""
    emu = Emulator(token_ttl_s=0.2, rate_limit=0)
    key = emu.add_account("sandbox", portal_id=111, user_id=9001).key
    async with emu, aiohttp.ClientSession() as session:
        wire = Wire(session, emu.url)
        token = await wire.token(key)
        assert (await wire.meta(token, 111, "")).status == 200
        await asyncio.sleep(0.25)
        body = assert_error_shape(await wire.meta(token, 111, ""), 401, "EXPIRED_AUTHENTICATION")
        assert "expired" in body["message"]
        assert_error_shape(await wire.token_info(token), 401, "EXPIRED_AUTHENTICATION")
        assert (await wire.exchange(key)).status == 200


async def test_expire_all_tokens_ends_every_token(emulator: Emulator, wire: Wire) -> None:
    """expire_all_tokens makes every issued token expired now; a new exchange works."""
    token = await wire.token(emulator.account("sandbox").key)
    emulator.expire_all_tokens()
    assert_error_shape(await wire.meta(token, 111, ""), 401, "EXPIRED_AUTHENTICATION")
    fresh = await wire.token(emulator.account("sandbox").key)
    assert (await wire.meta(fresh, 111, "")).status == 200


async def test_missing_or_unknown_bearer_is_401_not_expired(wire: Wire) -> None:
    """No Authorization header, or a token never issued: 401 INVALID_AUTHENTICATION."""
    assert_error_shape(await wire.meta(None, 111, ""), 401, "INVALID_AUTHENTICATION")
    assert_error_shape(await wire.meta("CKforged", 111, ""), 401, "INVALID_AUTHENTICATION")
    reply = await wire.raw("GET", "/content/filemapper/v1/meta?portalId=111",
                           headers={"Authorization": "Basic abc"})
    assert_error_shape(reply, 401, "INVALID_AUTHENTICATION")


async def test_token_of_another_portal_is_403(emulator: Emulator, wire: Wire) -> None:
    """A sandbox (111) token used with portalId=222 is forbidden, and nothing is written."""
    token = await wire.token(emulator.account("sandbox").key)
    assert_error_shape(await wire.upload(token, 222, "t/a.css", b"a{}"), 403)
    assert emulator.files(222) == {}
    assert emulator.files(111) == {}


async def test_missing_portal_id_is_a_400(emulator: Emulator, wire: Wire) -> None:
    """The contract sends portalId on every call; the emulator insists on it."""
    token = await wire.token(emulator.account("sandbox").key)
    assert_error_shape(await wire.upload(token, None, "t/a.css", b"a{}"), 400)
    assert_error_shape(await wire.upload(token, "abc", "t/a.css", b"a{}"), 400)


async def test_keys_and_tokens_stay_out_of_logs_and_reprs(emulator: Emulator, wire: Wire) -> None:
    """Neither the key nor the token shows in the request log or an account's repr."""
    account = emulator.account("sandbox")
    token = await wire.token(account.key)
    await wire.token_info(token)
    await wire.upload(token, 111, "t/a.css", b"a{}")
    control = await wire.raw("GET", "/_emulator/requests")
    accounts = await wire.raw("GET", "/_emulator/accounts")
    for text in (repr(emulator.requests), repr(account), control.body.decode(),
                 accounts.body.decode(), repr(emulator.files(111))):
        assert account.key not in text
        assert token not in text
