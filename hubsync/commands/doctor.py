"""Check the whole set-up and say, one line each, how to fix what is wrong.

Checks: the config is valid (and ready to sync); each account's key is found (and
where) and accepted by HubSpot (a real key exchange, naming the user it belongs to);
the keyring backend can keep keys; the state folder is writable; the inotify watch
limit covers the folders of every watch root; the systemd user service is installed
and running (optional); the local clock agrees with HubSpot's. Keys are never shown.

Lines start with ✓ ! ✗ on a terminal, "ok", "warn", "FAIL" otherwise. Exit status 1
when something stops hubsync from syncing (bad config, no key, key refused, state
folder not writable); warnings alone exit 0.

examples:
  hubsync doctor
  hubsync --config ~/work.toml doctor
  hubsync doctor --json | jq '.checks[] | select(.status != "ok")'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the checks as one JSON object")


def run(args: argparse.Namespace) -> int:
    from hubsync.commands import config_path
    from hubsync.doctor import diagnose

    report = asyncio.run(diagnose(config_path(args)))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        report.write(sys.stdout, tty=sys.stdout.isatty())
    return report.exit_code
