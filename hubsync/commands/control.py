"""Pause, resume, flush or reload the running daemon or watch session.

pause [ACCOUNT]    stop starting pushes to ACCOUNT (default: every account); pushes in
                   flight finish, changes keep queueing and are kept in the state
resume [ACCOUNT]   undo pause
flush              push everything pending now and wait; exit 1 if anything is still
                   pending or failed afterwards (or after --timeout seconds)
reload             re-read the config and the keys (SIGHUP, as `systemctl --user reload`)

They talk to the hubsync that uses the config's state directory; with nothing running
they fail with exit 1. An account name the config does not know is a usage error
(exit 64). --json prints one JSON object: the session's status as `hubsync status
--json` has it (times ISO 8601 UTC), flush adding what is left; reload's object names
the process asked ({"reloaded": true, "pid", "command", "service", "config"}).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubsync.errors import EX_FAILURE, EX_OK

FLUSH_DEFAULT_TIMEOUT_S = 60.0
# The reply may come this long after the flush's own deadline (status build, socket).
_REPLY_MARGIN_S = 10.0

_HELP: Mapping[str, tuple[str, str]] = {
    "pause": (
        "Stop starting pushes to ACCOUNT (default: every account) in the running session.\n"
        "Pushes in flight finish; changes keep queueing and are kept in the state, so\n"
        "`hubsync resume` pushes them. A pause lasts until resume or the session ends.",
        "  hubsync pause sandbox        hold pushes to the sandbox account\n"
        "  hubsync pause --json         pause every account, print the accounts as JSON"),
    "resume": (
        "Resume pushing to ACCOUNT (default: every account) after `hubsync pause`;\n"
        "what queued meanwhile is pushed at once.",
        "  hubsync resume sandbox\n"
        "  hubsync resume               resume every account"),
    "flush": (
        "Push everything pending now and wait for it. Exit 0 when nothing is pending\n"
        "or failed afterwards; else 1, with what is left per account on stderr: pending,\n"
        "in flight, failed, and deletes held by the safety brake (a flush never sends\n"
        "those: `hubsync deletes release|discard` does).\n\n"
        "--json prints the session's status (see `hubsync status --help`) plus\n"
        "\"timed_out\" and the totals left: \"pending\", \"in_flight\", \"parked\" (failed),\n"
        "\"held_deletes\". An account's \"held\" is the old name of \"blocked\" (HubSpot\n"
        "refused its key), kept for scripts; it says nothing about held deletes.",
        "  hubsync flush --timeout 30   push everything now, wait up to 30 s\n"
        "  hubsync flush --json | jq '.accounts[] | {name, pending}'"),
    "reload": (
        "Make the running session re-read its config and keys now (it gets SIGHUP, as\n"
        "from `systemctl --user reload hubsync`). Use it after editing the config or\n"
        "rotating a key; `hubsync auth add` does it by itself.",
        "  hubsync reload\n"
        "  hubsync reload --json          say which process was asked, as JSON\n"
        "  hubsync --config ~/work.toml reload"),
}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    if name not in _HELP:  # pragma: no cover - cli.COMMANDS maps only these names here
        raise ValueError(f"hubsync.commands.control does not serve {name!r}")
    description, examples = _HELP[name]
    parser.description = description
    parser.epilog = f"examples:\n{examples}"
    if name in ("pause", "resume"):
        parser.add_argument("account", nargs="?", metavar="ACCOUNT",
                            help=f"the account to {name} (default: all)")
    elif name == "flush":
        parser.add_argument("--timeout", type=float, default=FLUSH_DEFAULT_TIMEOUT_S,
                            metavar="S", help="give up waiting after S seconds (default: "
                            f"{FLUSH_DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--json", action="store_true",
                        help="print the session's answer as one JSON object")


def run(args: argparse.Namespace) -> int:
    from hubsync.commands import check_names, session_of
    from hubsync.errors import HubsyncError
    from hubsync.session_client import ask_running

    path, state_dir, accounts = session_of(args)
    if args.command == "reload":
        return _reload(state_dir, path, as_json=args.json)
    if args.command == "flush":
        if args.timeout <= 0:
            raise HubsyncError("--timeout must be a positive number of seconds")
        result = ask_running(state_dir, "flush", config_path=path,
                             wait_s=args.timeout + _REPLY_MARGIN_S, timeout=args.timeout)
        if args.json:
            print(json.dumps(_iso_times(result), default=str))
            return EX_OK if not _flush_problems(result) else EX_FAILURE
        return _report_flush(result)
    if args.account is not None and accounts:
        check_names("account", [args.account], accounts)
    result = ask_running(state_dir, args.command, config_path=path, account=args.account)
    if args.json:
        print(json.dumps(_iso_times(result), default=str))
        return EX_OK
    paused = [a["name"] for a in result.get("accounts", []) if a.get("paused")]
    which = args.account or "every account"
    done = "paused" if args.command == "pause" else "resumed"
    print(f"{done} {which}; " + (f"paused now: {', '.join(paused)}" if paused
                                 else "no account is paused now"))
    return EX_OK


def _iso_times(result: Mapping[str, Any]) -> dict[str, Any]:
    """The session's answer with its epoch times as ISO 8601 UTC, as `status --json`."""
    from hubsync.commands.status import normalize

    return normalize(result)


