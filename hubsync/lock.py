"""One hubsync per state directory: an ``flock`` on the state directory itself.

Two engines on one state database would push the same files twice and fight over the
outbox, so ``watch``, ``push`` and ``daemon`` all take this lock first. The lock is
held by an open file description of the folder, so the kernel releases it when the
process dies, however it dies. It is on the folder, not on a file in it, because a file
can be unlinked away: ``rm hubsync.lock`` while a daemon runs would let a second one
lock a fresh file and take over the control socket. A folder that holds the state
database cannot be removed while in use, and a new one at the same path is a new state.
``<state_dir>/hubsync.lock`` still holds the holder's PID (so a refusal can name it)
and is flocked too, so versions that locked only that file also see each other.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path
from types import TracebackType

import structlog

from hubsync.errors import AlreadyRunning, StateError
from hubsync.statedir import ensure_state_dir

log = structlog.get_logger("hubsync.lock")

PROC_LOCKS = Path("/proc/locks")

LOCK_NAME = "hubsync.lock"


def lock_path(state_dir: Path) -> Path:
    """Where the lock for ``state_dir`` lives.

    In the state dir itself rather than ``$XDG_RUNTIME_DIR``: the thing protected is
    the state dir, so two configs sharing one state dir share one lock by construction.
    """
    return state_dir / LOCK_NAME


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, as another user
    return True


def _flock_holder(path: Path, locks: Path = PROC_LOCKS) -> int | None:
    """The PID that ``/proc/locks`` says holds an flock on ``path``; None if none (or no
    ``/proc``). Finds the holder even when its PID file was deleted."""
    try:
        st = path.stat()
        table = locks.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters have "->" after "1:".
    target = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == target:
            return int(fields[4]) if fields[4].isdigit() else None
    return None


def lock_holder(state_dir: Path) -> int | None:
    """The PID of the hubsync holding ``state_dir``'s lock, or ``None`` if none runs.

    Reads the PID file without touching the lock, so asking never makes a starting
    daemon fail. A PID left behind by a crash counts only while such a process exists;
    with no PID file (deleted by hand) the kernel's lock table names the holder.
    """
    pid = _read_pid(lock_path(state_dir))
    if pid is not None and _alive(pid):
        return pid
    return _flock_holder(state_dir)


class InstanceLock:
    """Hold the lock on ``state_dir`` for the life of the ``with`` block.

    Creates ``state_dir`` first (``statedir.ensure_state_dir``: ``ConfigError`` when it
    is a file or not writable, ``StateError`` for a read-only or full disk). Raises
    ``AlreadyRunning`` at once (never waits) when another process, or another
    ``InstanceLock`` in this process, holds it.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = lock_path(state_dir)
        self._fd: int | None = None
        self._pid_fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        ensure_state_dir(self.state_dir)
        # O_CLOEXEC: a child we spawn (systemctl, an editor) must not inherit, and so
        # keep holding, the lock after we exit.
        dir_fd = self._open(self.state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self._lock(dir_fd, self.state_dir)
            pid_fd = self._open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC)
        except BaseException:
            os.close(dir_fd)
            raise
        try:
            self._lock(pid_fd, self.path)
            os.ftruncate(pid_fd, 0)
            _write_pid(pid_fd, self.path)
        except BaseException:
            os.close(pid_fd)
            os.close(dir_fd)
            raise
        self._fd, self._pid_fd = dir_fd, pid_fd

    def _open(self, path: Path, flags: int) -> int:
        try:
            return os.open(path, flags, 0o600)
        except OSError as exc:
            raise StateError(
                f"cannot open {path}: {exc.strerror}; check that the state directory "
                "is writable"
            ) from exc

    def _lock(self, fd: int, what: Path) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(lock_holder(self.state_dir), self.path) from None
        except OSError as exc:
            raise StateError(f"cannot lock {what}: {exc.strerror}") from exc

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        pid_fd, self._pid_fd = self._pid_fd, None
        if pid_fd is not None:
            # Empty the file but never unlink it: a process that opened it just before
            # an unlink would lock an orphaned inode while a third locks a new file.
            with contextlib.suppress(OSError):
                os.ftruncate(pid_fd, 0)
            os.close(pid_fd)
        os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _write_pid(fd: int, path: Path) -> None:
    """Record our PID for ``hubsync status``; on a full disk the lock still holds (the
    flock is what counts, and ``lock_holder`` falls back to ``/proc/locks``), so the
    session can start and report the full disk itself instead of dying here."""
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        log.warning("lock_pid_not_written", path=str(path), error=exc.strerror)
