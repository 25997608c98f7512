"""The teams tests' emulator: one portal (333) with two users' keys, Ann and Bob."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hubsync.emulator import Emulator, EmulatorThread
from tests.teams.teams_helpers import PORTAL, USERS


@pytest.fixture
def team() -> Iterator[EmulatorThread]:
    """An emulator thread whose portal 333 has the accounts ``ann`` and ``bob``."""
    emulator = Emulator(rate_limit=0)
    for name, user_id in USERS.items():
        emulator.add_account(name, portal_id=PORTAL, user_id=user_id,
                             email=f"{name}@example.com", hub_name="Team")
    with EmulatorThread(emulator) as emu:
        yield emu
