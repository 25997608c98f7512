"""Presentation shared by the commands, the demo and the live console: text, never I/O.

- ``SYMBOLS``: one symbol per event, the same in the live console and in ``hubsync log``;
- ``format_entry``: one aligned line for a sync log entry;
- ``plan_lines`` / ``summary_lines``: what ``push --dry-run`` and ``push`` print;
- ``links``: where to look in HubSpot after a push (theme preview, Design Manager);
- ``use_color``: the one rule for colour (a terminal, and no ``NO_COLOR``), and
  ``rich_console`` for rich output under the same rule.

Every function returns strings; the caller decides the stream.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote

if TYPE_CHECKING:
    from rich.console import Console

    from hubsync.config import Config
    from hubsync.engine import Summary
    from hubsync.model import Conflict
    from hubsync.people import Directory

# One meaning per symbol everywhere: ✗ is a failure, − a delete.
SYMBOLS: Mapping[str, str] = {
    "pushed": "↑",
    "deleted": "−",
    "reconciled": "=",
    "auth_ok": "✓",
    "session_started": "▶",
    "session_stopped": "■",
    "retrying": "…",
    "skipped": "·",
    "held": "‖",
    "failed": "✗",
    "auth_failed": "✗",
    "conflict": "≠",
    "pulled": "↓",
    "adopted": "≡",
    "resolved": "✓",
}

_GREEN, _RED, _YELLOW, _CYAN, _DIM, _BOLD, _RESET = (
    "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[36m", "\x1b[2m", "\x1b[1m", "\x1b[0m",
)
_STYLE: Mapping[str, str] = {
    "pushed": _GREEN, "deleted": _GREEN, "pulled": _GREEN, "reconciled": _CYAN, "auth_ok": _CYAN,
    "session_started": _DIM, "session_stopped": _DIM, "retrying": _YELLOW,
    "skipped": _DIM, "held": _YELLOW, "failed": _RED, "auth_failed": _RED, "conflict": _RED,
}
# Shown in fixed columns, or deliberately left to --json.
_COLUMN_FIELDS = frozenset({
    "ts", "event", "account", "hub_user_email", "hub_user_id", "path", "remote_path",
    "local_user", "host", "portal_id", "sha256", "mode", "watch", "bytes", "duration_ms",
    "status", "attempt", "retry_in_ms", "error", "reason", "correlation_id",
    "remote_user_id", "remote_user_email",
})
# Column widths of a log line; longer values push the rest right rather than being cut.
_EVENT_WIDTH = 15
_ACCOUNT_WIDTH = 16
_WHO_WIDTH = 22


def use_color(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 conflict``, ``2 conflicts``, ``0 conflicts``: a count and its noun, singular
    only for exactly one (``plural`` when the noun does not just take an ``s``). Every
    count a person reads goes through here: "1 conflicts open" reads as a fault."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def rich_console(*, stderr: bool = False) -> Console:
    """A rich ``Console`` on stdout (or stderr) that honours ``NO_COLOR`` fully.

    rich itself drops only colours for ``NO_COLOR`` and keeps bold, italic and dim
    (``rich.console.Console.no_color``); people who set it expect no styling escape at
    all, so then no colour system is used and styles render as plain text. Cursor
    control (a live view's redraw) is not a style and stays.
    """
    from rich.console import Console

    if os.environ.get("NO_COLOR"):
        return Console(stderr=stderr, color_system=None)
    return Console(stderr=stderr)


def size_text(count: Any) -> str:
    """``512 B``, ``1.5 KB``, ``2.0 MB`` (binary units); other values as text."""
    if not isinstance(count, int) or isinstance(count, bool):
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


def _plain(value: Any) -> str:
    """A field value as a person reads it: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _details(entry: Mapping[str, Any]) -> list[str]:
    details: list[str] = []
    if "bytes" in entry:
        details.append(size_text(entry["bytes"]))
    if "duration_ms" in entry:
        details.append(f"{entry['duration_ms']} ms")
    if isinstance(entry.get("attempt"), int) and entry["attempt"] > 1:
        details.append(f"attempt {entry['attempt']}")
    if "status" in entry:
        details.append(f"HTTP {entry['status']}")
    if "retry_in_ms" in entry:
        details.append(f"retry in {entry['retry_in_ms']} ms")
    details.extend(f"{k}={_plain(v)}" for k, v in entry.items() if k not in _COLUMN_FIELDS)
    for key in ("reason", "error"):
        if entry.get(key):
            text = _plain(entry[key])
            if key == "error" and entry.get("correlation_id"):
                text += f" (correlationId {entry['correlation_id']})"
            details.append(text)
    return details


def _named(user_id: Any, email: Any, people: Directory | None) -> str:
    """``email`` when the line has it, else the one ``people`` knows, else ``user N``."""
    if isinstance(email, str) and email:
        return email
    known = people.email_of(user_id) if people is not None else None
    return known or f"user {user_id}"


def _who(entry: Mapping[str, Any], people: Directory | None) -> str:
    """The user column: always the actor, the key's user who did what the line says
    (pushed, pulled, met a conflict...), by email when known. Who wrote a remote version
    is a detail of its own (``_writer``): one column never means two people."""
    if entry.get("hub_user_id") is not None:
        return _named(entry["hub_user_id"], entry.get("hub_user_email"), people)
    return str(entry.get("hub_user_email") or "")


def _writer(entry: Mapping[str, Any], event: str, people: Directory | None) -> str | None:
    """For a ``pulled``/``conflict`` line, who wrote the remote version (HubSpot's
    ``remote_user_id``): ``remote version by bob@example.com (user 7002)``; a remote
    delete ``deleted remotely (HubSpot does not say by whom)``: it names no writer for a
    file that is gone. None for other events."""
    from hubsync.journal import WRITER_EVENTS

    if event not in WRITER_EVENTS:
        return None
    writer = entry.get("remote_user_id")
    if writer is None:
        if entry.get("kind") == "deleted":
            return "deleted remotely (HubSpot does not say by whom)"
        return "remote writer not named by HubSpot"
    email = entry.get("remote_user_email")
    if not email and writer == entry.get("hub_user_id"):
        email = entry.get("hub_user_email")
    name = _named(writer, email, people)
    return f"remote version by {name if name == f'user {writer}' else f'{name} (user {writer})'}"


def format_entry(entry: Mapping[str, Any], *, color: bool = False,
                 people: Directory | None = None) -> str:
    """One human line for a sync log entry, in local time, columns aligned.

    ``time  symbol event  account  user  path  details``; ``color`` adds ANSI colours.
    ``user`` is always the actor (the key's user); a ``conflict``/``pulled`` line's
    details start with who wrote the remote version (``remote version by
    bob@example.com (user 7002)``, or that HubSpot does not say). Values that are not
    strings are shown as JSON, never as Python reprs. ``people`` (the user directory,
    ``hubsync.people``) names by email the users a line gives by id only.
    """
    event = str(entry.get("event", "?"))
    symbol = SYMBOLS.get(event, "-")
    who = _who(entry, people)
    path = entry.get("path") or entry.get("remote_path") or ""
    parts = [_when(entry.get("ts")), symbol, event.ljust(_EVENT_WIDTH),
             str(entry.get("account") or "-").ljust(_ACCOUNT_WIDTH),
             str(who or "-").ljust(_WHO_WIDTH), str(path)]
    line = "  ".join(parts).rstrip()
    writer = _writer(entry, event, people)
    details = ([] if writer is None else [writer]) + _details(entry)
    if details:
        line += "  " + ", ".join(details)
    style = _STYLE.get(event, "")
    if color and style:
        head, _, rest = line.partition(symbol)
        return f"{_DIM}{head}{_RESET}{style}{_BOLD}{symbol}{_RESET}{style}{rest}{_RESET}"
    return line


ONE_LINE_ITEMS = 5
"""``one_line`` keeps this many items of a message's list, then says how many more."""


def one_line(message: object, *, limit: int = ONE_LINE_ITEMS) -> str:
    """A message of several lines (``"config.toml: 3 problems:\\n  a\\n  b\\n  c"``) on one
    line: the head, then its items joined by ``; ``, at most ``limit`` of them and then
    ``and N more``. Never the head alone: a warning that says "3 problems:" must show
    them."""
    head, *rest = str(message).splitlines() or [""]
    items = [line.strip() for line in rest if line.strip()]
    if not items:
        return head
    shown = "; ".join(items[:limit])
    if len(items) > limit:
        shown += f"; and {len(items) - limit} more"
    return f"{head} {shown}" if head.endswith(":") else f"{head}: {shown}"


def sync_log_path(config_path: Path) -> tuple[Path, str | None]:
    """``<state_dir>/sync.log`` of the config at ``config_path``, and a warning or None.

    Works from a broken config too (the warning says why the config is not valid, the
    state dir is read leniently), and before the first ``hubsync init`` (the default
    state dir).
    """
    from hubsync.journal import LOG_NAME
    from hubsync.session_client import lenient_state_dir

    state_dir, problem = lenient_state_dir(config_path)
    warning = None
    if problem is not None:
        warning = (f"the config is not valid, reading {state_dir} anyway "
                   f"(run `hubsync check` for the details): {one_line(problem)}")
    return state_dir / LOG_NAME, warning


# --- push --------------------------------------------------------------------------------


def _delete_text(rel: str, folder: bool) -> str:
    return f"{rel}/ (folder)" if folder else rel


CONFLICT_WHY = {
    "changed": "changed remotely since hubsync last synced it",
    "deleted": "deleted remotely since hubsync last synced it",
    "unsynced": "already on HubSpot with other content; hubsync never synced it",
    "both": "changed on both sides since the last sync",
}
"""Conflict kind (``ConflictKind``'s value) -> what happened, in words: ``unsynced`` was
never synced, so it is not "changed remotely" (docs/teams.md defines the kinds)."""


def conflict_why(kind: str, *, deleted_here: bool = False) -> str:
    """``CONFLICT_WHY[kind]`` with the local side when it was a delete: ``deleted here;
    changed remotely since hubsync last synced it`` (a conflict's ``local_sha256`` is
    None then). A local edit is what a push or watch sends, so it goes without saying."""
    why = CONFLICT_WHY.get(kind, kind)
    return f"deleted here; {why}" if deleted_here else why


def _conflict_line(c: Conflict, people: Directory | None) -> str:
    """``  account: path: kind: why, by writer`` for a summary's list of conflicts."""
    return (f"  {c.account}: {c.rel}: {c.kind}: "
            f"{conflict_why(str(c.kind), deleted_here=c.local_sha256 is None)}"
            f"{conflict_writer(c, people)}")


def plan_lines(summary: Summary) -> list[str]:
    """What ``push --dry-run`` prints: per (watch, account) the counts, then each path."""
    out: list[str] = []
    for (watch, account), plan in summary.plans.items():
        out.append(f"{watch} -> {account}: {len(plan.uploads)} to upload, "
                   f"{len(plan.deletes)} to delete, {plan.unchanged} unchanged")
        out.extend(f"  upload  {rel}" for rel in plan.uploads)
        out.extend(f"  delete  {_delete_text(d.rel, d.folder)}" for d in plan.deletes)
        out.extend(f"  held    {_delete_text(d.rel, d.folder)}" for d in plan.held_deletes)
        out.extend(f"  conflict {rel} ({kind}: {CONFLICT_WHY.get(kind, kind)}; not sent; "
                   "see docs/teams.md)" for rel, kind in plan.conflicts)
        out.extend(f"  adopt   {rel} (the remote already holds it)" for rel in plan.adopted)
        if plan.hold_reason:
            out.append(f"  {plan.hold_reason}")
    out.extend(f"skipped {watch}:{rel}: {reason}" for watch, rel, reason in summary.skipped)
    if summary.open_conflicts:
        out.append(f"{counted(len(summary.open_conflicts), 'conflict')} open from an earlier "
                   "run, not "
                   "sent until resolved (`hubsync resolve PATH --keep local|remote`):")
        out.extend(capped([_conflict_line(c, None) for c in summary.open_conflicts],
                          "hubsync conflicts"))
    return out


@dataclass(frozen=True, slots=True)
class SummaryText:
    """The lines of a push summary: ``out`` for stdout, ``err`` for stderr."""

    out: list[str]
    err: list[str]


LIST_LIMIT = 20
"""Summaries list at most this many files of a kind, then "and N more" with the command
that shows them all."""


def capped(lines: list[str], more_hint: str, *, limit: int = LIST_LIMIT,
           indent: str = "  ") -> list[str]:
    """``lines``, or the first ``limit`` of them and ``and N more: <more_hint>``."""
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"{indent}and {len(lines) - limit} more: {more_hint}"]


