"""Readable live lines for ``hubsync watch`` and ``hubsync push``.

The engine reports every sync log line as an :class:`~hubsync.engine.EngineEvent`;
this module turns them into one line each for a person watching a terminal::

    ↑ templates/home.html -> sandbox (jane, 42 ms)
    ✗ templates/bad.html -> sandbox: Template contains errors
        line 2: Unclosed '{{': expected '}}' before the end of the template

A progress bar (rich) is shown by ``push`` on a TTY only. With ``quiet`` only the
problems (failures, holds, refused keys) are printed.

Also here: ``install_pipe_safe_stdout``, so that ``hubsync push --dry-run | head -3``
ends quietly instead of with a BrokenPipeError.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from hubsync.render import SYMBOLS, counted

if TYPE_CHECKING:
    from rich.progress import Progress, Task

    from hubsync.engine import EngineEvent
    from hubsync.model import AccountStatus, SessionStatus
    from hubsync.people import Directory, LazyDirectory

# Events printed even with --quiet: each is a problem the user must see.
PROBLEM_EVENTS = frozenset({"failed", "auth_failed", "held", "conflict"})


class PipeSafeStream(io.TextIOBase):
    """A text stream that survives its reader leaving (EPIPE, ``| head``).

    On the first BrokenPipeError the file descriptor is pointed at /dev/null (so the
    interpreter's last flush cannot fail again) and ``gone`` turns true; later writes
    are dropped. Commands that only print (``log -f``) stop when ``gone``; sessions keep
    syncing with nobody reading. Everything else is passed to the wrapped stream.
    """

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self._inner = inner
        self.gone = False

    def _silence(self) -> None:
        self.gone = True
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._inner.fileno())
            os.close(devnull)

    def write(self, text: str) -> int:
        if self.gone:
            return len(text)
        try:
            return self._inner.write(text)
        except BrokenPipeError:
            self._silence()
            return len(text)

    def flush(self) -> None:
        try:
            self._inner.flush()
        except BrokenPipeError:
            self._silence()
            # What was buffered now goes to /dev/null.
            with contextlib.suppress(OSError):
                self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._inner.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._inner.errors


def install_pipe_safe_stdout() -> PipeSafeStream:
    """Wrap ``sys.stdout`` in a ``PipeSafeStream`` (once); the wrapper."""
    if isinstance(sys.stdout, PipeSafeStream):
        return sys.stdout
    wrapped = PipeSafeStream(sys.stdout)
    sys.stdout = wrapped
    return wrapped


def stdout_gone() -> bool:
    """Whether the reader of stdout has left (a closed pipe)."""
    return isinstance(sys.stdout, PipeSafeStream) and sys.stdout.gone


def _user(fields: Mapping[str, Any]) -> str:
    email = fields.get("hub_user_email")
    if isinstance(email, str) and email:
        return email.split("@", 1)[0]
    user_id = fields.get("hub_user_id")
    return f"user {user_id}" if user_id is not None else "?"


def writer_text(fields: Mapping[str, Any], people: Directory | None = None) -> str | None:
    """Who wrote the remote version a ``pulled``/``conflict`` line is about
    (``remote_user_id``, HubSpot's ``updatedById``): ``bob@example.com (user 7002)`` when
    ``people`` (the user directory, ``hubsync.people``) knows the email, ``user 7002``
    otherwise, ``you (user 7001)`` for the key's own user; None when HubSpot does not
    name the writer (never the key's user: they only read it)."""
    writer = fields.get("remote_user_id")
    if writer is None:
        return None
    if writer == fields.get("hub_user_id"):
        return f"you (user {writer})"
    return writer_name(writer, people)


def pulled_text(fields: Mapping[str, Any], people: Directory | None = None) -> str:
    """A ``pulled`` line after its symbol, the writer first and the local account second:
    ``css/x1.css: written by ann@example.com (user 9001); pulled via account bob``
    (``writer_text``), and ``; your local version kept at PATH`` when ``local_copy``
    says where a forced pull kept the file it overwrote. The account comes last: "<- bob"
    read as "from Bob" for a file Ann wrote (trial 2, finding 11)."""
    path = fields.get("path") or fields.get("remote_path") or ""
    via = f"pulled via account {fields.get('account', '')}"
    writer = writer_text(fields, people)
    text = (f"{path}: written by {writer}; {via}" if writer is not None
            else f"{path}: {via} (HubSpot does not name its writer)")
    if fields.get("local_copy"):
        text += f"; your local version kept at {fields['local_copy']}"
    return text


def error_lines(error: str) -> list[str]:
    """HubSpot's message, then one ``line N: message`` per detail (indented)."""
    lines = error.splitlines() or [""]
    head, rest = lines[0], lines[1:]
    return [head, *(f"    {line.removeprefix('- ')}" for line in rest)]


def _body(event: str, f: Mapping[str, Any], people: Directory | None) -> str | None:
    """The text after the event's symbol; None for events not worth a line."""
    path = f.get("path", "")
    account = f.get("account", "")
    took = f"{_user(f)}, {f.get('duration_ms', 0)} ms"
    if event == "pushed":
        return f"{path} -> {account} ({took})"
    if event == "pulled":
        return pulled_text(f, people)
    if event == "deleted":
        kind = "folder " if f.get("folder") else ""
        # One request took the whole removed folder (engine/folders.py): said per file.
        via = " with its folder" if f.get("via") == "folder" else ""
        return f"{kind}{path} -> {account} deleted{via} ({took})"
    if event == "failed":
        lines = error_lines(str(f.get("error", "")))
        status = f" (HTTP {f['status']})" if f.get("status") else ""
        return "\n".join([f"{path} -> {account}{status}: {lines[0]}", *lines[1:]])
    if event == "retrying":
        what = (f"HTTP {f['status']}" if f.get("status")
                else str(f.get("error", "")).split("\n", 1)[0])
        wait_s = int(f.get("retry_in_ms", 0)) / 1000
        return (f"{path} -> {account}: {what}; attempt {f.get('attempt')} failed, "
                f"retrying in {wait_s:.1f} s")
    if event == "skipped":
        return f"{path} skipped: {f.get('reason') or f.get('error', '')}"
    if event == "held":
        return f"{account}: {f.get('reason') or f.get('error', '')}"
    if event == "auth_failed":
        return f"{account}: {f.get('error', '')}"
    if event == "auth_ok":
        who = f.get("hub_user_email") or f"user {f.get('hub_user_id')}"
        return f"{account}: portal {f.get('portal_id')} as {who}"
    if event == "reconciled":
        return (f"{f.get('watch')} -> {account}: {counted(int(f.get('files') or 0), 'file')}, "
                f"{f.get('queued', 0)} to push, {f.get('unchanged', 0)} unchanged"
                + (f", {counted(int(f['held']), 'delete')} held" if f.get("held") else "")
                + (f" ({f['note']})" if f.get("note") else ""))
    return None


_TEAM_EVENTS = frozenset({"conflict", "adopted", "resolved"})


def _team_body(event: str, f: Mapping[str, Any], people: Directory | None) -> str:
    """The conflict guard's lines (docs/teams.md): a conflict says why, by whom (``by
    bob@example.com (user 7002)`` when ``people`` knows the writer's email, ``by user
    7002`` otherwise) and what next."""
    path, account = f.get("path", ""), f.get("account", "")
    if event == "conflict":
        writer = f" by {writer_name(f['remote_user_id'], people)}" \
            if f.get("remote_user_id") else ""
        when = f" at {f['remote_updated_at']}" if f.get("remote_updated_at") else ""
        return f"{path} -> {account}: {f.get('kind')}{writer}{when}: {f.get('note', '')}"
    if event == "adopted":
        return f"{path} -> {account}: already there with this content; recorded, not uploaded"
    return f"{path} -> {account}: conflict resolved, keeping the {f.get('keep')} version"


def writer_name(user_id: object, people: Directory | None) -> str:
    """``bob@example.com (user 7002)`` when ``people`` knows the email, else ``user 7002``."""
    return people.name(user_id) if people is not None else f"user {user_id}"


def render(event: EngineEvent, people: Directory | None = None) -> str | None:
    """The console line for one engine event; None for events not worth a line.

    Each line starts with the event's symbol from ``hubsync.render.SYMBOLS``, the same
    one ``hubsync log`` shows. ``people`` (the user directory) names a remote writer by
    email where it knows them.
    """
    if event.event == "watching":
        watches = ", ".join(event.fields.get("watches", []))
        conflicts = int(event.fields.get("conflicts") or 0)
        # Open conflicts are files this session will not send: say so up front.
        open_ = (f"; {counted(conflicts, 'conflict')} open, not sent until resolved "
                 "(`hubsync conflicts`)") if conflicts else ""
        return f"watching {watches}{open_}; Ctrl-C to stop"
    body = (_team_body(event.event, event.fields, people) if event.event in _TEAM_EVENTS
            else _body(event.event, event.fields, people))
    if body is None:
        return None
    return f"{SYMBOLS.get(event.event, '-')} {body}"


LARGE_BATCH = 20
"""A ``push`` with more changes than this (all accounts together) prints no line per file
unless ``-v``: 4,000 lines scrolling by hide the few that matter. Failures, holds and
refused keys are always printed; skipped files and failures are listed in the summary."""

_PER_FILE = frozenset({"pushed", "deleted", "retrying", "skipped", "adopted"})
_DONE = frozenset({"pushed", "deleted", "failed", "adopted", "conflict"})
"""Events that settle a change the reconcile owed: an adopted file (already there) and a
conflict (not sent) are done too, or the bar of a push that adopts stops short."""


@dataclass(slots=True)
class AccountTally:
    """What one account's events added up to in this run (counted by the Reporter)."""

    queued: int = 0
    """Changes the reconcile owed to the account (uploads and deletes)."""
    done: int = 0
    """Pushed, deleted, failed for good, adopted, or held as a conflict."""
    bytes_pushed: int = 0
    adopted: int = 0
    """Files already on HubSpot with this content: recorded, not uploaded."""
    archived: int = 0
    """Files that arrived inside one zip archive HubSpot extracted (``via: archive``)."""


def _duration(seconds: float) -> str:
    """``12 s``, ``3 min``, ``1 h 5 min``: a person's rounding of a duration."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def _window_text(window_ms: int) -> str:
    seconds = window_ms / 1000
    return f"{seconds:g} s" if seconds < 120 else f"{seconds / 60:g} min"


def pacing_line(account: AccountStatus) -> str | None:
    """``staging: paced by HubSpot's rate limit (100 requests / 10 s); about 3 min left``
    when ``account``'s pacer is holding requests back (its window is full, or it is paused
    after a 429) while work is pending; None otherwise.

    The estimate is the pending count at the pacer's current budget per window, plus what
    is left of a pause (facts from :class:`hubsync.model.RateStatus`, which is the pacer's
    ``PacerSnapshot``).
    """
    rate = account.rate
    seconds = paced_seconds(account)
    if rate is None or seconds is None:
        return None
    return (f"{account.name}: paced by HubSpot's rate limit ({rate.limit} requests / "
            f"{_window_text(rate.window_ms)}); about {_duration(seconds)} left")


def paced_seconds(account: AccountStatus) -> float | None:
    """Seconds the pending work of ``account`` needs at its pacer's budget per window
    (plus what is left of a pause), when the pacer is what holds it back; else None."""
    rate = account.rate
    left = account.pending
    if rate is None or left <= 0 or rate.budget <= 0:
        return None
    if rate.paused_for_ms <= 0 and rate.used < rate.budget:
        return None
    return left * rate.window_ms / 1000 / rate.budget + rate.paused_for_ms / 1000


class Reporter:
    """Prints engine events as they come; with ``progress`` also drives rich bars.

    With ``progress`` (a terminal): one bar per account, with its own total (uploads and
    deletes), elapsed and remaining time and the rate in files/s. With ``large_batch``
    (``push``): when more changes than that are queued, per-file lines are printed only
    with ``verbose``. ``quiet`` prints only the problems. Counts per account are kept in
    ``tallies`` for the summary; ``started`` is the ``time.monotonic()`` of creation.
    ``people`` names remote writers by email (``hubsync.people``; by default only the
    identities of the events shown, e.g. each account's ``auth_ok``).
    """

    def __init__(self, stream: TextIO | None = None, *, progress: bool = False,
                 quiet: bool = False, verbose: bool = False,
                 large_batch: int | None = None,
                 people: LazyDirectory | None = None) -> None:
        from hubsync.people import LazyDirectory

        self.people = people if people is not None else LazyDirectory()
        self.stream = stream if stream is not None else sys.stdout
        self.quiet = quiet
        self.verbose = verbose
        self.large_batch = large_batch
        self.started = time.monotonic()
        self.tallies: dict[str, AccountTally] = {}
        self._paced: set[str] = set()
        self._progress: Progress | None = None
        self._tasks: dict[str, Any] = {}
        if progress:
            self._progress = _make_progress()

    def __enter__(self) -> Reporter:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def _large(self) -> bool:
        if self.large_batch is None or self.verbose:
            return False
        return sum(t.queued for t in self.tallies.values()) > self.large_batch

    def _shown(self, event: EngineEvent) -> bool:
        if self.quiet:
            return event.event in PROBLEM_EVENTS
        if event.event == "skipped" and self.large_batch is not None and not self.verbose:
            # push lists them in its summary; they come before the batch size is known.
            return False
        return not (event.event in _PER_FILE and self._large())

    def __call__(self, event: EngineEvent) -> None:
        self._count(event)
        people = self.people.see(event.fields)
        line = render(event, people) if self._shown(event) else None
        if line is not None:
            self._print(line)

    def _count(self, event: EngineEvent) -> None:
        account = event.fields.get("account")
        if not isinstance(account, str):
            return
        tally = self.tallies.setdefault(account, AccountTally())
        if event.event == "reconciled":
            tally.queued += int(event.fields.get("queued", 0) or 0)
        elif event.event in _DONE:
            tally.done += 1
            if event.event == "pushed":
                tally.bytes_pushed += int(event.fields.get("bytes", 0) or 0)
                tally.archived += event.fields.get("via") == "archive"
            tally.adopted += event.event == "adopted"
        else:
            return
        self._update_bar(account, tally)

    def _update_bar(self, account: str, tally: AccountTally) -> None:
        progress = self._progress
        if progress is None:
            return
        # A change can come in after the reconcile (a file that changed again): the bar's
        # total grows rather than showing more done than owed.
        total = max(tally.queued, tally.done)
        if total == 0:
            return
        task = self._tasks.get(account)
        if task is None:
            task = self._tasks[account] = progress.add_task(account, total=total,
                                                            completed=tally.done)
        else:
            progress.update(task, total=total, completed=tally.done)
        if tally.archived:
            # The files of an archive are done all at once: a files/s rate would be
            # meaningless, the bar says how they went instead.
            progress.update(task, description=f"{account} (one archive)", archive=True)

    def pacing(self, status: SessionStatus) -> None:
        """Say once per account when its rate limit is what makes the push slow; the
        account's bar reads ``NAME (paced)`` while it is. Called about once a second."""
        for account in status.accounts:
            line = pacing_line(account)
            task = self._tasks.get(account.name)
            if task is not None and self._progress is not None:
                paced = line is not None
                # A paced bar's remaining time is the pacer's: rich's estimate from the
                # last burst (a whole window's budget in a second) says seconds, not minutes.
                self._progress.update(task, description=account.name + (
                    " (paced)" if paced else ""), paced_left=paced_seconds(account))
            if line is not None and account.name not in self._paced:
                self._paced.add(account.name)
                self.say(line)

    def _print(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def say(self, text: str, *, important: bool = False) -> None:
        """A line that is not an engine event; with ``quiet`` only an ``important`` one."""
        if self.quiet and not important:
            return
        self._print(text)


def _make_progress() -> Progress:
    """rich's own columns: account, bar, M/N, elapsed, remaining, files per second."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from hubsync.render import rich_console

    class RateColumn(ProgressColumn):
        """Files per second (rich's speed estimate over the last 30 s); none for an
        archive, whose files are done at once."""

        def render(self, task: Task) -> Text:
            if task.fields.get("archive"):
                return Text("- files/s")
            speed = task.finished_speed or task.speed
            return Text("- files/s" if speed is None else f"{speed:.1f} files/s")

    class RemainingColumn(TimeRemainingColumn):
        """rich's remaining time, or the pacer's while the rate limit holds it back."""

        def render(self, task: Task) -> Text:
            paced = task.fields.get("paced_left")
            if paced is None or task.finished:
                return super().render(task)
            whole = round(paced)
            return Text(f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}",
                        style="progress.remaining")

    return Progress(
        TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("left"),
        RemainingColumn(), RateColumn(), transient=True, console=rich_console(),
    )
