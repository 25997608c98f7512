"""Install, remove, or inspect the systemd user service that runs `hubsync daemon`.

install writes ~/.config/systemd/user/hubsync.service (honouring $XDG_CONFIG_HOME)
with this installation's Python and the absolute path of the config, then runs
`systemctl --user daemon-reload` and `systemctl --user enable --now hubsync.service`
when a user systemd is reachable (otherwise it prints those commands). uninstall
reverses it; status shows `systemctl --user status` and the last sync log events.

examples:
  hubsync service install                 run the default config as a service
  hubsync --config ~/work.toml service install
  hubsync service status
  hubsync service uninstall
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hubsync.errors import HubsyncError

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


def _systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemctl", "--user", *args],
        capture_output=True, text=True, timeout=_SYSTEMCTL_TIMEOUT, check=False,
    )


def _run_steps(steps: list[list[str]], probe: SystemdProbe) -> int:
    """Run ``systemctl --user`` steps, or print them when no user manager is reachable."""
    if not probe.reachable:
        print(f"systemd: {probe.reason}. When it is, run:")
        for step in steps:
            print("  " + shlex.join(["systemctl", "--user", *step]))
        return 0
    for step in steps:
        result = _systemctl(*step)
        shown = shlex.join(["systemctl", "--user", *step])
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip()
            raise HubsyncError(f"`{shown}` failed: {message}; see `journalctl --user -xe`")
        print(f"ran: {shown}")
    return 0


def _linger_enabled(user: str) -> bool:
    return Path("/var/lib/systemd/linger", user).exists()


def _config_path(args: argparse.Namespace) -> Path:
    from hubsync.config import default_config_path

    path = Path(args.config).expanduser() if args.config else default_config_path()
    return path.resolve()


def install(args: argparse.Namespace) -> int:
    from hubsync.config import load_config

    config_path = _config_path(args)
    # The unit would restart-loop on a broken config (well, exit 78 and stay down):
    # refuse now, while the user is looking.
    load_config(config_path)
    unit_path = user_unit_dir() / UNIT_NAME
    text = render_unit(installed_exec_start(config_path))
    if unit_path.exists():
        existing = unit_path.read_text(encoding="utf-8")
        if INSTALLED_MARKER not in existing and not args.force:
            raise HubsyncError(
                f"{unit_path} exists and was not written by hubsync; "
                "move it away or pass --force to replace it"
            )
    unit_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = unit_path.with_name(unit_path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(unit_path)
    print(f"wrote {unit_path}")
    print(f"  ExecStart={installed_exec_start(config_path)}")
    steps = [["daemon-reload"]] if args.no_start else [
        ["daemon-reload"], ["enable", "--now", UNIT_NAME]
    ]
    _run_steps(steps, probe_user_systemd())
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or str(os.getuid())
    if not _linger_enabled(user):
        print(
            "To keep hubsync running after you log out, and start it at boot without a login:\n"
            f"  loginctl enable-linger {user}"
        )
    print("Follow it with `hubsync log -f` and `journalctl --user -u hubsync -f`.")
    return 0


def uninstall(args: argparse.Namespace) -> int:
    unit_path = user_unit_dir() / UNIT_NAME
    if not unit_path.exists():
        print(f"nothing to remove: {unit_path} does not exist")
        return 0
    if INSTALLED_MARKER not in unit_path.read_text(encoding="utf-8") and not args.force:
        raise HubsyncError(
            f"{unit_path} was not written by hubsync; remove it yourself or pass --force"
        )
    probe = probe_user_systemd()
    if probe.reachable:
        _run_steps([["disable", "--now", UNIT_NAME]], probe)
    unit_path.unlink()
    print(f"removed {unit_path}")
    steps = [["daemon-reload"]] if probe.reachable else [
        ["disable", "--now", UNIT_NAME], ["daemon-reload"]
    ]
    return _run_steps(steps, probe)


def status(args: argparse.Namespace) -> int:
    from hubsync import journal
    from hubsync.commands.log import format_entry, sync_log_path
    from hubsync.lock import lock_holder

    unit_path = user_unit_dir() / UNIT_NAME
    print(f"unit: {unit_path}" + ("" if unit_path.exists() else " (not installed)"))
    probe = probe_user_systemd()
    if probe.reachable:
        # Exit status 3 only means "not active"; the output says it better.
        print(_systemctl("status", "--no-pager", "--lines=0", UNIT_NAME).stdout.rstrip())
    else:
        print(f"systemd: {probe.reason}")
    log_path = sync_log_path(args.config)
    holder = lock_holder(log_path.parent)
    print(f"hubsync: running, PID {holder}" if holder else "hubsync: not running")
    entries = journal.tail(log_path, args.lines)
    if not entries:
        print(f"sync log: {log_path} (empty)")
        return 0
    print(f"sync log: {log_path} (last {len(entries)})")
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    for entry in entries:
        print("  " + format_entry(entry, color=color))
    return 0


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """``hubsync service install|uninstall|status``."""
    actions = parser.add_subparsers(dest="service_action", metavar="ACTION", required=True)
    add = actions.add_parser("install", help="write and enable the user unit")
    add.add_argument("--no-start", action="store_true",
                     help="write the unit and reload systemd, but do not enable or start it")
    add.add_argument("--force", action="store_true",
                     help="replace a hubsync.service that hubsync did not write")
    remove = actions.add_parser("uninstall", help="stop, disable and remove the user unit")
    remove.add_argument("--force", action="store_true",
                        help="remove a hubsync.service that hubsync did not write")
    show = actions.add_parser("status", help="systemd's view and the last sync log events")
    show.add_argument("-n", "--lines", type=int, default=10, metavar="N",
                      help="how many sync log events to show (default 10)")


def run(args: argparse.Namespace) -> int:
    action = {"install": install, "uninstall": uninstall, "status": status}
    return action[args.service_action](args)
