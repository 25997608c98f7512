"""``hubsync status --watch``: the running session's status, refreshed every interval.

On a terminal a live view (rich) redrawn in place: per account the queue (pending, in
flight, held deletes, failed), the rate budget (requests left of the limit per window,
how long sending is paused for, 429s so far), the last push (path, when, from the sync
log), the last error and, when the session reports them, conflicts. Off a terminal one
plain snapshot per interval (the text of `hubsync status`, after a `--- TIME` line); with
--json one JSON object per line per interval.

Ends with exit 0 on Ctrl-C, or when the session ends (it says so). With no session
running it prints what plain `status` prints and exits 3: there is nothing live to
follow (as `systemctl status` exits 3 for a unit that is not active).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from hubsync.errors import EX_OK

if TYPE_CHECKING:
    from rich.console import RenderableType

LOG_LOOKBACK = 500
"""Sync log lines read back, at each refresh, for each account's last pushed path."""

Ask = Callable[[], dict[str, Any]]


def run_watch(path: Path, state_dir: Path, first: dict[str, Any], *, as_json: bool,
              interval_s: float) -> int:
    """Follow the session on ``state_dir`` (``first``: its status, normalized) until
    Ctrl-C or its end; see the module doc. Exit 0."""
    from hubsync.commands.status import normalize
    from hubsync.session_client import ask_running

    def ask() -> dict[str, Any]:
        return with_last_pushes(normalize(ask_running(state_dir, "status",
                                                      config_path=path)), state_dir)

    first = with_last_pushes(first, state_dir)
    if as_json:
        # stdout stays JSON lines only: the end is said on stderr.
        return _follow(first, ask, state_dir, interval_s,
                       lambda r: print(json.dumps(r, default=str), flush=True),
                       end_to=sys.stderr)
    if sys.stdout.isatty():
        return _follow_live(first, ask, state_dir, interval_s)
    return _follow(first, ask, state_dir, interval_s, _print_plain)


def _print_plain(report: Mapping[str, Any]) -> None:
    from hubsync.commands.status import render_text
    from hubsync.journal import utc_timestamp

    print(f"--- {utc_timestamp()}\n{render_text(report)}", end="", flush=True)


def _follow(first: dict[str, Any], ask: Ask, state_dir: Path, interval_s: float,
            show: Callable[[dict[str, Any]], None], end_to: TextIO | None = None) -> int:
    """Show ``first``, then a fresh report every ``interval_s`` until the session ends."""
    from hubsync.console import stdout_gone

    report: dict[str, Any] | None = first
    try:
        while report is not None:
            show(report)
            if stdout_gone():  # `status --watch | head`: the reader has left
                return EX_OK
            time.sleep(interval_s)
            report = _next(ask, state_dir, report)
    except KeyboardInterrupt:
        return EX_OK
    print(_ended(first), file=end_to or sys.stdout, flush=True)
    return EX_OK


def _follow_live(first: dict[str, Any], ask: Ask, state_dir: Path, interval_s: float) -> int:
    from rich.live import Live

    from hubsync.render import rich_console

    console = rich_console()
    report: dict[str, Any] | None = first
    try:
        with Live(render_live(first), console=console, auto_refresh=False,
                  transient=False) as live:
            while report is not None:
                live.update(render_live(report), refresh=True)
                time.sleep(interval_s)
                report = _next(ask, state_dir, report)
    except KeyboardInterrupt:
        return EX_OK
    console.print(_ended(first), markup=False, highlight=False)
    return EX_OK


def _next(ask: Ask, state_dir: Path, last: dict[str, Any]) -> dict[str, Any] | None:
    """The next report; the last one with a note while the session is busy or starting
    (it still holds the state); None once no process holds the state any more."""
    from hubsync.errors import ControlError
    from hubsync.session_client import holder

    try:
        return ask()
    except ControlError as exc:
        if holder(state_dir) is None:
            return None
        return {**last, "note": str(exc)}


def _ended(first: Mapping[str, Any]) -> str:
    return (f"the hubsync {first.get('kind') or 'session'} (PID {first.get('pid')}) ended; "
            "`hubsync status` shows what it left")


def with_last_pushes(report: dict[str, Any], state_dir: Path) -> dict[str, Any]:
    """``report`` with each account's ``last_push_path``, ``last_push_event`` (pushed or
    deleted) and ``last_push_at`` (ISO 8601 UTC) from the newest ``pushed``/``deleted``
    line of the sync log (the session's status has the time only), and
    ``last_error_path``: the file of the newest ``failed`` line when its error starts
    as the account's ``last_error`` does. None when none of the last ``LOG_LOOKBACK`` lines says."""
    from hubsync.journal import LOG_NAME, tail

    latest: dict[str, Mapping[str, Any]] = {}
    failed: dict[str, Mapping[str, Any]] = {}
    for entry in reversed(tail(state_dir / LOG_NAME, LOG_LOOKBACK)):
        name = entry.get("account")
        if not isinstance(name, str):
            continue
        if entry.get("event") in ("pushed", "deleted"):
            latest.setdefault(name, entry)
        elif entry.get("event") == "failed":
            failed.setdefault(name, entry)
    accounts = []
    for account in report.get("accounts", []):
        name = str(account.get("name"))
        last = latest.get(name, {})
        error = failed.get(name, {})
        same = _first_line(account.get("last_error")) == _first_line(error.get("error"))
        accounts.append({**account, "last_push_path": last.get("path"),
                         "last_push_event": last.get("event"),
                         "last_push_at": last.get("ts"),
                         "last_error_path": error.get("path") if same else None})
    return {**report, "accounts": accounts}


