"""Show what the running daemon or watch session is doing, or what it left behind.

Asks the hubsync that uses this config's state directory, over its control socket:
per account the HubSpot user, auth state, token expiry, pending and in-flight pushes,
last push, last error and rate-limit budget; per watch the folder, files tracked and
last reconcile. With nothing running it reads the state database and the sync log
instead, and says "not running". A table on a terminal, plain lines otherwise.

--json prints one object, running or not:
  {"running": bool, "pid": int|null, "accounts": [{"name", "portal_id", "hub_user_id",
   "auth", "pending", "in_flight", "last_push", "last_error", "archive_refused"?:
   {"reason", "at"} (large batches go file by file: see `bulk` in docs/configuration.md),
   "held_deletes" (deletes the safety brake holds: `hubsync deletes`), "blocked" (HubSpot
   refused the key; "held" is its old name, kept for scripts, not about deletes), ...}],
   "watches": [{"name", "src", "files", "last_reconcile", ...}]}
and "conflicts": [{"account", "path", "kind", ...}] (as `hubsync conflicts --json`;
the running session's, or the state's when none runs; each is also a line under the
table). Times are ISO 8601 UTC strings, like the sync log's "ts".

--watch follows the running session live, refreshed every --interval seconds (1): on a
terminal a view redrawn in place (per account: queue, rate budget, last push with its
path, last error, conflicts); off a terminal one plain snapshot per interval after a
`--- TIME` line; with --json one object per line. It ends with exit 0 on Ctrl-C or when
the session ends (it says so). With no session running it prints what plain `status`
prints and exits 3: there is nothing live to follow.

examples:
  hubsync status                          what is the daemon doing?
  hubsync status --json | jq '.accounts[] | {name, pending}'
  hubsync status --watch                  follow the queue and the rate budget live
  hubsync status --watch --json | jq -c '.accounts[] | {name, pending}'
  hubsync --config ~/work.toml status
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubsync.errors import EX_OK

if TYPE_CHECKING:
    from hubsync.config import Config
    from hubsync.model import Target

EX_NOT_RUNNING = 3
"""``status --watch`` with no session to follow (LSB "program is not running")."""
RECENT_LOG_ENTRIES = 2000
"""How far back (in sync log lines) a stopped hubsync's last push and errors are looked for."""
_TIME_FIELDS = ("last_push", "last_reconcile", "started_at", "token_expires_at")


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (with --watch: one per line)")
    parser.add_argument("--watch", action="store_true",
                        help="follow the running session live until Ctrl-C or its end")
    parser.add_argument("--interval", type=_interval, default=1.0, metavar="S",
                        help="seconds between refreshes of --watch (default: 1)")


