"""sd_notify(3) without dependencies: tell systemd we are ready, alive, reloading, stopping.

The protocol is one datagram of ``KEY=VALUE`` lines to the Unix socket named by
``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace). Outside
systemd the variable is unset and every call is a cheap no-op returning ``False``,
so the daemon calls these unconditionally (and they do nothing under launchd).
"""

from __future__ import annotations

import os
import socket
import time


def sd_notify(*lines: str) -> bool:
    """Send ``lines`` as one notification. ``True`` if it was sent.

    ``False`` when not under systemd, for socket kinds we do not speak (``vsock:``),
    and when the socket is gone (the manager restarted): a notification is never
    worth crashing the daemon for.
    """
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address or address[0] not in "/@":
        return False
    if address[0] == "@":
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall("\n".join(lines).encode())
    except OSError:
        return False
    return True


def _one_line(text: str) -> str:
    # A newline would start a new KEY=VALUE assignment inside the datagram.
    return " ".join(text.split())


def ready(status: str | None = None) -> bool:
    """``READY=1``: config, keys, state and watcher are up and the first reconcile is queued."""
    lines = ["READY=1"]
    if status:
        lines.append(f"STATUS={_one_line(status)}")
    return sd_notify(*lines)


def status(text: str) -> bool:
    """``STATUS=``: the one-line summary ``systemctl status`` shows."""
    return sd_notify(f"STATUS={_one_line(text)}")


def reloading() -> bool:
    """``RELOADING=1``; follow with ``ready()`` when the new config is applied (or refused).

    ``MONOTONIC_USEC`` is required by ``Type=notify-reload`` (systemd 253+) and ignored
    by older managers.
    """
    return sd_notify("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")


def stopping() -> bool:
    """``STOPPING=1``: graceful shutdown has begun (on SIGTERM)."""
    return sd_notify("STOPPING=1")


def watchdog() -> bool:
    """``WATCHDOG=1``: send only when the event loop and the watcher thread are healthy."""
    return sd_notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """Seconds between ``WATCHDOG=1`` pings: half of ``$WATCHDOG_USEC``, or ``None``.

    ``None`` when systemd asked for no watchdog, or asked another process
    (``$WATCHDOG_PID`` set to a PID other than ours, e.g. inherited by a child).
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    pid = os.environ.get("WATCHDOG_PID", "")
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 2 / 1_000_000
