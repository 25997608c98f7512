"""Pause, resume, or flush the running daemon or watch session.

pause [ACCOUNT]    stop starting pushes to ACCOUNT (default: every account); pushes in
                   flight finish, changes keep queueing and are kept in the state
resume [ACCOUNT]   undo pause
flush              push everything pending now and wait; exit 1 if anything is still
                   pending or failed afterwards (or after --timeout seconds)

They talk to the hubsync that uses the config's state directory over its control
socket; with nothing running they fail with exit 1.

examples:
  hubsync pause sandbox        hold pushes to the sandbox account
  hubsync resume               resume every account
  hubsync flush --timeout 30   push everything now, wait up to 30 s
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from hubsync.errors import EX_FAILURE, EX_OK

FLUSH_DEFAULT_TIMEOUT_S = 60.0
# The reply may come this long after the flush's own deadline (status build, socket).
_REPLY_MARGIN_S = 10.0


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    if name in ("pause", "resume"):
        parser.add_argument("account", nargs="?", metavar="ACCOUNT",
                            help=f"the account to {name} (default: all)")
    elif name == "flush":
        parser.add_argument("--timeout", type=float, default=FLUSH_DEFAULT_TIMEOUT_S,
                            metavar="S", help="give up waiting after S seconds (default: "
                            f"{FLUSH_DEFAULT_TIMEOUT_S:g})")
    else:  # pragma: no cover - cli.COMMANDS maps only these three names here
        raise ValueError(f"hubsync.commands.control does not serve {name!r}")


def run(args: argparse.Namespace) -> int:
    from hubsync.commands.status import ask_running, config_of

    config = config_of(args)
    if args.command == "flush":
        if args.timeout <= 0:
            from hubsync.errors import HubsyncError

            raise HubsyncError("--timeout must be a positive number of seconds")
        result = ask_running(config, "flush", wait_s=args.timeout + _REPLY_MARGIN_S,
                             timeout=args.timeout)
        return _report_flush(result)
    result = ask_running(config, args.command, account=args.account)
    paused = [a["name"] for a in result.get("accounts", []) if a.get("paused")]
    print(f"paused: {', '.join(paused)}" if paused else "no account is paused")
    return EX_OK


def _report_flush(result: Mapping[str, Any]) -> int:
    """Print what is left per account; 0 only when nothing is pending or failed."""
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
    if result.get("timed_out"):
        problems.insert(0, "flush timed out before everything was pushed")
    if not problems:
        print("flushed: nothing pending")
        return EX_OK
    for line in problems:
        print(line, file=sys.stderr)
    return EX_FAILURE
