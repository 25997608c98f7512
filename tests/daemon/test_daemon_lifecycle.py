"""`hubsync daemon` as a real process: sd_notify, signals, reload, single instance, exits."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.daemon.daemon_helpers import (
    NotifySocket,
    daemon,
    run_hubsync,
    write_config,
)
from tests.support.processes import (
    local_tree,
    remote_tree,
    wait_until,
    write_files,
)

pytestmark = pytest.mark.slow


def _keys(emu: EmulatorThread) -> list[str]:
    return [account.key for account in emu.accounts.values()]


def test_daemon_notifies_ready_status_watchdog_and_stopping(
    tmp_path: Path, emulator_thread: EmulatorThread, env: dict[str, str], notify: NotifySocket
) -> None:
    """READY=1 comes with a STATUS= summary once the first reconcile is queued; WATCHDOG=1
    arrives at half of WATCHDOG_USEC; STATUS= follows pushes; SIGTERM sends STOPPING=1 and
    exits 0; no key appears in any output."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}"})
    config = write_config(tmp_path / "config.toml", emu, tmp_path / "state",
                          {"theme": (root, "my-theme", ("sandbox", "staging"))})
    with daemon(config, env, tmp_path / "out.txt", notify, watchdog_usec=400_000) as proc:
        ready = notify.wait_line("READY=1")
        ready_lines = notify.messages[ready][1].split("\n")
        assert any(line.startswith("STATUS=") and "accounts ok" in line
                   for line in ready_lines), ready_lines
        wait_until(lambda: "css/main.css" in remote_tree(emu, 222, "my-theme"),
                   what="initial push")

        # The watchdog: pings about every 0.2 s, never a gap near the 0.4 s limit.
        time.sleep(1.3)
        pings = [at for at, text in notify.messages if text == "WATCHDOG=1"]
        assert len(pings) >= 4, notify.messages
        gaps = [b - a for a, b in zip(pings[-5:], pings[-4:], strict=False)]
        assert max(gaps) < 0.4, gaps  # systemd would kill us at a 0.4 s gap

        mark = len(notify.messages)
        write_files(root, {"templates/home.html": "<h1>home</h1>"})
        notify.wait_for(lambda line: line.startswith("STATUS=") and "last push" in line,
                        start=mark)
        status_lines = [line for line in notify.lines() if line.startswith("STATUS=")]
        assert any("2/2 accounts ok" in line and "pending" in line for line in status_lines)

        mark = len(notify.messages)
        assert proc.stop() == 0
        assert "STOPPING=1" in notify.lines(mark)
    output = proc.output()
    assert not any(key in output for key in _keys(emu))
    # Diagnostics are JSON lines (no TTY decoration) when stderr is not the journal.
    events = [json.loads(line)["event"] for line in output.splitlines()
              if line.startswith("{")]
    assert "ready" in events
    assert "stopping" in events


def test_second_instance_is_refused_naming_the_running_pid(
    tmp_path: Path, emulator_thread: EmulatorThread, env: dict[str, str], notify: NotifySocket
) -> None:
    """A second daemon on the same state directory exits 1 at once and names the PID of
    the first, which keeps running."""
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}"})
    config = write_config(tmp_path / "config.toml", emulator_thread, tmp_path / "state",
                          {"theme": (root, "my-theme", ("sandbox",))})
    with daemon(config, env, tmp_path / "out.txt", notify) as first:
        notify.wait_line("READY=1")
        began = time.monotonic()
        second = run_hubsync(config, env, "daemon", timeout=20)
        assert second.returncode == 1
        assert time.monotonic() - began < 10
        assert f"PID {first.pid}" in second.stderr
        assert "already running" in second.stderr
        assert first.process.poll() is None
        assert first.stop() == 0


def test_bad_config_exits_78_without_ready(
    tmp_path: Path, emulator_thread: EmulatorThread, env: dict[str, str], notify: NotifySocket
) -> None:
    """An invalid config ends the daemon with 78 (so systemd does not restart-loop), says
    which key is wrong, and never reports READY=1."""
    config = tmp_path / "config.toml"
    config.write_text('[settings]\ndebounce_ms = "soon"\n')
    with daemon(config, env, tmp_path / "out.txt", notify) as proc:
        assert proc.process.wait(30) == 78
    assert "debounce_ms" in proc.output()
    assert "hubsync: error:" in proc.output()
    assert "READY=1" not in notify.lines()


