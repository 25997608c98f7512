"""Read or follow the attribution sync log: who pushed what, where, when, with what result.

Reads <state_dir>/sync.log and its rotated files (sync.log.1 ...). Prints the last
lines (20 by default), one compact line per event, coloured on a terminal; --json
prints the raw JSON lines for jq. -f keeps following, across rotations, until Ctrl-C.

HubSpot names the writer of a remote version (on conflict, pulled and adopted lines) by
user id only; hubsync names them by email when it has seen that user's identity here (a
key check, or a line written with their key): `by bob@example.com (user 7002)`, and
--json adds remote_user_email. See docs/sync-log.md, "Who".

examples:
  hubsync log                             the last 20 events
  hubsync log -n 100 --account sandbox    the last 100 events of one account
  hubsync log -f --failed                 follow failures as they happen
  hubsync log --since 2h --user jane@example.com --path 'templates/*'
  hubsync log --path templates/home.html -n 0   one file's history (pushed, pulled, conflicts)
  hubsync log --path ~/theme/css/main.css       the same by its path on disk
  hubsync log --event pulled,adopted            what came down from HubSpot
  hubsync log --user bob@example.com -n 0       Bob's pushes and the conflicts and pulls
                                                his remote edits caused (by id: --user 7002;
                                                an account name is --account, not --user)
  hubsync log --since 2026-11-29T10:00 --json | jq -r 'select(.event=="pushed") | .path'
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from hubsync import journal
    from hubsync.people import LazyDirectory

DEFAULT_LINES = 20

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``2h``/``30m``/``1d`` ago, or an ISO date/time (local time unless it has an offset)."""
    now = now if now is not None else datetime.now().astimezone()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2)
        return now - timedelta(seconds=amount * _UNIT_SECONDS[unit])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (30m, 2h, 1d) nor a date/time (2026-11-29T10:00)"
        ) from None
    return moment if moment.tzinfo else moment.astimezone()  # naive means local time


