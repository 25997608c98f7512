"""Show, release or discard the deletes that the safety brake holds.

The brake holds remote deletes when many files vanish at once (more than
settings.max_deletes within 10 minutes, more than a quarter of the theme, or an empty
watch folder): an unmounted disk or an aborted checkout must not empty the portal.

deletes                    how many deletes each account holds (of the running session)
deletes release [ACCOUNT]  delete them remotely now (default: every account)
deletes discard [ACCOUNT]  keep the remote files and stop tracking them

These talk to the running `hubsync watch` or service over its control socket. With
nothing running, `hubsync push --allow-deletes` releases held deletes.

examples:
  hubsync deletes                    see what is held
  hubsync deletes release sandbox    let sandbox's held deletes go out
  hubsync deletes discard            keep every remote file the deletes would remove
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from hubsync.errors import EX_FAILURE, EX_OK

ACTIONS = ("release", "discard")


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("action", nargs="?", choices=ACTIONS,
                        help="release (delete remotely) or discard (keep the remote files); "
                        "without it, show what is held")
    parser.add_argument("account", nargs="?", metavar="ACCOUNT",
                        help="only this account (default: all)")


def run(args: argparse.Namespace) -> int:
    from hubsync.commands import check_names, config_path
    from hubsync.config import load_config
    from hubsync.session_client import ask_running

    path = config_path(args)
    config = load_config(path)
    state_dir = config.settings.state_dir
    if args.action is None:
        return _show(ask_running(state_dir, "status", config_path=path))
    if args.account is not None:
        check_names("account", [args.account], config.accounts)
    result = ask_running(state_dir, "deletes", config_path=path, action=args.action,
                         account=args.account)
    count = int(result.get("deletes") or 0)
    if count == 0:
        print("no deletes are held")
    elif args.action == "release":
        print(f"released {count} held deletes; they go out now (`hubsync log -f` shows them)")
    else:
        print(f"discarded {count} held deletes; the remote files stay and are no longer "
              "tracked")
    return EX_OK


def _show(status: Mapping[str, Any]) -> int:
    held = [(a["name"], int(a.get("held_deletes") or 0))
            for a in status.get("accounts", []) if a.get("held_deletes")]
    if not held:
        print("no deletes are held")
        return EX_OK
    for name, files in held:
        print(f"{name}: {files} deletes held")
    print("release them with `hubsync deletes release [ACCOUNT]`, or keep the remote files "
          "with `hubsync deletes discard [ACCOUNT]`")
    return EX_FAILURE
