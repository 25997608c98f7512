"""Push changes as you edit, in the foreground, with a live line per push.

Reconciles first (anything changed while hubsync was not running is pushed), then
watches the folders and pushes each save once it has settled (settings.debounce_ms):
one upload of the final content per save, whatever the editor does. Every push is
written to the sync log (`hubsync log -f`) with who pushed it.

Ctrl-C stops gracefully (exit 0): pushes in flight finish (bounded wait), and pending
work stays in the state for next time. A second Ctrl-C exits at once.

--notify FILE (or settings.notify_file) is the live-reload hook, like `hs cms watch
--notify`: once every account has stored a settled batch (HTTP 2xx), one line per file
is appended to FILE, `<ISO time> Changed: /abs/path` (`Removed:` for a delete); a file
that failed is not written. Point a browser live-reload tool at FILE.

The header names where to look: each account's Design Manager and, for a theme, its
theme preview link. An unknown watch or account name is a usage error (exit 64); a
config with nothing to sync exits 78 instead of idling.

examples:
  hubsync watch                      watch every configured folder
  hubsync watch theme                watch only the watch named "theme"
  hubsync watch --account sandbox    push to the sandbox account only
  hubsync watch --mode draft         write HubSpot's draft buffer instead of publishing
  hubsync watch --dry-run            show what the first reconcile would push, then exit
  hubsync watch --two-way            also bring Design Manager edits down (docs/usage.md)
  hubsync watch --notify /tmp/hubsync-reload   tell a live-reload tool what landed
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hubsync.errors import EX_OK

if TYPE_CHECKING:
    from hubsync.config import Config


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    from hubsync.commands import add_selection_options

    add_selection_options(parser, "watch")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan per account and change nothing")
    parser.add_argument("--prefer", choices=("local",),
                        help="local: overwrite remote files hubsync never synced that differ "
                        "from yours, found now or left as open `unsynced` conflicts by an "
                        "earlier run (default: keep them as conflicts; other kinds stay)")
    parser.add_argument("--two-way", action="store_true",
                        help="also poll HubSpot and bring remote edits down into the folder "
                             "(as `two_way = true` on every selected watch)")
    parser.add_argument("--notify", metavar="FILE", type=Path,
                        help="append the paths of each batch to FILE once every account "
                        "stored it (for a live-reload tool; overrides settings.notify_file)")


def _selected(config: Config, args: argparse.Namespace) -> Config:
    """``select``, with ``--two-way`` turned on for the selected watches."""
    from dataclasses import replace

    from hubsync.commands import select

    chosen = select(config, args)
    if not getattr(args, "two_way", False):
        return chosen
    names = set(args.watches)
    return replace(chosen, watches=tuple(
        replace(w, two_way=True) if not names or w.name in names else w
        for w in chosen.watches))


def run(args: argparse.Namespace) -> int:
    from hubsync import render
    from hubsync.app import build_engine
    from hubsync.commands import config_path
    from hubsync.config import load_config
    from hubsync.console import Reporter
    from hubsync.engine import Engine, EventSink
    from hubsync.people import of_state
    from hubsync.service import SessionKind, run_session

    path = config_path(args)
    # Checked now, before a session starts: a typo or an empty config is an error at
    # once, not an idle "watching" line.
    config = _with_notify(_selected(load_config(path), args), args.notify)
    reporter = Reporter(quiet=args.quiet, people=of_state(config.settings.state_dir))
    if args.dry_run:
        engine = build_engine(config, watches=args.watches, accounts=args.accounts,
                              dry_run=True, on_event=reporter)
        for line in render.plan_lines(asyncio.run(engine.push_once())):
            print(line)
        return EX_OK

    def narrowed_engine(fresh: Config, watches: Sequence[str], sink: EventSink) -> Engine:
        # Applied to every config the session loads, a SIGHUP reload included.
        return build_engine(_with_notify(_selected(fresh, args), args.notify),
                            watches=watches, accounts=args.accounts,
                            prefer_local=args.prefer == "local", on_event=sink)

    for line in render.links(config, watches=args.watches or None,
                             accounts=args.accounts or None):
        reporter.say(line)
    # The one session runner: the instance lock, the control socket (`hubsync status`,
    # pause, resume, flush), SIGHUP reload, and a graceful first Ctrl-C.
    code = asyncio.run(run_session(
        path, kind=SessionKind.WATCH, watches=args.watches, on_event=reporter,
        engine_factory=narrowed_engine,
        on_stopping=lambda: reporter.say(
            "stopping: finishing pushes in flight (Ctrl-C again to quit now)",
            important=True),
    ))
    if code == EX_OK:
        reporter.say("stopped")
    return code


def _with_notify(config: Config, notify: Path | None) -> Config:
    """``config`` with ``--notify FILE`` as its ``settings.notify_file`` (absolute, from
    the working directory, as the shell meant it)."""
    from dataclasses import replace

    if notify is None:
        return config
    return replace(config, settings=replace(config.settings, notify_file=notify.absolute()))
