"""`hubsync watch` as a subprocess against the emulator with two accounts."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import (
    DEST,
    requests_of,
    run_hubsync,
    uploads_of,
    watch_session,
    write_config,
)
from tests.support.processes import (
    remote_tree,
    wait_until,
    write_files,
)

pytestmark = pytest.mark.slow


def test_watch_pushes_each_kind_of_change_exactly_once(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """Create, edit, 50 rapid saves, rename, delete, folder delete, ignored files, an
    invalid template and an empty file: each arrives in both accounts as it should,
    with one upload per settled save, and the sync log attributes every push."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}", ".hsignore": "drafts/\n"})
    state = tmp_path / "state"
    config = write_config(tmp_path / "config.toml", emu, root, state)
    with watch_session(config, emu, tmp_path / "out.txt") as session:
        # The first reconcile pushed the existing file to both accounts.
        wait_until(lambda: "css/main.css" in remote_tree(emu, 222, DEST), what="initial push")
        assert "reconciled" in (state / "sync.log").read_text()

        write_files(root, {"templates/home.html": "<h1>home</h1>"})
        wait_until(lambda: all(remote_tree(emu, portal, DEST).get("templates/home.html")
                               == b"<h1>home</h1>" for portal in (111, 222)),
                   what="create")
        session.wait_for_output("↑ templates/home.html -> sandbox (jane,")

        # 50 writes in about 100 ms: one upload of the final content per account.
        target = root / "css" / "rapid.css"
        for i in range(50):
            target.write_text(f"/* save {i} */")
            time.sleep(0.002)
        wait_until(lambda: remote_tree(emu, 111, DEST).get("css/rapid.css") == b"/* save 49 */"
                   and remote_tree(emu, 222, DEST).get("css/rapid.css") == b"/* save 49 */",
                   what="rapid saves")
        # `flush` returns once nothing is pending: a second upload would be counted here.
        assert run_hubsync(config, emu, "flush").returncode == 0
        assert uploads_of(emu, "my-theme/css/rapid.css", 111) == 1
        assert uploads_of(emu, "my-theme/css/rapid.css", 222) == 1

        # Edit.
        (root / "templates" / "home.html").write_text("<h1>home v2</h1>")
        wait_until(lambda: remote_tree(emu, 222, DEST).get("templates/home.html")
                   == b"<h1>home v2</h1>", what="edit")

        # Rename: the new name is uploaded, the old one deleted.
        (root / "css" / "main.css").rename(root / "css" / "site.css")
        wait_until(lambda: "css/main.css" not in remote_tree(emu, 111, DEST)
                   and remote_tree(emu, 111, DEST).get("css/site.css") == b"body {}", what="rename")

        # Delete one file.
        (root / "css" / "rapid.css").unlink()
        wait_until(lambda: "css/rapid.css" not in remote_tree(emu, 222, DEST), what="delete")

        # Delete a folder of three files: it holds nothing but what hubsync synced, so ONE
        # folder delete per account (docs/teams.md, "Removing a folder"); never a file
        # delete besides it.
        write_files(root, {f"images/i{i}.svg": f"<svg>{i}</svg>" for i in range(3)})
        wait_until(lambda: len([p for p in remote_tree(emu, 111, DEST) if p.startswith("images/")])
                   == 3, what="images")
        shutil.rmtree(root / "images")
        wait_until(lambda: not [p for p in remote_tree(emu, 111, DEST) if p.startswith("images/")]
                   and not [p for p in remote_tree(emu, 222, DEST) if p.startswith("images/")],
                   what="folder delete")
        assert requests_of(emu, "delete", "my-theme/images") == 2
        for i in range(3):
            assert requests_of(emu, "delete", f"my-theme/images/i{i}.svg") == 0

        # Ignored: .hsignore, editor temp files, unsupported extensions.
        write_files(root, {"drafts/wip.html": "x", "css/x.css~": "x", "notes.psd": "x",
                           "templates/.home.html.swp": "x"})
        # Invalid template: the error with its line, and no retry.
        write_files(root, {"templates/bad.html": "ok\n{{ broken\n"})
        session.wait_for_output("line 2:")
        # An empty file: HubSpot refuses it, so it is skipped by the rule, never sent.
        write_files(root, {"templates/empty.html": ""})
        session.wait_for_output("templates/empty.html skipped: empty file")
        # The barrier: flush returns once nothing is pending (exit 1: bad.html failed).
        flushed = run_hubsync(config, emu, "flush")
        assert flushed.returncode == 1, flushed.stderr
        assert "1 failed" in flushed.stderr
        assert "timed out" not in flushed.stderr
        assert uploads_of(emu, "my-theme/templates/bad.html") == 0
        assert requests_of(emu, "upload", "my-theme/templates/bad.html") == 2
        assert requests_of(emu, "upload", "my-theme/templates/empty.html") == 0
        tree = remote_tree(emu, 111, DEST)
        assert not [p for p in tree if p.startswith("drafts/") or p.endswith(("~", ".psd",
                                                                               ".swp"))]
        assert "skipped" in session.output()

    assert session.process.returncode == 0
    assert "stopped" in session.output()
    lines = [json.loads(line) for line in (state / "sync.log").read_text().splitlines()]
    events = [line["event"] for line in lines]
    assert events[0] == "session_started"
    assert events[-1] == "session_stopped"
    pushed = [line for line in lines if line["event"] == "pushed"]
    assert {line["hub_user_email"] for line in pushed} == {"jane@example.com",
                                                          "joe@example.com"}
    assert all(isinstance(line["portal_id"], int) for line in pushed)
    failed = [line for line in lines if line["event"] == "failed"]
    assert any("line 2" in line["error"] for line in failed)
    # Neither key appears in the console, the sync log or the state database.
    written = session.output().encode() + (state / "sync.log").read_bytes() + b"".join(
        path.read_bytes() for path in state.iterdir() if path.name.startswith("state.db"))
    for account in emu.accounts.values():
        assert account.key.encode() not in written


def test_watch_session_answers_status_pause_and_a_second_instance(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """A watch session serves the control socket as the daemon does: `status --json` sees
    it running with both accounts, `pause` holds one account, and a second watch on the
    same state is refused at once naming the running PID."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}"})
    config = write_config(tmp_path / "config.toml", emu, root, tmp_path / "state")
    with watch_session(config, emu, tmp_path / "out.txt") as session:
        status = run_hubsync(config, emu, "status", "--json")
        assert status.returncode == 0, status.stderr
        report = json.loads(status.stdout)
        assert report["running"] is True
        assert report["pid"] == session.process.pid
        assert {a["name"] for a in report["accounts"]} == {"sandbox", "staging"}

        paused = run_hubsync(config, emu, "pause", "staging")
        assert paused.returncode == 0, paused.stderr
        after = json.loads(run_hubsync(config, emu, "status", "--json").stdout)
        assert {a["name"]: a["paused"] for a in after["accounts"]} == {
            "sandbox": False, "staging": True}

        second = run_hubsync(config, emu, "watch", timeout=30)
        assert second.returncode == 1
        assert str(session.process.pid) in second.stderr
