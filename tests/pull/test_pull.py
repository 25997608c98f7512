"""``hubsync pull`` as a user runs it: a subprocess against the emulator over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

from hubsync.emulator import EmulatorThread
from hubsync.emulator.records import Endpoint
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


def test_pull_over_the_source_code_api_records_its_hash(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """With `transport = "source-code"` the listing and downloads use the Source Code API
    (metadata children, content GET); the tree arrives, a second pull downloads nothing,
    and push uploads nothing."""
    emu = emulator_thread
    config, root, _ = _setup(tmp_path, emu)
    text = config.read_text().replace(
        "[accounts.sandbox]\n", '[accounts.sandbox]\ntransport = "source-code"\n')
    config.write_text(text)
    seed_remote(emu, PORTALS["sandbox"])

    done = run_hubsync(config, emu, "pull")
    assert done.returncode == 0, done.stderr
    assert local_tree(root) == THEME
    endpoints = {r.endpoint for r in emu.requests}
    assert {Endpoint.V3_METADATA, Endpoint.V3_DOWNLOAD} <= endpoints
    assert not endpoints & {Endpoint.META, Endpoint.STREAM}

    emu.clear_requests()
    again = run_hubsync(config, emu, "pull")
    assert again.returncode == 0, again.stderr
    assert [r for r in emu.requests if r.endpoint is Endpoint.V3_DOWNLOAD] == []

    assert run_hubsync(config, emu, "push").returncode == 0
    assert [r for r in emu.requests if r.endpoint is Endpoint.V3_UPLOAD] == []


def test_pull_paces_itself_under_the_rate_limit(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """Against a portal allowing 8 calls per second, a pull of 20+ requests learns the
    limit from HubSpot's headers and paces itself: the tree arrives whole and at most a
    couple of 429s come back (the ones before the first answer taught the limit)."""
    emu = emulator_thread
    config, root, _ = _setup(tmp_path, emu)
    seed_remote(emu, PORTALS["sandbox"])
    emu.set_rate_limit(8, 1000)

    done = run_hubsync(config, emu, "pull")
    assert done.returncode == 0, done.stderr
    assert local_tree(root) == THEME
    limited = [r for r in emu.requests if r.status == 429]
    assert len(limited) <= 2, limited


def test_long_pull_on_a_terminal_shows_progress_and_no_line_per_file(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """On a pseudo terminal a 40-file pull draws rich's bar (M/N, time left, files/s) and
    prints the summary, not 40 lines; with -v a large pull prints a line per file."""
    import re

    from tests.support.processes import HUBSYNC, keys_env
    from tests.ux.ux_helpers import run_in_pty

    emu = emulator_thread
    config, root, _ = _setup(tmp_path, emu)
    many = {f"css/f{i:03}.css": f"/* {i} */".encode() for i in range(40)}
    seed_remote(emu, PORTALS["sandbox"], many)
    emu.set_faults(latency_ms=30)
    try:
        code, out = run_in_pty([*HUBSYNC, "--config", str(config), "pull"], keys_env(emu))
    finally:
        emu.set_faults()
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    assert code == 0, plain
    assert re.search(r"downloading \(sandbox\) [━╸╺ ]*\d+/40 .*left.*files/s", plain), plain
    assert "40 written" in plain
    assert "↓ css/" not in plain
    assert local_tree(root) == many

    changed = {rel: b"/* new */" for rel in list(many)[:25]}
    seed_remote(emu, PORTALS["sandbox"], changed)
    loud = run_hubsync(config, emu, "-v", "pull")
    assert loud.returncode == 0, loud.stderr
    assert loud.stdout.count("↓ css/") == 25


def test_pull_force_settles_a_guard_conflict_with_the_remote_version(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A push refused by the conflict guard (the teammate changed the file) leaves a
    conflict; `pull` refuses to overwrite the local edit, `pull --force` writes the
    teammate's version, logs `resolved` (keep remote) and `conflicts` is empty again."""
    emu = emulator_thread
    config, root, state = _setup(tmp_path, emu)
    seed_remote(emu, PORTALS["sandbox"])
    assert run_hubsync(config, emu, "pull").returncode == 0
    write_files(root, {"css/main.css": "body { color: mine; }\n"})
    emu.edit_as(PORTALS["sandbox"], f"{DEST}/css/main.css", b"body { color: theirs; }\n",
                user_id=TEAMMATE)
    pushed = run_hubsync(config, emu, "push")
    assert pushed.returncode == 1
    assert run_hubsync(config, emu, "conflicts").returncode == 1

    assert run_hubsync(config, emu, "pull").returncode == 1
    assert (root / "css/main.css").read_bytes() == b"body { color: mine; }\n"

    forced = run_hubsync(config, emu, "pull", "--force")
    assert forced.returncode == 0, forced.stderr
    assert (root / "css/main.css").read_bytes() == b"body { color: theirs; }\n"
    resolved = log_lines(state, "resolved")
    assert [(r["path"], r["keep"]) for r in resolved] == [("css/main.css", "remote")]
    assert run_hubsync(config, emu, "conflicts").returncode == 0
    emu.clear_requests()
    assert run_hubsync(config, emu, "push").returncode == 0
    assert [r for r in emu.requests if r.endpoint is Endpoint.UPLOAD] == []


def test_pull_while_a_watch_runs_is_refused_and_an_empty_remote_says_so(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`pull` takes the instance lock as `push` does: with a watch running it stops
    before writing anything; an empty remote folder is said in words."""
    from tests.pull.pull_helpers import watch_session

    emu = emulator_thread
    config, root, _ = _setup(tmp_path, emu)
    empty = run_hubsync(config, emu, "pull")
    assert empty.returncode == 0, empty.stderr
    assert "nothing to pull" in empty.stdout

    seed_remote(emu, PORTALS["sandbox"])
    with watch_session(config, emu, tmp_path / "watch.out"):
        refused = run_hubsync(config, emu, "pull")
    assert refused.returncode != 0
    assert "hubsync: error:" in refused.stderr
    assert local_tree(root) == {}
