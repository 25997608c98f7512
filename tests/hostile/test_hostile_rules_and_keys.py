"""A running `watch` follows its inputs as they change: `.hsignore` edited while it runs,
and a key rotated on HubSpot's side, picked up at once by `hubsync reload` (SIGHUP)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from hubsync.credentials import credential_name, env_var_name
from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import DEST, run_hubsync, uploads_of, watch_session, write_config
from tests.support.processes import (
    file_deletes,
    hubsync_process,
    keys_env,
    remote_tree,
    wait_until,
    write_files,
)

pytestmark = pytest.mark.slow


def test_hsignore_written_while_watch_runs_is_honoured_at_once(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """`.hsignore` written under a running watch: files it now ignores are no longer
    pushed (a pending upload of one is dropped), nothing is deleted remotely for it, and
    a file it does not match still is pushed."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "a", "drafts/wip.css": "v1"})
    config = write_config(tmp_path / "config.toml", emu, root, tmp_path / "state",
                          accounts=("sandbox",))
    with watch_session(config, emu, tmp_path / "out.txt"):
        wait_until(lambda: len(remote_tree(emu, 111, DEST)) == 2, what="first push")
        write_files(root, {".hsignore": "drafts/\n"})
        assert run_hubsync(config, emu, "flush").returncode == 0
        write_files(root, {"drafts/wip.css": "v2", "css/main.css": "b"})
        wait_until(lambda: remote_tree(emu, 111, DEST).get("css/main.css") == b"b",
                   what="a file the rules do not match")
        assert run_hubsync(config, emu, "flush").returncode == 0
        assert remote_tree(emu, 111, DEST).get("drafts/wip.css") == b"v1"
        assert uploads_of(emu, f"{DEST}/drafts/wip.css") == 1
        assert not file_deletes(emu)


def test_a_rotated_key_is_used_as_soon_as_hubsync_reload_runs(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """The key is rotated on HubSpot's side: the account is blocked (status never says
    `auth: ok` then) and its changes wait; the new key is put where hubsync reads it (a
    systemd credential) and `hubsync reload` sends it at once: the waiting change goes out
    without waiting for the 60 s recheck."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "a"})
    config = write_config(tmp_path / "config.toml", emu, root, tmp_path / "state",
                          accounts=("sandbox",))
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / credential_name("sandbox")).write_text(emu.accounts["sandbox"].key)
    env = keys_env(emu)
    env.pop(env_var_name("sandbox"))
    env["CREDENTIALS_DIRECTORY"] = str(creds)
    with hubsync_process(["--config", str(config), "watch"], env, tmp_path / "out.txt",
                         stop_signal=signal.SIGINT) as session:
        session.wait_for_output("watching")
        wait_until(lambda: "css/main.css" in remote_tree(emu, 111, DEST), what="first push")
        new_key = emu.rotate_key("sandbox")
        emu.expire_all_tokens()
        write_files(root, {"css/main.css": "b"})

        def account() -> dict[str, object]:
            done = run_hubsync(config, emu, "status", "--json")
            report = json.loads(done.stdout)
            return dict(report["accounts"][0])

        wait_until(lambda: bool(account().get("blocked")), timeout=30, what="blocked")
        assert account()["auth"] != "ok"
        assert remote_tree(emu, 111, DEST)["css/main.css"] == b"a"

        (creds / credential_name("sandbox")).write_text(new_key)
        reloaded = run_hubsync(config, emu, "reload")
        assert reloaded.returncode == 0, reloaded.stderr
        wait_until(lambda: remote_tree(emu, 111, DEST).get("css/main.css") == b"b",
                   timeout=15, what="the change pushed with the new key")
        assert account()["auth"] == "ok"
    assert new_key not in session.output()
    assert os.environ.get(env_var_name("sandbox")) != new_key
