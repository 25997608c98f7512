"""Where keys come from: env var, systemd credentials folder, keyring; and keyring failures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail, null

from hubsync import credentials
from hubsync.credentials import KeySource
from hubsync.errors import KeyNotFound, KeyringUnavailable
from tests.support.keyrings import REPO_ROOT, HangingKeyring, MemoryKeyring


@pytest.mark.parametrize(
    ("account", "variable"),
    [("sandbox", "HUBSYNC_KEY_SANDBOX"), ("my-stage", "HUBSYNC_KEY_MY_STAGE"),
     ("eu.prod_2", "HUBSYNC_KEY_EU_PROD_2")],
)
def test_env_var_name(account: str, variable: str) -> None:
    """Account names map to upper-case variable names, other characters become `_`."""
    assert credentials.env_var_name(account) == variable


async def test_env_var_wins_over_everything(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    """HUBSYNC_KEY_<NAME> is used first, even with a systemd credential and a keyring entry."""
    (tmp_path / "hubsync-my-stage").write_text("from-systemd\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    memory_keyring.set_password("hubsync", "my-stage", "from-keyring")
    monkeypatch.setenv("HUBSYNC_KEY_MY_STAGE", "from-env")
    assert await credentials.find_key("my-stage") == ("from-env", KeySource.ENV)


async def test_systemd_credential_before_keyring(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    """A real $CREDENTIALS_DIRECTORY file is read, trailing newline stripped, before the keyring."""
    (tmp_path / "hubsync-sandbox").write_text("pat-na1-from-systemd\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    memory_keyring.set_password("hubsync", "sandbox", "from-keyring")
    assert await credentials.find_key("sandbox") == ("pat-na1-from-systemd", KeySource.SYSTEMD)
    # Another account in the same folder without a file falls through to the keyring.
    memory_keyring.set_password("hubsync", "staging", "staging-from-keyring")
    assert await credentials.find_key("staging") == ("staging-from-keyring", KeySource.KEYRING)


async def test_keyring_store_find_delete(memory_keyring: MemoryKeyring) -> None:
    """store_key puts the key under service `hubsync`; delete_key removes it once."""
    await credentials.store_key("sandbox", "pat-na1-abc")
    assert memory_keyring.secrets == {("hubsync", "sandbox"): "pat-na1-abc"}
    assert await credentials.find_key("sandbox") == ("pat-na1-abc", KeySource.KEYRING)
    assert await credentials.key_source_of("sandbox") is KeySource.KEYRING
    assert await credentials.delete_key("sandbox") is True
    assert await credentials.delete_key("sandbox") is False
    assert await credentials.key_source_of("sandbox") is None


async def test_not_found_names_every_way(memory_keyring: MemoryKeyring) -> None:
    """Without a key the error names the variable, the credential and the command."""
    with pytest.raises(KeyNotFound) as caught:
        await credentials.find_key("my-stage")
    message = str(caught.value)
    assert "HUBSYNC_KEY_MY_STAGE" in message
    assert "hubsync-my-stage" in message
    assert "hubsync auth add my-stage" in message


async def test_fail_backend_gives_friendly_error() -> None:
    """keyring's `fail` backend (no Secret Service) becomes KeyringUnavailable saying what to do."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    try:
        with pytest.raises(KeyringUnavailable, match="HUBSYNC_KEY_"):
            await credentials.find_key("sandbox")
        with pytest.raises(KeyringUnavailable, match="no usable OS keyring"):
            await credentials.store_key("sandbox", "pat-na1-abc")
    finally:
        keyring.set_keyring(previous)


def test_fail_backend_from_environment_in_a_fresh_process(tmp_path: Path) -> None:
    """PYTHON_KEYRING_BACKEND=...fail.Keyring is honoured and gives the friendly error."""
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
           "HOME": str(tmp_path)}
    env.pop("HUBSYNC_KEY_SANDBOX", None)
    code = ("import asyncio; from hubsync import credentials\n"
            "try:\n asyncio.run(credentials.find_key('sandbox'))\n"
            "except Exception as e: print(type(e).__name__, e)\n")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.startswith("KeyringUnavailable no usable OS keyring")