def _reload(state_dir: Path, path: Path, *, as_json: bool = False) -> int:
    from hubsync.config import load_config
    from hubsync.errors import ControlError
    from hubsync.session_client import holder, reload_running

    # A config the session would refuse is said here, not reported as a reload that worked.
    load_config(path)
    signalled = reload_running(state_dir)
    if signalled is None:
        held_by = holder(state_dir)
        if held_by is not None:
            raise ControlError(f"{held_by.describe()} holds {state_dir}; a push reads the "
                               "config and keys when it starts, so there is nothing to reload")
        raise ControlError(f"no hubsync is running for {path}; nothing to reload")
    if as_json:
        print(json.dumps({"reloaded": True, "pid": signalled.pid, "command": signalled.command,
                          "service": signalled.service, "config": str(path)}))
        return EX_OK
    print(f"asked {signalled.describe()} to re-read the config and keys "
          "(`hubsync status` shows the result)")
    return EX_OK


def _flush_problems(result: Mapping[str, Any]) -> list[str]:
    """One line per account with work left, first a timeout line; empty when all done."""
    problems = []
    for account in result.get("accounts", []):
        left = {key: int(account.get(key) or 0)
                for key in ("pending", "in_flight", "parked", "held_deletes")}
        if any(left.values()):
            why = []
            if account.get("held"):
                why.append("unauthorized")
            if account.get("paused"):
                why.append("paused")
            if account.get("last_error"):
                why.append(f"last error: {account['last_error']}")
            counts = ", ".join(f"{n} {k.replace('_', ' ').replace('parked', 'failed')}"
                               for k, n in left.items() if n)
            problems.append(f"{account['name']}: {counts}"
                            + (f" ({'; '.join(why)})" if why else ""))
    held = [a["name"] for a in result.get("accounts", []) if a.get("held_deletes")]
    if held:
        # Held deletes never go by themselves: a flush cannot finish them, the user must.
        which = held[0] if len(held) == 1 else "[ACCOUNT]"
        problems.append(f"deletes held by the safety brake: `hubsync deletes release "
                        f"{which}` sends them, `hubsync deletes discard {which}` keeps the "
                        "remote files")
    if result.get("timed_out"):
        problems.insert(0, "flush timed out before everything was pushed")
    return problems


def _report_flush(result: Mapping[str, Any]) -> int:
    """Print what is left per account; 0 only when nothing is pending or failed."""
    problems = _flush_problems(result)
    if not problems:
        print("flushed: nothing pending")
        return EX_OK
    for line in problems:
        print(line, file=sys.stderr)
    return EX_FAILURE
