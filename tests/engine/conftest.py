"""Helpers for engine tests: a config for the emulator's two accounts and a theme tree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hubsync.config import Account, Config, Settings, Watch
from hubsync.credentials import env_var_name
from hubsync.emulator import Emulator

MakeConfig = Callable[..., Config]


@pytest.fixture
def make_config(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> MakeConfig:
    """Config factory for a watch of ``tmp_path/theme`` pushed to both emulated accounts."""
    for name, acct in emulator.accounts.items():
        monkeypatch.setenv(env_var_name(name), acct.key)
    root = tmp_path / "theme"
    root.mkdir(exist_ok=True)

    def make(**overrides: object) -> Config:
        settings = Settings(
            state_dir=tmp_path / "state",
            debounce_ms=int(overrides.pop("debounce_ms", 50)),  # type: ignore[call-overload]
            max_deletes=int(overrides.pop("max_deletes", 20)),  # type: ignore[call-overload]
            allow_deletes=bool(overrides.pop("allow_deletes", False)),
        )
        accounts = {
            "sandbox": Account("sandbox", 111, api_base=emulator.url),
            "staging": Account("staging", 222, api_base=emulator.url),
        }
        watch = Watch(
            name="theme", src=root, dest="my-theme",
            accounts=tuple(overrides.pop("accounts", ("sandbox", "staging"))),  # type: ignore[arg-type]
            delete_remote=bool(overrides.pop("delete_remote", True)),
        )
        assert not overrides, overrides
        return Config(path=tmp_path / "config.toml", settings=settings, accounts=accounts,
                      watches=(watch,))

    return make
