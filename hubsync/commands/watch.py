"""Push changes as you edit, in the foreground, with a live line per push.

Reconciles first (anything changed while hubsync was not running is pushed), then
watches the folders and pushes each save once it has settled (settings.debounce_ms):
one upload of the final content per save, whatever the editor does. Every push is
written to the sync log (`hubsync log -f`) with who pushed it.

Ctrl-C stops gracefully (exit 0): pushes in flight finish (bounded wait), and pending
work stays in the state for next time. A second Ctrl-C exits at once.

examples:
  hubsync watch                      watch every configured folder
  hubsync watch theme                watch only the watch named "theme"
  hubsync watch --dry-run            show what the first reconcile would push, then exit
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from hubsync.errors import EX_OK


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("watches", nargs="*", metavar="WATCH",
                        help="names of the watches to run (default: all)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan per account and change nothing")


def run(args: argparse.Namespace) -> int:
    from hubsync.app import build_engine
    from hubsync.commands.push import _print_plan
    from hubsync.config import load_config
    from hubsync.console import Reporter
    from hubsync.service import SessionKind, run_session

    config_path = Path(args.config).expanduser() if args.config else None
    reporter = Reporter()
    if args.dry_run:
        engine = build_engine(load_config(config_path), watches=args.watches, dry_run=True,
                              on_event=reporter)
        _print_plan(asyncio.run(engine.push_once()))
        return EX_OK
    # The daemon's session: the instance lock, the control socket (`hubsync status`,
    # pause, resume, flush), SIGHUP reload, and a graceful first Ctrl-C.
    code = asyncio.run(run_session(
        config_path, kind=SessionKind.WATCH, watches=args.watches, on_event=reporter,
        on_stopping=lambda: reporter.say(
            "stopping: finishing pushes in flight (Ctrl-C again to quit now)"),
    ))
    if code == EX_OK:
        reporter.say("stopped")
    return code
