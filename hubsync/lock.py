"""One hubsync per state directory: an ``flock`` on ``<state_dir>/hubsync.lock``.

Two engines on one state database would push the same files twice and fight over the
outbox, so ``watch``, ``push`` and ``daemon`` all take this lock first. The lock is
held by the open file description, so the kernel releases it when the process dies,
however it dies: a stale lock file after a crash is harmless. The file holds the
holder's PID so the refusal can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from hubsync.errors import AlreadyRunning, StateError

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


def lock_holder(state_dir: Path) -> int | None:
    """The PID of the hubsync holding ``state_dir``'s lock, or ``None`` if none runs.

    Reads the PID without touching the lock, so asking never makes a starting daemon
    fail. A PID left behind by a crash counts only while such a process exists.
    """
    pid = _read_pid(lock_path(state_dir))
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # it exists, as another user
    return pid


class InstanceLock:
    """Hold ``<state_dir>/hubsync.lock`` for the life of the ``with`` block.

    Raises ``AlreadyRunning`` at once (never waits) when another process, or another
    ``InstanceLock`` in this process, holds it.
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = lock_path(state_dir)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        try:
            self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            # O_CLOEXEC: a child we spawn (systemctl, an editor) must not inherit, and so
            # keep holding, the lock after we exit.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateError(
                f"cannot create the lock file {self.path}: {exc.strerror}; "
                "check that the state directory is writable"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunning(_read_pid(self.path), self.path) from None
        except OSError as exc:
            os.close(fd)
            raise StateError(f"cannot lock {self.path}: {exc.strerror}") from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # Empty the file but never unlink it: a process that opened it just before an
        # unlink would lock an orphaned inode while a third process locks a new file.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
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
