"""Fixtures shared by every test folder: a running emulator with two accounts, and an
in-memory keyring.

``sandbox``: portal 111, user 9001, jane@example.com.
``staging``: portal 222, user 9002, joe@example.com.
Rate limiting is off (``rate_limit=0``) so tests that do not test it are not paced.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import HealthCheck, settings

from hubsync.emulator import Emulator, EmulatorThread
from tests.support.keyrings import MemoryKeyring, keyring_backend

# Hypothesis: no per-example deadline. On a cold run (imports, first compile) or a busy
# shared machine one example can take far over the default 200 ms, which failed
# tests/core/test_core_ordering.py with DeadlineExceeded; a deadline measures the
# machine, not the property. "ci" (chosen when CI is set) also derandomizes, so a CI run
# is reproducible, and prints the blob to reproduce a failure.
settings.register_profile("dev", deadline=None)
settings.register_profile(
    "ci", deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or (
    "ci" if os.environ.get("CI") else "dev"))


def _two_accounts(emulator: Emulator) -> Emulator:
    emulator.add_account("sandbox", portal_id=111, user_id=9001, email="jane@example.com",
                         hub_name="Sandbox")
    emulator.add_account("staging", portal_id=222, user_id=9002, email="joe@example.com",
                         hub_name="Staging")
    return emulator


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A started ``Emulator`` on 127.0.0.1 (port 0) in the test's loop."""
    async with _two_accounts(Emulator(rate_limit=0)) as emu:
        yield emu


@pytest.fixture
def emulator_thread() -> Iterator[EmulatorThread]:
    """The same emulator, served from its own thread, for sync tests and subprocesses."""
    with EmulatorThread(_two_accounts(Emulator(rate_limit=0))) as emu:
        yield emu


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """keyring's process-wide backend replaced by an empty in-memory one, then restored."""
    with keyring_backend(MemoryKeyring()) as backend:
        yield backend
