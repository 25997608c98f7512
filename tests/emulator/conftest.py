"""Fixtures of the emulator tests: an HTTP session and the contract-level client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from hubsync.emulator import Emulator
from tests.emulator.emulator_wire import Wire


@pytest.fixture
async def wire(emulator: Emulator) -> AsyncIterator[Wire]:
    """Plain aiohttp requests against the shared ``emulator`` fixture."""
    async with aiohttp.ClientSession() as session:
        yield Wire(session, emulator.url)
