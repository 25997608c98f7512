"""Rate limiting per portal, and every injected fault."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from hubsync.emulator import Emulator, Endpoint
from tests.emulator.emulator_wire import Wire, assert_error_shape

RATE_HEADERS = ("X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining",
                "X-HubSpot-RateLimit-Interval-Milliseconds")


@pytest.fixture
async def limited() -> AsyncIterator[tuple[Emulator, Wire]]:
    """An emulator allowing 3 calls per portal per 400 ms, with the two usual accounts."""
    emu = Emulator(rate_limit=3, rate_window_ms=400)
    emu.add_account("sandbox", portal_id=111, user_id=9001)
    emu.add_account("staging", portal_id=222, user_id=9002)
    async with emu, aiohttp.ClientSession() as session:
        yield emu, Wire(session, emu.url)


async def test_headers_count_down_then_429(limited: tuple[Emulator, Wire]) -> None:
    """Each call shows Max/Remaining/Interval; the 4th in the window gets HubSpot's 429."""
    emu, wire = limited
    token = await wire.token(emu.account("sandbox").key)
    remaining = []
    for _ in range(3):
        reply = await wire.meta(token, 111, "")
        assert reply.status == 404 or reply.status == 200
        assert reply.headers["X-HubSpot-RateLimit-Max"] == "3"
        assert reply.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "400"
        remaining.append(int(reply.headers["X-HubSpot-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    body = assert_error_shape(await wire.meta(token, 111, ""), 429, "RATE_LIMITS")
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "ROLLING_400_MS"
    assert body["message"] == "You have reached your rolling_400_ms limit."
    assert emu.requests[-1].status == 429


async def test_window_rolls_and_portals_are_separate(limited: tuple[Emulator, Wire]) -> None:
    """Another portal has its own budget; after the window the first portal may call again."""
    emu, wire = limited
    first = await wire.token(emu.account("sandbox").key)
    other = await wire.token(emu.account("staging").key)
    for _ in range(3):
        await wire.meta(first, 111, "")
    assert (await wire.meta(first, 111, "")).status == 429
    assert (await wire.meta(other, 222, "")).status != 429
    await asyncio.sleep(0.45)
    assert (await wire.meta(first, 111, "")).status != 429


async def test_default_policy_is_ten_secondly_rolling() -> None:
    """The default limit is 100 per 10 s, named like HubSpot's TEN_SECONDLY_ROLLING."""
    emu = Emulator()
    key = emu.add_account("sandbox", portal_id=111, user_id=9001).key
    emu.set_rate_limit(1)
    async with emu, aiohttp.ClientSession() as session:
        wire = Wire(session, emu.url)
        token = await wire.token(key)
        first = await wire.meta(token, 111, "")
        assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        body = assert_error_shape(await wire.meta(token, 111, ""), 429)
        assert body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert Emulator().rate_limit == (100, 10_000)


async def test_no_rate_headers_when_limiting_is_off(emulator: Emulator, wire: Wire) -> None:
    """With rate_limit=0 nothing is limited and no misleading Max=0 header is sent."""
    token = await wire.token(emulator.account("sandbox").key)
    replies = [await wire.meta(token, 111, "") for _ in range(20)]
    assert all(r.status == 200 for r in replies)
    assert not any(h in replies[-1].headers for h in RATE_HEADERS)
    emulator.set_rate_limit(5, 1000)
    assert (await wire.meta(token, 111, "")).headers["X-HubSpot-RateLimit-Remaining"] == "4"


async def test_latency_delays_responses(emulator: Emulator, wire: Wire) -> None:
    """latency_ms holds every API response at least that long."""
    token = await wire.token(emulator.account("sandbox").key)
    emulator.set_faults(latency_ms=150)
    started = time.monotonic()
    assert (await wire.meta(token, 111, "")).status == 200
    assert time.monotonic() - started >= 0.15


async def test_error_rate_one_gives_5xx_and_stores_nothing(emulator: Emulator,
                                                           wire: Wire) -> None:
    """error_rate=1 answers every call with a JSON 5xx and applies nothing."""
    token = await wire.token(emulator.account("sandbox").key)
    emulator.set_faults(error_rate=1.0)
    statuses = set()
    for _ in range(12):
        reply = await wire.upload(token, 111, "t/a.css", b"a{}")
        assert_error_shape(reply, reply.status)
        statuses.add(reply.status)
    assert statuses <= {500, 502, 503, 504}
    assert len(statuses) > 1
    assert emulator.files(111) == {}


async def test_drop_rate_one_closes_without_response(emulator: Emulator, wire: Wire) -> None:
    """drop_rate=1 closes the connection: the client sees a disconnect, nothing is stored,
    and the log records status 0."""
    token = await wire.token(emulator.account("sandbox").key)
    emulator.set_faults(drop_rate=1.0)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await wire.upload(token, 111, "t/a.css", b"a{}")
    assert emulator.files(111) == {}
    assert emulator.requests[-1].status == 0
    assert emulator.requests[-1].endpoint == Endpoint.UPLOAD
    emulator.set_faults()
    assert (await wire.upload(token, 111, "t/a.css", b"a{}")).status == 200


async def test_storm_429s_everything_then_ends(emulator: Emulator, wire: Wire) -> None:
    """A storm 429s every API call, the exchange included, with Retry-After when asked."""
    key = emulator.account("sandbox").key
    token = await wire.token(key)
    emulator.set_faults(storm_seconds=0.4, retry_after=1.5)
    reply = await wire.exchange(key)
    assert_error_shape(reply, 429)
    assert reply.headers["Retry-After"] == "2"
    assert (await wire.meta(token, 111, "")).status == 429
    emulator.set_faults(storm_seconds=0.3)
    without = await wire.meta(token, 111, "")
    assert without.status == 429
    assert "Retry-After" not in without.headers
    await asyncio.sleep(0.35)
    assert (await wire.meta(token, 111, "")).status == 200


async def test_faults_at_construction_and_seeded_dice() -> None:
    """Faults can be set at construction; the same seed gives the same fault sequence."""

    async def statuses(seed: int) -> list[int]:
        emu = Emulator(rate_limit=0, seed=seed, error_rate=0.5)
        key = emu.add_account("sandbox", portal_id=111, user_id=9001).key
        emu.set_faults()
        async with emu, aiohttp.ClientSession() as session:
            wire = Wire(session, emu.url)
            token = await wire.token(key)
            emu.set_faults(error_rate=0.5)
            return [(await wire.meta(token, 111, "")).status for _ in range(16)]

    assert Emulator(error_rate=0.5).faults.error_rate == 0.5
    first, again = await statuses(7), await statuses(7)
    assert first == again
    assert 200 in first
    assert any(status >= 500 for status in first)


def test_fault_values_are_validated() -> None:
    """Rates outside 0..1 and negative durations are refused."""
    emu = Emulator()
    with pytest.raises(ValueError, match="error_rate"):
        emu.set_faults(error_rate=1.5)
    with pytest.raises(ValueError, match="latency_ms"):
        emu.set_faults(latency_ms=-1)
