"""Keys the systemd service would not see: `service install` warns and `doctor` says so
when an account's key is only in this shell's HUBSYNC_KEY_<NAME>; a key in the keyring
or a credential the unit loads is no warning. Real subprocesses, a temporary HOME, the
emulator for doctor's key exchange, a file-backed test keyring (never the real one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.support.keyrings import REPO_ROOT

pytestmark = pytest.mark.slow

WARNING = ("hubsync: warning: the key of 'sandbox' is only in $HUBSYNC_KEY_SANDBOX of this "
           "shell; hubsync.service does not inherit it")


def _setup(tmp_path: Path, emu: EmulatorThread) -> tuple[Path, dict[str, str]]:
    home = tmp_path / "home"
    theme = tmp_path / "theme"
    theme.mkdir(parents=True)
    (theme / "theme.json").write_text("{}")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[settings]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[accounts.sandbox]\nportal_id = 111\napi_base = "{emu.url}"\n'
        f'[[watch]]\nname = "theme"\nsrc = "{theme}"\ndest = "t"\naccounts = ["sandbox"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "HUBSYNC_"))}
    env.update(HOME=str(home), HUBSYNC_KEY_SANDBOX=emu.accounts["sandbox"].key,
               PYTHON_KEYRING_BACKEND="tests.support.keyrings.FileKeyring",
               PYTHONPATH=os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]),
               HUBSYNC_TEST_KEYRING_FILE=str(tmp_path / "test-keyring.json"))
    env.pop("NO_COLOR", None)
    return config, env


def _hubsync(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hubsync", "--config", str(config), *args],
                          capture_output=True, text=True, env=env, timeout=90, check=False)


def _key_line(doctor: subprocess.CompletedProcess[str]) -> str:
    (line,) = [x for x in doctor.stdout.splitlines() if " key sandbox: " in x]
    return line


def test_a_key_only_in_the_environment_is_named_by_install_and_doctor(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """Key only in $HUBSYNC_KEY_SANDBOX: `service install` warns (naming the variable,
    the keyring command and the credential, never the key) and `doctor` marks the key
    line as a warning; after the advised `printenv ... | hubsync auth add --key-stdin`
    both are quiet about it."""
    config, env = _setup(tmp_path, emulator_thread)
    key = env["HUBSYNC_KEY_SANDBOX"]
    before = _hubsync(config, env, "doctor")
    assert _key_line(before).startswith("ok   key sandbox: found in $HUBSYNC_KEY_SANDBOX")

    installed = _hubsync(config, env, "service", "install")
    assert installed.returncode == 0, installed.stderr
    assert WARNING in installed.stderr
    advice = ("`printenv HUBSYNC_KEY_SANDBOX | hubsync auth add sandbox --key-stdin`, or "
              "load the systemd credential 'hubsync-sandbox'")
    assert advice in installed.stderr
    doctor = _hubsync(config, env, "doctor")
    line = _key_line(doctor)
    assert line.startswith("warn key sandbox: found in $HUBSYNC_KEY_SANDBOX of this shell "
                           "only: hubsync.service will not see it -> store it in the keyring")
    assert doctor.returncode == 0  # a warning: this shell can still sync
    for text in (installed.stdout, installed.stderr, doctor.stdout, doctor.stderr):
        assert key not in text

    stored = subprocess.run(
        ["sh", "-c", f"printenv HUBSYNC_KEY_SANDBOX | {sys.executable} -m hubsync --config "
                     f"'{config}' auth add sandbox --key-stdin"],
        capture_output=True, text=True, env=env, timeout=90, check=False)
    assert stored.returncode == 0, stored.stderr
    again = _hubsync(config, env, "service", "install")
    assert again.returncode == 0, again.stderr
    assert "warning: the key" not in again.stderr
    assert _key_line(_hubsync(config, env, "doctor")).startswith("ok   key sandbox")


def test_a_credential_the_unit_loads_is_no_warning(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A drop-in with `LoadCredential=hubsync-sandbox:...`: the service has the key,
    so neither `service install` nor `doctor` warns; a commented-out one still warns."""
    config, env = _setup(tmp_path, emulator_thread)
    drop_in = Path(env["HOME"]) / ".config/systemd/user/hubsync.service.d/key.conf"
    drop_in.parent.mkdir(parents=True)
    drop_in.write_text("[Service]\n#LoadCredential=hubsync-sandbox:%h/creds/sandbox\n")
    assert WARNING in _hubsync(config, env, "service", "install").stderr
    drop_in.write_text("[Service]\nLoadCredential=hubsync-sandbox:%h/creds/sandbox\n")
    installed = _hubsync(config, env, "service", "install")
    assert installed.returncode == 0, installed.stderr
    assert "warning: the key" not in installed.stderr
    assert _key_line(_hubsync(config, env, "doctor")).startswith("ok   key sandbox")