def _interval(text: str) -> float:
    """``--interval``: a number of seconds from 0.1 to 3600."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0.1 and 3600 seconds")
    return value


def run(args: argparse.Namespace) -> int:
    from hubsync.commands import config_path
    from hubsync.errors import ControlError
    from hubsync.session_client import ask_running

    path = config_path(args)
    config, state_dir = _config_or_state_dir(path)
    try:
        report = normalize(ask_running(state_dir, "status", config_path=path))
    except ControlError as exc:
        _show(with_archive_refusals(
            stopped_status(config, note=str(exc), state_dir=state_dir, config_path=path),
            config), as_json=args.json)
        if args.watch:
            print(f"hubsync: nothing to follow live: {exc}", file=sys.stderr)
            return EX_NOT_RUNNING
        return EX_OK
    if args.watch:
        from hubsync.commands.status_live import run_watch

        return run_watch(path, state_dir, report, as_json=args.json,
                         interval_s=args.interval)
    _show(with_archive_refusals(report, config), as_json=args.json)
    return EX_OK


def _show(report: Mapping[str, Any], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, default=str))
    elif sys.stdout.isatty():
        _print_table(report)
    else:
        print(render_text(report), end="")


def _config_or_state_dir(path: Path) -> tuple[Config | None, Path]:
    """The config, or None with a warning on stderr when it is invalid; its state dir.

    A config typo must not lock the user out of `status` exactly when they need it: the
    state dir is then read leniently from the broken file (or is the default).
    """
    from hubsync.config import load_config
    from hubsync.errors import ConfigError
    from hubsync.render import one_line
    from hubsync.session_client import lenient_state_dir

    state_dir, problem = lenient_state_dir(path)
    if problem is None and path.exists():
        try:
            config = load_config(path)
            return config, config.settings.state_dir
        except ConfigError as exc:
            problem = exc
    reason = one_line(problem) if problem else f"{path} does not exist"
    print(f"hubsync: warning: the config is not usable ({reason}); showing what "
          f"{state_dir} holds (`hubsync check` lists the problems)", file=sys.stderr)
    return None, state_dir


def normalize(result: Mapping[str, Any]) -> dict[str, Any]:
    """A running session's status with epoch times turned into ISO 8601 UTC strings."""
    from hubsync.journal import utc_timestamp

    def times(item: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(item)
        for key in _TIME_FIELDS:
            if isinstance(out.get(key), int | float) and not isinstance(out.get(key), bool):
                out[key] = utc_timestamp(out[key])
        return out

    report = times(result)
    report["accounts"] = [times(a) for a in result.get("accounts", [])]
    report["watches"] = [times(w) for w in result.get("watches", [])]
    return report


def config_targets(config: Config) -> dict[str, Target]:
    """Each configured account's remote target, by account name: what the state is keyed
    by (portal id, API base URL, API from ``transport``)."""
    return {name: account.target for name, account in config.accounts.items()}


def stopped_status(config: Config | None, *, note: str | None = None,
                   state_dir: Path | None = None,
                   config_path: Path | None = None) -> dict[str, Any]:
    """What the state database and the sync log say when no session answers.

    ``config`` None (an invalid config): ``state_dir`` must be given, and the accounts
    and watches are the ones the sync log names (the state's rows are keyed by remote
    target, which only a valid config maps to names).
    """
    from hubsync.journal import LOG_NAME, tail
    from hubsync.lock import lock_holder
    from hubsync.state import STATE_FILE, StateStore

    if config is not None:
        state_dir = config.settings.state_dir
        config_path = config.path
    if state_dir is None:
        raise ValueError("stopped_status needs a config or a state_dir")
    recent = tail(state_dir / LOG_NAME, RECENT_LOG_ENTRIES)
    watch_names = ([w.name for w in config.watches] if config is not None else
                   sorted({str(e["watch"]) for e in recent if e.get("watch")}))
    counts: dict[str, Any] = {}
    files: dict[str, int] = {}
    conflicts: list[dict[str, Any]] = []
    # Never create a database just to say nothing is in it; close it at once either way.
    if config is not None and (state_dir / STATE_FILE).is_file():
        with StateStore.open(state_dir) as store:
            # The accounts a session binds (those some watch uses), so that status and
            # the session agree on every name's target and on what is refused.
            used = {name for watch in config.watches for name in watch.accounts}
            store.bind({name: target for name, target in config_targets(config).items()
                        if name in used})
            counts = store.counts()
            files = {w.name: len(store.stat_cache(w.src)) for w in config.watches}
            # What `hubsync conflicts` lists: a stopped status must not hide them.
            conflicts = [c.to_json() for c in store.conflicts()]
    accounts = []
    for name, portal_id in _account_portals(config, counts, recent).items():
        mine = [e for e in recent if e.get("account") == name]
        who = next((e for e in reversed(mine) if e.get("hub_user_id") is not None), {})
        pushes = [e for e in mine if e.get("event") in ("pushed", "deleted")]
        last_event = mine[-1] if mine else {}
        row_counts = counts.get(name)
        accounts.append({
            "name": name,
            "portal_id": portal_id,
            "hub_user_id": who.get("hub_user_id"),
            "hub_user_email": who.get("hub_user_email"),
            "auth": "unknown",
            "pending": row_counts.pending if row_counts else 0,
            "in_flight": 0,
            "parked": row_counts.parked if row_counts else 0,
            "held_deletes": row_counts.held if row_counts else 0,
            "last_push": pushes[-1].get("ts") if pushes else None,
            "last_error": last_event.get("error"),
        })
    watches = []
    configured = {w.name: w for w in config.watches} if config is not None else {}
    for name in watch_names:
        watch = configured.get(name)
        reconciles = [e for e in recent
                      if e.get("event") == "reconciled" and e.get("watch") == name]
        watches.append({
            "name": name,
            "src": str(watch.src) if watch else None,
            "dest": watch.dest if watch else None,
            "accounts": list(watch.accounts) if watch else sorted(
                {str(e["account"]) for e in reconciles if e.get("account")}),
            "files": files.get(name, 0),
            "last_reconcile": reconciles[-1].get("ts") if reconciles else None,
        })
    return {
        "running": False,
        "pid": None,
        "holder_pid": lock_holder(state_dir),
        "note": note,
        "config": str(config_path),
        "state_dir": str(state_dir),
        "accounts": accounts,
        "watches": watches,
        "conflicts": conflicts,
    }


def with_archive_refusals(report: dict[str, Any], config: Config | None) -> dict[str, Any]:
    """``report`` with ``archive_refused: {reason, at}`` on each account whose target
    refused the archive path (``accounts.NAME.bulk``), read from the state database."""
    from hubsync.errors import HubsyncError
    from hubsync.journal import utc_timestamp
    from hubsync.state import STATE_FILE, StateStore

    if config is None or not (config.settings.state_dir / STATE_FILE).is_file():
        return report
    used = {name for watch in config.watches for name in watch.accounts}
    try:
        with StateStore.open(config.settings.state_dir) as store:
            store.bind({name: target for name, target in config_targets(config).items()
                        if name in used})
            refusals = store.bulk_refusals()
    except HubsyncError:
        return report  # a note only: a locked or damaged database must not hide the rest
    for account in report.get("accounts", []):
        refusal = refusals.get(account.get("name"))
        if refusal is not None:
            account["archive_refused"] = {"reason": refusal.reason,
                                          "at": utc_timestamp(refusal.refused_s)}
    return report


def _account_portals(config: Config | None, counts: Mapping[str, Any],
                     recent: list[dict[str, Any]]) -> dict[str, int | None]:
    """Account name -> portal id: from the config, else from the state and the log."""
    if config is not None:
        return {name: account.portal_id for name, account in config.accounts.items()}
    found: dict[str, int | None] = dict.fromkeys(sorted(counts))
    for entry in recent:
        if entry.get("account"):
            portal = entry.get("portal_id")
            known = found.get(str(entry["account"]))
            found[str(entry["account"])] = portal if isinstance(portal, int) else known
    return found


# --- rendering ---------------------------------------------------------------------------

_ACCOUNT_COLUMNS = ("account", "portal", "user", "auth", "token expires", "pending",
                    "in flight", "failed", "last push", "rate used")
_WATCH_COLUMNS = ("watch", "folder", "to", "files", "last reconcile")


def _when(value: object) -> str:
    """An ISO timestamp as local time: the time alone if today, else date and time."""
    if not isinstance(value, str) or not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return value
    today = datetime.now().astimezone().date()
    return moment.strftime("%H:%M:%S" if moment.date() == today else "%Y-%m-%d %H:%M")


def _headline(report: Mapping[str, Any]) -> str:
    if report.get("running"):
        kind = report.get("kind") or "session"
        return (f"hubsync {kind} running (PID {report.get('pid')}), config "
                f"{report.get('config')}\n{report.get('summary') or ''}").rstrip()
    holder = report.get("holder_pid")
    if holder:
        # The note names the holder (read from /proc by hubsync.session_client).
        return f"not answering: {report.get('note') or f'PID {holder} holds the state'}"
    return f"not running (state in {report.get('state_dir')})"


def account_rows(report: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """One row of display strings per account, in ``_ACCOUNT_COLUMNS`` order."""
    rows: list[tuple[str, ...]] = []
    for a in report.get("accounts", []):
        user = str(a.get("hub_user_email") or a.get("hub_user_id") or "-")
        auth = str(a.get("auth") or "-")
        if a.get("held"):
            auth = "unauthorized"
        if a.get("paused"):
            auth += ", paused"
        rate = a.get("rate") or {}
        used = f"{rate.get('used')}/{rate.get('limit')}" if rate.get("limit") else "-"
        rows.append((str(a.get("name")), str(a.get("portal_id")), user, auth,
                     _when(a.get("token_expires_at")), str(a.get("pending", 0)),
                     str(a.get("in_flight", 0)), str(a.get("parked", 0)),
                     _when(a.get("last_push")), used))
    return rows


def watch_rows(report: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """One row of display strings per watch, in ``_WATCH_COLUMNS`` order."""
    return [(str(w.get("name")), str(w.get("src") or "-"), str(w.get("dest") or "-"),
             str(w.get("files", 0)), _when(w.get("last_reconcile")))
            for w in report.get("watches", [])]


def _errors(report: Mapping[str, Any]) -> list[str]:
    from hubsync.render import counted

    lines = [f"{a['name']}: last error: {a['last_error']}"
             for a in report.get("accounts", []) if a.get("last_error")]
    if report.get("reload_error"):
        lines.append(f"config reload failed: {report['reload_error']}")
    if report.get("state_error"):
        lines.append(f"sending paused: {report['state_error']}")
    for account in report.get("accounts", []):
        if account.get("held_deletes"):
            lines.append(f"{account.get('name')}: "
                         f"{counted(int(account['held_deletes']), 'delete')} held by "
                         "the safety brake; see `hubsync deletes`")
        refused = account.get("archive_refused")
        if refused:
            lines.append(f"{account.get('name')}: large batches go file by file: HubSpot "
                         f"refused the archive path ({refused['reason']}); set "
                         'bulk = "archive" for this account to try again')
    return lines + conflict_lines(report.get("conflicts") or [])


CONFLICTS_LISTED = 5
"""``status`` names at most this many conflicting files, then says how many more."""


def conflict_lines(conflicts: Sequence[Mapping[str, Any]]) -> list[str]:
    """``N conflicts open`` and a line per file (its kind in words, as ``push`` says
    it), at most ``CONFLICTS_LISTED``; none when there are none."""
    from hubsync.render import conflict_why, counted

    if not conflicts:
        return []
    lines = [f"{counted(len(conflicts), 'conflict')} open, not sent until resolved (`hubsync "
             "conflicts`, then `hubsync resolve PATH --keep local|remote`):"]
    for c in conflicts[:CONFLICTS_LISTED]:
        kind = str(c.get("kind"))
        lines.append(f"  {c.get('account')}: {c.get('path')}: {kind}: "
                     f"{conflict_why(kind, deleted_here=c.get('local_sha256') is None)}")
    if len(conflicts) > CONFLICTS_LISTED:
        lines.append(f"  and {len(conflicts) - CONFLICTS_LISTED} more: hubsync conflicts")
    return lines


def render_text(report: Mapping[str, Any]) -> str:
    """Plain aligned text for pipes and logs."""
    out = [_headline(report)]
    for title, columns, rows in (("accounts", _ACCOUNT_COLUMNS, account_rows(report)),
                                 ("watches", _WATCH_COLUMNS, watch_rows(report))):
        out.append(f"{title}:")
        if not rows:
            out.append("  (none)")
            continue
        widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
        for row in (columns, *rows):
            out.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths,
                                                                         strict=True)).rstrip())
    out.extend(_errors(report))
    return "\n".join(out) + "\n"


