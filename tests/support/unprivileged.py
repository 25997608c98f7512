"""Running a command as a user whom permission bits apply to, and folders that user can use.

The tests run as root, for whom ``chmod 000`` changes nothing. ``setpriv`` (util-linux)
runs the child as ``nobody`` with no supplementary groups, so an unreadable file really is
unreadable to it. Not root already: the command runs as is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

SETPRIV = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def as_unprivileged(argv: Sequence[str]) -> list[str]:
    """``argv`` prefixed so it runs as ``nobody`` when we are root; skips the test when
    that is impossible here (no ``setpriv``, or ``nobody`` cannot import hubsync)."""
    if os.geteuid() != 0:
        return list(argv)
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop root for this test")
    probe = subprocess.run([*SETPRIV, sys.executable, "-c", "import hubsync"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run this Python: {probe.stderr.strip()[-200:]}")
    return [*SETPRIV, *argv]


@contextmanager
def shared_folder() -> Iterator[Path]:
    """A new folder everyone may enter and write (pytest's tmp_path is root-only), removed
    at the end whatever modes the test left inside it."""
    folder = Path(tempfile.mkdtemp(prefix="hubsync-unpriv-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o777)
        shutil.rmtree(folder)


def open_up(root: Path) -> None:
    """Make every folder under ``root`` enterable and every file readable and writable by
    anyone (the unprivileged user included), before a test takes some access away."""
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        path.chmod(0o777 if path.is_dir() else 0o666)
