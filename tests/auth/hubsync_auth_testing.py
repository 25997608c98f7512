"""Helpers shared by the auth tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from hubsync.config import Account
from hubsync.credentials import KeySource
from hubsync.emulator import Emulator
from hubsync.errors import KeyNotFound

SANDBOX = Account(name="sandbox", portal_id=111)
STAGING = Account(name="staging", portal_id=222)

EmulatorFactory = Callable[..., Awaitable[Emulator]]
"""``await make_emulator(token_ttl_s=...)`` -> a started Emulator with two accounts."""


def emulator_keys(emu: Emulator) -> Callable[[str], Awaitable[tuple[str, KeySource]]]:
    """A key lookup that always reads the emulator's current key (follows rotation)."""

    async def lookup(account: str) -> tuple[str, KeySource]:
        if account not in emu.accounts:
            raise KeyNotFound(f"no key for {account!r}")
        return emu.accounts[account].key, KeySource.ENV

    return lookup
