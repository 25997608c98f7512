"""`hubsync status`, `pause`, `resume` and `flush` against a running daemon and with none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from hubsync.state import STATE_FILE
from tests.daemon.daemon_helpers import (
    NotifySocket,
    daemon,
    run_hubsync,
    write_config,
)
from tests.support.processes import (
    remote_tree,
    wait_until,
    write_files,
)

pytestmark = pytest.mark.slow


def test_status_pause_resume_flush_against_a_running_daemon(
    tmp_path: Path, emulator_thread: EmulatorThread, env: dict[str, str], notify: NotifySocket
) -> None:
    """`status --json` describes the running daemon per account and watch; `status` prints
    a readable summary; `pause sandbox` holds only sandbox's pushes (and `flush` then fails
    naming it), `resume` lets them through, `flush` then exits 0; an unknown account is a
    clear error; no key appears in any output."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}", "templates/a.html": "<p>a</p>"})
    config = write_config(tmp_path / "config.toml", emu, tmp_path / "state",
                          {"theme": (root, "my-theme", ("sandbox", "staging"))})
    outputs: list[str] = []

    def hubsync(*args: str) -> tuple[int, str, str]:
        done = run_hubsync(config, env, *args)
        outputs.extend((done.stdout, done.stderr))
        return done.returncode, done.stdout, done.stderr

    with daemon(config, env, tmp_path / "out.txt", notify) as proc:
        notify.wait_line("READY=1")
        wait_until(lambda: len(remote_tree(emu, 222, "my-theme")) == 2, what="initial push")

        code, out, err = hubsync("status", "--json")
        assert code == 0, err
        report = json.loads(out)
        assert report["running"] is True
        assert report["pid"] == proc.pid
        assert report["kind"] == "daemon"
        accounts = {a["name"]: a for a in report["accounts"]}
        assert set(accounts) == {"sandbox", "staging"}
        assert accounts["sandbox"]["portal_id"] == 111
        assert accounts["sandbox"]["hub_user_id"] == 9001
        assert accounts["sandbox"]["auth"] == "ok"
        assert accounts["staging"]["pending"] == 0
        assert accounts["staging"]["in_flight"] == 0
        assert accounts["staging"]["last_push"].endswith("Z")
        assert "last_error" in accounts["sandbox"]
        (watch,) = report["watches"]
        assert watch["name"] == "theme"
        assert watch["src"] == str(root)
        assert watch["files"] == 2
        assert watch["last_reconcile"].endswith("Z")

        code, out, err = hubsync("status")
        assert code == 0, err
        assert f"hubsync daemon running (PID {proc.pid})" in out
        assert "jane@example.com" in out
        assert "2/2 accounts ok" in out

        code, out, err = hubsync("pause", "sandbox")
        assert (code, out.strip()) == (0, "paused sandbox; paused now: sandbox"), err
        write_files(root, {"templates/new.html": "<p>new</p>"})
        wait_until(lambda: "templates/new.html" in remote_tree(emu, 222, "my-theme"),
                   what="staging still pushing")
        # The flush is the barrier: it returns at once (a paused account cannot progress,
        # so nothing is waited for) and says the paused file is pending.
        code, out, err = hubsync("flush", "--timeout", "20")
        assert code == 1
        assert "sandbox: 1 pending (paused)" in err
        assert "timed out" not in err
        assert "templates/new.html" not in remote_tree(emu, 111, "my-theme")

        code, out, err = hubsync("resume", "sandbox")
        assert (code, out.strip()) == (0, "resumed sandbox; no account is paused now"), err
        code, out, err = hubsync("flush", "--timeout", "20")
        assert (code, out.strip()) == (0, "flushed: nothing pending"), err
        assert "templates/new.html" in remote_tree(emu, 111, "my-theme")

        code, out, err = hubsync("pause", "sandbx")
        assert code == 64
        assert "'sandbx': no account of that name; did you mean 'sandbox'?" in err
        assert proc.stop() == 0
    outputs.append(proc.output())
    assert not any(account.key in text for text in outputs
                   for account in emu.accounts.values())


def test_status_and_control_with_nothing_running(
    tmp_path: Path, emulator_thread: EmulatorThread, env: dict[str, str]
) -> None:
    """With no hubsync running, `status` says "not running" from the config (creating no
    state database), and `pause` and `flush` fail with exit 1 and a hint."""
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}"})
    state = tmp_path / "state"
    config = write_config(tmp_path / "config.toml", emulator_thread, state,
                          {"theme": (root, "my-theme", ("sandbox",))})

    done = run_hubsync(config, env, "status", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["running"] is False
    assert report["pid"] is None
    assert [(a["name"], a["portal_id"], a["pending"], a["in_flight"], a["last_push"])
            for a in report["accounts"]] == [("sandbox", 111, 0, 0, None)]
    assert [(w["name"], w["src"], w["files"]) for w in report["watches"]] == [
        ("theme", str(root), 0)]
    assert not (state / STATE_FILE).exists()

    done = run_hubsync(config, env, "status")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("not running")
    assert "sandbox" in done.stdout

    for args in (("pause",), ("flush",)):
        done = run_hubsync(config, env, *args)
        assert done.returncode == 1, args
        assert "no hubsync is running" in done.stderr
        assert "hubsync watch" in done.stderr
