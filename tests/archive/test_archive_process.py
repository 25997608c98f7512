"""``hubsync push`` as a real process against the emulator thread: the archive path from
the config file to the remote tree."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hubsync.emulator import EmulatorThread
from tests.archive.helpers import PORTAL, assert_no_archive_left, assert_requests, css_theme
from tests.e2e.e2e_helpers import DEST, run_hubsync, write_config
from tests.support.processes import (
    HubsyncProcess,
    hubsync_process,
    keys_env,
    local_tree,
    remote_tree,
    wait_until,
    write_files,
)


def arranged(tmp_path: Path, emu: EmulatorThread, count: int, bulk: str = "auto", *,
             folders: int = 4) -> tuple[Path, Path]:
    """``css_theme(count, folders=folders)`` in ``tmp_path/theme`` and a config pushing it
    to the sandbox account with ``bulk``: (the theme folder, the config file)."""
    root = tmp_path / "theme"
    write_files(root, css_theme(count, folders=folders))
    config = write_config(tmp_path / "config.toml", emu, root, tmp_path / "state",
                          accounts=("sandbox",), delete_remote=False, bulk=bulk)
    return root, config


def push(config: Path, emu: EmulatorThread) -> subprocess.CompletedProcess[str]:
    return run_hubsync(config, emu, "push", timeout=120)


@contextmanager
def pushing_while_extracting(tmp_path: Path, config: Path, emu: EmulatorThread
                             ) -> Iterator[HubsyncProcess]:
    """``hubsync push`` as a process, yielded once HubSpot got its archive's extraction;
    killed (SIGKILL) at the end if it still runs."""
    with hubsync_process(["--config", str(config), "push"], keys_env(emu),
                         tmp_path / "out.txt", stop_signal=signal.SIGKILL) as session:
        wait_until(lambda: any(r.endpoint == "extract" for r in emu.requests),
                   what="an extraction")
        yield session


def assert_converged(emu: EmulatorThread, root: Path) -> None:
    """The remote theme equals the local folder and no archive is left, published or
    draft."""
    assert remote_tree(emu, PORTAL, DEST) == local_tree(root)
    assert_no_archive_left(emu)


def test_push_sends_a_large_theme_as_one_archive(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """``hubsync push`` of 150 files with ``bulk = "auto"``: exit 0, one extraction and a
    handful of requests, the remote tree equal to the local one, one ``pushed`` line per
    file in the sync log (``via: archive``), and no archive left behind."""
    root, config = arranged(tmp_path, emulator_thread, 150, folders=5)
    done = push(config, emulator_thread)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_converged(emulator_thread, root)
    requests = assert_requests(emulator_thread, extract=1, upload=0)
    assert sum(requests.values()) < 25, requests
    lines = [json.loads(line) for line in
             (tmp_path / "state" / "sync.log").read_text().splitlines()]
    pushed = [line for line in lines if line["event"] == "pushed"]
    assert len(pushed) == 150
    assert {line["via"] for line in pushed} == {"archive"}


def test_push_with_bulk_archive_reports_a_refusal(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """``bulk = "archive"`` and an extraction refused with 403: the push still succeeds
    file by file, and its output says the archive was refused and why."""
    emulator_thread.set_extract_faults(refuse_status=403)
    root, config = arranged(tmp_path, emulator_thread, 60, "archive")
    done = push(config, emulator_thread)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_converged(emulator_thread, root)
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
    _, config = arranged(tmp_path, emulator_thread, 60)
    assert push(config, emulator_thread).returncode == 0
    status = run_hubsync(config, emulator_thread, "status", "--json", timeout=60)
    assert status.returncode == 0, status.stderr
    [account] = json.loads(status.stdout)["accounts"]
    assert "extract" in account["archive_refused"]["reason"]
    assert account["archive_refused"]["at"].endswith("Z")
    said = run_hubsync(config, emulator_thread, "status", timeout=60)
    assert said.returncode == 0, said.stderr
    assert "large batches go file by file" in said.stdout
    assert 'bulk = "archive"' in said.stdout
    doctor = run_hubsync(config, emulator_thread, "doctor", timeout=60).stdout
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
    root, config = arranged(tmp_path, emu, 80)
    with pushing_while_extracting(tmp_path, config, emu) as session:
        session.process.send_signal(signal.SIGKILL)
        session.process.wait(10)
    assert [p for p in emu.files(PORTAL) if "hubsync-archive-" in p]
    emu.set_extract_faults()
    done = push(config, emu)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_converged(emu, root)


def test_ctrl_c_during_the_extraction_waits_for_it_and_says_so(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """SIGINT while the archive is being extracted: the extraction is a request in flight,
    so the push waits for it, records every file, deletes the archive and exits 130 with
    a summary that counts them pushed."""
    emu = emulator_thread
    emu.set_extract_faults(delay_ms=2000)
    root, config = arranged(tmp_path, emu, 60)
    with pushing_while_extracting(tmp_path, config, emu) as session:
        session.process.send_signal(signal.SIGINT)
        assert session.process.wait(30) == 130
        output = session.output()
    assert "sandbox: 60 pushed" in output, output
    assert_converged(emu, root)
