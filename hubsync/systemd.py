"""The systemd user unit: its text, where it goes, and whether a user manager answers.

Library code shared by ``hubsync service`` (which installs the unit) and ``hubsync
doctor`` (which checks it). Nothing here prints; ``systemctl`` runs only in
``probe_user_systemd`` and ``systemctl``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

UNIT_NAME = "hubsync.service"
INSTALLED_MARKER = "# Written by `hubsync service install`"
SHIPPED_EXEC_START = "/usr/bin/env hubsync daemon"
_SYSTEMCTL_TIMEOUT = 30.0

# The one source of the unit text: `service install` renders it with this
# installation's ExecStart, and systemd/hubsync.service is it rendered with
# SHIPPED_EXEC_START (a test keeps the two equal).
UNIT_TEMPLATE = """\
{header}
# Keys: `hubsync auth add ACCOUNT` keeps them in the keyring, or give one to the service as
# a systemd credential (see docs/operations.md).

[Unit]
Description=hubsync: keep HubSpot CMS themes in sync
Documentation=https://github.com/hubsync/hubsync/blob/main/docs/operations.md
# No After=network-online.target: the user manager cannot see system targets, and
# hubsync retries with backoff until the network is there.
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
# notify: `systemctl start` waits for READY=1 and reports start-up failures. ExecStart
# must be the Python process itself (NotifyAccess=main ignores children).
Type=notify
NotifyAccess=main
ExecStart={exec_start}
# The daemon answers SIGHUP with RELOADING=1, re-reads config and keys, then READY=1.
ExecReload=kill -HUP $MAINPID
Restart=on-failure
RestartSec=5s
# 78 is EX_CONFIG: a broken config or a missing key; restarting cannot fix it.
RestartPreventExitStatus=78
TimeoutStopSec=30s
WatchdogSec=60s
Environment=PYTHONUNBUFFERED=1
# A key as a systemd credential instead of the keyring (file mode 0600, one line):
#LoadCredential=hubsync-sandbox:%h/.config/hubsync/credentials/sandbox
UMask=0077

# Hardening that works in user units without user namespaces.
NoNewPrivileges=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
# In user units these need PrivateUsers=yes (unprivileged user namespaces, disabled on
# some distributions); enable them together in a drop-in if yours allows it:
#PrivateUsers=yes
#PrivateTmp=yes
#ProtectSystem=strict
#ProtectHome=read-only
#ReadWritePaths=%S/hubsync %t

[Install]
WantedBy=default.target
"""

SHIPPED_HEADER = """\
# hubsync user service. Install it with `hubsync service install`, which writes this
# unit with the absolute path of your installation and config; or copy it to
# ~/.config/systemd/user/ as is (ExecStart then finds `hubsync` on PATH)."""


def systemd_quote(argument: str) -> str:
    """One ExecStart argument, quoted for systemd's own command-line syntax.

    systemd expands ``%`` specifiers and ``$VAR`` itself, so both are escaped by
    doubling; whitespace, quotes and backslashes need double quotes.
    """
    text = argument.replace("%", "%%").replace("$", "$$")
    if text and not any(c in text for c in " \t\n\"'\\;"):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def installed_exec_start(config_path: Path) -> str:
    """ExecStart for this installation: its Python, ``-m hubsync``, the absolute config."""
    argv = [sys.executable, "-m", "hubsync", "--config", str(config_path), "daemon"]
    return " ".join(systemd_quote(a) for a in argv)


def render_unit(exec_start: str, *, header: str = INSTALLED_MARKER) -> str:
    """The unit file text with ``exec_start`` (already quoted for systemd)."""
    return UNIT_TEMPLATE.format(header=header, exec_start=exec_start)


def user_unit_dir() -> Path:
    """``$XDG_CONFIG_HOME/systemd/user`` (``~/.config/systemd/user``)."""
    from hubsync.config import xdg_dir

    return xdg_dir("XDG_CONFIG_HOME", ".config") / "systemd" / "user"


@dataclass(frozen=True, slots=True)
class SystemdProbe:
    """Whether ``systemctl --user`` can reach a user manager, and if not, why."""

    reachable: bool
    reason: str = ""


def probe_user_systemd() -> SystemdProbe:
    """Check, without side effects, that a user systemd manager answers.

    ``/run/systemd/system`` exists only when PID 1 is systemd (sd_booted(3)); in a
    container or on macOS it is absent and systemctl would only fail slowly.
    """
    if not Path("/run/systemd/system").is_dir():
        return SystemdProbe(False, "PID 1 is not systemd (no /run/systemd/system)")
    if shutil.which("systemctl") is None:
        return SystemdProbe(False, "systemctl is not installed")
    try:
        result = subprocess.run(
            ["systemctl", "--user", "show-environment"],
            capture_output=True, text=True, timeout=_SYSTEMCTL_TIMEOUT, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return SystemdProbe(False, f"`systemctl --user` did not answer: {exc}")
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["no user manager"])[0]
        return SystemdProbe(False, f"no user systemd manager is reachable ({detail})")
    return SystemdProbe(True)


def systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    """``systemctl --user ARGS``, captured as text, bounded by a 30 s timeout.

    Raises ``subprocess.TimeoutExpired`` or ``OSError`` as ``subprocess.run`` does.
    """
    return subprocess.run(
        ["systemctl", "--user", *args],
        capture_output=True, text=True, timeout=_SYSTEMCTL_TIMEOUT, check=False,
    )
