"""``hubsync push`` as a real process against the emulator thread: the archive path from
the config file to the remote tree."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

from hubsync.emulator import EmulatorThread
from tests.archive.helpers import css_theme, write_files
from tests.support.processes import HUBSYNC, keys_env, local_tree, remote_tree


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
