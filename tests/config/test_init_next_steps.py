"""`init --config X` then its next steps pasted as printed: every command names the
config, `auth add` fills the watch's accounts with the comment kept in its column, and
running `auth add` again says "updated", not "added"."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.support.processes import HUBSYNC, keys_env, write_files

pytestmark = pytest.mark.slow


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=90, check=False)


def _steps(stdout: str) -> list[str]:
    """The commands under "next steps:", as printed (one per line, or side by side)."""
    lines = stdout.split("next steps:\n", 1)[1].splitlines()
    return [line.strip().split("  ")[0] for line in lines
            if line.startswith("  ") and not line.startswith("      ")]


def test_init_with_config_prints_steps_that_work_as_pasted(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`hubsync --config my.toml init --src theme`: each next step names `--config
    my.toml`, none says to edit `accounts`; the pasted `auth add` adds the account to the
    watch with the `accounts` comment in its column; `check` passes; a second `auth add`
    says "updated account"."""
    write_files(tmp_path / "theme", {"theme.json": "{}"})
    env = keys_env(emulator_thread)
    env.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_CONFIG_HOME=str(tmp_path / "xdg"),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env.pop("NO_COLOR", None)
    config = tmp_path / "my.toml"
    init = _run([*HUBSYNC, "--config", "my.toml", "init", "--src", "theme"], env, tmp_path)
    assert init.returncode == 0, init.stderr
    steps = _steps(init.stdout)
    assert steps == ["hubsync --config my.toml auth add NAME --portal ID",
                     "hubsync --config my.toml check", "hubsync --config my.toml push"]
    assert "accounts" not in init.stdout.replace("adds NAME to the watch", "")
    assert all(len(line) <= 80 for line in init.stdout.splitlines())
    comment_column = next(line.index("#") for line in config.read_text().splitlines()
                          if line.startswith("accounts"))

    def pasted(step: str, *extra: str) -> subprocess.CompletedProcess[str]:
        argv = [a.replace("NAME", "sandbox").replace("ID", "111") for a in shlex.split(step)]
        return _run([*HUBSYNC, *argv[1:], *extra], env, tmp_path)

    extra = ("--api-base", emulator_thread.url, "--no-store")
    added = pasted(steps[0], *extra)
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added account 'sandbox': ")
    (accounts_line,) = [line for line in config.read_text().splitlines()
                        if line.startswith("accounts")]
    assert accounts_line.startswith('accounts = ["sandbox"]')
    assert accounts_line.index("#") == comment_column
    checked = pasted(steps[1])
    assert checked.returncode == 0, checked.stdout + checked.stderr
    again = pasted(steps[0], *extra)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("updated account 'sandbox': ")
    assert "added" not in again.stdout.lower()
    assert "already pushes to 'sandbox'" in again.stdout
