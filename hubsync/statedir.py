"""Whether the state directory (``settings.state_dir``) can be used, in one place.

``hubsync check`` and ``doctor`` ask ``state_dir_problem``; ``push``, ``watch``,
``daemon`` and ``demo`` get ``ensure_state_dir`` through the instance lock, which is the
first thing that writes there. A state dir that is a file, or that the user cannot write,
is a configuration problem (exit 78, so a service manager does not restart-loop on it);
a read-only or full disk is a ``StateError`` (exit 75, worth a later restart).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from hubsync.atomic import probe_writable
from hubsync.errors import ConfigError, StateError, clause

_FIX = "set settings.state_dir to a folder you can write, or fix that path"
# Errors a restart may cure (a disk remounted read-write, space freed); the rest need a
# person to change the path or its permissions.
_TRANSIENT = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EIO})


def _existing_ancestor(path: Path) -> Path:
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    return ancestor


def state_dir_problem(state_dir: Path) -> str | None:
    """Why hubsync cannot use ``state_dir``, as one sentence naming the path; None if it can.

    Tried, not guessed: an existing folder is written to (a temporary file, removed at
    once: :func:`hubsync.atomic.probe_writable`); a missing one is judged by its nearest
    existing ancestor, which must be a folder the user can write. Reads the disk; never
    raises.
    """
    try:
        if state_dir.exists() or state_dir.is_symlink():
            if not state_dir.is_dir():
                return f"{state_dir} is not a folder"
            # The same temporary file the state dir's atomic writes start with.
            probe_writable(state_dir)
            return None
        ancestor = _existing_ancestor(state_dir)
        if not ancestor.is_dir():
            return f"{state_dir} cannot be created: {ancestor} is not a folder"
        if not os.access(ancestor, os.W_OK | os.X_OK):
            return f"{state_dir} cannot be created: {ancestor} is not writable"
    except OSError as exc:
        return f"{state_dir} is not writable ({exc.strerror or exc})"
    return None


def ensure_state_dir(state_dir: Path, config_path: Path | None = None) -> None:
    """Create ``state_dir`` (mode 0700, parents too) or say exactly why it cannot be used.

    Raises ``ConfigError`` (naming ``config_path`` and ``settings.state_dir``) when the
    path is a file or not writable by the user, ``StateError`` when the disk refuses for
    a reason that may pass (read-only, full, I/O error).
    """
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        problem = state_dir_problem(state_dir) or f"{state_dir}: {exc.strerror or exc}"
        if exc.errno in _TRANSIENT:
            raise StateError(f"settings.state_dir: {problem}") from exc
        raise ConfigError(config_path, f"settings.state_dir: {clause(problem)}; {_FIX}") from exc
    after = state_dir_problem(state_dir)
    if after is not None:
        raise ConfigError(config_path, f"settings.state_dir: {after}; {_FIX}")
