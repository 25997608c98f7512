"""`hubsync doctor`: a healthy set-up passes; each broken one gets its line and exit code."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from hubsync.credentials import env_var_name
from hubsync.doctor import Report, Status, diagnose
from hubsync.emulator import Emulator, EmulatorThread
from hubsync.systemd import SystemdProbe
from tests.doctor.conftest import ConfigWriter
from tests.support.keyrings import REPO_ROOT
from tests.support.processes import HUBSYNC


def all_output(report: Report) -> str:
    """Everything the doctor can print for this report: terminal, plain and JSON."""
    texts = []
    for tty in (True, False):
        stream = io.StringIO()
        report.write(stream, tty=tty)
        texts.append(stream.getvalue())
    texts.append(json.dumps(report.as_dict()))
    return "\n".join(texts)


def assert_no_key(emu: Emulator | EmulatorThread, text: str) -> None:
    for account in emu.accounts.values():
        assert account.key not in text


def keys_env(emu: Emulator | EmulatorThread, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, account in emu.accounts.items():
        monkeypatch.setenv(env_var_name(name), account.key)


def only(report: Report, name: str) -> list[tuple[Status, str]]:
    return [(c.status, f"{c.message} -> {c.fix}") for c in report.checks if c.name == name]


def test_healthy_setup_passes_as_a_command(
    tmp_path: Path, emulator_thread: EmulatorThread, write_config: ConfigWriter
) -> None:
    """`hubsync doctor` on a working set-up (emulator, keys in the environment, a keyring
    that works) exits 0 with an ok line per check naming where each key was found and who
    HubSpot says it belongs to; --json says the same; no key is printed."""
    emu = emulator_thread
    config = write_config(emu.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_KEY_")}
    env.update({env_var_name(name): a.key for name, a in emu.accounts.items()})
    env.update(PYTHONPATH=str(REPO_ROOT),
               PYTHON_KEYRING_BACKEND="tests.support.keyrings.MemoryKeyring",
               XDG_CONFIG_HOME=str(tmp_path / "xdg-config"))
    text = subprocess.run([*HUBSYNC, "--config", str(config), "doctor"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert text.returncode == 0, text.stdout + text.stderr
    lines = text.stdout.splitlines()
    assert lines[-1] == "ready to sync"
    assert all(line.startswith(("ok ", "info ")) for line in lines[:-1]), text.stdout
    assert f"ok   config: {config} is valid (2 accounts, 1 watch)" in lines
    assert "ok   key sandbox: found in $HUBSYNC_KEY_SANDBOX" in lines
    assert ("ok   hubspot sandbox: key accepted: portal 111 (Sandbox) as user 9001 "
            "<jane@example.com>") in lines
    assert ("ok   hubspot staging: key accepted: portal 222 (Staging) as user 9002 "
            "<joe@example.com>") in lines
    assert "ok   keyring: tests.support.keyrings.MemoryKeyring can keep keys" in lines
    assert any(line.startswith("ok   clock: within ") for line in lines)
    assert f"ok   state dir: {tmp_path / 'state'} will be created on first use" in text.stdout
    assert "ok   inotify: 6 folders to watch (theme 6)" in text.stdout
    assert any(line.startswith("info service: not installed") for line in lines)

    as_json = subprocess.run([*HUBSYNC, "--config", str(config), "doctor", "--json"], env=env,
                             capture_output=True, text=True, timeout=60, check=False)
    assert as_json.returncode == 0
    report = json.loads(as_json.stdout)
    assert report["ok"] is True
    assert {c["status"] for c in report["checks"]} <= {"ok", "info"}
    assert_no_key(emu, text.stdout + text.stderr + as_json.stdout + as_json.stderr)


def test_fail_keyring_backend_warns_and_only_blocks_accounts_that_need_it(
    tmp_path: Path, emulator_thread: EmulatorThread, write_config: ConfigWriter
) -> None:
    """With keyring's fail backend the keyring line is a warning naming the backend, and
    keys from the environment still pass (exit 0); an account whose key would have to
    come from the keyring fails (exit 1) with a line saying where else to put it."""
    emu = emulator_thread
    config = write_config(emu.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_KEY_")}
    env.update(PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
               XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
               HUBSYNC_KEY_SANDBOX=emu.account("sandbox").key)
    both = dict(env, HUBSYNC_KEY_STAGING=emu.account("staging").key)
    passing = subprocess.run([*HUBSYNC, "--config", str(config), "doctor"], env=both,
                             capture_output=True, text=True, timeout=60, check=False)
    assert passing.returncode == 0, passing.stdout
    assert ("warn keyring: keyring.backends.fail.Keyring: no usable OS keyring"
            in passing.stdout)
    assert passing.stdout.splitlines()[-1] == "ready to sync (1 warning)"

    failing = subprocess.run([*HUBSYNC, "--config", str(config), "doctor"], env=env,
                             capture_output=True, text=True, timeout=60, check=False)
    assert failing.returncode == 1, failing.stdout
    assert ("FAIL key staging: not in $HUBSYNC_KEY_STAGING or systemd credential "
            "'hubsync-staging', and the OS keyring cannot be read") in failing.stdout
    assert "ok   hubspot sandbox: key accepted" in failing.stdout
    assert failing.stdout.splitlines()[-1] == "1 problem stops hubsync from syncing"
    assert_no_key(emu, passing.stdout + passing.stderr + failing.stdout + failing.stderr)


async def test_bad_config_fails_with_every_problem(
    tmp_path: Path, memory_keyring: object
) -> None:
    """An invalid config is one FAIL line listing each problem with its dotted key; a
    missing one says to run `hubsync init`. Both exit non-zero."""
    bad = tmp_path / "config.toml"
    bad.write_text('[settings]\ndebounce = 5\n[accounts.sandbox]\nportal_id = "x"\n')
    report = await diagnose(bad)
    assert report.exit_code == 1
    [(status, text)] = only(report, "config")
    assert status is Status.FAIL
    assert "settings.debounce: unknown key (did you mean 'debounce_ms'?)" in text
    assert "accounts.sandbox.portal_id: expected an integer" in text
    assert "`hubsync check`" in text

    missing = await diagnose(tmp_path / "nowhere.toml")
    [(status, text)] = only(missing, "config")
    assert status is Status.FAIL
    assert "run `hubsync init`" in text
    assert missing.exit_code == 1


async def test_missing_key_fails_naming_every_place_a_key_can_be(
    emulator: Emulator, write_config: ConfigWriter, memory_keyring: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No key anywhere for one account: its key line fails, saying how to provide one;
    the other account is still checked; exit 1."""
    monkeypatch.setenv("HUBSYNC_KEY_SANDBOX", emulator.account("sandbox").key)
    report = await diagnose(write_config(emulator.url))
    [(status, text)] = only(report, "key staging")
    assert status is Status.FAIL
    assert "HUBSYNC_KEY_STAGING" in text
    assert "hubsync auth add staging" in text
    assert only(report, "hubspot staging") == []
    assert only(report, "hubspot sandbox")[0][0] is Status.OK
    assert report.exit_code == 1
    assert_no_key(emulator, all_output(report))


