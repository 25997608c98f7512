"""Readable live lines for ``hubsync watch`` and ``hubsync push``.

The engine reports every sync log line as an :class:`~hubsync.engine.EngineEvent`;
this module turns them into one line each for a person watching a terminal::

    ↑ templates/home.html -> sandbox (jane, 42 ms)
    ✗ templates/bad.html -> sandbox: Template contains errors
        line 2: Unclosed '{{': expected '}}' before the end of the template

A progress bar (rich) is shown by ``push`` on a TTY only.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, TextIO

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from hubsync.engine import EngineEvent


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


def render(event: EngineEvent) -> str | None:
    """The console line for one engine event; None for events not worth a line."""
    f = event.fields
    path = f.get("path", "")
    account = f.get("account", "")
    if event.event == "pushed":
        return f"↑ {path} -> {account} ({_user(f)}, {f.get('duration_ms', 0)} ms)"
    if event.event == "deleted":
        kind = "folder " if f.get("folder") else ""
        return f"− {kind}{path} -> {account} deleted ({_user(f)}, {f.get('duration_ms', 0)} ms)"
    if event.event == "failed":
        lines = error_lines(str(f.get("error", "")))
        status = f" (HTTP {f['status']})" if f.get("status") else ""
        return "\n".join([f"✗ {path} -> {account}{status}: {lines[0]}", *lines[1:]])
    if event.event == "retrying":
        what = f"HTTP {f['status']}" if f.get("status") else str(f.get("error", "")).split(
            "\n", 1)[0]
        wait_s = int(f.get("retry_in_ms", 0)) / 1000
        return (f"… {path} -> {account}: {what}; attempt {f.get('attempt')} failed, "
                f"retrying in {wait_s:.1f} s")
    if event.event == "skipped":
        return f"· {path} skipped: {f.get('reason') or f.get('error', '')}"
    if event.event == "held":
        return f"‖ {account}: {f.get('reason') or f.get('error', '')}"
    if event.event == "auth_ok":
        who = f.get("hub_user_email") or f"user {f.get('hub_user_id')}"
        return f"✓ {account}: portal {f.get('portal_id')} as {who}"
    if event.event == "auth_failed":
        return f"✗ {account}: {f.get('error', '')}"
    if event.event == "reconciled":
        return (f"= {f.get('watch')} -> {account}: {f.get('files', 0)} files, "
                f"{f.get('queued', 0)} to push, {f.get('unchanged', 0)} unchanged"
                + (f", {f['held']} deletes held" if f.get("held") else ""))
    if event.event == "watching":
        watches = ", ".join(f.get("watches", []))
        return f"watching {watches}; Ctrl-C to stop"
    return None


class Reporter:
    """Prints engine events as they come; with ``progress`` also drives a rich bar."""

    def __init__(self, stream: TextIO | None = None, *, progress: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self._progress: Progress | None = None
        self._task: Any = None
        if progress:
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

    def say(self, text: str) -> None:
        """A line that is not an engine event."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)
