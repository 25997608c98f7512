"""Fixtures of the auth tests: test keyrings, a clean key environment, emulators."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from hubsync.emulator import Emulator
from tests.auth.hubsync_auth_testing import EmulatorFactory
from tests.support.keyrings import HangingKeyring, keyring_backend, without_keys


@pytest.fixture(autouse=True)
def clean_key_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key leaks in from the developer's environment or a systemd unit."""
    without_keys(monkeypatch)


@pytest.fixture
def hanging_keyring() -> Iterator[HangingKeyring]:
    """A keyring whose every call hangs until the test ends."""
    HangingKeyring.release.clear()
    with keyring_backend(HangingKeyring()) as backend:
        yield backend
        HangingKeyring.release.set()


@pytest.fixture
async def make_emulator() -> AsyncIterator[EmulatorFactory]:
    """Start emulators with accounts sandbox (portal 111) and staging (222), no rate limit."""
    started: list[Emulator] = []

    async def make(token_ttl_s: float = 1800.0) -> Emulator:
        emu = Emulator(token_ttl_s=token_ttl_s, rate_limit=0)
        emu.add_account("sandbox", portal_id=111, user_id=9001, email="jane@example.com",
                        hub_name="Sandbox Hub")
        emu.add_account("staging", portal_id=222, user_id=9002, email="joe@example.com",
                        hub_name="Staging Hub")
        await emu.start()
        started.append(emu)
        return emu

    yield make
    for emu in started:
        await emu.stop()
