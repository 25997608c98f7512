"""Push every change once and exit: for scripts, CI, and a first upload.

Reconciles each watch (walks the folder, compares it with what was last pushed to each
account), pushes everything pending, waits for it, and prints a summary. Exits 0 only
if every file reached every account; otherwise 1, with the failures listed. Files left
out by the rules (ignored, an extension HubSpot does not accept, a symlink leaving the
watch folder, a name HubSpot cannot hold: see docs/operations.md) are reported, not
failures. Deletes that trip the safety brake (more than settings.max_deletes files,
more than a quarter of the tree, or an empty or missing watch folder) are held until
you run with --allow-deletes.

On a terminal a bar per account shows done/total, elapsed and remaining time and files
per second; a line says when an account's rate limit is what makes it slow. A line per
file is printed for up to 20 changes; above that only with -v (failures always). The
summary gives per account what was pushed (and its size), deleted, pending and held, the
total time, and lists the files left out and the failures (the first 20, then the
command that lists them all). Ctrl-C stops after the requests in flight and says what
was pushed and what is still pending, per account; a second Ctrl-C quits at once.

After a push it prints where to look: each account's Design Manager and, for a theme
(a folder with theme.json), its theme preview link. An unknown watch or account name is
a usage error (exit 64); a config with nothing to sync exits 78. --json prints the
summary (or, with --dry-run, the plan) as one JSON object.

examples:
  hubsync push                       push every watch to all its accounts
  hubsync push theme                 push only the watch named "theme"
  hubsync push --account sandbox     push to the sandbox account only
  hubsync push --mode draft          write HubSpot's draft buffer instead of publishing
  hubsync push --dry-run             show what would be uploaded and deleted
  hubsync push --allow-deletes       let deletes held by the safety brake through
  hubsync push --prefer local        yours wins over remote files hubsync never synced
  hubsync -q push --json | jq .ok
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

from hubsync.errors import EX_FAILURE, EX_OK, CredentialError

if TYPE_CHECKING:
    from hubsync.console import Reporter
    from hubsync.engine import Engine, Summary

PACING_CHECK_S = 1.0
"""How often a push looks at each account's pacer to say when it is the bottleneck."""
SECOND_INTERRUPT_EXIT = 130
"""Exit status of an interrupted push (128 + SIGINT), after its summary."""


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    from hubsync.commands import add_selection_options

    add_selection_options(parser, "push")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan per account and change nothing")
    parser.add_argument("--allow-deletes", action="store_true",
                        help="release deletes held by the safety brake")
    parser.add_argument("--json", action="store_true",
                        help="print the summary (or the --dry-run plan) as one JSON object")
    parser.add_argument("--prefer", choices=("local",),
                        help="local: overwrite remote files hubsync never synced that differ "
                        "from yours, found now or left as open `unsynced` conflicts by an "
                        "earlier push (default: keep them as conflicts; other kinds stay)")


def run(args: argparse.Namespace) -> int:
    from hubsync import render
    from hubsync.app import build_engine
    from hubsync.commands import config_path, select
    from hubsync.config import load_config
    from hubsync.console import LARGE_BATCH, Reporter
    from hubsync.lock import InstanceLock
    from hubsync.people import of_state

    full = load_config(config_path(args))
    config = select(full, args)
    quiet = args.quiet or args.json
    # With --json, stdout is the one JSON document: the lines of problems go to stderr.
    with Reporter(sys.stderr if args.json else None,
                  progress=sys.stdout.isatty() and not args.dry_run and not quiet,
                  quiet=quiet, verbose=args.verbose, large_batch=LARGE_BATCH,
                  people=of_state(config.settings.state_dir)) as reporter:
        engine = build_engine(config, watches=args.watches, accounts=args.accounts,
                              dry_run=args.dry_run, allow_deletes=args.allow_deletes,
                              prefer_local=args.prefer == "local", on_event=reporter)
        if args.dry_run:
            summary = asyncio.run(engine.push_once())
        else:
            # The lock creates the state dir, or says why it cannot (statedir).
            with InstanceLock(config.settings.state_dir):
                try:
                    summary = asyncio.run(_push(engine, reporter))
                except CredentialError as exc:
                    # The reporter printed the account's `✗` line: once is enough.
                    if args.json:
                        print(json.dumps({"ok": False, "error": str(exc)}, ensure_ascii=False))
                    return exc.exit_code
            tallies = reporter.tallies.items()
            summary = replace(
                summary, elapsed_s=reporter.elapsed_s,
                bytes_pushed={name: tally.bytes_pushed for name, tally in tallies},
                adopted={name: tally.adopted for name, tally in tallies},
                archived={name: tally.archived for name, tally in tallies})
    if args.dry_run:
        if args.json:
            print(json.dumps(render.plan_json(summary), ensure_ascii=False))
        else:
            for line in render.plan_lines(summary):
                print(line)
        return EX_OK
    if args.json:
        print(json.dumps(render.summary_json(summary), ensure_ascii=False))
        return _exit_code(summary, engine.missing_keys())
    # The user directory only when a conflict names a writer (it costs a log scan).
    text = render.summary_lines(summary, quiet=args.quiet, people=reporter.people.get()
                                if summary.conflicts or summary.open_conflicts else None)
    for line in text.out:
        print(line)
    for line in text.err:
        print(line, file=sys.stderr)
    if not args.quiet:
        for line in render.links(config, watches=args.watches or None,
                                 accounts=args.accounts or None):
            print(line)
    return _exit_code(summary, engine.missing_keys())


def _exit_code(summary: Summary, missing: list[CredentialError]) -> int:
    """130 after an interrupted push (its summary printed first), else 0 when in sync;
    when an account's key is missing (``missing``: the others were pushed), that
    error's code (78, 75 for a locked keyring), else 1."""
    if summary.interrupted:
        return SECOND_INTERRUPT_EXIT
    if summary.ok:
        return EX_OK
    return missing[0].exit_code if missing else EX_FAILURE


async def _push(engine: Engine, reporter: Reporter) -> Summary:
    """``engine.push_once()``; a first Ctrl-C stops it after the requests in flight (the
    summary then says what was pushed and what is pending), a second one quits at once."""
    loop = asyncio.get_running_loop()
    asked: list[bool] = []

    def interrupted() -> None:
        if asked:
            # The user means it: no drain; the state is crash-safe.
            sys.stdout.flush()
            os._exit(SECOND_INTERRUPT_EXIT)
        asked.append(True)
        reporter.say("stopping: finishing pushes in flight (Ctrl-C again to quit now)")
        engine.stop()

    loop.add_signal_handler(signal.SIGINT, interrupted)
    pacing = asyncio.create_task(_watch_pacing(engine, reporter))
    try:
        return await engine.push_once()
    finally:
        pacing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pacing
        loop.remove_signal_handler(signal.SIGINT)


async def _watch_pacing(engine: Engine, reporter: Reporter) -> None:
    """Once a second, tell the reporter each account's pacing (the pacer's snapshot in
    ``Engine.status()``), so it can say when HubSpot's rate limit is the bottleneck."""
    while True:
        await asyncio.sleep(PACING_CHECK_S)
        with contextlib.suppress(RuntimeError, KeyError):
            # Before the session opened, or while it closes, there is nothing to read.
            reporter.pacing(engine.status())