def _first_line(text: object) -> str | None:
    """The first line of an error (the session keeps HubSpot's message, the sync log
    also its detail lines); None for no error."""
    return str(text).splitlines()[0] if text else None


# --- the live view -------------------------------------------------------------------------

_COLUMNS = ("account", "auth", "pending", "in flight", "held", "failed", "rate budget",
            "last push", "last error")

_NUMBER_COLUMNS = frozenset({"pending", "held", "failed", "conflicts"})
"""Columns whose cells are sentences: they take the width that is left, and fold."""


def _ago(value: object) -> str:
    if not isinstance(value, str) or not value:
        return "never"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    seconds = max(0, int(time.time() - moment.timestamp()))
    if seconds < 120:
        return f"{seconds} s ago"
    return moment.astimezone().strftime("%H:%M:%S")


def rate_cell(rate: Mapping[str, Any] | None) -> str:
    """``97/100 left per 10 s``, plus ``paused 2.5 s`` and ``3×429`` when they apply."""
    if not rate or not rate.get("limit"):
        return "-"
    left = max(0, int(rate.get("budget") or 0) - int(rate.get("used") or 0))
    text = f"{left}/{rate['limit']} left per {int(rate.get('window_ms') or 0) / 1000:g} s"
    if rate.get("paused_for_ms"):
        text += f", paused {int(rate['paused_for_ms']) / 1000:.1f} s"
    if rate.get("rate_limited"):
        text += f", {rate['rate_limited']}×429"
    return text


def _conflicts(report: Mapping[str, Any], account: Mapping[str, Any]) -> int | None:
    """Conflicts of ``account``: its own list or count, or the session's entries naming
    it; None when the session reports no conflicts at all."""
    own = account.get("conflicts")
    if isinstance(own, list):
        return len(own)
    if isinstance(own, int) and not isinstance(own, bool):
        return own
    listed = report.get("conflicts")
    if isinstance(listed, list):
        return sum(1 for c in listed if isinstance(c, Mapping)
                   and c.get("account") in (None, account.get("name")))
    return None


def account_cells(report: Mapping[str, Any], a: Mapping[str, Any]) -> list[str]:
    """One account's cells, in ``_COLUMNS`` order (plus conflicts when reported)."""
    auth = "unauthorized" if a.get("held") else str(a.get("auth") or "-")
    if a.get("paused"):
        auth += ", paused"
    last = "-"
    if a.get("last_push_path"):
        gone = " (deleted)" if a.get("last_push_event") == "deleted" else ""
        last = f"{a['last_push_path']}{gone}, {_ago(a.get('last_push_at'))}"
    elif a.get("last_push"):
        last = _ago(a.get("last_push"))
    error = " ".join(str(a.get("last_error") or "-").split())[:120]
    if a.get("last_error_path"):
        error = f"{a['last_error_path']}: {error}"
    cells = [str(a.get("name")), auth, str(a.get("pending", 0)), str(a.get("in_flight", 0)),
             str(a.get("held_deletes", 0)), str(a.get("parked", 0)), rate_cell(a.get("rate")),
             last, error]
    conflicts = _conflicts(report, a)
    if conflicts is not None:
        cells.append(str(conflicts))
    return cells


def render_live(report: Mapping[str, Any]) -> RenderableType:
    """The live view of one report: headline, the accounts table, the session's notes."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from hubsync.journal import utc_timestamp

    accounts = list(report.get("accounts", []))
    rows = [account_cells(report, a) for a in accounts]
    columns = list(_COLUMNS)
    if any(len(r) > len(columns) for r in rows):
        columns.append("conflicts")
    # 80 columns hold every header: no outer edge, padding or vertical rules (a space
    # between columns), each column at least as wide as its header's longest word, so a
    # header wraps between words ("in / flight"), never inside one ("accoun / t"); text
    # cells fold, counts never wrap.
    table = Table(title="accounts", title_justify="left", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False, padding=0)
    for column in columns:
        table.add_column(column, overflow="fold",
                         no_wrap=column in _NUMBER_COLUMNS,
                         min_width=max(len(word) for word in column.split()))
    for row in rows:
        table.add_row(*(row + ["-"] * (len(columns) - len(row))))
    head = (f"hubsync {report.get('kind') or 'session'} (PID {report.get('pid')}): "
            f"{report.get('summary') or ''}")
    parts: list[RenderableType] = [Text(head), table]
    for note in (report.get("note"), report.get("reload_error"), report.get("state_error")):
        if note:
            parts.append(Text(str(note), style="red"))
    parts.append(Text(f"updated {utc_timestamp()}; Ctrl-C to stop", style="dim"))
    return Group(*parts)
