"""keyring backends for tests only: in memory, hanging, and a file for subprocesses.

A ``hubsync`` subprocess loads one with ``PYTHON_KEYRING_BACKEND=tests.support.keyrings.X``
and the repository root on PYTHONPATH (``REPO_ROOT``). ``FileKeyring`` (with
``HUBSYNC_TEST_KEYRING_FILE`` set) keeps a key between commands when no Secret Service
runs. Test doubles, never shipped.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

REPO_ROOT = Path(__file__).resolve().parents[2]
"""Put this on a subprocess's PYTHONPATH so that ``tests.support.keyrings`` imports."""


class MemoryKeyring(KeyringBackend):
    """Secrets in a dict: the in-memory twin of the OS keyring."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.secrets.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


class HangingKeyring(KeyringBackend):
    """Every call blocks, like a D-Bus call waiting for an unlock prompt nobody answers."""

    priority = 1
    release = threading.Event()

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def _hang(self) -> None:
        self.release.wait(60)

    def get_password(self, service: str, username: str) -> str | None:
        self._hang()
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        self._hang()

    def delete_password(self, service: str, username: str) -> None:
        self._hang()


class FileKeyring(KeyringBackend):
    """Secrets in the JSON file named by ``$HUBSYNC_TEST_KEYRING_FILE`` (tests only)."""

    priority = 1

    @property
    def _path(self) -> Path:
        return Path(os.environ["HUBSYNC_TEST_KEYRING_FILE"])

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {str(k): str(v) for k, v in data.items()}

    def _save(self, data: dict[str, str]) -> None:
        self._path.write_text(json.dumps(data), encoding="utf-8")

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._save(data)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError("not found")
        self._save(data)


Backend = TypeVar("Backend", bound=KeyringBackend)


def without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key leaks into a test from the developer's environment or a systemd unit."""
    for name in list(os.environ):
        if name.startswith("HUBSYNC_KEY_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)


@contextmanager
def keyring_backend(backend: Backend) -> Iterator[Backend]:
    """keyring's process-wide backend replaced by ``backend``, then restored."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
