"""Fixtures of the doctor tests: a key-free environment, a chosen keyring, a config."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from keyring.backends import fail

from tests.support.keyrings import keyring_backend, without_keys


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No key from the developer's environment, and no real systemd unit in sight."""
    without_keys(monkeypatch)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


@pytest.fixture
def fail_keyring() -> Iterator[None]:
    """keyring's ``fail`` backend, as on a machine without a Secret Service."""
    with keyring_backend(fail.Keyring()):  # type: ignore[no-untyped-call]
        yield


ConfigWriter = Callable[..., Path]


@pytest.fixture
def write_config(tmp_path: Path) -> ConfigWriter:
    """``write_config(api_base, ...)``: a config for sandbox (111) and staging (222) with a
    watch of a small theme (4 folders) and its state in tmp_path/state."""

    def write(api_base: str, *, state_dir: Path | None = None,
              portals: tuple[int, int] = (111, 222), extra: str = "") -> Path:
        theme = tmp_path / "theme"
        for folder in ("templates/partials", "css", "modules/hero.module"):
            (theme / folder).mkdir(parents=True, exist_ok=True)
        (theme / "css" / "main.css").write_text("body {}")
        state = state_dir if state_dir is not None else tmp_path / "state"
        path = tmp_path / "config.toml"
        path.write_text(
            f'[settings]\nstate_dir = "{state}"\n{extra}\n'
            f'[accounts.sandbox]\nportal_id = {portals[0]}\napi_base = "{api_base}"\n'
            f'[accounts.staging]\nportal_id = {portals[1]}\napi_base = "{api_base}"\n'
            f'[[watch]]\nname = "theme"\nsrc = "{theme}"\ndest = "my-theme"\n'
            'accounts = ["sandbox", "staging"]\n'
        )
        return path

    return write