async def test_null_backend_refuses_to_pretend(monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend that drops secrets (`null`) makes store_key fail instead of losing the key."""
    previous = keyring.get_keyring()
    keyring.set_keyring(null.Keyring())  # type: ignore[no-untyped-call]
    try:
        with pytest.raises(KeyringUnavailable, match="did not keep it"):
            await credentials.store_key("sandbox", "pat-na1-abc")
    finally:
        keyring.set_keyring(previous)


async def test_plaintext_backend_is_refused() -> None:
    """A keyrings.alt file backend is refused with a clear error, never used."""
    plaintext = type("PlaintextKeyring", (MemoryKeyring,), {"__module__": "keyrings.alt.file"})
    previous = keyring.get_keyring()
    backend = plaintext()
    keyring.set_keyring(backend)
    try:
        with pytest.raises(KeyringUnavailable, match="plain file"):
            await credentials.store_key("sandbox", "pat-na1-abc")
        assert backend.secrets == {}
    finally:
        keyring.set_keyring(previous)


async def test_hanging_keyring_times_out(hanging_keyring: HangingKeyring) -> None:
    """A keyring call that never returns gives KeyringUnavailable within the timeout."""
    started = time.monotonic()
    with pytest.raises(KeyringUnavailable, match=r"did not answer within 0\.3 s"):
        await credentials.find_key("sandbox", timeout_s=0.3)
    assert time.monotonic() - started < 2.0


async def test_default_timeout_is_configurable(
    monkeypatch: pytest.MonkeyPatch, hanging_keyring: HangingKeyring
) -> None:
    """The module-wide KEYRING_TIMEOUT_S bounds every call that does not pass its own."""
    monkeypatch.setattr(credentials, "KEYRING_TIMEOUT_S", 0.2)
    started = time.monotonic()
    with pytest.raises(KeyringUnavailable):
        await credentials.store_key("sandbox", "pat-na1-abc")
    assert time.monotonic() - started < 2.0


def test_hung_keyring_thread_does_not_block_exit(tmp_path: Path) -> None:
    """A process whose keyring call hangs still exits promptly after the timeout."""
    code = (
        "import asyncio, keyring\n"
        "from tests.support.keyrings import HangingKeyring\n"
        "from hubsync import credentials\n"
        "keyring.set_keyring(HangingKeyring())\n"
        "try:\n asyncio.run(credentials.find_key('sandbox', timeout_s=0.3))\n"
        "except Exception as e: print(type(e).__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=30, check=True)
    assert result.stdout.strip() == "KeyringUnavailable"
    assert time.monotonic() - started < 15


@pytest.mark.keyring
async def test_real_secret_service_round_trip() -> None:
    """Against the real Secret Service (gnome-keyring in dbus-run-session): store, find, delete.

    Runs when HUBSYNC_TEST_SECRET_SERVICE=1 (tests/run.sh sets it) and must then work.
    """
    if os.environ.get("HUBSYNC_TEST_SECRET_SERVICE") != "1":
        pytest.skip("no Secret Service: set HUBSYNC_TEST_SECRET_SERVICE=1 under "
                    "`dbus-run-session -- bash tests/with-keyring.sh` (tests/run.sh does)")
    from keyring.backends import SecretService

    previous = keyring.get_keyring()
    keyring.set_keyring(SecretService.Keyring())  # type: ignore[no-untyped-call]
    account = f"test-{os.getpid()}"
    try:
        await credentials.store_key(account, "pat-na1-real-secret-service")
        assert await credentials.find_key(account) == (
            "pat-na1-real-secret-service", KeySource.KEYRING)
        await credentials.store_key(account, "pat-na1-rotated")
        assert (await credentials.find_key(account))[0] == "pat-na1-rotated"
        assert await credentials.delete_key(account) is True
        with pytest.raises(KeyNotFound):
            await credentials.find_key(account)
    finally:
        keyring.set_keyring(previous)
