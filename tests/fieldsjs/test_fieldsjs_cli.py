"""fields.js through the ``hubsync`` command as a user runs it: ``push --dry-run``,
``push`` without node, ``watch`` saving fields.js, and ``doctor``'s node line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hubsync.config import Watch
from hubsync.doctor import Status, check_node
from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import DEST, run_hubsync, uploads_of, watch_session, write_config
from tests.support.keyrings import REPO_ROOT
from tests.support.processes import (
    HUBSYNC,
    keys_env,
    remote_tree,
    wait_until,
    write_files,
)

MODULE = {
    "modules/hero.module/meta.json": '{"label": "Hero"}',
    "modules/hero.module/module.html": "<h1>{{ module.title }}</h1>",
    "modules/hero.module/fields.js": "module.exports = () => [{ name: 'title' }];\n",
}
FIELDS = "modules/hero.module/fields.json"


def converted(*fields: str) -> bytes:
    """``JSON.stringify([{name}, ...], null, 2)`` for fields with a name only."""
    items = ",\n".join(f'  {{\n    "name": "{name}"\n  }}' for name in fields)
    return f"[\n{items}\n]".encode() if fields else b"[]"


def test_push_dry_run_lists_fields_json_and_sends_nothing(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """``push --dry-run`` lists the module's fields.json (converted by node to know its
    content), never fields.js, and uploads nothing."""
    root = tmp_path / "theme"
    write_files(root, MODULE)
    config = write_config(tmp_path / "config.toml", emulator_thread, root, tmp_path / "state")
    result = run_hubsync(config, emulator_thread, "push", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert FIELDS in result.stdout
    assert "fields.js" not in result.stdout.replace("fields.json", "")
    assert not [r for r in emulator_thread.requests if r.endpoint == "upload"]


def test_push_without_node_says_which_file_needs_node_and_what_to_do(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """``hubsync push`` with a PATH that has no node: a failed line for the file saying
    Node.js is needed, how to install it or turn conversion off; the module's other
    files are pushed and the exit status says something failed."""
    root = tmp_path / "theme"
    write_files(root, MODULE)
    config = write_config(tmp_path / "config.toml", emulator_thread, root, tmp_path / "state")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env_path = str(bin_dir)
    assert shutil.which("node", path=env_path) is None
    result = run_hubsync_with_path(config, emulator_thread, env_path)
    text = result.stdout + result.stderr
    assert result.returncode != 0, text
    assert "modules/hero.module/fields.js: converting fields.js needs Node.js 18" in text
    assert "convert_fields = false" in text
    assert "Traceback" not in text
    tree = remote_tree(emulator_thread, 111, DEST)
    assert "modules/hero.module/module.html" in tree
    assert "modules/hero.module/fields.json" not in tree


def run_hubsync_with_path(config: Path, emu: EmulatorThread,
                          path: str) -> subprocess.CompletedProcess[str]:
    """``hubsync push`` with the account keys and ``PATH=path``."""
    env = keys_env(emu)
    env["PATH"] = path
    return subprocess.run([*HUBSYNC, "--config", str(config), "push"], env=env,
                          capture_output=True, text=True, timeout=90, check=False)


@pytest.mark.slow
def test_watch_converts_each_save_of_fields_js(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """Under ``hubsync watch``: saving fields.js uploads the new output to both accounts;
    a save that throws prints a failed line with node's message and uploads nothing;
    the fix is uploaded; deleting fields.js deletes the remote fields.json."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, MODULE)
    config = write_config(tmp_path / "config.toml", emu, root, tmp_path / "state")
    source = root / "modules/hero.module/fields.js"

    def remote(portal: int) -> bytes | None:
        return remote_tree(emu, portal, DEST).get(FIELDS)

    with watch_session(config, emu, tmp_path / "out.txt") as session:
        wait_until(lambda: remote(111) == converted("title") == remote(222), what="first push")

        source.write_text("module.exports = () => [{ name: 'title' }, { name: 'image' }];\n")
        wait_until(lambda: remote(111) == converted("title", "image") == remote(222),
                   what="the saved fields.js converted and uploaded")
        session.wait_for_output(f"{FIELDS} -> staging")

        source.write_text("module.exports = () => { throw new Error('no label on image'); };\n")
        session.wait_for_output("Error: no label on image")
        assert run_hubsync(config, emu, "flush").returncode == 0
        assert remote(111) == converted("title", "image")
        assert uploads_of(emu, f"{DEST}/{FIELDS}", 111) == 2

        source.write_text("module.exports = () => [{ name: 'image' }];\n")
        wait_until(lambda: remote(111) == converted("image") == remote(222), what="the fix")

        source.unlink()
        wait_until(lambda: remote(111) is None and remote(222) is None,
                   what="fields.json deleted with fields.js")
        assert not [p for p in remote_tree(emu, 111, DEST) if p.endswith("fields.js")]


