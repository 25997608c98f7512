"""What the emulated Design Manager refuses to store, as pure functions of path and bytes.

Each check returns the HubSpot-shaped problem (a top-level message plus ``errors[]``
entries) or ``None``. The server turns a problem into a 400 body. No I/O here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath

# The extensions the ``hs`` CLI uploads (hubspot-api.md §3), plus ``htm``, the other
# template extension HubL is rendered for. Anything else gets a 400 like HubSpot's
# "unsupported file type" answer, so a client that skips them never sees it.
ALLOWED_EXTENSIONS = frozenset({
    "css", "js", "json", "html", "htm", "txt", "md", "jpg", "jpeg", "png", "gif", "map",
    "svg", "eot", "otf", "ttf", "woff", "woff2", "graphql",
})
TEMPLATE_EXTENSIONS = frozenset({"html", "htm"})

EMPTY_FILE_MESSAGE = "File source stream cannot be empty"

_CLOSERS = {"{%": "%}", "{{": "}}", "{#": "#}"}


@dataclass(frozen=True, slots=True)
class LineError:
    """One ``errors[]`` entry: what is wrong and on which 1-based line."""

    message: str
    line: int
    code: str


@dataclass(frozen=True, slots=True)
class Problem:
    """Why an upload is refused: HubSpot's ``message`` and ``errors[]``."""

    message: str
    errors: tuple[LineError, ...] = ()


def extension(path: str) -> str:
    """The lower-case extension of a remote path, without the dot ("" when none)."""
    return PurePosixPath(path).suffix.lower().lstrip(".")


def check_upload(path: str, content: bytes, *, archive_ok: bool = False) -> Problem | None:
    """The reason HubSpot would refuse ``content`` at ``path``, or ``None`` to store it.

    ``archive_ok`` (the Source Code API, whose extract call unpacks a stored archive)
    also accepts ``.zip`` files; the filemapper API, like ``hs``, does not.
    """
    ext = extension(path)
    if ext == "zip" and archive_ok:
        return None if content else Problem(EMPTY_FILE_MESSAGE)
    if ext not in ALLOWED_EXTENSIONS:
        shown = f".{ext}" if ext else "(none)"
        return Problem(f"Unsupported file type {shown} for {path}: allowed extensions are "
                       + ", ".join(sorted(ALLOWED_EXTENSIONS)))
    if not content:
        return Problem(EMPTY_FILE_MESSAGE)
    if ext in TEMPLATE_EXTENSIONS:
        return check_hubl(content.decode("utf-8", errors="replace"))
    if ext == "json":
        return check_json(content)
    return None


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def check_hubl(text: str) -> Problem | None:
    """Find the first HubL opener (``{%``, ``{{``, ``{#``) that is never closed.

    A stray closer is plain text to HubL (CSS in a ``<style>`` block ends in ``}}``), so
    only unclosed openers are errors. ``{% raw %}…{% endraw %}`` content is not parsed.
    """
    pos = 0
    while True:
        starts = [(i, op) for op in _CLOSERS if (i := text.find(op, pos)) >= 0]
        if not starts:
            return None
        start, opener = min(starts)
        end = text.find(_CLOSERS[opener], start + 2)
        if end < 0:
            line = _line_of(text, start)
            return Problem(
                "Template contains errors",
                (LineError(f"Unclosed '{opener}': expected '{_CLOSERS[opener]}' "
                           f"before the end of the template", line, "UNCLOSED_TAG"),),
            )
        pos = end + 2
        if opener == "{%" and text[start + 2:end].strip().split(" ")[0] == "raw":
            endraw = _find_endraw(text, pos)
            if endraw < 0:
                return Problem(
                    "Template contains errors",
                    (LineError("Unclosed '{% raw %}': expected '{% endraw %}'",
                               _line_of(text, start), "UNCLOSED_TAG"),),
                )
            pos = endraw


def _find_endraw(text: str, pos: int) -> int:
    """The offset just past the ``{% endraw %}`` tag after ``pos``, or -1."""
    while (start := text.find("{%", pos)) >= 0:
        end = text.find("%}", start + 2)
        if end < 0:
            return -1
        if text[start + 2:end].strip() == "endraw":
            return end + 2
        pos = start + 2
    return -1


def check_json(content: bytes) -> Problem | None:
    """A JSON file that does not parse, with the line of the first syntax error."""
    try:
        json.loads(content.decode("utf-8"))
    except UnicodeDecodeError:
        return Problem("JSON file is not valid UTF-8")
    except json.JSONDecodeError as exc:
        return Problem("Invalid JSON", (LineError(exc.msg, exc.lineno, "INVALID_JSON"),))
    return None
