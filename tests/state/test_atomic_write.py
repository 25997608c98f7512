"""``hubsync.atomic``: the one atomic write (pulled files, remote copies, the config, the
state-dir probe) on real files: modes, parents, and no temporary file left behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubsync import atomic, config, remote, state


@pytest.fixture
def umask_027() -> Iterator[None]:
    """A umask that would cut group write and all of other's bits from a new file."""
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.usefixtures("umask_027")
def test_modes_new_exact_new_default_and_replaced_kept(tmp_path: Path) -> None:
    """A new file gets exactly the asked mode (not cut by the umask), or the umask's
    default when none is asked; a replaced file keeps its own mode; new parent folders
    get the asked folder mode; only the targets are left in the folders."""
    secret = atomic.write_atomically(tmp_path / "s" / "t" / "key.toml", b"a", mode=0o640,
                                     folder_mode=0o700)
    assert secret.stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "s").stat().st_mode & 0o777 == 0o700
    plain = atomic.write_atomically(tmp_path / "p" / "a.css", b"x")
    assert plain.stat().st_mode & 0o777 == 0o640  # 0o666 cut by 0o027
    plain.chmod(0o604)
    atomic.write_atomically(plain, b"y", mode=0o600)
    assert plain.read_bytes() == b"y"
    assert plain.stat().st_mode & 0o777 == 0o604
    assert _names(tmp_path / "s" / "t") == ["key.toml"]
    assert _names(tmp_path / "p") == ["a.css"]


def test_a_failed_rename_leaves_the_target_and_no_temp(tmp_path: Path) -> None:
    """When the rename fails (the target is a non-empty folder) the error is raised, the
    target is untouched and the temporary file is removed."""
    target = tmp_path / "a.css"
    target.mkdir()
    (target / "inside").write_text("kept")
    with pytest.raises(OSError):
        atomic.write_atomically(target, b"new")
    assert (target / "inside").read_text() == "kept"
    assert _names(tmp_path) == ["a.css"]


def test_a_symlink_at_the_target_is_replaced_not_written_through(tmp_path: Path) -> None:
    """A symlink where the file goes is replaced by the new file (keeping the mode of
    what it pointed at); the file it pointed to is not written."""
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_bytes(b"theirs")
    elsewhere.chmod(0o600)
    link = tmp_path / "w" / "a.css"
    link.parent.mkdir()
    link.symlink_to(elsewhere)
    atomic.write_atomically(link, b"ours")
    assert not link.is_symlink()
    assert link.read_bytes() == b"ours"
    assert link.stat().st_mode & 0o777 == 0o600
    assert elsewhere.read_bytes() == b"theirs"


def test_probe_writes_nothing_that_stays_and_says_when_it_cannot(tmp_path: Path) -> None:
    """The probe leaves the folder as it was; in a missing folder it raises OSError."""
    atomic.probe_writable(tmp_path)
    assert _names(tmp_path) == []
    with pytest.raises(FileNotFoundError):
        atomic.probe_writable(tmp_path / "missing")


@pytest.mark.usefixtures("umask_027")
def test_the_three_callers_write_through_it(tmp_path: Path) -> None:
    """Pulled files, remote copies and the config file are written through the one
    helper, with each caller's modes: a pulled file the umask's, a remote copy 0600 in
    0700 folders, a new config file 0600; each leaves no temporary file."""
    pulled = remote.write_atomically(tmp_path / "w", "css/a.css", b"p")
    assert pulled.stat().st_mode & 0o777 == 0o640
    copy = state.keep_remote_copy(tmp_path / "st", "sandbox", "theme/a.css", b"c")
    assert copy.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "st" / "conflicts").stat().st_mode & 0o777 == 0o700
    cfg = tmp_path / "cfg" / "config.toml"
    config.write_atomically(cfg, "[settings]\n")
    assert cfg.read_text(encoding="utf-8") == "[settings]\n"
    assert cfg.stat().st_mode & 0o777 == 0o600
    for folder in (pulled.parent, copy.parent, cfg.parent):
        assert all(not n.startswith(atomic.TEMP_PREFIX) for n in _names(folder))
