"""Ctrl-C during `hubsync push`: it says what was pushed and what is still pending."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import DEST, run_hubsync, write_config
from tests.support.processes import (
    hubsync_process,
    keys_env,
    local_tree,
    remote_tree,
    wait_until,
    write_files,
)

pytestmark = pytest.mark.slow


def test_ctrl_c_during_push_prints_pushed_and_pending_then_a_rerun_finishes(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """SIGINT while 200 files are pushed: exit 130 after a summary whose pushed and pending
    counts add up to the 200 files; the next push sends exactly the pending ones."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {f"css/f{i:03}.css": f"/* {i} */" for i in range(200)})
    # File by file: an interruption mid-archive is tests/archive's.
    config = write_config(tmp_path / "config.toml", emu, root, tmp_path / "state",
                          accounts=("sandbox",), extra_settings="rate_limit = 10000",
                          bulk="files")
    emu.set_faults(latency_ms=30)
    try:
        with hubsync_process(["--config", str(config), "push"], keys_env(emu),
                             tmp_path / "out.txt", stop_signal=signal.SIGKILL) as push:
            wait_until(lambda: len(remote_tree(emu, 111, DEST)) >= 20, what="some pushes")
            push.process.send_signal(signal.SIGINT)
            assert push.process.wait(30) == 130
            output = push.output()
    finally:
        emu.set_faults()
    pushed = int(re.search(r"sandbox: (\d+) pushed", output).group(1))  # type: ignore[union-attr]
    pending = int(re.search(r"(\d+) changes? still pending", output).group(1))  # type: ignore[union-attr]
    assert "interrupted" in output
    assert "internal error" not in output
    assert pushed + pending == 200
    assert len(remote_tree(emu, 111, DEST)) == pushed

    emu.clear_requests()
    again = run_hubsync(config, emu, "push")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"sandbox: {pending} pushed" in again.stdout
    assert remote_tree(emu, 111, DEST) == local_tree(root)
