"""Editor save patterns, outside /tmp (vim skips its backup dance under /tmp)."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
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
    file_deletes,
    remote_tree,
    wait_until,
    write_files,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def home_dir() -> Iterator[Path]:
    """A scratch folder under $HOME, where vim really renames to `name~` on save."""
    base = Path.home() / ".cache" / "hubsync-e2e" / uuid.uuid4().hex
    base.mkdir(parents=True)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def vim_save(path: Path, text: str) -> None:
    subprocess.run(["vim", "-u", "NONE", "-N", "-es", "-c", f"call setline(1, '{text}')",
                    "-c", "wq", str(path)], check=True, timeout=20,
                   stdin=subprocess.DEVNULL)


def jetbrains_save(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + "___jb_tmp___")
    old = path.with_name(path.name + "___jb_old___")
    tmp.write_text(text)
    path.rename(old)
    tmp.rename(path)
    old.unlink()


def vscode_save(path: Path, text: str) -> None:
    with path.open("r+") as handle:
        handle.truncate(0)
        handle.flush()
        time.sleep(0.01)
        handle.write(text[: len(text) // 2])
        handle.flush()
        handle.write(text[len(text) // 2:])


def emacs_save(path: Path, text: str) -> None:
    lock = path.with_name(".#" + path.name)
    lock.symlink_to("jane@host.4242:1700000000")
    path.rename(path.with_name(path.name + "~"))
    path.write_text(text)
    lock.unlink()


def mv_save(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


SAVES = {
    "vim.css": vim_save,
    "jetbrains.css": jetbrains_save,
    "vscode.css": vscode_save,
    "emacs.css": emacs_save,
    "mv.css": mv_save,
}


@pytest.mark.skipif(shutil.which("vim") is None, reason="vim is not installed")
def test_each_editor_save_is_one_upload_of_the_final_content_and_no_delete(
    home_dir: Path, emulator_thread: EmulatorThread
) -> None:
    """vim, JetBrains, VS Code, emacs and `mv tmp file` saves each give exactly one
    upload of the final content per account, and never a delete."""
    emu = emulator_thread
    root = home_dir / "theme"
    write_files(root, {name: f"/* {name} v1 */" for name in SAVES})
    config = write_config(home_dir / "config.toml", emu, root, home_dir / "state",
                          accounts=("sandbox",))
    with watch_session(config, emu, home_dir / "out.txt"):
        wait_until(lambda: len(remote_tree(emu, 111, DEST)) == len(SAVES), what="initial push")
        emu.clear_requests()
        for name, save in SAVES.items():
            save(root / name, f"/* {name} v2 */")
        # vim ends the file with a newline; the others write the text as given.
        final = {name: (root / name).read_bytes() for name in SAVES}
        assert all(b"v2" in content for content in final.values())
        wait_until(lambda: all(remote_tree(emu, 111, DEST).get(name) == final[name]
                               for name in SAVES), what=f"final content of {sorted(SAVES)}")
        # `flush` returns once nothing is pending: a late second upload is counted below.
        assert run_hubsync(config, emu, "flush").returncode == 0
        for name in SAVES:
            assert uploads_of(emu, f"my-theme/{name}") == 1, name
            assert requests_of(emu, "delete", f"my-theme/{name}") == 0, name
        assert set(remote_tree(emu, 111, DEST)) == set(SAVES)
        assert not file_deletes(emu)


def test_a_burst_of_30_saves_in_100_ms_is_at_most_3_uploads_the_last_winning(
    home_dir: Path, emulator_thread: EmulatorThread
) -> None:
    """30 complete saves of one file within 100 ms: the first is pushed at once (closed
    after write), the rest coalesce, so at most 3 uploads, and the stored content is the
    last one written; never a delete."""
    emu = emulator_thread
    root = home_dir / "theme"
    write_files(root, {"burst.css": "/* v0 */"})
    config = write_config(home_dir / "config.toml", emu, root, home_dir / "state",
                          accounts=("sandbox",), debounce_ms=100)
    with watch_session(config, emu, home_dir / "out.txt"):
        wait_until(lambda: remote_tree(emu, 111, DEST).get("burst.css") == b"/* v0 */",
                   what="initial push")
        emu.clear_requests()
        # Any gap below the quiet period keeps the burst coalesced (core.coalesce), so
        # a busy machine stretching the 100 ms does not change the count.
        for i in range(1, 31):
            (root / "burst.css").write_text(f"/* v{i} */")
            time.sleep(0.003)
        wait_until(lambda: remote_tree(emu, 111, DEST).get("burst.css") == b"/* v30 */",
                   what="the last content")
        assert run_hubsync(config, emu, "flush").returncode == 0
        assert 1 <= uploads_of(emu, "my-theme/burst.css") <= 3
        assert remote_tree(emu, 111, DEST)["burst.css"] == b"/* v30 */"
        assert not file_deletes(emu)
