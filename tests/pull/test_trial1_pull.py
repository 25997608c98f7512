"""`hubsync pull` as the trial's user met it: `--json` and `--dry-run` with local work in
the way (a subprocess against the emulator over HTTP, real files)."""

from __future__ import annotations

import json
from pathlib import Path

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import DEST, run_hubsync, write_config
from tests.pull.pull_helpers import TEAMMATE, THEME, seed_remote
from tests.support.processes import PORTALS, write_files

SANDBOX = PORTALS["sandbox"]


def _pulled_then_both_changed(tmp_path: Path, emu: EmulatorThread) -> tuple[Path, Path]:
    """A pulled theme; then templates/home.html changed both here and by a teammate (a
    pull would overwrite local work), and css/main.css changed by the teammate only."""
    root = tmp_path / "theme"
    root.mkdir()
    config = write_config(tmp_path / "config.toml", emu, root, tmp_path / "state",
                          accounts=("sandbox",))
    seed_remote(emu, SANDBOX)
    assert run_hubsync(config, emu, "pull").returncode == 0
    write_files(root, {"templates/home.html": "<h1>mine</h1>\n"})
    emu.edit_as(SANDBOX, f"{DEST}/templates/home.html", b"<h1>theirs</h1>\n", user_id=TEAMMATE)
    emu.edit_as(SANDBOX, f"{DEST}/css/main.css", b"body { teal }\n", user_id=TEAMMATE)
    return config, root


def test_pull_json_of_a_refused_pull_says_nothing_was_written(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """A refused `pull --json` is one JSON object on stdout: `ok` false, `applied` false,
    `written` empty (nothing was), the files it would write under `would_write`, and the
    refusal; the local files are untouched."""
    emu = emulator_thread
    config, root = _pulled_then_both_changed(tmp_path, emu)
    done = run_hubsync(config, emu, "pull", "--json")
    assert done.returncode == 1, done.stderr
    answer = json.loads(done.stdout)
    theme = answer["watches"]["theme"]
    assert answer["ok"] is False
    assert (theme["applied"], theme["written"], theme["adopted"]) == (False, [], [])
    assert sorted(theme["would_write"]) == ["css/main.css", "templates/home.html"]
    assert theme["refused"] == [{"path": "templates/home.html",
                                 "why": "changed locally since the last sync"}]
    assert theme["generated"] == []
    assert (root / "css/main.css").read_bytes() == THEME["css/main.css"]

    forced = json.loads(run_hubsync(config, emu, "pull", "--json", "--force").stdout)
    assert sorted(forced["watches"]["theme"]["written"]) == ["css/main.css",
                                                             "templates/home.html"]
    assert forced["watches"]["theme"]["would_write"] == []


def test_pull_dry_run_with_local_changes_shows_the_plan(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`pull --dry-run` with a local edit in the way shows the whole plan (what it would
    write, what it would overwrite and why) instead of only refusing, writes nothing,
    and exits 1: a real pull would be refused."""
    emu = emulator_thread
    config, root = _pulled_then_both_changed(tmp_path, emu)
    done = run_hubsync(config, emu, "pull", "--dry-run")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "  would write css/main.css" in lines
    assert ("  would overwrite templates/home.html (local work: changed locally since the "
            "last sync); only with --force") in lines
    assert any("a real pull would be refused" in line for line in lines)
    assert "refused:" not in done.stderr
    assert (root / "templates/home.html").read_text() == "<h1>mine</h1>\n"
    assert (root / "css/main.css").read_bytes() == THEME["css/main.css"]
