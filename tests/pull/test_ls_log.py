"""``hubsync ls`` and ``hubsync log --path`` as a user runs them, against the emulator."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import DEST, run_hubsync, write_config
from tests.pull.pull_helpers import seed_remote
from tests.support.processes import HUBSYNC, PORTALS, write_files


def _config(tmp_path: Path, emu: EmulatorThread,
            accounts: tuple[str, ...] = ("sandbox",)) -> tuple[Path, Path]:
    root = tmp_path / "theme"
    root.mkdir()
    return write_config(tmp_path / "config.toml", emu, root, tmp_path / "state",
                        accounts=accounts), root


def test_ls_lists_one_folder_and_recursively(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`ls DEST` shows its direct children with folder markers and ISO times; `-r` and
    `--json` list every file below it with its full remote path."""
    emu = emulator_thread
    config, _ = _config(tmp_path, emu)
    seed_remote(emu, PORTALS["sandbox"])

    top = run_hubsync(config, emu, "ls", DEST)
    assert top.returncode == 0, top.stderr
    lines = top.stdout.splitlines()
    names = [line.split()[-1] for line in lines]
    assert "templates/" in names
    assert "theme.json" in names
    assert "home.html" not in top.stdout
    folder_line = next(line for line in lines if line.endswith("templates/"))
    assert folder_line.startswith("d ")
    file_line = next(line for line in lines if line.endswith("theme.json"))
    assert file_line.startswith("- ")
    assert "Z" in file_line

    deep = run_hubsync(config, emu, "ls", DEST, "-r", "--json")
    assert deep.returncode == 0, deep.stderr
    entries = json.loads(deep.stdout)
    files = {e["path"] for e in entries if not e["folder"]}
    assert f"{DEST}/modules/hero.module/module.html" in files
    assert f"{DEST}/modules/hero.module" in {e["path"] for e in entries if e["folder"]}
    assert all(e["updated_at"].endswith("Z") for e in entries if not e["folder"])


def test_ls_errors_name_the_fix(tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """Two accounts and no --account: usage error naming them; a missing path: exit 1
    saying what to list instead."""
    emu = emulator_thread
    config, _ = _config(tmp_path, emu, accounts=("sandbox", "staging"))

    ambiguous = run_hubsync(config, emu, "ls")
    assert ambiguous.returncode == 64
    assert "--account" in ambiguous.stderr

    missing = run_hubsync(config, emu, "ls", "nope", "--account", "sandbox")
    assert missing.returncode == 1
    assert "'nope'" in missing.stderr


def test_log_path_shows_one_files_history(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """After a pull and a push of a local edit, `log --path` by watch path, by remote
    path and by path on disk shows that file's pulled and pushed lines, and no other
    file's."""
    emu = emulator_thread
    config, root = _config(tmp_path, emu)
    seed_remote(emu, PORTALS["sandbox"])
    assert run_hubsync(config, emu, "pull").returncode == 0
    write_files(root, {"css/main.css": "body { color: blue; }\n"})
    assert run_hubsync(config, emu, "push").returncode == 0

    for given in ("css/main.css", f"{DEST}/css/main.css", str(root / "css/main.css")):
        shown = run_hubsync(config, emu, "log", "--path", given, "-n", "0", "--json")
        assert shown.returncode == 0, shown.stderr
        lines = [json.loads(line) for line in shown.stdout.splitlines()]
        assert [line["event"] for line in lines] == ["pulled", "pushed"], given
        assert {line["path"] for line in lines} == {"css/main.css"}

    human = run_hubsync(config, emu, "log", "--path", "css/main.css")
    assert "↓" in human.stdout
    assert "↑" in human.stdout


def test_log_event_accepts_new_names_and_suggests(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """--event takes pulled, adopted, conflict and resolved; a typo is a usage error with
    the closest name."""
    emu = emulator_thread
    config, _ = _config(tmp_path, emu)
    seed_remote(emu, PORTALS["sandbox"], {"theme.json": b"{}\n"})
    assert run_hubsync(config, emu, "pull").returncode == 0

    fine = run_hubsync(config, emu, "log", "--event", "pulled,adopted,conflict,resolved",
                       "--json")
    assert fine.returncode == 0, fine.stderr
    assert [json.loads(line)["path"] for line in fine.stdout.splitlines()] == ["theme.json"]

    typo = run_hubsync(config, emu, "log", "--event", "puled")
    assert typo.returncode == 64
    assert "did you mean 'pulled'" in typo.stderr


def test_ls_help_has_description_and_example() -> None:
    """`hubsync ls --help` describes the command and shows examples."""
    shown = subprocess.run([*HUBSYNC, "ls", "--help"], capture_output=True, text=True,
                           check=True, timeout=30)
    assert "hs ls" in shown.stdout
    assert "hubsync ls my-theme --account sandbox" in shown.stdout
