"""Fixtures of the archive path tests: a config for the emulator's ``sandbox`` account
with a chosen ``bulk`` mode, and themes large enough to go as an archive."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hubsync.config import Account, Config, Settings, Watch
from hubsync.credentials import env_var_name
from hubsync.emulator import Emulator
from hubsync.model import Mode

MakeConfig = Callable[..., Config]


@pytest.fixture
def make_config(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> MakeConfig:
    """``make(bulk="auto", mode=Mode.PUBLISH, transport="filemapper")``: a watch of
    ``tmp_path/theme`` pushed to ``my-theme`` in the emulated ``sandbox`` account."""
    for name, acct in emulator.accounts.items():
        monkeypatch.setenv(env_var_name(name), acct.key)
    root = tmp_path / "theme"
    root.mkdir(exist_ok=True)

    def make(bulk: str = "auto", mode: Mode = Mode.PUBLISH,
             transport: str = "filemapper") -> Config:
        return Config(
            path=tmp_path / "config.toml",
            settings=Settings(state_dir=tmp_path / "state", debounce_ms=50),
            accounts={"sandbox": Account("sandbox", 111, api_base=emulator.url,
                                         transport=transport, bulk=bulk)},
            watches=(Watch(name="theme", src=root, dest="my-theme", accounts=("sandbox",),
                           mode=mode),),
        )

    return make
