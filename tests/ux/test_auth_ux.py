"""`hubsync auth` the way people use it: rotate in place, no keyring, one watch, `hs`
accounts, and a running session that picks the new key up at once.

Subprocesses against the threaded emulator. Keys reach hubsync through
HUBSYNC_KEY_<NAME> or a file-backed test keyring (never the real one), and every test
checks that no key reached the output or the config.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from hubsync.credentials import env_var_name
from hubsync.emulator import EmulatorThread
from hubsync.errors import EX_CONFIG, EX_USAGE
from tests.support.keyrings import REPO_ROOT
from tests.support.processes import HUBSYNC, hubsync_process, remote_tree, wait_until
from tests.ux.ux_helpers import Project, make_project

pytestmark = pytest.mark.slow


def _without_keys(project: Project, *names: str) -> dict[str, str]:
    env = project.env()
    for name in names:
        env.pop(env_var_name(name), None)
    return env


def _file_keyring(project: Project, env: dict[str, str]) -> dict[str, str]:
    env.update(PYTHON_KEYRING_BACKEND="tests.support.keyrings.FileKeyring",
               PYTHONPATH=os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]),
               HUBSYNC_TEST_KEYRING_FILE=str(project.tmp / "test-keyring.json"))
    return env


def _assert_no_keys(project: Project, *texts: str) -> None:
    keys = [account.key for account in project.emu.accounts.values()]
    for key in keys:
        assert key not in project.config.read_text()
        for text in texts:
            assert key not in text


def test_auth_add_no_store_attaches_the_account_and_reloads_the_running_watch(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A watch runs for sandbox only; staging is configured (portal and emulator
    api_base) but in no watch. `auth add staging --no-store` (no --portal, no --api-base)
    proves the key from HUBSYNC_KEY_STAGING where staging lives, adds staging to the only
    watch, and tells the running watch to reload: staging receives the theme, no keyring
    is touched (the keyring backend here fails on any use)."""
    emu = emulator_thread
    project = make_project(tmp_path, emu, accounts=("sandbox",))
    project.config.write_text(project.config.read_text() + (
        f'[accounts.staging]\nportal_id = 222\napi_base = "{emu.url}"\n'))
    with hubsync_process(["--config", str(project.config), "watch"], project.env(),
                         tmp_path / "watch.out", stop_signal=signal.SIGINT) as watch:
        watch.wait_for_output("watching")
        wait_until(lambda: "theme.json" in remote_tree(emu, 111, "my-theme"), what="sandbox")
        assert remote_tree(emu, 222, "my-theme") == {}

        added = project.run("auth", "add", "staging", "--no-store")
        assert added.returncode == 0, added.stderr
        assert "updated account 'staging': Staging, portal 222, user 9002 joe@example.com" \
            in added.stdout
        assert "watch 'theme' now pushes to 'staging' too" in added.stdout
        assert f"told a foreground `hubsync watch` (PID {watch.pid}) to reload" in added.stdout
        wait_until(lambda: remote_tree(emu, 222, "my-theme").get("theme.json") is not None,
                   what="staging receives the theme after the reload")
    assert 'accounts = ["sandbox", "staging"]' in project.config.read_text()
    _assert_no_keys(project, added.stdout, added.stderr, watch.output())