async def test_key_from_the_keyring_is_found_there(
    emulator: Emulator, write_config: ConfigWriter, memory_keyring: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key kept in the keyring is reported as found in the OS keyring and accepted."""
    import keyring

    keyring.set_password("hubsync", "staging", emulator.account("staging").key)
    monkeypatch.setenv("HUBSYNC_KEY_SANDBOX", emulator.account("sandbox").key)
    report = await diagnose(write_config(emulator.url))
    assert only(report, "key staging") == [(Status.OK, "found in the OS keyring -> ")]
    assert only(report, "hubspot staging")[0][0] is Status.OK
    assert report.exit_code == 0
    assert_no_key(emulator, all_output(report))


async def test_revoked_key_fails_with_hubspots_answer(
    emulator: Emulator, write_config: ConfigWriter, memory_keyring: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key HubSpot refuses (revoked) fails its account with HubSpot's message, the
    HTTP status and how to replace the key; exit 1; the key is not in the output."""
    keys_env(emulator, monkeypatch)
    emulator.revoke_key(emulator.account("staging").key)
    report = await diagnose(write_config(emulator.url))
    [(status, text)] = only(report, "hubspot staging")
    assert status is Status.FAIL
    assert "invalid or has been revoked" in text
    assert "(HTTP 401)" in text
    assert "hubsync auth add staging --portal 222" in text
    assert only(report, "key staging")[0][0] is Status.OK
    assert report.exit_code == 1
    assert_no_key(emulator, all_output(report))


async def test_key_of_another_portal_fails(
    emulator: Emulator, write_config: ConfigWriter, memory_keyring: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key that authenticates against another portal than the configured one fails."""
    keys_env(emulator, monkeypatch)
    report = await diagnose(write_config(emulator.url, portals=(111, 333)))
    [(status, text)] = only(report, "hubspot staging")
    assert status is Status.FAIL
    assert "belongs to portal 222 (Staging), not 333" in text
    assert report.exit_code == 1


async def test_unreachable_hubspot_warns_without_blocking(
    tmp_path: Path, write_config: ConfigWriter, memory_keyring: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nothing listening at api_base: the key cannot be verified (warning), the clock is
    not checked (info), and the exit status stays 0: hubsync retries by itself."""
    monkeypatch.setenv("HUBSYNC_KEY_SANDBOX", "CiR-made-up-key-for-this-test")
    monkeypatch.setenv("HUBSYNC_KEY_STAGING", "CiR-made-up-key-for-this-test")
    report = await diagnose(write_config("http://127.0.0.1:9"), exchange_timeout_s=5)
    [(status, text)] = only(report, "hubspot sandbox")
    assert status is Status.WARN
    assert "could not check the key at http://127.0.0.1:9" in text
    assert only(report, "clock")[0][0] is Status.INFO
    assert report.exit_code == 0
    assert "CiR-made-up-key-for-this-test" not in all_output(report)


async def test_unwritable_state_dir_fails(
    tmp_path: Path, emulator: Emulator, write_config: ConfigWriter, memory_keyring: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A state dir that cannot be created or written fails (exit 1) and says how to fix
    it. (A path through a regular file: it cannot be written even by root.)"""
    keys_env(emulator, monkeypatch)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    report = await diagnose(write_config(emulator.url, state_dir=blocker / "state"))
    [(status, text)] = only(report, "state dir")
    assert status is Status.FAIL
    assert f"cannot be created: {blocker} is not a folder" in text
    assert "settings.state_dir" in text
    assert report.exit_code == 1

    report = await diagnose(write_config(emulator.url, state_dir=blocker))
    assert only(report, "state dir")[0] == (
        Status.FAIL, f"{blocker} is not a folder -> make {blocker} writable by you, or set "
        "settings.state_dir")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through any permission bits")
async def test_read_only_state_dir_fails(
    tmp_path: Path, emulator: Emulator, write_config: ConfigWriter, memory_keyring: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An existing state dir without write permission fails: writing is tried, not guessed."""
    keys_env(emulator, monkeypatch)
    state = tmp_path / "state"
    state.mkdir(mode=0o500)
    try:
        report = await diagnose(write_config(emulator.url, state_dir=state))
    finally:
        state.chmod(0o700)
    [(status, text)] = only(report, "state dir")
    assert status is Status.FAIL
    assert "is not writable (Permission denied)" in text


async def test_low_inotify_limit_warns_with_the_sysctl_fix(
    tmp_path: Path, emulator: Emulator, write_config: ConfigWriter, memory_keyring: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """max_user_watches below the watch roots' folder count (a fake /proc value) warns
    with the folder count and the sysctl commands; a warning alone exits 0."""
    keys_env(emulator, monkeypatch)
    limit = tmp_path / "max_user_watches"
    limit.write_text("3\n")
    report = await diagnose(write_config(emulator.url), inotify_limit_file=limit)
    [(status, text)] = only(report, "inotify")
    assert status is Status.WARN
    assert "need 6 folder watches (theme 6) but max_user_watches is 3" in text
    assert "sudo sysctl fs.inotify.max_user_watches=524288" in text
    assert "/etc/sysctl.d/" in text
    assert report.exit_code == 0

    limit.write_text("8\n")
    report = await diagnose(write_config(emulator.url), inotify_limit_file=limit)
    [(status, text)] = only(report, "inotify")
    assert status is Status.WARN
    assert "editors and other tools need watches too" in text

    limit.write_text("100000\n")
    report = await diagnose(write_config(emulator.url), inotify_limit_file=limit)
    assert only(report, "inotify")[0][0] is Status.OK


async def test_skewed_clock_warns(
    emulator: Emulator, write_config: ConfigWriter, memory_keyring: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A local clock 5 minutes off HubSpot's Date header warns with the NTP fix."""
    keys_env(emulator, monkeypatch)
    report = await diagnose(write_config(emulator.url), clock=lambda: time.time() - 300)
    [(status, text)] = only(report, "clock")
    assert status is Status.WARN
    # The Date header has whole seconds.
    assert re.search(r"the local clock is (299|300|301) s behind HubSpot's", text)
    assert "timedatectl set-ntp true" in text
    assert report.exit_code == 0


async def test_installed_service_without_systemd_warns(
    tmp_path: Path, emulator: Emulator, write_config: ConfigWriter, memory_keyring: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No unit: an info line. A unit for another config, where no user systemd runs: a
    warning that it cannot run here and a note that it points elsewhere; exit 0."""
    keys_env(emulator, monkeypatch)
    config = write_config(emulator.url)
    report = await diagnose(config)
    assert only(report, "service")[0][0] is Status.INFO
    unit = tmp_path / "xdg-config" / "systemd" / "user" / "hubsync.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/usr/bin/env hubsync daemon\n")
    # What this container really is; pinned so a developer's own systemd cannot change it.
    monkeypatch.setattr("hubsync.systemd.probe_user_systemd",
                        lambda: SystemdProbe(False, "PID 1 is not systemd"))
    report = await diagnose(config)
    lines = only(report, "service")
    assert lines[0] == (Status.WARN, f"{unit} is installed, but PID 1 is not systemd -> start "
                        "it where a user systemd runs, or run `hubsync watch`")
    assert lines[1][0] is Status.INFO
    assert "runs another config" in lines[1][1]
    assert report.exit_code == 0


async def test_plaintext_keyring_backend_is_flagged(
    emulator: Emulator, write_config: ConfigWriter, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A keyrings.alt file backend (base64 in a file) is named and flagged, not trusted."""
    import keyring

    from tests.support.keyrings import MemoryKeyring

    keys_env(emulator, monkeypatch)
    plaintext = type("PlaintextKeyring", (MemoryKeyring,), {"__module__": "keyrings.alt.file"})
    previous = keyring.get_keyring()
    keyring.set_keyring(plaintext())
    try:
        report = await diagnose(write_config(emulator.url))
    finally:
        keyring.set_keyring(previous)
    [(status, text)] = only(report, "keyring")
    assert status is Status.WARN
    assert text.startswith("keyrings.alt.file.PlaintextKeyring: keeps keys in a plain file")
    assert report.exit_code == 0


def test_unloadable_keyring_backend_is_explained_not_a_crash(
    tmp_path: Path, write_config: ConfigWriter,
) -> None:
    """PYTHON_KEYRING_BACKEND naming a module that does not exist: the keyring line says
    so and where to look, the keys needing it fail, and there is no internal error."""
    config = write_config("http://127.0.0.1:9")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_KEY_")}
    env.update(PYTHON_KEYRING_BACKEND="no_such_module.Keyring",
               XDG_CONFIG_HOME=str(tmp_path / "xdg-config"))
    result = subprocess.run([*HUBSYNC, "--config", str(config), "doctor"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert ("warn keyring: keyring cannot load its backend: ModuleNotFoundError: "
            "No module named 'no_such_module' -> check PYTHON_KEYRING_BACKEND") in result.stdout
    assert "FAIL key sandbox: not in $HUBSYNC_KEY_SANDBOX" in result.stdout
    assert "the OS keyring cannot be read" in result.stdout
    assert "internal error" not in result.stderr