def duration_text(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 5 s``, ``1 h 2 min``: a run's elapsed time."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _account_line(summary: Summary, account: str) -> str:
    pushed = summary.pushed.get(account, 0)
    sent = summary.bytes_pushed.get(account)
    size = f" ({size_text(sent)})" if sent else ""
    archived = summary.archived.get(account, 0)
    if archived:
        size += (" in one archive" if archived == pushed else
                 f", {archived} of them in one archive")
    line = f"{account}: {pushed} pushed{size}, {summary.deleted.get(account, 0)} deleted"
    if summary.adopted.get(account):
        line += f", {summary.adopted[account]} already there (adopted, not uploaded)"
    if summary.pending.get(account):
        line += f", {summary.pending[account]} pending"
    if summary.held_deletes.get(account):
        line += f", {counted(summary.held_deletes[account], 'delete')} held"
    return line


def _totals_line(summary: Summary) -> str | None:
    """``8 pushed, 2 deleted, 1.5 KB in 3.2 s`` over every account; None when there is
    nothing to add to a single account's line."""
    if summary.elapsed_s is None:
        return None
    pushed = sum(summary.pushed.values())
    deleted = sum(summary.deleted.values())
    sent = sum(summary.bytes_pushed.values())
    return (f"in all: {pushed} pushed, {deleted} deleted, {size_text(sent)} "
            f"in {duration_text(summary.elapsed_s)}")


def _failure_lines(summary: Summary) -> list[str]:
    lines: list[str] = []
    for failure in summary.failures[:LIST_LIMIT]:
        first, *rest = failure.error.splitlines() or [""]
        lines.append(f"  {failure.account}: {failure.path}: {first}")
        lines.extend(f"      {line.removeprefix('- ')}" for line in rest)
    more = len(summary.failures) - LIST_LIMIT
    if more > 0:
        lines.append(f"  and {more} more: hubsync log --failed")
    return lines


def conflict_writer(conflict: Conflict, people: Directory | None) -> str:
    """``, by bob@example.com (user 7002)`` (``people`` knows the email), ``, by user
    7002`` (it does not), or ``""`` when HubSpot did not name the remote writer."""
    writer = conflict.remote.writer_user_id if conflict.remote is not None else None
    if writer is None:
        return ""
    return f", by {people.name(writer) if people is not None else f'user {writer}'}"


def summary_lines(summary: Summary, *, quiet: bool = False,
                  people: Directory | None = None, others_open: bool = False) -> SummaryText:
    """What ``push`` prints at the end: per account the counts (bytes, pending, held),
    the totals and the elapsed time, the files left out by the rules and the failures
    LISTED (at most ``LIST_LIMIT`` of each, then the command that lists the rest), holds
    with their account, and what is still pending. ``quiet`` (``-q``: the summary and
    problems only) leaves out the files left out by the rules: they are no problem, and
    the same ones would be listed on every run. Each conflict names its remote writer,
    by email where ``people`` (the user directory) knows them. ``others_open``
    (``resolve``: the conflicts still open are not the run's failure) tells them as one
    line on stdout instead of listing them on stderr.

    "everything is in sync" only when ``summary.ok``: never while a conflict is open
    (found now or earlier), a change pending, a delete held or a file failed."""
    accounts = sorted(set(summary.pushed) | set(summary.pending) | set(summary.held_deletes))
    out: list[str] = [_account_line(summary, account) for account in accounts]
    totals = _totals_line(summary)
    if totals is not None:
        out.append(totals)
    if summary.skipped and not quiet:
        out.append(f"{counted(len(summary.skipped), 'file')} left out by the rules:")
        out.extend(capped([f"  skipped {watch}:{rel}: {reason}"
                           for watch, rel, reason in summary.skipped],
                          "hubsync log --event skipped"))
    out.extend(f"held: {reason}" for reason in summary.held_reasons)
    if summary.remote_only:
        were = "was" if len(summary.remote_only) == 1 else "were"
        out.append(f"{counted(len(summary.remote_only), 'remote file')} hubsync never synced "
                   f"{were} left alone (`hubsync ls` lists the remote):")
        out.extend(capped([f"  {path}" for path in summary.remote_only], "hubsync ls -r"))
    err: list[str] = []
    if summary.conflicts:
        err.append(f"{len(summary.conflicts)} not sent: a remote version hubsync will not "
                   "overwrite (`hubsync conflicts`, then `hubsync resolve PATH --keep "
                   "local|remote`):")
        err.extend(capped([_conflict_line(c, people) for c in summary.conflicts],
                          "hubsync conflicts"))
    if summary.open_conflicts and others_open:
        out.append(f"{counted(len(summary.open_conflicts), 'other conflict')} still open, "
                   "not sent until resolved: `hubsync conflicts` lists them")
    elif summary.open_conflicts:
        err.append(f"{len(summary.open_conflicts)} not sent: conflicts still open from an "
                   "earlier run (`hubsync conflicts`, then `hubsync resolve PATH --keep "
                   "local|remote`):")
        err.extend(capped([_conflict_line(c, people) for c in summary.open_conflicts],
                          "hubsync conflicts"))
    if summary.failures:
        err.append(f"{len(summary.failures)} failed:")
        err.extend(_failure_lines(summary))
    if summary.interrupted:
        err.append("interrupted: the files counted as pushed above reached HubSpot; "
                   "the pending ones are kept for the next run")
    if summary.left_pending:
        err.append(f"{counted(summary.left_pending, 'change')} still pending; run `hubsync "
                   "push` again")
    if summary.ok:
        out.append("everything is in sync")
    return SummaryText(out, err)


def summary_json(summary: Summary) -> dict[str, Any]:
    """``push --json``: one object with the counts, failures, skips and holds.

    ``{"ok": bool, "accounts": {NAME: {"pushed": int, "deleted": int, "held_deletes": int}},
    "unchanged": int, "failures": [{"account", "path", "error"}], "skipped": [{"watch",
    "path", "reason"}], "held": [str], "left_pending": int, "interrupted": bool,
    "pending": {NAME: int}, "bytes": {NAME: int}, "adopted": {NAME: int},
    "archived": {NAME: int}, "elapsed_s": float | null,
    "conflicts": [Conflict.to_json()], "open_conflicts": [Conflict.to_json()]}``;
    ``conflicts`` are the ones this run found, ``open_conflicts`` the unresolved ones of
    earlier runs (either makes ``ok`` false).
    """
    names = sorted(set(summary.pushed) | set(summary.deleted) | set(summary.held_deletes))
    return {
        "ok": summary.ok,
        "accounts": {name: {"pushed": summary.pushed.get(name, 0),
                            "deleted": summary.deleted.get(name, 0),
                            "held_deletes": summary.held_deletes.get(name, 0)}
                     for name in names},
        "unchanged": summary.unchanged,
        "failures": [{"account": f.account, "path": f.path, "error": f.error}
                     for f in summary.failures],
        "skipped": [{"watch": w, "path": rel, "reason": reason}
                    for w, rel, reason in summary.skipped],
        "held": list(summary.held_reasons),
        "left_pending": summary.left_pending,
        "interrupted": summary.interrupted,
        "conflicts": [c.to_json() for c in summary.conflicts],
        "open_conflicts": [c.to_json() for c in summary.open_conflicts],
        "pending": dict(summary.pending),
        "bytes": dict(summary.bytes_pushed),
        "adopted": dict(summary.adopted),
        "archived": dict(summary.archived),
        "elapsed_s": None if summary.elapsed_s is None else round(summary.elapsed_s, 3),
    }


def plan_json(summary: Summary) -> dict[str, Any]:
    """``push --dry-run --json``: ``{"plans": [{"watch", "account", "upload": [path],
    "delete": [path], "held": [path], "unchanged": int, "hold_reason"}], "skipped": [...],
    "open_conflicts": [Conflict.to_json()]}``;
    a folder delete's path ends in ``/``."""
    plans = []
    for (watch, account), plan in summary.plans.items():
        plans.append({
            "watch": watch, "account": account, "upload": list(plan.uploads),
            "delete": [d.rel + ("/" if d.folder else "") for d in plan.deletes],
            "held": [d.rel + ("/" if d.folder else "") for d in plan.held_deletes],
            "unchanged": plan.unchanged, "hold_reason": plan.hold_reason,
            "conflicts": [{"path": rel, "kind": kind} for rel, kind in plan.conflicts],
            "adopted": list(plan.adopted),
        })
    return {"plans": plans, "skipped": [{"watch": w, "path": rel, "reason": reason}
                                        for w, rel, reason in summary.skipped],
            "open_conflicts": [c.to_json() for c in summary.open_conflicts]}


# --- links into HubSpot ------------------------------------------------------------------


def website_origin(env: str) -> str:
    """HubSpot's app origin for an environment: ``https://app.hubspot.com``, or
    ``https://app.hubspotqa.com`` for ``qa``.

    Source: HubSpot's CLI, ``getHubSpotWebsiteOrigin`` in HubSpot/hubspot-cli (used by
    ``hs open`` and the VS Code extension's "open Design Manager" command).
    """
    return "https://app.hubspotqa.com" if env == "qa" else "https://app.hubspot.com"


def theme_preview_url(env: str, portal_id: int, theme: str) -> str:
    """The theme previewer of ``theme`` (the Design Manager folder holding theme.json).

    Shape from HubSpot/hubspot-cli ``packages/cli-lib/lib/files.js``
    (``getThemePreviewUrl``): ``{origin}/theme-previewer/{accountId}/edit/{theme}``,
    the theme name URL-encoded.
    """
    return f"{website_origin(env)}/theme-previewer/{portal_id}/edit/{quote(theme, safe='')}"


def design_manager_url(env: str, portal_id: int) -> str:
    """The account's Design Manager: ``{origin}/design-manager/{accountId}``.

    Shape from HubSpot/hubspot-cli ``lib/links`` (``hs open design-manager``).
    """
    return f"{website_origin(env)}/design-manager/{portal_id}"


def links(config: Config, *, watches: Iterable[str] | None = None,
          accounts: Iterable[str] | None = None) -> list[str]:
    """Lines saying where to look in HubSpot after a push, per (watch, account).

    ``watches`` and ``accounts`` limit them to those names (default: all).

    The theme preview link only for a watch whose folder holds a ``theme.json`` (a
    theme); the Design Manager link always, with the remote folder to open. An account
    with a custom ``api_base`` (an emulator) gets no links: there is no HubSpot app.
    """
    wanted = set(accounts) if accounts is not None else None
    chosen = set(watches) if watches is not None else None
    out: list[str] = []
    for watch in config.watches:
        if chosen is not None and watch.name not in chosen:
            continue
        is_theme = (watch.src / "theme.json").is_file()
        for name in watch.accounts:
            account = config.accounts.get(name)
            if account is None or (wanted is not None and name not in wanted):
                continue
            if account.api_base is not None:
                continue
            env = str(account.env)
            out.append(f"{name}: Design Manager {design_manager_url(env, account.portal_id)} "
                       f"(folder {watch.dest})")
            if is_theme:
                out.append(f"{name}: theme preview "
                           f"{theme_preview_url(env, account.portal_id, watch.dest)}")
    return out