def _positive_or_zero(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of lines (0 means all)")
    return int(text)


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """``hubsync log`` options."""
    parser.add_argument(
        "-n", "--lines", type=_positive_or_zero, metavar="N",
        help=f"show the last N matching events (default {DEFAULT_LINES}; 0 = all; "
        "with --since and no -n, all since then)",
    )
    parser.add_argument("-f", "--follow", action="store_true",
                        help="keep printing new events as they are written (Ctrl-C stops)")
    parser.add_argument("--account", action="append", default=[], metavar="NAME",
                        help="only this account (repeatable)")
    parser.add_argument("--user", metavar="ID|EMAIL",
                        help="only lines by this HubSpot user (numeric id or email): pushes "
                        "and the like made with their key, and conflicts, pulls and "
                        "adoptions of a remote version they wrote; an email is matched to "
                        "its id through the identities hubsync has seen (docs/sync-log.md)")
    parser.add_argument("--path", metavar="PATH|GLOB", dest="path_glob",
                        help="only this file's history: its path in the watch, its remote "
                             "path, its path on disk, or a GLOB of either (* crosses /)")
    parser.add_argument("--event", action="append", default=[], metavar="EVENT",
                        help="only these events (repeatable or comma-separated: pushed,failed)")
    parser.add_argument("--since", type=parse_since, metavar="WHEN",
                        help="only events since WHEN: 30m, 2h, 1d, or 2026-11-29T10:00 (local)")
    parser.add_argument("--failed", action="store_true",
                        help="only failures (failed, auth_failed, held, conflict, a session "
                             "stopped by an error); not retries, not skipped files")
    parser.add_argument("--json", action="store_true", help="print the raw JSON lines (for jq)")
    parser.add_argument("--file", type=Path, metavar="PATH",
                        help="read this log file instead of <state_dir>/sync.log")


def render(entry: dict[str, Any], *, as_json: bool, color: bool,
           names: LazyDirectory | None = None) -> str:
    """The output line for one entry: the JSON line (``--json``) or the human one.

    The JSON line is the written one byte for byte, except that a line naming a remote
    writer (``remote_user_id``) whose email ``names`` knows gets ``remote_user_email``
    added at its end (docs/sync-log.md)."""
    import json

    from hubsync.people import with_writer_email
    from hubsync.render import format_entry

    directory = names.see(entry) if names is not None else None
    if as_json:
        if directory is not None:
            entry = with_writer_email(entry, directory)
        # Same separators and key order as the writer, so a line comes out byte for byte.
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
    return format_entry(entry, color=color, people=directory)


def _emit(lines: Iterable[str], stream: TextIO) -> None:
    from hubsync.console import stdout_gone

    for line in lines:
        stream.write(line + "\n")
        stream.flush()
        if stdout_gone():
            # `hubsync log -f | head`: the reader left; stop instead of following forever.
            return


def _known_accounts(config_file: Path, log_path: Path) -> set[str]:
    """Accounts the config names, and every account the log mentions (removed ones too)."""
    from hubsync import journal
    from hubsync.config import load_config
    from hubsync.errors import HubsyncError

    known: set[str] = set()
    with contextlib.suppress(HubsyncError, OSError):
        known.update(load_config(config_file).accounts)
    with contextlib.suppress(OSError):
        known.update(str(e["account"]) for e in journal.iter_entries(log_path)
                     if e.get("account"))
    return known


def _filters(args: argparse.Namespace, log_path: Path,
             names: LazyDirectory) -> journal.LogFilter:
    """The filters the options ask for; an unknown --event, --account or --user email is
    a usage error."""
    from hubsync import journal
    from hubsync.commands import check_names, config_path

    events = frozenset(e.strip() for group in args.event for e in group.split(",") if e.strip())
    check_names("event", sorted(events), (e.value for e in journal.Event), option="--event")
    if args.account:
        check_names("account", args.account, _known_accounts(config_path(args), log_path),
                    option="--account")
    # An email finds the lines naming its id (a remote writer is named by id only).
    user_names = frozenset() if args.user is None else _user_names(
        args.user, names, log_path, _known_accounts(config_path(args), log_path))
    return journal.LogFilter(
        accounts=frozenset(args.account),
        user=args.user,
        user_names=user_names,
        path_glob=None if args.path_glob is None else path_pattern(
            args.path_glob, _watch_roots(config_path(args))),
        events=events,
        since=args.since,
        failed_only=args.failed,
    )


def _user_names(given: str, names: LazyDirectory, log_path: Path,
                accounts: set[str]) -> frozenset[str]:
    """``LogFilter.user_names`` for ``--user given``. An account name is not a user:
    a usage error that names the account key's user (email and id, from the last key
    check or the last line the account wrote with an identity) and `--account`, rather
    than a guess of which person was meant (docs/sync-log.md, "Who")."""
    from hubsync.errors import UsageError

    directory = names.get()
    try:
        return directory.resolve(given).names()
    except UsageError:
        if given not in accounts:
            raise
    user_id = directory.accounts.get(given) or _account_user(log_path, given)
    if user_id is None:
        raise UsageError(
            f"--user {given!r} is an account name, not a HubSpot user, and its key's user "
            f"is not known yet; `--account {given}` shows that account's lines, `--user` "
            "takes a user id or email") from None
    email = directory.email_of(user_id)
    person = f"{email!r} or {user_id}" if email else str(user_id)
    raise UsageError(
        f"--user {given!r} is an account name, not a HubSpot user: did you mean --user "
        f"{person} (the user of its key: what they did, and the conflicts and pulls "
        f"of remote versions they wrote), or `--account {given}` (every line of that "
        "account)?") from None


def _account_user(log_path: Path, account: str) -> int | None:
    """The user id of the last line of ``account`` that carries the key's identity."""
    from hubsync import journal

    found = None
    with contextlib.suppress(OSError):
        for entry in journal.iter_entries(log_path, filters=journal.LogFilter(
                accounts=frozenset({account}))):
            if isinstance(entry.get("hub_user_id"), int):
                found = int(entry["hub_user_id"])
    return found


def _watch_roots(config_file: Path) -> list[Path]:
    """The watch folders of the config (none when it cannot be read: ``log`` still works)."""
    from hubsync.config import load_config
    from hubsync.errors import HubsyncError

    with contextlib.suppress(HubsyncError, OSError):
        return [watch.src for watch in load_config(config_file).watches]
    return []


def path_pattern(given: str, roots: Iterable[Path]) -> str:
    """The ``LogFilter.path_glob`` for ``--path``: a path on disk inside a watch folder
    (absolute, ``./``, ``~``) becomes its path relative to that folder, as the log
    records it; anything else (a watch-relative or remote path, a glob) is kept, without
    a leading ``./`` or ``/``."""
    import glob

    if not glob.has_magic(given):
        on_disk = Path(given).expanduser()
        if on_disk.is_absolute() or given.startswith(("./", "../")) or on_disk.exists():
            absolute = Path.cwd() / on_disk if not on_disk.is_absolute() else on_disk
            for root in roots:
                with contextlib.suppress(ValueError, OSError):
                    return absolute.resolve().relative_to(root.resolve()).as_posix()
    return given.removeprefix("./").lstrip("/")


def _log_path(args: argparse.Namespace) -> Path:
    from hubsync.commands import config_path
    from hubsync.render import sync_log_path

    if args.file is not None:
        return Path(args.file)
    path, warning = sync_log_path(config_path(args))
    if warning:
        print(f"hubsync: warning: {warning}", file=sys.stderr)
    return path


def run(args: argparse.Namespace) -> int:
    from hubsync import journal
    from hubsync.people import Directory, LazyDirectory
    from hubsync.render import use_color

    log_path = _log_path(args)
    # The directory of the state folder the log lives in (--file: that file's folder).
    names = LazyDirectory(lambda: Directory.load(log_path.parent, log_path))
    filters = _filters(args, log_path, names)
    out = sys.stdout
    color = not args.json and use_color(out)
    if args.lines is not None:
        count = args.lines
    else:
        count = 0 if args.since is not None and not args.follow else DEFAULT_LINES

    if not journal.rotated_paths(log_path) and not args.follow:
        print(f"hubsync: no sync log yet at {log_path}", file=sys.stderr)
        return 0
    # Where the printed part ends and following begins: no line is missed or repeated.
    try:
        boundary: int | None = log_path.stat().st_size
    except FileNotFoundError:
        boundary = None
    if count == 0:
        entries: Iterable[dict[str, Any]] = journal.iter_entries(
            log_path, filters=filters, end=boundary
        )
    else:
        entries = journal.tail(log_path, count, filters, end=boundary)
    _emit((render(e, as_json=args.json, color=color, names=names) for e in entries), out)
    if args.follow:
        stop = threading.Event()
        try:
            followed = journal.follow(
                log_path, filters, stop, from_start=boundary is None, start_offset=boundary
            )
            _emit((render(e, as_json=args.json, color=color, names=names) for e in followed), out)
        except KeyboardInterrupt:
            stop.set()
    return 0