def test_sigterm_mid_push_keeps_the_rest_pending_for_the_next_start(
    tmp_path: Path, emulator_thread: EmulatorThread, env: dict[str, str], notify: NotifySocket
) -> None:
    """SIGTERM while pushes are in flight: exit 0 soon, what was not pushed is pending in
    the state, `status` (nothing running) shows it, and the next start pushes the rest so
    the remote tree equals the local one."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {f"css/f{i:02}.css": f"/* {i} */" for i in range(40)})
    state = tmp_path / "state"
    config = write_config(tmp_path / "config.toml", emu, state,
                          {"theme": (root, "my-theme", ("sandbox",))})
    emu.set_faults(latency_ms=400)
    with daemon(config, env, tmp_path / "out1.txt", notify) as proc:
        notify.wait_line("READY=1")
        wait_until(lambda: len(remote_tree(emu, 111, "my-theme")) >= 1, what="first push")
        began = time.monotonic()
        assert proc.stop() == 0
        assert time.monotonic() - began < 15
    pushed_before = len(remote_tree(emu, 111, "my-theme"))
    assert 1 <= pushed_before < 40

    stopped = run_hubsync(config, env, "status", "--json")
    assert stopped.returncode == 0, stopped.stderr
    report = json.loads(stopped.stdout)
    assert report["running"] is False
    assert report["pid"] is None
    assert [a["pending"] for a in report["accounts"] if a["name"] == "sandbox"] == [
        40 - pushed_before]

    emu.set_faults(latency_ms=0)
    with daemon(config, env, tmp_path / "out2.txt", notify) as proc:
        wait_until(lambda: remote_tree(emu, 111, "my-theme") == local_tree(root),
                   what="the rest pushed on the next start")
        assert proc.stop() == 0
    report = json.loads(run_hubsync(config, env, "status", "--json").stdout)
    assert [a["pending"] for a in report["accounts"] if a["name"] == "sandbox"] == [0]


def test_sighup_keeps_an_invalid_config_and_applies_a_valid_one(
    tmp_path: Path, emulator_thread: EmulatorThread, env: dict[str, str], notify: NotifySocket
) -> None:
    """SIGHUP with an invalid config: RELOADING=1, then READY=1 with "config reload failed",
    and the old config keeps working. SIGHUP with a valid config adding a watch:
    RELOADING=1, READY=1, and the new watch's files are pushed. Later SIGHUPs still work."""
    emu = emulator_thread
    root = tmp_path / "theme"
    extra = tmp_path / "extra"
    write_files(root, {"css/main.css": "body {}"})
    write_files(extra, {"css/extra.css": "p {}", "templates/x.html": "<p>x</p>"})
    state = tmp_path / "state"
    config = tmp_path / "config.toml"
    one_watch = {"theme": (root, "my-theme", ("sandbox",))}
    write_config(config, emu, state, one_watch)
    with daemon(config, env, tmp_path / "out.txt", notify) as proc:
        notify.wait_line("READY=1")

        config.write_text(config.read_text() + "\n[settings.oops\n")
        mark = len(notify.messages)
        proc.process.send_signal(signal.SIGHUP)
        reloading = notify.wait_line("RELOADING=1", start=mark)
        refused = notify.wait_line("READY=1", start=reloading)
        assert any(line.startswith("STATUS=config reload failed")
                   for line in notify.messages[refused][1].split("\n"))
        write_files(root, {"css/after.css": "a {}"})
        wait_until(lambda: "css/after.css" in remote_tree(emu, 111, "my-theme"),
                   what="old config still working")

        write_config(config, emu, state, {**one_watch, "extra": (extra, "extra-theme",
                                                                 ("sandbox", "staging"))})
        mark = len(notify.messages)
        proc.process.send_signal(signal.SIGHUP)
        reloading = notify.wait_line("RELOADING=1", start=mark)
        notify.wait_line("READY=1", start=reloading)
        wait_until(lambda: all(remote_tree(emu, portal, "extra-theme") == local_tree(extra)
                               for portal in (111, 222)),
                   what="added watch pushed to both accounts")
        write_files(root, {"css/later.css": "b {}"})
        wait_until(lambda: "css/later.css" in remote_tree(emu, 111, "my-theme"),
                   what="first watch still working after the reload")

        # A later SIGHUP is still answered (nothing changed: applied in place).
        mark = len(notify.messages)
        proc.process.send_signal(signal.SIGHUP)
        reloading = notify.wait_line("RELOADING=1", start=mark)
        notify.wait_line("READY=1", start=reloading)
        assert proc.stop() == 0
    assert "config_reload_failed" in proc.output()


def test_state_dir_under_a_file_exits_78(
    tmp_path: Path, env: dict[str, str], notify: NotifySocket
) -> None:
    """A state directory that can never be created (a file is in the way) is a config
    problem (78: the service manager does not restart-loop), reported with the key and
    what to change, before READY=1."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    config = tmp_path / "config.toml"
    config.write_text(f'[settings]\nstate_dir = "{blocker / "state"}"\n')
    with daemon(config, env, tmp_path / "out.txt", notify) as proc:
        assert proc.process.wait(30) == 78
    assert "settings.state_dir" in proc.output()
    assert "is not a folder" in proc.output()
    assert "READY=1" not in notify.lines()
