"""Fixtures of the emulator tests: an HTTP session and the contract-level client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from emulator_wire import Wire

from hubsync.emulator import Emulator


@pytest.fixture
async def wire(emulator: Emulator) -> AsyncIterator[Wire]:
    """Plain aiohttp requests against the shared ``emulator`` fixture."""
    async with aiohttp.ClientSession() as session:
        yield Wire(session, emulator.url)
