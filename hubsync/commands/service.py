"""Install, remove, or inspect the systemd user service that runs `hubsync daemon`.

install writes ~/.config/systemd/user/hubsync.service (honouring $XDG_CONFIG_HOME)
with this installation's Python and the absolute path of the config, then runs
`systemctl --user daemon-reload` and `systemctl --user enable --now hubsync.service`
when a user systemd is reachable (otherwise it prints those commands). It warns about a
key only in this shell's HUBSYNC_KEY_<NAME>, which the service does not inherit (keep it
in the keyring or a systemd credential instead). uninstall reverses install; status
shows `systemctl --user status` and the last sync log events.

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
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hubsync import systemd
from hubsync.errors import HubsyncError, clause

if TYPE_CHECKING:
    from hubsync.config import Config


def _run_steps(steps: list[list[str]], probe: systemd.SystemdProbe) -> int:
    """Run ``systemctl --user`` steps, or print them when no user manager is reachable."""
    if not probe.reachable:
        print(f"systemd: {clause(probe.reason)}. When it is, run:")
        for step in steps:
            print("  " + shlex.join(["systemctl", "--user", *step]))
        return 0
    for step in steps:
        result = systemd.systemctl(*step)
        shown = shlex.join(["systemctl", "--user", *step])
        if result.returncode != 0:
            message = (result.stderr or result.stdout).strip()
            raise HubsyncError(f"`{shown}` failed: {clause(message)}; see `journalctl --user -xe`")
        print(f"ran: {shown}")
    return 0


def _user_name() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return os.environ.get("USER") or os.environ.get("LOGNAME") or str(os.getuid())


def _linger_enabled(user: str) -> bool:
    return Path("/var/lib/systemd/linger", user).exists()


def install(args: argparse.Namespace) -> int:
    from hubsync.commands import config_path as named_config
    from hubsync.config import load_config

    config_path = named_config(args).resolve()
    # The unit would restart-loop on a broken config (well, exit 78 and stay down):
    # refuse now, while the user is looking.
    config = load_config(config_path)
    unit_path = systemd.user_unit_dir() / systemd.UNIT_NAME
    text = systemd.render_unit(systemd.installed_exec_start(config_path))
    if unit_path.exists():
        existing = unit_path.read_text(encoding="utf-8")
        if systemd.INSTALLED_MARKER not in existing and not args.force:
            raise HubsyncError(
                f"{unit_path} exists and was not written by hubsync; "
                "move it away or pass --force to replace it"
            )
    unit_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = unit_path.with_name(unit_path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(unit_path)
    print(f"wrote {unit_path}")
    print(f"  ExecStart={systemd.installed_exec_start(config_path)}")
    steps = [["daemon-reload"]] if args.no_start else [
        ["daemon-reload"], ["enable", "--now", systemd.UNIT_NAME]
    ]
    _run_steps(steps, systemd.probe_user_systemd())
    if not _linger_enabled(_user_name()):
        # "$USER" as the docs write it: a uid here would read as a typo, and a copied
        # line must work for whoever pastes it.
        print(
            "To keep hubsync running after you log out, and start it at boot without a login:\n"
            '  loginctl enable-linger "$USER"'
        )
    print("Follow it with `hubsync log -f` and `journalctl --user -u hubsync -f`.")
    _warn_keys_the_service_misses(config, unit_path)
    return 0


def _warn_keys_the_service_misses(config: Config, unit_path: Path) -> None:
    """Say which keys only this shell's HUBSYNC_KEY_<NAME> holds: systemd starts the
    service without this environment, so that account would have no key there."""
    import asyncio

    from hubsync.credentials import env_var_name
    from hubsync.doctor import keys_the_service_misses, service_key_fix

    for name in asyncio.run(keys_the_service_misses(config, unit_path)):
        print(f"hubsync: warning: the key of {name!r} is only in ${env_var_name(name)} of "
              f"this shell; {systemd.UNIT_NAME} does not inherit it and will not see it: "
              f"{service_key_fix(name)}; then `systemctl --user restart {systemd.UNIT_NAME}`",
              file=sys.stderr)


def uninstall(args: argparse.Namespace) -> int:
    unit_path = systemd.user_unit_dir() / systemd.UNIT_NAME
    if not unit_path.exists():
        print(f"nothing to remove: {unit_path} does not exist")
        return 0
    if systemd.INSTALLED_MARKER not in unit_path.read_text(encoding="utf-8") and not args.force:
        raise HubsyncError(
            f"{unit_path} was not written by hubsync; remove it yourself or pass --force"
        )
    probe = systemd.probe_user_systemd()
    if probe.reachable:
        _run_steps([["disable", "--now", systemd.UNIT_NAME]], probe)
    unit_path.unlink()
    print(f"removed {unit_path}")
    steps = [["daemon-reload"]] if probe.reachable else [
        ["disable", "--now", systemd.UNIT_NAME], ["daemon-reload"]
    ]
    return _run_steps(steps, probe)


def _holder_line(state_dir: Path) -> str:
    """What holds the state dir: the service, a foreground command, or nothing."""
    from hubsync.session_client import holder

    held_by = holder(state_dir)
    if held_by is None:
        return f"hubsync: not running (no service, watch or push holds {state_dir})"
    line = f"hubsync: {state_dir} is held by {held_by.describe()}"
    if not held_by.service:
        line += f"; it is not {systemd.UNIT_NAME}"
    return line


def status(args: argparse.Namespace) -> int:
    from hubsync import journal
    from hubsync.commands import config_path
    from hubsync.render import format_entry, sync_log_path, use_color

    unit_path = systemd.user_unit_dir() / systemd.UNIT_NAME
    print(f"unit: {unit_path}" + ("" if unit_path.exists() else " (not installed)"))
    probe = systemd.probe_user_systemd()
    if probe.reachable:
        # Exit status 3 only means "not active"; the output says it better.
        shown = systemd.systemctl("status", "--no-pager", "--lines=0", systemd.UNIT_NAME)
        print(shown.stdout.rstrip())
    else:
        print(f"systemd: {probe.reason}")
    log_path, warning = sync_log_path(config_path(args))
    if warning:
        print(f"hubsync: warning: {warning}", file=sys.stderr)
    print(_holder_line(log_path.parent))
    entries = journal.tail(log_path, args.lines)
    if not entries:
        print(f"sync log: {log_path} (empty)")
        return 0
    print(f"sync log: {log_path} (last {len(entries)})")
    color = use_color(sys.stdout)
    for entry in entries:
        print("  " + format_entry(entry, color=color))
    return 0


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """``hubsync service install|uninstall|status``."""
    actions = parser.add_subparsers(dest="service_action", metavar="ACTION", required=True)
    raw = argparse.RawDescriptionHelpFormatter
    add = actions.add_parser(
        "install", help="write and enable the user unit", formatter_class=raw,
        description="Write ~/.config/systemd/user/hubsync.service for this Python and the\n"
                    "absolute path of the config (refused while the config is invalid), then\n"
                    "reload systemd and enable --now the unit. It warns about keys only this\n"
                    "shell has (HUBSYNC_KEY_<NAME>): the service does not inherit them.\n\n"
                    "examples:\n  hubsync service install\n"
                    "  hubsync --config ~/work.toml service install --no-start")
    add.add_argument("--no-start", action="store_true",
                     help="write the unit and reload systemd, but do not enable or start it")
    add.add_argument("--force", action="store_true",
                     help="replace a hubsync.service that hubsync did not write")
    remove = actions.add_parser(
        "uninstall", help="stop, disable and remove the user unit", formatter_class=raw,
        description="Stop and disable hubsync.service, remove the unit file and reload\n"
                    "systemd. The config, keys, state and sync log stay.\n\n"
                    "examples:\n  hubsync service uninstall\n"
                    "  hubsync service uninstall --force")
    remove.add_argument("--force", action="store_true",
                        help="remove a hubsync.service that hubsync did not write")
    show = actions.add_parser(
        "status", help="systemd's view, what holds the state, the last sync log events",
        formatter_class=raw,
        description="Show the unit, `systemctl --user status hubsync.service`, which process\n"
                    "holds the state directory (the service, or a foreground watch or push),\n"
                    "and the last sync log events.\n\n"
                    "examples:\n  hubsync service status\n  hubsync service status -n 50")
    show.add_argument("-n", "--lines", type=int, default=10, metavar="N",
                      help="how many sync log events to show (default 10)")


def run(args: argparse.Namespace) -> int:
    action = {"install": install, "uninstall": uninstall, "status": status}
    return action[args.service_action](args)
