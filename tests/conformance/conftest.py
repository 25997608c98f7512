"""Fixtures of the ``hs`` conformance suite: one https emulator and one signed-in ``hs`` home
per test module (``hs account auth`` alone takes several seconds).

Without an installed ``hs`` the suite is skipped, unless ``HUBSYNC_REQUIRE_HS=1`` (set by
``tests/run.sh``, which installs it), where a missing ``hs`` fails instead.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubsync.emulator import Emulator, EmulatorThread
from tests.conformance.hs_cli import Hs, find_hs

PORTAL = 111
USER = 9001


@dataclass(frozen=True, slots=True)
class SignedIn:
    """``hs`` signed in to the emulator's account, and what ``hs account auth`` answered."""

    hs: Hs
    emulator: EmulatorThread
    auth: subprocess.CompletedProcess[str]
    key: str


@pytest.fixture(scope="module")
def hs_executable() -> Path:
    """The installed ``hs`` (see ``hs_cli.find_hs``)."""
    found = find_hs()
    if found is None:
        message = ("hs is not installed: run tests/run.sh (it installs @hubspot/cli into "
                   "~/.cache/hubsync-tests) or set HUBSYNC_HS")
        if os.environ.get("HUBSYNC_REQUIRE_HS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def signed_in(hs_executable: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[SignedIn]:
    """An https emulator with one account, and ``hs`` signed in to it with its key."""
    emulator = Emulator(rate_limit=0, tls=True)
    account = emulator.add_account("sandbox", portal_id=PORTAL, user_id=USER)
    with EmulatorThread(emulator) as running:
        home = tmp_path_factory.mktemp("hs-home")
        hs = Hs(hs_executable, running, home)
        auth = hs.run("account", "auth", "--personal-access-key", account.key,
                      "--name", "sandbox", "--disable-usage-tracking", cwd=home)
        yield SignedIn(hs, running, auth, account.key)
