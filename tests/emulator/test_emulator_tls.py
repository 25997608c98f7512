"""hubsync itself over https to ``Emulator(tls=True)``: the same fixture set-up the ``hs``
conformance suite uses, with hubsync trusting the throwaway CA through SSL_CERT_FILE."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubsync.emulator import Emulator, EmulatorThread
from tests.support.processes import keys_env, local_tree, remote_tree, write_files


@pytest.fixture
def tls_emulator_thread() -> Iterator[EmulatorThread]:
    """An https emulator (throwaway CA) with account ``sandbox`` (portal 111), no limit."""
    emulator = Emulator(rate_limit=0, tls=True)
    emulator.add_account("sandbox", portal_id=111, user_id=9001)
    with EmulatorThread(emulator) as running:
        yield running


@pytest.mark.slow
def test_hubsync_push_over_https(tls_emulator_thread: EmulatorThread, tmp_path: Path) -> None:
    """``hubsync push`` with an https api_base and SSL_CERT_FILE naming the emulator's CA
    stores the theme, a UTF-8 file name included."""
    emu = tls_emulator_thread
    assert emu.url.startswith("https://")
    theme = tmp_path / "theme"
    write_files(theme, {"css/café crème.css": "a{}", "templates/home.html": "<p>hi</p>"})
    config = tmp_path / "config.toml"
    config.write_text(
        f'[settings]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[accounts.sandbox]\nportal_id = 111\napi_base = "{emu.url}"\n'
        f'[[watch]]\nname = "t"\nsrc = "{theme}"\ndest = "t"\naccounts = ["sandbox"]\n')
    env = keys_env(emu)
    env["SSL_CERT_FILE"] = str(emu.ca_path)
    pushed = subprocess.run([sys.executable, "-m", "hubsync", "--config", str(config), "push"],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert remote_tree(emu, 111, "t") == local_tree(theme)
