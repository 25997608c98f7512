"""Fixtures of the auth tests: test keyrings, a clean key environment, emulators."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import keyring
import pytest

from hubsync.emulator import Emulator
from tests.auth.hubsync_auth_testing import EmulatorFactory
from tests.auth.hubsync_test_keyrings import HangingKeyring, MemoryKeyring


@pytest.fixture(autouse=True)
def clean_key_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key leaks in from the developer's environment or a systemd unit."""
    for name in list(os.environ):
        if name.startswith("HUBSYNC_KEY_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """The process-wide keyring backend replaced by an in-memory one, then restored."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def hanging_keyring() -> Iterator[HangingKeyring]:
    """A keyring whose every call hangs until the test ends."""
    previous = keyring.get_keyring()
    backend = HangingKeyring()
    HangingKeyring.release.clear()
    keyring.set_keyring(backend)
    yield backend
    HangingKeyring.release.set()
    keyring.set_keyring(previous)


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
