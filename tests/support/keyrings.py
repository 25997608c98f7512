"""keyring backends for the auth tests only: in memory, hanging, and a file for subprocesses.

``PYTHON_KEYRING_BACKEND=hubsync_test_keyrings.FileKeyring`` (with this folder on
PYTHONPATH and ``HUBSYNC_TEST_KEYRING_FILE`` set) lets a ``hubsync`` subprocess keep a
key between commands when no Secret Service runs. It is a test double, never shipped.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


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
