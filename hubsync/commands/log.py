"""Read or follow the attribution sync log: who pushed what, where, when, with what result.

Reads <state_dir>/sync.log and its rotated files (sync.log.1 ...). Prints the last
lines (20 by default), one compact line per event, coloured on a terminal; --json
prints the raw JSON lines for jq. -f keeps following, across rotations, until Ctrl-C.

examples:
  hubsync log                             the last 20 events
  hubsync log -n 100 --account sandbox    the last 100 events of one account
  hubsync log -f --failed                 follow failures as they happen
  hubsync log --since 2h --user jane@example.com --path 'templates/*'
  hubsync log --since 2026-11-29T10:00 --json | jq -r 'select(.event=="pushed") | .path'
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

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
                        help="only pushes by this HubSpot user (numeric id or email)")
    parser.add_argument("--path", metavar="GLOB", dest="path_glob",
                        help="only files matching GLOB (local or remote path; * crosses /)")
    parser.add_argument("--event", action="append", default=[], metavar="EVENT",
                        help="only these events (repeatable or comma-separated: pushed,failed)")
    parser.add_argument("--since", type=parse_since, metavar="WHEN",
                        help="only events since WHEN: 30m, 2h, 1d, or 2026-11-29T10:00 (local)")
    parser.add_argument("--failed", action="store_true",
                        help="only failures (failed, auth_failed, held, conflict, or any error)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON lines (for jq)")
    parser.add_argument("--file", type=Path, metavar="PATH",
                        help="read this log file instead of <state_dir>/sync.log")


def sync_log_path(config_arg: str | None) -> Path:
    """``<state_dir>/sync.log`` for the config ``--config`` names (or the default one).

    With no config file yet, the default state dir: ``hubsync log`` should work (and
    say there is nothing) before the first ``hubsync init``.
    """
    from hubsync.config import Settings, default_config_path, load_config
    from hubsync.journal import LOG_NAME

    config_path = Path(config_arg).expanduser() if config_arg else default_config_path()
    if not config_path.exists():
        return Settings().state_dir / LOG_NAME
    return load_config(config_path).settings.state_dir / LOG_NAME


# --- rendering -------------------------------------------------------------------------

_GREEN, _RED, _YELLOW, _CYAN, _DIM, _BOLD, _RESET = (
    "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[36m", "\x1b[2m", "\x1b[1m", "\x1b[0m",
)
_STYLE: dict[str, tuple[str, str]] = {
    "pushed": ("↑", _GREEN),
    "deleted": ("✗", _GREEN),
    "reconciled": ("≡", _CYAN),
    "auth_ok": ("✓", _CYAN),
    "session_started": ("▶", _DIM),
    "session_stopped": ("■", _DIM),
    "retrying": ("↻", _YELLOW),
    "skipped": ("·", _DIM),
    "held": ("‖", _YELLOW),
    "failed": ("!", _RED),
    "auth_failed": ("!", _RED),
    "conflict": ("≠", _RED),
}
# Shown in fixed columns, or deliberately left to --json.
_COLUMN_FIELDS = frozenset({
    "ts", "event", "account", "hub_user_email", "hub_user_id", "path", "remote_path",
    "local_user", "host", "portal_id", "sha256", "mode", "watch", "bytes", "duration_ms",
    "status", "attempt", "retry_in_ms", "error", "correlation_id",
})


def _size(count: Any) -> str:
    if not isinstance(count, int):
        return str(count)
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / 1024 / 1024:.1f} MB"


def _when(ts: Any) -> str:
    from hubsync.journal import parse_timestamp

    moment = parse_timestamp(str(ts))
    if moment is None:
        return str(ts)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_entry(entry: dict[str, Any], *, color: bool = False) -> str:
    """One compact human line for a sync log entry (local time)."""
    event = str(entry.get("event", "?"))
    symbol, style = _STYLE.get(event, ("-", ""))
    who = entry.get("hub_user_email") or (
        f"user {entry['hub_user_id']}" if entry.get("hub_user_id") is not None else ""
    )
    parts = [_when(entry.get("ts")), symbol, f"{event:<15}"]
    if entry.get("account"):
        parts.append(str(entry["account"]))
    if who:
        parts.append(str(who))
    if entry.get("path") or entry.get("remote_path"):
        parts.append(str(entry.get("path") or entry.get("remote_path")))
    details: list[str] = []
    if "bytes" in entry:
        details.append(_size(entry["bytes"]))
    if "duration_ms" in entry:
        details.append(f"{entry['duration_ms']} ms")
    if isinstance(entry.get("attempt"), int) and entry["attempt"] > 1:
        details.append(f"attempt {entry['attempt']}")
    if "status" in entry:
        details.append(f"HTTP {entry['status']}")
    if "retry_in_ms" in entry:
        details.append(f"retry in {entry['retry_in_ms']} ms")
    details.extend(f"{k}={v}" for k, v in entry.items() if k not in _COLUMN_FIELDS)
    if entry.get("error"):
        error = str(entry["error"])
        if entry.get("correlation_id"):
            error += f" (correlationId {entry['correlation_id']})"
        details.append(error)
    line = "  ".join(parts)
    if details:
        line += "  " + ", ".join(details)
    if color and style:
        head, _, rest = line.partition(symbol)
        return f"{_DIM}{head}{_RESET}{style}{_BOLD}{symbol}{_RESET}{style}{rest}{_RESET}"
    return line


def render(entry: dict[str, Any], *, as_json: bool, color: bool) -> str:
    """The output line for one entry: the exact JSON line (``--json``) or the human one."""
    import json

    if as_json:
        # Same separators and key order as the writer, so a line comes out byte for byte.
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
    return format_entry(entry, color=color)


def _use_color(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR")


def _emit(lines: Iterable[str], stream: TextIO) -> None:
    for line in lines:
        stream.write(line + "\n")
        stream.flush()


def run(args: argparse.Namespace) -> int:
    from hubsync import journal

    log_path: Path = args.file if args.file is not None else sync_log_path(args.config)
    events = frozenset(e.strip() for group in args.event for e in group.split(",") if e.strip())
    filters = journal.LogFilter(
        accounts=frozenset(args.account),
        user=args.user,
        path_glob=args.path_glob,
        events=events,
        since=args.since,
        failed_only=args.failed,
    )
    out = sys.stdout
    color = not args.json and _use_color(out)
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
    try:
        if count == 0:
            entries: Iterable[dict[str, Any]] = journal.iter_entries(
                log_path, filters=filters, end=boundary
            )
        else:
            entries = journal.tail(log_path, count, filters, end=boundary)
        _emit((render(e, as_json=args.json, color=color) for e in entries), out)
        if args.follow:
            stop = threading.Event()
            try:
                followed = journal.follow(
                    log_path, filters, stop, from_start=boundary is None, start_offset=boundary
                )
                _emit((render(e, as_json=args.json, color=color) for e in followed), out)
            except KeyboardInterrupt:
                stop.set()
    except BrokenPipeError:
        # `hubsync log | head`: the reader left. Point stdout at /dev/null so the
        # interpreter's final flush does not raise again.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
    return 0