def test_doctor_says_whether_node_can_convert_the_watches_fields_js(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``doctor``'s node line: ok with node's path and version when a watch has
    fields.js; a warning with the install hint and the way to turn conversion off when
    node is missing; no line when no converting watch has any."""
    root = tmp_path / "theme"
    write_files(root, {**MODULE, "fields.js": "module.exports = () => [];\n",
                       "node_modules/x.module/fields.js": "ignored"})
    watch = Watch(name="theme", src=root, dest=DEST, accounts=())
    ok = check_node([watch])
    assert ok is not None
    assert ok.status is Status.OK
    assert "2 fields.js in watch 'theme'" in ok.message
    assert "v" in ok.message

    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    warn = check_node([watch])
    assert warn is not None
    assert warn.status is Status.WARN
    assert "`node` is not on PATH" in warn.message
    assert "fields.js in watch 'theme'" in warn.message
    assert "https://nodejs.org/" in warn.fix
    assert "convert_fields = false" in warn.fix

    off = Watch(name="theme", src=root, dest=DEST, accounts=(), convert_fields=False)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert check_node([off, Watch(name="p", src=plain, dest="p", accounts=())]) is None
    assert os.environ["PATH"] == str(tmp_path / "nowhere")


def test_hubsync_doctor_prints_the_node_line(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """``hubsync doctor`` on a watch with a fields.js: a ``node`` line saying which node
    converts how many files; with a PATH without node, a warning saying what to do, and
    the set-up is still ready to sync (the other files sync)."""
    root = tmp_path / "theme"
    write_files(root, MODULE)
    config = write_config(tmp_path / "config.toml", emulator_thread, root, tmp_path / "state")
    env = keys_env(emulator_thread)
    env.update(PYTHONPATH=str(REPO_ROOT),
               PYTHON_KEYRING_BACKEND="tests.support.keyrings.MemoryKeyring",
               XDG_CONFIG_HOME=str(tmp_path / "xdg-config"))
    run = [*HUBSYNC, "--config", str(config), "doctor"]
    found = subprocess.run(run, env=env, capture_output=True, text=True, timeout=60,
                           check=False)
    node_lines = [line for line in found.stdout.splitlines() if line.startswith("ok   node:")]
    assert node_lines, found.stdout + found.stderr
    assert "converts 1 fields.js in watch 'theme'" in node_lines[0]

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    missing = subprocess.run(run, env={**env, "PATH": str(bin_dir)}, capture_output=True,
                             text=True, timeout=60, check=False)
    warn = [line for line in missing.stdout.splitlines() if line.startswith("warn node:")]
    assert warn, missing.stdout + missing.stderr
    assert "`node` is not on PATH" in warn[0]
    assert "convert_fields = false" in warn[0]
    assert "problem" not in missing.stdout.splitlines()[-1]


def test_a_pulled_fields_json_stays_shadowed_and_the_next_push_restores_the_conversion(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """Someone edits fields.json in the Design Manager; ``pull`` writes it beside fields.js
    (as ``hs cms fetch``), where it is reported as shadowed; the next ``push`` uploads
    fields.js's output over the remote copy (docs/usage.md)."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, MODULE)
    config = write_config(tmp_path / "config.toml", emu, root, tmp_path / "state",
                          accounts=("sandbox",))
    assert run_hubsync(config, emu, "push").returncode == 0
    emu.edit_as(111, f"{DEST}/{FIELDS}", b'[{"name": "edited"}]', user_id=9001)
    pulled = run_hubsync(config, emu, "pull")
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert (root / FIELDS).read_bytes() == b'[{"name": "edited"}]'
    pushed = run_hubsync(config, emu, "push")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "fields.js beside it is converted" in pushed.stdout + pushed.stderr
    assert remote_tree(emu, 111, DEST)[FIELDS] == converted("title")
