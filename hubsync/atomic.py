"""Atomic, durable small-file writes: the one place hubsync replaces a file on disk.

A reader (the watcher, an editor, a second hubsync) sees the old file or the new one,
never half of one, and after a crash the file is the old or the new one, never empty:
the content goes to a temporary file in the *same folder* (a rename across file systems
is a copy), the file is fsynced, renamed over the target, and the folder is fsynced so
the rename itself is on disk. Rename is atomic but not durable without both fsyncs
(pitfalls.md §6, "Atomic small files"; Pillai et al., OSDI '14; Python docs ``os.replace``).

Temporary files are named ``.hubsync-<purpose>-<random>``: the leading dot keeps them out
of the default ignore rules' reach, and ``engine/tracker.py`` (``OWN_TEMP_PREFIX``) never
reports them as skipped. They are created with ``O_EXCL`` (never following or reusing
anything already there, a symlink included) and removed on any error.

Used by pulled and two-way files (``remote.write_atomically``), the conflicts' remote
copies (``state.keep_remote_copy``), the state-dir probe (``statedir``) and the config
file (``config.write_atomically``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

TEMP_PREFIX = ".hubsync-"
"""Start of the name of every temporary file hubsync makes beside a target."""

_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
# Folders that cannot be fsynced (some network and FUSE file systems say so): the rename
# is done by then, so durability is left to the OS rather than the write reported failed.
_NO_FOLDER_SYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF})


def _create_temp(folder: Path, purpose: str, mode: int) -> tuple[int, Path]:
    """A new, empty temporary file in ``folder``: its open descriptor (write-only) and
    path. ``mode`` is filtered by the umask, as any ``open``. Raises OSError (the folder
    is missing, not writable, full...)."""
    temp = folder / f"{TEMP_PREFIX}{purpose}-{secrets.token_hex(6)}"
    return os.open(temp, _OPEN_FLAGS, mode), temp


def _sync_folder(folder: Path) -> None:
    """fsync ``folder`` so a rename into it survives a crash. Raises OSError, except for
    file systems that do not support a folder's fsync."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        if exc.errno in _NO_FOLDER_SYNC:
            return
        raise
    try:
        os.fsync(descriptor)
    except OSError as exc:
        if exc.errno not in _NO_FOLDER_SYNC:
            raise
    finally:
        os.close(descriptor)


def _make_folders(folder: Path, mode: int) -> None:
    """Create ``folder`` and its missing parents, each with ``mode`` (``Path.mkdir``'s
    ``parents=True`` gives the parents the default mode, not ``mode``)."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for one in reversed(missing):
        # exist_ok: another writer may make the same folder meanwhile. A file in the way
        # raises FileExistsError/NotADirectoryError, which the caller reports.
        one.mkdir(mode=mode, exist_ok=True)


def _mode_for(target: Path, mode: int | None) -> int | None:
    """The exact mode the new file gets: the replaced file's (permission bits, following a
    symlink), else ``mode``; None: the umask's default (0o666 filtered by it)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return mode


def write_atomically(target: Path, data: bytes, *, purpose: str = "write",
                     mode: int | None = None, folder_mode: int = 0o777) -> Path:
    """Replace ``target`` with ``data`` (bytes) atomically and durably; returns ``target``.

    Missing folders on the way are created, each with ``folder_mode`` (filtered by the
    umask, as ``mkdir``). A replaced file keeps its permission bits; a new one gets
    exactly ``mode`` (e.g. 0o600 for anything that may hold a secret), or, with None, the
    umask's default. The temporary file (``.hubsync-<purpose>-<random>`` beside
    ``target``) has that mode before any byte is written, and is removed when anything
    fails.

    Raises OSError (ENOSPC/EDQUOT on a full disk, EACCES, EROFS...); the caller says which
    file of its own that was and what to do. ``target`` is then unchanged, except when
    only the folder's fsync failed (EIO): the new content is in place, maybe not durable.
    """
    folder = target.parent
    _make_folders(folder, folder_mode)
    exact = _mode_for(target, mode)
    descriptor, temp = _create_temp(folder, purpose, 0o666 if exact is None else 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if exact is not None:
                # os.open's mode is cut by the umask; a kept or asked-for mode is exact.
                os.fchmod(handle.fileno(), exact)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _sync_folder(folder)
    return target


def probe_writable(folder: Path, *, purpose: str = "probe") -> None:
    """Create and remove one temporary file in ``folder`` (the same way
    :func:`write_atomically` starts): whether hubsync can write there, tried rather than
    guessed from permission bits (ACLs, read-only mounts and full disks show only then).
    Raises OSError when it cannot."""
    descriptor, temp = _create_temp(folder, purpose, 0o600)
    try:
        os.close(descriptor)
    finally:
        temp.unlink()
