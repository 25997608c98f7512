"""One ``RemoteSide`` per implementation of ``ports.RemoteApi``: the in-memory twin, and the
real ``HubSpotClient`` over HTTP against the emulator with each API flavour.

The contract tests take the ``remote`` fixture and never ask which one they got: every
difference that matters to them lives here, in how a side is driven (expiring tokens,
starting a 429 storm) and read (its stored tree), never in what the API answers.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from hubsync.emulator import Emulator, StoredFile
from hubsync.hubspot import TRANSPORT_FILEMAPPER, TRANSPORT_SOURCE_CODE, HubSpotClient
from hubsync.ports import RemoteApi
from hubsync.testing import FakeClock, MemoryApi

PORTAL = 111
OTHER_PORTAL = 222
USER = 9001
OTHER_USER = 9002
TOKEN_TTL_S = 1800.0


@dataclass
class RemoteSide:
    """A ``RemoteApi`` bound to portal 111, and the hooks to drive and read its HubSpot."""

    name: str
    api: RemoteApi
    key: str
    """A key of user 9001 in portal 111."""
    other_key: str
    """A key of user 9002 in portal 222."""
    now: Callable[[], float]
    """The clock the side's tokens expire by (epoch seconds)."""
    files: Callable[..., dict[str, StoredFile]]
    """``files(environment="published")``: portal 111's stored files."""
    folders: Callable[[], list[str]]
    expire_tokens: Callable[[], None]
    revoke: Callable[[str], None]
    storm: Callable[[float], None]
    """Answer every API call 429 with ``Retry-After: <seconds>`` until ``calm()``."""
    server_errors: Callable[[], None]
    """Answer every API call with a 5xx until ``calm()``."""
    calm: Callable[[], None]

    def tree(self, environment: str = "published") -> dict[str, bytes]:
        """remote path -> stored bytes."""
        return {path: f.content for path, f in self.files(environment).items()}


def _memory_side() -> RemoteSide:
    clock = FakeClock()
    api = MemoryApi(PORTAL, clock=clock, token_ttl_s=TOKEN_TTL_S)
    key = api.add_user(PORTAL, USER, hub_name="Sandbox")
    other = api.add_user(OTHER_PORTAL, OTHER_USER, hub_name="Staging")

    def storm(retry_after: float) -> None:
        api.fail_next(1_000_000, 429, retry_after=retry_after)

    def server_errors() -> None:
        api.fail_next(1_000_000, 503)

    return RemoteSide(
        name="memory", api=api, key=key, other_key=other, now=clock.time,
        files=api.files, folders=api.folders, expire_tokens=api.expire_all_tokens,
        revoke=api.revoke, storm=storm,
        server_errors=server_errors,
        calm=api.clear_faults,
    )


async def _emulator_side(transport: str) -> AsyncIterator[RemoteSide]:
    async with Emulator(rate_limit=0, token_ttl_s=TOKEN_TTL_S) as emu:
        mine = emu.add_account("sandbox", portal_id=PORTAL, user_id=USER, hub_name="Sandbox")
        other = emu.add_account("staging", portal_id=OTHER_PORTAL, user_id=OTHER_USER)
        async with HubSpotClient(emu.url, PORTAL, transport=transport) as client:
            yield RemoteSide(
                name=f"emulator-{transport}", api=client, key=mine.key, other_key=other.key,
                now=time.time,
                files=lambda environment="published": emu.files(PORTAL, environment),
                folders=lambda: emu.folders(PORTAL),
                expire_tokens=emu.expire_all_tokens, revoke=emu.revoke_key,
                storm=lambda s: emu.set_faults(storm_seconds=3600, retry_after=s),
                server_errors=lambda: emu.set_faults(error_rate=1.0),
                calm=emu.set_faults,
            )


@pytest.fixture(params=["memory", TRANSPORT_FILEMAPPER, TRANSPORT_SOURCE_CODE])
async def remote(request: pytest.FixtureRequest) -> AsyncIterator[RemoteSide]:
    """Each ``RemoteApi`` in turn: ``MemoryApi``, then ``HubSpotClient`` on the emulator
    over filemapper and over the Source Code API."""
    if request.param == "memory":
        yield _memory_side()
        return
    async for side in _emulator_side(request.param):
        yield side
