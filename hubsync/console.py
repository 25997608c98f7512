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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from hubsync.render import SYMBOLS

if TYPE_CHECKING:
    from rich.progress import Progress

    from hubsync.engine import EngineEvent

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


def error_lines(error: str) -> list[str]:
    """HubSpot's message, then one ``line N: message`` per detail (indented)."""
    lines = error.splitlines() or [""]
    head, rest = lines[0], lines[1:]
    return [head, *(f"    {line.removeprefix('- ')}" for line in rest)]


def _body(event: str, f: Mapping[str, Any]) -> str | None:
    """The text after the event's symbol; None for events not worth a line."""
    path = f.get("path", "")
    account = f.get("account", "")
    took = f"{_user(f)}, {f.get('duration_ms', 0)} ms"
    if event == "pushed":
        return f"{path} -> {account} ({took})"
    if event == "deleted":
        kind = "folder " if f.get("folder") else ""
        return f"{kind}{path} -> {account} deleted ({took})"
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
        return (f"{f.get('watch')} -> {account}: {f.get('files', 0)} files, "
                f"{f.get('queued', 0)} to push, {f.get('unchanged', 0)} unchanged"
                + (f", {f['held']} deletes held" if f.get("held") else "")
                + (f" ({f['note']})" if f.get("note") else ""))
    return None


_TEAM_EVENTS = frozenset({"conflict", "adopted", "resolved"})


def _team_body(event: str, f: Mapping[str, Any]) -> str:
    """The conflict guard's lines (docs/teams.md): a conflict says why and what next."""
    path, account = f.get("path", ""), f.get("account", "")
    if event == "conflict":
        writer = f" by user {f['remote_writer']}" if f.get("remote_writer") else ""
        when = f" at {f['remote_updated_at']}" if f.get("remote_updated_at") else ""
        return f"{path} -> {account}: {f.get('kind')}{writer}{when}: {f.get('note', '')}"
    if event == "adopted":
        return f"{path} -> {account}: already there with this content; recorded, not uploaded"
    return f"{path} -> {account}: conflict resolved, keeping the {f.get('keep')} version"


def render(event: EngineEvent) -> str | None:
    """The console line for one engine event; None for events not worth a line.

    Each line starts with the event's symbol from ``hubsync.render.SYMBOLS``, the same
    one ``hubsync log`` shows.
    """
    if event.event == "watching":
        watches = ", ".join(event.fields.get("watches", []))
        return f"watching {watches}; Ctrl-C to stop"
    body = (_team_body(event.event, event.fields) if event.event in _TEAM_EVENTS
            else _body(event.event, event.fields))
    if body is None:
        return None
    return f"{SYMBOLS.get(event.event, '-')} {body}"


class Reporter:
    """Prints engine events as they come; with ``progress`` also drives a rich bar."""

    def __init__(self, stream: TextIO | None = None, *, progress: bool = False,
                 quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.quiet = quiet
        self._progress: Progress | None = None
        self._task: Any = None
        if progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("[progress.description]{task.description}"), BarColumn(),
                MofNCompleteColumn(), transient=True,
            )
            self._task = self._progress.add_task("pushing", total=0)

    def __enter__(self) -> Reporter:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, event: EngineEvent) -> None:
        line = render(event)
        if self.quiet and event.event not in PROBLEM_EVENTS:
            line = None
        if self._progress is not None:
            if event.event == "reconciled":
                total = self._progress.tasks[0].total or 0
                self._progress.update(self._task, total=total + int(event.fields.get(
                    "queued", 0)))
            elif event.event in ("pushed", "deleted", "failed"):
                self._progress.advance(self._task)
            if line is not None:
                self._progress.console.print(line, markup=False, highlight=False)
            return
        if line is not None:
            print(line, file=self.stream, flush=True)

    def say(self, text: str, *, important: bool = False) -> None:
        """A line that is not an engine event; with ``quiet`` only an ``important`` one."""
        if self.quiet and not important:
            return
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)
