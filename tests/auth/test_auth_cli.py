"""`hubsync auth` end to end: the real command as a subprocess against a threaded emulator.

The key goes in on stdin; the keyring is the real Secret Service when the suite runs under
`tests/run.sh` (HUBSYNC_TEST_SECRET_SERVICE=1), else a file-backed test backend loaded
through PYTHON_KEYRING_BACKEND. Every test then checks that no key and no access token
reached stdout, stderr, the config, or any file under the temporary HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hubsync.emulator import Emulator, EmulatorThread
from hubsync.errors import EX_CONFIG, EX_TEMPFAIL, EX_USAGE
from tests.support.keyrings import REPO_ROOT

pytestmark = pytest.mark.slow
REAL_KEYRING = os.environ.get("HUBSYNC_TEST_SECRET_SERVICE") == "1"


@dataclass
class Cli:
    """Runs `hubsync` with a private HOME, config and keyring; remembers all it printed."""

    home: Path
    emu: EmulatorThread
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)

    @property
    def config(self) -> Path:
        return self.home / "config" / "hubsync" / "config.toml"

    def __call__(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "hubsync", *args], input=stdin, env=self.env,
            capture_output=True, text=True, timeout=60, check=False,
        )
        self.outputs += [result.stdout, result.stderr]
        return result

    def add(self, name: str, portal: int, key: str) -> subprocess.CompletedProcess[str]:
        return self("auth", "add", name, "--portal", str(portal), "--api-base", self.emu.url,
                    "--key-stdin", stdin=key + "\n")

    def assert_no_secrets(self, *secrets: str) -> None:
        """None of the secrets is in any output or any file under HOME (but the test keyring)."""
        texts = list(self.outputs)
        for path in self.home.rglob("*"):
            if path.is_file() and path.name != "test-keyring.json":
                texts.append(path.read_text(errors="replace"))
        tokens = list(self.emu.emulator._tokens)  # the emulator's issued access tokens
        assert tokens, "the commands should have exchanged keys"
        for secret in [*secrets, *tokens]:
            for text in texts:
                assert secret not in text


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    """A fresh HOME and XDG dirs, a keyring for subprocesses, and an emulator thread."""
    emulator = Emulator(rate_limit=0)
    emulator.add_account("sandbox", portal_id=111, user_id=9001, email="jane@example.com",
                         hub_name="Sandbox Hub")
    emulator.add_account("staging", portal_id=222, user_id=9002, email="joe@example.com",
                         hub_name="Staging Hub")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUBSYNC_KEY_", "PYTHON_KEYRING")) and k != "HUBSYNC_CONFIG"}
    env.pop("CREDENTIALS_DIRECTORY", None)
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_STATE_HOME=str(tmp_path / "state"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    if REAL_KEYRING:
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
    else:
        env.update(PYTHON_KEYRING_BACKEND="tests.support.keyrings.FileKeyring",
                   PYTHONPATH=os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]),
                   HUBSYNC_TEST_KEYRING_FILE=str(tmp_path / "test-keyring.json"))
    with EmulatorThread(emulator) as thread:
        runner = Cli(home=tmp_path, emu=thread, env=env)
        yield runner
        if REAL_KEYRING:  # the file keyring dies with tmp_path; a Secret Service does not
            for name in ("sandbox", "staging"):
                runner("auth", "remove", name)


def test_add_list_test_rotate_remove(cli: Cli) -> None:
    """The full life of a key: add, list, test, revoked, rotate by re-adding, remove --purge."""
    old_key = cli.emu.accounts["sandbox"].key
    added = cli.add("sandbox", 111, old_key)
    assert added.returncode == 0, added.stderr
    for fact in ("Sandbox Hub", "portal 111", "user 9001", "jane@example.com", "STANDARD"):
        assert fact in added.stdout
    config_text = cli.config.read_text()
    assert "[accounts.sandbox]" in config_text
    assert "portal_id = 111" in config_text
    assert cli.emu.url in config_text

    listed = cli("auth", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["name"], row["key_source"], row["state"]) == ("sandbox", "keyring", "ok")
    assert row["identity"]["user_id"] == 9001
    human = cli("auth", "list")
    assert "key from keyring" in human.stdout

    tested = cli("auth", "test")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "sandbox: ok" in tested.stdout

    new_key = cli.emu.emulator.rotate_key("sandbox")
    failed = cli("auth", "test", "sandbox")
    assert failed.returncode == 1
    assert "revoked" in failed.stdout
    assert "then run `hubsync auth add sandbox`" in failed.stdout
    assert json.loads(cli("auth", "list", "--json").stdout)[0]["state"] == "unauthorized"

    # The advice as printed: no --portal, no --api-base (both come from the config).
    rotated = cli("auth", "add", "sandbox", "--key-stdin", stdin=new_key + "\n")
    assert rotated.returncode == 0, rotated.stderr
    assert "rotated the key" in rotated.stdout
    assert cli("auth", "test", "sandbox").returncode == 0

    removed = cli("auth", "remove", "sandbox", "--purge")
    assert removed.returncode == 0, removed.stderr
    assert "[accounts.sandbox]" not in cli.config.read_text()
    assert json.loads(cli("auth", "list", "--json").stdout) == []
    cli.assert_no_secrets(old_key, new_key)


def test_env_key_is_listed_and_tested_without_keyring_entry(cli: Cli) -> None:
    """HUBSYNC_KEY_<NAME> serves `auth test`, and `auth list` says the key comes from env."""
    key = cli.emu.accounts["staging"].key
    assert cli.add("staging", 222, key).returncode == 0
    cli("auth", "remove", "staging")
    cli.env["HUBSYNC_KEY_STAGING"] = key
    assert cli("auth", "test", "staging").returncode == 0
    assert json.loads(cli("auth", "list", "--json").stdout)[0]["key_source"] == "env"
    cli.assert_no_secrets(key)


def test_add_refuses_key_of_another_portal(cli: Cli) -> None:
    """A key for portal 222 given as --portal 111 is refused: nothing stored, config untouched."""
    key = cli.emu.accounts["staging"].key
    result = cli.add("sandbox", 111, key)
    assert result.returncode == EX_CONFIG
    assert "belongs to portal 222" in result.stderr
    assert not cli.config.exists()
    removed = cli("auth", "remove", "sandbox")
    assert removed.returncode == EX_USAGE
    assert "'sandbox': no account of that name" in removed.stderr
    cli.assert_no_secrets(key)


def test_add_rejects_bad_input(cli: Cli) -> None:
    """Empty input, masked bullets, and keys with spaces are refused before any request."""
    for typed, message in [("", "no key given"), ("••••••••••", "masked key"),
                           ("********", "masked key"), ("pat na1 split", "spaces")]:
        result = cli.add("sandbox", 111, typed)
        assert result.returncode != 0
        assert message in result.stderr
    assert not cli.config.exists()
    assert cli.emu.requests == []


def test_add_without_terminal_or_key_stdin_is_refused(cli: Cli) -> None:
    """With no terminal to prompt on and no --key-stdin, the key is not read from a pipe
    (getpass would echo it); the error says to use --key-stdin."""
    result = cli("auth", "add", "sandbox", "--portal", "111", "--api-base", cli.emu.url,
                 stdin="pat-na1-typed-into-a-pipe\n")
    assert result.returncode != 0
    assert "--key-stdin" in result.stderr
    assert "pat-na1-typed-into-a-pipe" not in result.stdout + result.stderr
    assert not cli.config.exists()


def test_add_with_no_usable_keyring(cli: Cli) -> None:
    """The `fail` backend: a clear error, exit 75, and the config is not written."""
    cli.env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    key = cli.emu.accounts["sandbox"].key
    result = cli.add("sandbox", 111, key)
    assert result.returncode == EX_TEMPFAIL
    assert "no usable OS keyring" in result.stderr
    assert not cli.config.exists()
    cli.assert_no_secrets(key)


def test_add_refuses_plain_http_to_a_remote_host(cli: Cli) -> None:
    """--api-base http:// on a non-loopback host is refused before the key is read."""
    result = cli("auth", "add", "sandbox", "--portal", "111", "--api-base",
                 "http://api.example.com", "--key-stdin", stdin="x\n")
    assert result.returncode == EX_CONFIG
    assert "https" in result.stderr


def test_remove_purge_refused_while_a_watch_uses_it(cli: Cli, tmp_path: Path) -> None:
    """--purge is refused while a watch pushes to the account; the key stays."""
    key = cli.emu.accounts["sandbox"].key
    assert cli.add("sandbox", 111, key).returncode == 0
    theme = tmp_path / "theme"
    theme.mkdir()
    with cli.config.open("a") as handle:
        handle.write(f'\n[[watch]]\nname = "site"\nsrc = "{theme}"\ndest = "site"\n'
                     'accounts = ["sandbox"]\n')
    refused = cli("auth", "remove", "sandbox", "--purge")
    assert refused.returncode == EX_CONFIG
    assert "watch" in refused.stderr
    assert cli("auth", "test", "sandbox").returncode == 0
    cli.assert_no_secrets(key)
