"""``hubsync push`` as a real process against the emulator thread: the archive path from
the config file to the remote tree."""

from __future__ import annotations

import json
import signal
import subprocess
from collections import Counter
from pathlib import Path

from hubsync.emulator import EmulatorThread
from tests.archive.helpers import css_theme, write_files
from tests.support.processes import (
    HUBSYNC,
    hubsync_process,
    keys_env,
    local_tree,
    remote_tree,
    wait_until,
)


def write_config(path: Path, emu: EmulatorThread, root: Path, bulk: str) -> Path:
    path.write_text(
        "[settings]\n"
        f'state_dir = "{path.parent / "state"}"\n'
        "[accounts.sandbox]\n"
        "portal_id = 111\n"
        f'api_base = "{emu.url}"\n'
        f'bulk = "{bulk}"\n'
        "[[watch]]\n"
        'name = "theme"\n'
        f'src = "{root}"\n'
        'dest = "my-theme"\n'
        'accounts = ["sandbox"]\n')
    return path


def push(config: Path, emu: EmulatorThread) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HUBSYNC, "--config", str(config), "push"], env=keys_env(emu),
                          capture_output=True, text=True, timeout=120, check=False)


def test_push_sends_a_large_theme_as_one_archive(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """``hubsync push`` of 150 files with ``bulk = "auto"``: exit 0, one extraction and a
    handful of requests, the remote tree equal to the local one, one ``pushed`` line per
    file in the sync log (``via: archive``), and no archive left behind."""
    root = tmp_path / "theme"
    write_files(root, css_theme(150, folders=5))
    config = write_config(tmp_path / "config.toml", emulator_thread, root, "auto")
    done = push(config, emulator_thread)
    assert done.returncode == 0, done.stdout + done.stderr
    assert remote_tree(emulator_thread, 111, "my-theme") == local_tree(root)
    seen = Counter(str(r.endpoint) for r in emulator_thread.requests)
    assert seen["extract"] == 1
    assert seen["upload"] == 0
    assert sum(seen.values()) < 25, seen
    lines = [json.loads(line) for line in
             (tmp_path / "state" / "sync.log").read_text().splitlines()]
    pushed = [line for line in lines if line["event"] == "pushed"]
    assert len(pushed) == 150
    assert {line["via"] for line in pushed} == {"archive"}
    assert not [p for p in emulator_thread.files(111) if "hubsync-archive-" in p]


def test_push_with_bulk_archive_reports_a_refusal(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """``bulk = "archive"`` and an extraction refused with 403: the push still succeeds
    file by file, and its output says the archive was refused and why."""
    emulator_thread.set_extract_faults(refuse_status=403)
    root = tmp_path / "theme"
    write_files(root, css_theme(60))
    config = write_config(tmp_path / "config.toml", emulator_thread, root, "archive")
    done = push(config, emulator_thread)
    assert done.returncode == 0, done.stdout + done.stderr
    assert remote_tree(emulator_thread, 111, "my-theme") == local_tree(root)
    output = done.stdout + done.stderr
    assert "archive_refused" in output
    assert "extract" in output


def test_status_and_doctor_show_a_remembered_refusal(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """After ``auto`` met a refused extraction, ``hubsync status`` (nothing running) says
    that large batches go file by file, why, and how to try again; ``--json`` has it as
    ``archive_refused``; ``hubsync doctor`` has a line for it."""
    emulator_thread.set_extract_faults(refuse_status=403)
    root = tmp_path / "theme"
    write_files(root, css_theme(60))
    config = write_config(tmp_path / "config.toml", emulator_thread, root, "auto")
    assert push(config, emulator_thread).returncode == 0
    status = subprocess.run([*HUBSYNC, "--config", str(config), "status", "--json"],
                            env=keys_env(emulator_thread), capture_output=True, text=True,
                            timeout=60, check=True)
    [account] = json.loads(status.stdout)["accounts"]
    assert "extract" in account["archive_refused"]["reason"]
    assert account["archive_refused"]["at"].endswith("Z")
    text = subprocess.run([*HUBSYNC, "--config", str(config), "status"],
                          env=keys_env(emulator_thread), capture_output=True, text=True,
                          timeout=60, check=True).stdout
    assert "large batches go file by file" in text
    assert 'bulk = "archive"' in text
    doctor = subprocess.run([*HUBSYNC, "--config", str(config), "doctor"],
                            env=keys_env(emulator_thread), capture_output=True, text=True,
                            timeout=60, check=False).stdout
    assert "sandbox bulk" in doctor
    assert "large batches go file by file" in doctor


def test_sigkill_during_the_extraction_then_a_rerun_cleans_up_and_converges(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """``hubsync push`` killed (SIGKILL) while HubSpot extracts its archive leaves the
    archive stored; the next push deletes it (the state named it before it was stored)
    and ends with the remote tree equal to the local one."""
    emu = emulator_thread
    emu.set_extract_faults(delay_ms=4000)
    root = tmp_path / "theme"
    write_files(root, css_theme(80))
    config = write_config(tmp_path / "config.toml", emu, root, "auto")
    with hubsync_process(["--config", str(config), "push"], keys_env(emu),
                         tmp_path / "out.txt", stop_signal=signal.SIGKILL) as session:
        wait_until(lambda: any(r.endpoint == "extract" for r in emu.requests),
                   what="an extraction")
        session.process.send_signal(signal.SIGKILL)
        session.process.wait(10)
    assert [p for p in emu.files(111) if "hubsync-archive-" in p]
    emu.set_extract_faults()
    done = push(config, emu)
    assert done.returncode == 0, done.stdout + done.stderr
    assert remote_tree(emu, 111, "my-theme") == local_tree(root)
    assert not [p for p in emu.files(111) if "hubsync-archive-" in p]
    assert not [p for p in emu.files(111, "draft") if "hubsync-archive-" in p]


def test_ctrl_c_during_the_extraction_waits_for_it_and_says_so(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """SIGINT while the archive is being extracted: the extraction is a request in flight,
    so the push waits for it, records every file, deletes the archive and exits 130 with
    a summary that counts them pushed."""
    emu = emulator_thread
    emu.set_extract_faults(delay_ms=2000)
    root = tmp_path / "theme"
    write_files(root, css_theme(60))
    config = write_config(tmp_path / "config.toml", emu, root, "auto")
    with hubsync_process(["--config", str(config), "push"], keys_env(emu),
                         tmp_path / "out.txt", stop_signal=signal.SIGKILL) as session:
        wait_until(lambda: any(r.endpoint == "extract" for r in emu.requests),
                   what="an extraction")
        session.process.send_signal(signal.SIGINT)
        assert session.process.wait(30) == 130
        output = session.output()
    assert "sandbox: 60 pushed" in output, output
    assert remote_tree(emu, 111, "my-theme") == local_tree(root)
    assert not [p for p in emu.files(111) if "hubsync-archive-" in p]
