"""Show, release or discard the deletes that the safety brake holds.

The brake holds remote deletes when many files vanish at once (more than
settings.max_deletes within 10 minutes, more than a quarter of the theme, or an empty
watch folder): an unmounted disk or an aborted checkout must not empty the portal.

deletes                    how many deletes each account holds (of the running session)
deletes release [ACCOUNT]  delete them remotely now (default: every account)
deletes discard [ACCOUNT]  keep the remote files and stop tracking them

With `hubsync watch` or the service running, they ask it over its control socket (and
work even when the config has a problem the session does not, such as the watch folder
gone missing: the very case the brake exists for). With nothing running they act on the
state directly: released deletes then go out at the next `push` or `watch`.

--json prints one object: {"running": bool, "accounts": [{"name", "held_deletes"}]}
without an action; {"running", "action", "deletes": N} with one. The exit status is
the same as without --json.

examples:
  hubsync deletes                    see what is held
  hubsync deletes --json | jq '.accounts[] | select(.held_deletes > 0)'

  hubsync deletes release sandbox    let sandbox's held deletes go out
  hubsync deletes discard            keep every remote file the deletes would remove
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubsync.errors import EX_FAILURE, EX_OK
from hubsync.render import counted

ACTIONS = ("release", "discard")


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("action", nargs="?", choices=ACTIONS,
                        help="release (delete remotely) or discard (keep the remote files); "
                        "without it, show what is held")
    parser.add_argument("account", nargs="?", metavar="ACCOUNT",
                        help="only this account (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from hubsync.commands import check_names, session_of
    from hubsync.session_client import ask_running, holder

    path, state_dir, accounts = session_of(args)
    if args.account is not None and accounts:
        check_names("account", [args.account], accounts)
    held_by = holder(state_dir)
    if held_by is None:
        return _offline(path, args)
    if args.action is None:
        return _show(ask_running(state_dir, "status", config_path=path), running=True,
                     as_json=args.json)
    result = ask_running(state_dir, "deletes", config_path=path, action=args.action,
                         account=args.account)
    return _said(args.action, int(result.get("deletes") or 0), running=True,
                 as_json=args.json)


def _offline(path: Path, args: argparse.Namespace) -> int:
    """No session runs: read or change the held deletes in the state itself."""
    from hubsync.config import load_config
    from hubsync.engine.holds import held_counts, settle_holds

    config = load_config(path)
    if args.action is None:
        return _show({"accounts": [{"name": name, "held_deletes": count}
                                   for name, count in asyncio.run(held_counts(config))]},
                     running=False, as_json=args.json)
    count = asyncio.run(settle_holds(config, args.action, args.account))
    return _said(args.action, count, running=False, as_json=args.json)


def _said(action: str, count: int, *, running: bool, as_json: bool = False) -> int:
    if as_json:
        print(json.dumps({"running": running, "action": action, "deletes": count}))
        return EX_OK
    if count == 0:
        print("no deletes are held")
    elif action == "release":
        when = "they go out now" if running else "they go out at the next `hubsync push`"
        print(f"released {counted(count, 'held delete')}; {when} (`hubsync log -f` shows them)")
    else:
        print(f"discarded {counted(count, 'held delete')}; the remote files stay and are no longer "
              "tracked")
    return EX_OK


def _show(status: Mapping[str, Any], *, running: bool, as_json: bool = False) -> int:
    held = [(a["name"], int(a.get("held_deletes") or 0))
            for a in status.get("accounts", []) if a.get("held_deletes")]
    if as_json:
        print(json.dumps({"running": running, "accounts": [
            {"name": a["name"], "held_deletes": int(a.get("held_deletes") or 0)}
            for a in status.get("accounts", [])]}))
        return EX_FAILURE if held else EX_OK
    if not held:
        print("no deletes are held")
        return EX_OK
    for name, files in held:
        print(f"{name}: {counted(files, 'delete')} held")
    print("release them with `hubsync deletes release [ACCOUNT]`, or keep the remote files "
          "with `hubsync deletes discard [ACCOUNT]`")
    return EX_FAILURE
