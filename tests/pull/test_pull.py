"""``hubsync pull`` as a user runs it: a subprocess against the emulator over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import DEST, run_hubsync, write_config
from tests.pull.pull_helpers import TEAMMATE, THEME, log_lines, seed_remote
from tests.support.processes import PORTALS, local_tree, remote_tree, write_files


def _setup(tmp_path: Path, emu: EmulatorThread, *,
           accounts: tuple[str, ...] = ("sandbox",)) -> tuple[Path, Path, Path]:
    root = tmp_path / "theme"
    root.mkdir()
    state = tmp_path / "state"
    config = write_config(tmp_path / "config.toml", emu, root, state, accounts=accounts)
    return config, root, state


def test_pull_into_empty_folder_then_push_uploads_nothing(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """The remote tree arrives byte for byte, each file is a `pulled` line with the
    key's identity, and the next `push` sends no upload at all."""
    emu = emulator_thread
    config, root, state = _setup(tmp_path, emu)
    seed_remote(emu, PORTALS["sandbox"])

    done = run_hubsync(config, emu, "pull")
    assert done.returncode == 0, done.stderr
    assert local_tree(root) == THEME
    assert "7 written" in done.stdout

    pulled = log_lines(state, "pulled")
    assert sorted(line["path"] for line in pulled) == sorted(THEME)
    hero = next(line for line in pulled if line["path"] == "templates/home.html")
    assert hero["hub_user_id"] == 9001
    assert hero["hub_user_email"] == "jane@example.com"
    assert hero["account"] == "sandbox"
    assert hero["portal_id"] == PORTALS["sandbox"]
    assert hero["remote_path"] == f"{DEST}/templates/home.html"
    assert hero["bytes"] == len(THEME["templates/home.html"])
    assert hero["remote_user_id"] == TEAMMATE
    assert {"local_user", "host", "sha256"} <= set(hero)

    emu.clear_requests()
    pushed = run_hubsync(config, emu, "push")
    assert pushed.returncode == 0, pushed.stderr
    assert [r for r in emu.requests if r.endpoint == "upload"] == []
    assert remote_tree(emu, PORTALS["sandbox"], DEST) == THEME


