"""Fixtures of the fields.js tests: a config for the emulator's two accounts with one
watch of ``tmp_path/theme``, and the real node that converts."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from hubsync.config import Account, Config, Settings, Watch
from hubsync.credentials import env_var_name
from hubsync.emulator import Emulator

MakeConfig = Callable[..., Config]


@pytest.fixture(autouse=True)
def node() -> str:
    """The node on PATH; these tests run the real one (tests/run.sh installs it)."""
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is not on PATH: tests/run.sh installs it (Debian's nodejs)")
    return found


@pytest.fixture
def make_config(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> MakeConfig:
    """Config factory for a watch ``theme`` of ``tmp_path/theme`` to ``my-theme`` in both
    emulated accounts; keyword arguments set the watch's fields."""
    for name, acct in emulator.accounts.items():
        monkeypatch.setenv(env_var_name(name), acct.key)
    root = tmp_path / "theme"
    root.mkdir(exist_ok=True)

    def make(**watch_fields: object) -> Config:
        settings = Settings(state_dir=tmp_path / "state", debounce_ms=50)
        accounts = {
            "sandbox": Account("sandbox", 111, api_base=emulator.url),
            "staging": Account("staging", 222, api_base=emulator.url),
        }
        fields: dict[str, object] = {"delete_remote": True,
                                     "accounts": ("sandbox", "staging"), **watch_fields}
        watch = Watch(name="theme", src=root, dest="my-theme", **fields)  # type: ignore[arg-type]
        return Config(path=tmp_path / "config.toml", settings=settings, accounts=accounts,
                      watches=(watch,))

    return make