def test_auth_add_no_store_without_a_key_says_where_to_put_one(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """--no-store with no HUBSYNC_KEY_STAGING: exit 78 naming the variable and the
    credential, and the config is left as it was."""
    project = make_project(tmp_path, emulator_thread, accounts=("sandbox",))
    before = project.config.read_text()
    result = project.run("auth", "add", "staging", "--portal", "222", "--api-base",
                         emulator_thread.url, "--no-store",
                         env=_without_keys(project, "staging"))
    assert result.returncode == EX_CONFIG
    assert "export HUBSYNC_KEY_STAGING=<key>" in result.stderr
    assert "hubsync-staging" in result.stderr
    assert project.config.read_text() == before


def test_auth_add_of_a_new_account_without_portal_is_a_usage_error(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`auth add newone` (not configured, no --portal): exit 64 saying to pass --portal."""
    project = make_project(tmp_path, emulator_thread)
    result = project.run("auth", "add", "newone", "--no-store")
    assert result.returncode == EX_USAGE
    assert "account 'newone' is not in" in result.stderr
    assert "pass --portal ID" in result.stderr


def test_auth_add_rotates_with_the_configured_settings_and_the_keyring(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """Rotating staging's key as hubsync advises, `auth add staging` with the key on
    stdin: proven against staging's configured api_base (the emulator, not the public
    host), stored in the keyring, and `auth list` says where it comes from, in words and
    with ISO 8601 times in --json."""
    emu = emulator_thread
    project = make_project(tmp_path, emu)
    env = _file_keyring(project, _without_keys(project, "sandbox", "staging"))
    added = subprocess.run([*HUBSYNC, "--config", str(project.config), "auth", "add",
                            "staging", "--key-stdin"], input=emu.accounts["staging"].key + "\n",
                           env=env, capture_output=True, text=True, timeout=60, check=False)
    assert added.returncode == 0, added.stderr
    assert "key stored in the OS keyring" in added.stdout
    assert "watch 'theme' already pushes to 'staging'" in added.stdout

    listed = project.run("auth", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "staging: portal 222 (prod), key from keyring, key works" in listed.stdout
    assert "sandbox: portal 111 (prod), no key found, no key" in listed.stdout
    assert "  what to do: hubsync auth add sandbox" in listed.stdout
    assert "none" not in listed.stdout

    rows = json.loads(project.run("auth", "list", "--json", env=env).stdout)
    checked = {row["name"]: row["checked_at"] for row in rows}
    assert checked["sandbox"] is None
    assert isinstance(checked["staging"], str)
    assert checked["staging"].endswith("Z")
    _assert_no_keys(project, added.stdout, added.stderr, listed.stdout)


def test_auth_import_takes_the_accounts_of_an_hs_config(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A hubspot.config.yml with two personal-access-key accounts and one OAuth account:
    the two keys are proven and land in the keyring, [accounts.*] are written without a
    key, the OAuth one is skipped with what to do, and the hs file is unchanged."""
    emu = emulator_thread
    project = make_project(tmp_path, emu)
    hs_config = tmp_path / "site" / "hubspot.config.yml"
    hs_config.parent.mkdir()
    hs_config.write_text(
        "defaultPortal: DEV\n"
        "portals:\n"
        "  - name: DEV Portal\n"
        "    portalId: 111\n"
        "    env: prod\n"
        "    authType: personalaccesskey\n"
        f"    personalAccessKey: {emu.accounts['sandbox'].key}\n"
        "  - name: staging\n"
        "    accountId: 222\n"
        "    authType: personalaccesskey\n"
        f"    personalAccessKey: '{emu.accounts['staging'].key}'\n"
        "  - name: legacy\n"
        "    portalId: 333\n"
        "    authType: oauth2\n")
    before = hs_config.read_text()
    project.config.unlink()
    env = _file_keyring(project, _without_keys(project, "sandbox", "staging"))
    result = project.run("auth", "import", str(hs_config), "--api-base", emu.url, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "imported 'DEV Portal' as 'dev-portal': Sandbox, portal 111" in result.stdout
    assert "imported 'staging' as 'staging': Staging, portal 222" in result.stdout
    assert "skipped 'legacy': it uses oauth2 auth" in result.stdout
    assert "2 accounts imported" in result.stdout
    config = project.config.read_text()
    assert "[accounts.dev-portal]" in config
    assert "portal_id = 111" in config
    assert "[accounts.staging]" in config
    assert hs_config.read_text() == before
    tested = project.run("auth", "test", "--json", env=env)
    assert tested.returncode == 0, tested.stdout
    assert [(r["name"], r["ok"], r["source"])
            for r in json.loads(tested.stdout)["accounts"]] == [
        ("dev-portal", True, "keyring"), ("staging", True, "keyring")]
    _assert_no_keys(project, result.stdout, result.stderr, tested.stdout)


def test_reload_command_signals_the_running_watch(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`hubsync reload` sends the watch SIGHUP: it re-reads the config (its -v
    diagnostics say config_reloaded); with nothing running, reload fails with exit 1."""
    project = make_project(tmp_path, emulator_thread, accounts=("sandbox",))
    with hubsync_process(["--config", str(project.config), "-v", "watch"], project.env(),
                         tmp_path / "watch.out", stop_signal=signal.SIGINT) as watch:
        watch.wait_for_output("watching")
        result = project.run("reload")
        assert result.returncode == 0, result.stderr
        assert f"asked a foreground `hubsync watch` (PID {watch.pid})" in result.stdout
        watch.wait_for_output("config_reloaded")
    after = project.run("reload")
    assert after.returncode == 1
    assert "no hubsync is running" in after.stderr


def test_auth_add_with_an_unknown_watch_changes_nothing(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`auth add staging --watch them`: exit 64 with the suggestion, before any key is
    checked or stored, and the config is left as it was."""
    project = make_project(tmp_path, emulator_thread, accounts=("sandbox",))
    before = project.config.read_text()
    result = project.run("auth", "add", "staging", "--portal", "222", "--api-base",
                         emulator_thread.url, "--no-store", "--watch", "them")
    assert result.returncode == EX_USAGE
    assert "--watch 'them': no watch of that name; did you mean 'theme'?" in result.stderr
    assert project.config.read_text() == before
    assert not [r for r in emulator_thread.requests if r.portal_id == 222]


def test_hs_config_names_become_distinct_hubsync_names(tmp_path: Path) -> None:
    """hs names map to valid hubsync names, two that collide stay apart, and an
    account's repr never shows its key."""
    from hubsync.commands.auth_import import parse_hs_config

    text = ("accounts:\n"
            "  - {name: DEV Portal, accountId: 1, personalAccessKey: secret-one-123456}\n"
            "  - {name: dev-portal, accountId: 2, personalAccessKey: secret-two-123456}\n"
            "  - {name: qa box, accountId: 3, env: qa, authType: oauth2}\n")
    accounts = parse_hs_config(text, tmp_path / "hubspot.config.yml")
    assert [(a.name, a.portal_id, str(a.env), a.key is not None) for a in accounts] == [
        ("dev-portal", 1, "prod", True), ("dev-portal-2", 2, "prod", True),
        ("qa-box", 3, "qa", False)]
    assert "secret" not in repr(accounts)