def test_pull_refuses_to_overwrite_local_changes_and_force_overwrites(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A local file that differs from the remote (never synced) stops the pull with the
    file named and nothing written anywhere; --force overwrites it."""
    emu = emulator_thread
    config, root, state = _setup(tmp_path, emu)
    seed_remote(emu, PORTALS["sandbox"])
    write_files(root, {"css/main.css": "body { color: red; }\n"})

    refused = run_hubsync(config, emu, "pull")
    assert refused.returncode == 1
    assert "css/main.css" in refused.stderr
    assert "--force" in refused.stderr
    assert local_tree(root) == {"css/main.css": b"body { color: red; }\n"}
    assert log_lines(state, "pulled") == []

    forced = run_hubsync(config, emu, "pull", "--force")
    assert forced.returncode == 0, forced.stderr
    assert local_tree(root) == THEME
    main = [line for line in log_lines(state, "pulled") if line["path"] == "css/main.css"]
    assert main
    assert main[0].get("forced") is True


def test_pull_after_a_local_edit_of_a_synced_file_is_refused(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """After a pull, a local edit and a teammate's remote edit of the same file: the next
    pull refuses (it would lose the local edit) while other files stay untouched."""
    emu = emulator_thread
    config, root, _ = _setup(tmp_path, emu)
    seed_remote(emu, PORTALS["sandbox"])
    assert run_hubsync(config, emu, "pull").returncode == 0
    write_files(root, {"templates/home.html": "<h1>mine</h1>\n"})
    emu.edit_as(PORTALS["sandbox"], f"{DEST}/templates/home.html", b"<h1>theirs</h1>\n",
                user_id=TEAMMATE)
    emu.edit_as(PORTALS["sandbox"], f"{DEST}/css/main.css", b"body{}\n", user_id=TEAMMATE)

    again = run_hubsync(config, emu, "pull", "--json")
    assert again.returncode == 1
    report = json.loads(again.stdout)
    assert report["ok"] is False
    assert report["watches"]["theme"]["refused"] == [
        {"path": "templates/home.html", "why": "changed locally since the last sync"}]
    assert (root / "templates/home.html").read_bytes() == b"<h1>mine</h1>\n"
    assert (root / "css/main.css").read_bytes() == THEME["css/main.css"]


def test_second_pull_downloads_only_what_changed_remotely(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """Files whose recorded remote version and local content are unchanged are not
    downloaded again; a teammate's edit is."""
    emu = emulator_thread
    config, root, state = _setup(tmp_path, emu)
    seed_remote(emu, PORTALS["sandbox"])
    assert run_hubsync(config, emu, "pull").returncode == 0
    emu.edit_as(PORTALS["sandbox"], f"{DEST}/css/main.css", b"body{}\n", user_id=TEAMMATE)
    emu.clear_requests()

    again = run_hubsync(config, emu, "pull")
    assert again.returncode == 0, again.stderr
    streams = [r.remote_path for r in emu.requests if r.endpoint == "stream"]
    assert streams == [f"{DEST}/css/main.css"]
    assert (root / "css/main.css").read_bytes() == b"body{}\n"
    assert "6 already current" in again.stdout
    assert len(log_lines(state, "pulled")) == len(THEME) + 1


def test_pull_skips_what_the_local_rules_ignore_and_adopts_equal_files(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """Remote files the .hsignore leaves out are not written; a local file equal to the
    remote one is adopted (recorded, not rewritten), and push then uploads nothing."""
    emu = emulator_thread
    config, root, state = _setup(tmp_path, emu)
    seed_remote(emu, PORTALS["sandbox"])
    seed_remote(emu, PORTALS["sandbox"], {"drafts/wip.html": b"<p>wip</p>\n"})
    write_files(root, {".hsignore": "drafts/\n", "css/main.css": THEME["css/main.css"]})

    done = run_hubsync(config, emu, "pull", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["watches"]["theme"]
    assert report["adopted"] == ["css/main.css"]
    assert {"path": "drafts/wip.html", "reason": ".hsignore"} in report["skipped"]
    assert not (root / "drafts").exists()
    assert [line["path"] for line in log_lines(state, "adopted")] == ["css/main.css"]

    emu.clear_requests()
    assert run_hubsync(config, emu, "push").returncode == 0
    assert [r for r in emu.requests if r.endpoint == "upload"] == []


def test_pull_dry_run_writes_nothing(tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """--dry-run lists what it would write and leaves the folder, the state and the log
    as they were."""
    emu = emulator_thread
    config, root, state = _setup(tmp_path, emu)
    seed_remote(emu, PORTALS["sandbox"])

    done = run_hubsync(config, emu, "pull", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "would write templates/home.html" in done.stdout
    assert local_tree(root) == {}
    assert log_lines(state) == []


def test_pull_with_two_accounts_needs_account(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A watch with two accounts: without --account a usage error naming the fix; with
    it, the files of that account arrive."""
    emu = emulator_thread
    config, root, _ = _setup(tmp_path, emu, accounts=("sandbox", "staging"))
    seed_remote(emu, PORTALS["staging"], {"theme.json": b"{}\n"})

    refused = run_hubsync(config, emu, "pull")
    assert refused.returncode == 64
    assert "--account" in refused.stderr
    assert "sandbox" in refused.stderr

    typo = run_hubsync(config, emu, "pull", "--account", "stagin")
    assert typo.returncode == 64
    assert "did you mean 'staging'" in typo.stderr

    done = run_hubsync(config, emu, "pull", "--account", "staging")
    assert done.returncode == 0, done.stderr
    assert local_tree(root) == {"theme.json": b"{}\n"}


def test_pull_help_has_description_and_example() -> None:
    """`hubsync pull --help` describes the command and shows examples."""
    import subprocess

    from tests.support.processes import HUBSYNC

    shown = subprocess.run([*HUBSYNC, "pull", "--help"], capture_output=True, text=True,
                           check=True, timeout=30)
    assert "hs cms fetch" in shown.stdout
    assert "hubsync pull --force" in shown.stdout
