"""Push every change once and exit: for scripts, CI, and a first upload.

Reconciles each watch (walks the folder, compares it with what was last pushed to each
account), pushes everything pending, waits for it, and prints a summary. Exits 0 only
if every file reached every account; otherwise 1, with the failures listed. Files left
out by the rules (ignored, an extension HubSpot does not accept, a symlink leaving the
watch folder) are reported, not failures. Deletes that trip the safety brake (more
than settings.max_deletes files, more than a quarter of the tree, or an empty or
missing watch folder) are held until you run with --allow-deletes.

examples:
  hubsync push                       push every watch to all its accounts
  hubsync push theme                 push only the watch named "theme"
  hubsync push --dry-run             show what would be uploaded and deleted
  hubsync push --allow-deletes       let deletes held by the safety brake through
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hubsync.errors import EX_FAILURE, EX_OK

if TYPE_CHECKING:
    from hubsync.engine import Summary


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("watches", nargs="*", metavar="WATCH",
                        help="names of the watches to push (default: all)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan per account and change nothing")
    parser.add_argument("--allow-deletes", action="store_true",
                        help="release deletes held by the safety brake")


def run(args: argparse.Namespace) -> int:
    from hubsync.app import build_engine
    from hubsync.config import load_config
    from hubsync.console import Reporter
    from hubsync.lock import InstanceLock

    config = load_config(Path(args.config).expanduser() if args.config else None)
    with Reporter(progress=sys.stdout.isatty() and not args.dry_run) as reporter:
        engine = build_engine(config, watches=args.watches, dry_run=args.dry_run,
                        allow_deletes=args.allow_deletes, on_event=reporter)
        if args.dry_run:
            summary = asyncio.run(engine.push_once())
        else:
            config.settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            with InstanceLock(config.settings.state_dir):
                summary = asyncio.run(engine.push_once())
    if args.dry_run:
        _print_plan(summary)
        return EX_OK
    _print_summary(summary)
    return EX_OK if summary.ok else EX_FAILURE


def _print_plan(summary: Summary) -> None:
    for (watch, account), plan in summary.plans.items():
        print(f"{watch} -> {account}: {len(plan.uploads)} to upload, "
              f"{len(plan.deletes)} to delete, {plan.unchanged} unchanged")
        for rel in plan.uploads:
            print(f"  upload  {rel}")
        for delete in plan.deletes:
            print(f"  delete  {delete.rel}{'/ (folder)' if delete.folder else ''}")
        for delete in plan.held_deletes:
            print(f"  held    {delete.rel}{'/ (folder)' if delete.folder else ''}")
        if plan.hold_reason:
            print(f"  {plan.hold_reason}")
    for watch, rel, reason in summary.skipped:
        print(f"skipped {watch}:{rel}: {reason}")


def _print_summary(summary: Summary) -> None:
    for account in sorted(summary.pushed):
        print(f"{account}: {summary.pushed[account]} pushed, "
              f"{summary.deleted.get(account, 0)} deleted")
    if summary.skipped:
        print(f"{len(summary.skipped)} files left out by the rules (see the lines above)")
    for reason in summary.held_reasons:
        print(f"held: {reason}")
    if summary.failures:
        print(f"{len(summary.failures)} failed:", file=sys.stderr)
        for failure in summary.failures:
            first, *rest = failure.error.splitlines() or [""]
            print(f"  {failure.account}: {failure.path}: {first}", file=sys.stderr)
            for line in rest:
                print(f"      {line.removeprefix('- ')}", file=sys.stderr)
    if summary.left_pending:
        print(f"{summary.left_pending} changes still pending; run `hubsync push` again",
              file=sys.stderr)
    if summary.ok:
        print("everything is in sync")
