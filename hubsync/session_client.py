"""Talking to the hubsync that holds a state directory: ask it, describe it, reload it.

The client side of the control socket for ``status``, ``pause``, ``resume``, ``flush``,
``reload``, ``auth add`` and ``service status``. Who holds a state directory comes from
the PID that ``hubsync.lock`` writes into ``<state_dir>/hubsync.lock`` and from
``/proc/PID/cmdline`` and ``/proc/PID/cgroup`` (proc(5)), read-only.
"""

from __future__ import annotations

import os
import signal
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubsync.errors import ConfigError, ControlError, HubsyncError

# The commands that take the instance lock, as they appear in a holder's argv.
_SESSION_COMMANDS = ("push", "watch", "daemon", "demo")
_SERVICE_UNIT = "hubsync.service"


@dataclass(frozen=True, slots=True)
class Holder:
    """The process holding a state directory's lock.

    ``command`` is the hubsync subcommand it runs ("push", "watch", "daemon", "demo",
    or "" when /proc does not say); ``service`` is whether systemd runs it as
    ``hubsync.service``; ``answers`` whether its control socket exists.
    """

    pid: int
    command: str
    service: bool
    answers: bool

    def describe(self) -> str:
        """``a foreground `hubsync push` (PID 123)``, ``the hubsync.service daemon (PID 9)``."""
        if self.service:
            return f"the {_SERVICE_UNIT} daemon (PID {self.pid})"
        if self.command:
            return f"a foreground `hubsync {self.command}` (PID {self.pid})"
        return f"a hubsync process (PID {self.pid})"


def _proc_text(pid: int, name: str) -> str:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""


def _subcommand(argv: list[str]) -> str:
    """The first session subcommand in a hubsync argv (after global options)."""
    return next((word for word in argv[1:] if word in _SESSION_COMMANDS), "")


def holder(state_dir: Path) -> Holder | None:
    """Who holds ``state_dir``'s lock now, or ``None`` when no live process does."""
    from hubsync import control
    from hubsync.lock import lock_holder

    pid = lock_holder(state_dir)
    if pid is None:
        return None
    argv = [a for a in _proc_text(pid, "cmdline").split("\0") if a]
    cgroup = _proc_text(pid, "cgroup")
    try:
        answers = control.socket_path(state_dir).exists()
    except ControlError:
        answers = False
    return Holder(pid=pid, command=_subcommand(argv),
                  service=f"/{_SERVICE_UNIT}" in cgroup, answers=answers)


def ask_running(state_dir: Path, command: str, *, config_path: Path | None = None,
                wait_s: float = 5.0, **params: Any) -> Any:
    """Send ``command`` to the hubsync running on ``state_dir``; its result (JSON types).

    Raises ControlError with what to do next when nothing answers: nothing running, or
    a process (say a foreground ``hubsync push``) holding the state without a control
    socket. ``config_path`` only names the config in that message.
    """
    from hubsync import control

    if not control.socket_path(state_dir).exists():
        held_by = holder(state_dir)
        if held_by is not None:
            raise ControlError(
                f"{held_by.describe()} holds {state_dir} but takes no commands; "
                "wait for it to finish")
        named = f" for {config_path}" if config_path is not None else f" on {state_dir}"
        raise ControlError(
            f"no hubsync is running{named}; start one with `hubsync watch` "
            "or `hubsync service install`")
    return control.call(state_dir, command, wait_s=wait_s, **params)


def reload_running(state_dir: Path) -> Holder | None:
    """Send SIGHUP to the session holding ``state_dir`` (re-read config and keys).

    Returns the holder signalled, or ``None`` when nothing runs or the holder is a
    one-shot ``push`` (which reads its keys once and exits; nothing to reload).
    Raises HubsyncError when the signal cannot be sent (another user's process).
    """
    held_by = holder(state_dir)
    if held_by is None or held_by.command == "push":
        return None
    try:
        os.kill(held_by.pid, signal.SIGHUP)
    except ProcessLookupError:
        return None
    except PermissionError as exc:
        raise HubsyncError(f"cannot signal {held_by.describe()}: {exc.strerror}") from exc
    return held_by


def lenient_state_dir(path: Path) -> tuple[Path, ConfigError | None]:
    """The state dir a config names, even when the config is invalid.

    Read-only commands (``status``, ``log``) must work exactly when a config typo stops
    everything else. Returns ``(state_dir, None)`` for a valid config; for an invalid
    one ``(state_dir, error)``, where state_dir is its ``[settings] state_dir`` if that
    one string can be read, else the default. A missing file is not an error here.
    """
    from hubsync.config import Settings, load_config

    if not path.exists():
        return Settings().state_dir, None
    try:
        return load_config(path).settings.state_dir, None
    except ConfigError as exc:
        error = exc
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        named = raw.get("settings", {}).get("state_dir")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
        named = None
    if isinstance(named, str) and named.strip():
        # The loader's rule: relative to the config file's folder.
        expanded = Path(named).expanduser()
        return (expanded if expanded.is_absolute()
                else path.parent.absolute() / expanded), error
    return Settings().state_dir, error