# Dropped first when a terminal is too narrow for every column (least needed first).
# The account name is never dropped nor cut: it is what the rest of the row is about.
_DROP_ORDER = ("rate used", "token expires", "portal", "in flight", "user", "last reconcile",
               "to", "last push")
# Columns whose cells may fold onto several lines (free text, paths), with the narrowest
# width each is given: a typical e-mail or auth state stays on one line, and columns are
# dropped before it is folded into crumbs. The others never wrap, so a count, time or
# name is never cut.
_FOLDABLE = {"user": 16, "auth": 12, "folder": 24}


@dataclass(frozen=True, slots=True)
class Fitted:
    """What of a table fits the terminal: the kept ``columns`` (indexes), whether the
    headers go one word per line (``split_headers``), and the ``dropped`` headers."""

    columns: tuple[int, ...]
    split_headers: bool
    dropped: tuple[str, ...]


def fit_columns(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> Fitted:
    """The columns of a table that fit ``width`` terminal cells, one space between them.

    ``rows`` are the display strings, ``width`` the terminal's columns. All of them side
    by side if they fit; else with multi-word headers one word per line and foldable
    cells (``_FOLDABLE``) folded; else dropping columns in ``_DROP_ORDER`` until they fit
    (the first column, the row's name, always stays whole).
    """
    def longest(i: int) -> int:
        return max((len(row[i]) for row in rows), default=0)

    def needed(kept: Sequence[int], split: bool) -> int:
        total = len(kept) - 1  # the table's one-space rule between columns
        for i in kept:
            head = max(len(w) for w in headers[i].split()) if split else len(headers[i])
            cells = longest(i)
            if split and headers[i] in _FOLDABLE:
                cells = min(cells, _FOLDABLE[headers[i]])
            total += max(head, cells)
        return total

    kept = list(range(len(headers)))
    if needed(kept, split=False) <= width:
        return Fitted(tuple(kept), False, ())
    dropped: list[str] = []
    for header in ("", *_DROP_ORDER):
        if header in headers and headers.index(header) in kept:
            kept.remove(headers.index(header))
            dropped.append(header)
        if needed(kept, split=True) <= width:
            break
    return Fitted(tuple(kept), True, tuple(dropped))


def _print_table(report: Mapping[str, Any]) -> None:
    from rich import box
    from rich.table import Table

    from hubsync.render import rich_console

    console = rich_console()
    console.print(_headline(report), markup=False, highlight=False)
    left_out: list[str] = []
    for title, columns, rows in (("accounts", _ACCOUNT_COLUMNS, account_rows(report)),
                                 ("watches", _WATCH_COLUMNS, watch_rows(report))):
        fitted = fit_columns(columns, rows, console.width)
        left_out.extend(fitted.dropped)
        # No outer edge, padding or vertical rules (one space between columns), as
        # `status --watch` has it.
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD,
                      show_edge=False, pad_edge=False, padding=0)
        for i in fitted.columns:
            header = columns[i]
            foldable = fitted.split_headers and header in _FOLDABLE
            words = header.split() if fitted.split_headers else [header]
            widest = max([len(w) for w in words] + [len(row[i]) for row in rows])
            table.add_column("\n".join(words), no_wrap=not foldable, overflow="fold",
                             min_width=min(widest, _FOLDABLE[header]) if foldable else widest)
        for row in rows:
            table.add_row(*(row[i] for i in fitted.columns))
        console.print(table)
    if left_out:
        console.print(f"(left out to fit {console.width} columns: {', '.join(left_out)}; "
                      "`hubsync status --json` has every field)", markup=False,
                      highlight=False)
    for line in _errors(report):
        console.print(line, style="red", markup=False, highlight=False)
