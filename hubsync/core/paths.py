"""Local relative paths <-> Design Manager paths, and which files HubSpot accepts.

A ``rel`` is always relative to a watch root with ``/`` separators and no leading
slash (``templates/home.html``). A remote path is the watch's ``dest`` joined with it
(``my-theme/templates/home.html``), also without a leading slash: the filemapper API
takes it URL-encoded as one segment, which ``hubsync.hubspot`` does, not this module.
"""

from __future__ import annotations

import enum
import posixpath
import re

ALLOWED_EXTENSIONS: frozenset[str] = frozenset(
    {
        "css", "js", "json", "html", "txt", "md", "jpg", "jpeg", "png", "gif", "map",
        "svg", "eot", "otf", "ttf", "woff", "woff2", "graphql",
    }
)
"""Extensions (lower case, no dot) the ``hs`` CLI uploads; anything else is skipped."""

MODULE_SUFFIX = ".module"
MODULE_META = "meta.json"

# A hand-written table rather than ``mimetypes``: that module reads the system's
# mime.types files on first use, which is disk I/O the pure core must not do.
_CONTENT_TYPES: dict[str, str] = {
    "css": "text/css",
    "js": "application/javascript",
    "json": "application/json",
    "html": "text/html",
    "txt": "text/plain",
    "md": "text/markdown",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "map": "application/json",
    "svg": "image/svg+xml",
    "eot": "application/vnd.ms-fontobject",
    "otf": "font/otf",
    "ttf": "font/ttf",
    "woff": "font/woff",
    "woff2": "font/woff2",
    "graphql": "application/graphql",
}


def extension(rel: str) -> str:
    """The lower-case extension of the file name without the dot; ``""`` when none.

    A dot-file such as ``.css`` has no extension, as in ``posixpath.splitext``.
    """
    return posixpath.splitext(posixpath.basename(rel))[1][1:].lower()


def is_allowed(rel: str) -> bool:
    """Whether HubSpot accepts a file with this name (case-insensitive extension)."""
    return extension(rel) in ALLOWED_EXTENSIONS


MAX_NAME_BYTES = 255
"""The longest file or folder name (UTF-8 bytes) hubsync pushes.

ext4, APFS and NTFS all stop at 255, so a longer name could never be fetched back onto a
developer's disk (``hs fetch``) even where a server took it.
"""

MAX_REL_BYTES = 1000
"""The longest path under a watch root (UTF-8 bytes, ``/`` included) hubsync pushes.

The path travels percent-encoded in one URL segment (up to 3 characters per byte), next
to the watch's ``dest`` and the query; 1,000 bytes keeps the request line well inside the
8 KiB that HTTP servers and proxies commonly accept, and no theme nests deeper.
"""

_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_LINE_BREAKS = frozenset("\u2028\u2029")
# Bidirectional and invisible formatting marks: legal in a name and pushed, but escaped
# on display so a name cannot make a console line read as something it is not.
_INVISIBLE = frozenset(
    "\u061c\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2066\u2067\u2068\u2069\ufeff"
)


class NameRule(enum.StrEnum):
    """Why a name the operating system allows is not one hubsync sends to HubSpot.

    One rule per kind, checked in this order, for every folder and file name under a
    watch root (docs/operations.md, "Names hubsync will not push").
    """

    NOT_UTF8 = "name is not valid UTF-8; rename it"
    """Bytes that are not UTF-8 (an archive from another system): HubSpot paths are text.
    Python hands such names over with surrogate escapes (PEP 383)."""
    CONTROL = "name contains a control character (newline, tab, ...); rename it"
    """U+0000-U+001F, U+007F-U+009F, U+2028, U+2029: a multipart header cannot carry a
    newline, and a name with one cannot be shown on one line."""
    PERCENT = "name contains a %XX sequence that a server could decode; rename it"
    """``%2F`` would reach HubSpot as ``/`` (a different folder) after one URL decoding;
    every ``%`` followed by two hex digits is refused, which covers ``%252F`` too."""
    BACKSLASH = "name contains a backslash, a folder separator for HubSpot's CLI; rename it"
    """The ``hs`` CLI and Windows read ``\\`` as a separator: the file would land elsewhere."""
    TOO_LONG = (f"name is longer than {MAX_NAME_BYTES} bytes or path longer than "
                f"{MAX_REL_BYTES} bytes; shorten it")
    """See ``MAX_NAME_BYTES`` and ``MAX_REL_BYTES``."""


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F or ch in _LINE_BREAKS


def name_problem(rel: str) -> NameRule | None:
    """The first ``NameRule`` that ``rel`` (a path under a watch root) breaks, or None.

    Every ``/``-separated segment is checked, so a folder's name disqualifies all that it
    holds. Pure: looks at the string only (``os.walk``/``os.scandir`` give undecodable
    bytes as lone surrogates U+DC80-U+DCFF, which this recognises).
    """
    if _has_surrogate(rel):
        return NameRule.NOT_UTF8
    if any(_is_control(ch) for ch in rel):
        return NameRule.CONTROL
    if _PERCENT_ESCAPE.search(rel):
        return NameRule.PERCENT
    if "\\" in rel:
        return NameRule.BACKSLASH
    if len(rel.encode()) > MAX_REL_BYTES or any(
        len(part.encode()) > MAX_NAME_BYTES for part in rel.split("/")
    ):
        return NameRule.TOO_LONG
    return None


def _escape(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # the original undecodable byte
    if ch == "\\":
        return "\\\\"
    if ch in "\n\r\t":
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch]
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def display_path(rel: str) -> str:
    """``rel`` made safe to print on a console or put in JSON/UTF-8, on one line.

    Undecodable bytes (surrogate escapes) become ``\\xNN`` (NN >= 80); control characters
    ``\\n``, ``\\r``, ``\\t``, ``\\xNN`` (NN < 80) or ``\\uNNNN``; other lone surrogates
    and bidirectional/invisible marks ``\\uNNNN``; a backslash ``\\\\``, so that two names
    never render alike. Any other text, including non-ASCII letters, is unchanged:
    ``display_path(r) == r`` for every name hubsync pushes that has
    no invisible mark. Pure; never raises.
    """
    if rel.isascii() and rel.isprintable() and "\\" not in rel:
        return rel
    return "".join(
        _escape(ch)
        if ("\ud800" <= ch <= "\udfff" or _is_control(ch) or ch == "\\" or ch in _INVISIBLE)
        else ch
        for ch in rel
    )


def normalize_rel(rel: str) -> str:
    """``rel`` with redundant ``.``/``//`` removed; ValueError if it leaves the root.

    ``""`` (and ``"."``) stand for the root itself.
    """
    if rel.startswith("/"):
        raise ValueError(f"path {rel!r} must be relative to the watch root")
    normalized = posixpath.normpath(rel) if rel else "."
    if normalized == ".." or normalized.startswith("../"):
        raise ValueError(f"path {rel!r} leaves the watch root")
    return "" if normalized == "." else normalized


def _normalize_dest(dest: str) -> str:
    stripped = dest.strip("/")
    if not stripped:
        return ""
    normalized = posixpath.normpath(stripped)
    if normalized == ".":
        return ""
    if normalized == ".." or normalized.startswith("../"):
        raise ValueError(f"remote folder {dest!r} leaves the Design Manager root")
    return normalized


def to_remote(dest: str, rel: str) -> str:
    """The Design Manager path of ``rel`` under ``dest``: posix join, normalised.

    >>> to_remote("/my-theme/", "templates/./home.html")
    'my-theme/templates/home.html'
    """
    base = _normalize_dest(dest)
    local = normalize_rel(rel)
    if not base:
        return local
    return f"{base}/{local}" if local else base


def to_local(dest: str, remote: str) -> str | None:
    """The ``rel`` of ``remote`` under ``dest``; None when it is not inside ``dest``.

    ``dest`` itself maps to ``""`` (the watch root).
    """
    base = _normalize_dest(dest)
    target = _normalize_dest(remote)
    if not base:
        return target
    if target == base:
        return ""
    prefix = base + "/"
    if target.startswith(prefix):
        return target[len(prefix):]
    return None


def parent(rel: str) -> str:
    """The folder holding ``rel`` (``""`` for the root)."""
    return posixpath.dirname(rel)


def ancestors(rel: str) -> list[str]:
    """Every folder strictly above ``rel``, outermost first, the root excluded.

    >>> ancestors("a/b/c.css")
    ['a', 'a/b']
    """
    parts = rel.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def is_under(rel: str, folder: str) -> bool:
    """Whether ``rel`` is strictly inside ``folder`` (``""`` is the root)."""
    if not folder:
        return bool(rel)
    return rel.startswith(folder + "/")


def overlaps(a: str, b: str) -> bool:
    """Whether one path is the other or lies inside it."""
    return a == b or is_under(a, b) or is_under(b, a)


def module_of(rel: str) -> str | None:
    """The innermost ``*.module`` folder holding ``rel`` (a relative path), if any.

    Only folders above ``rel`` count: ``module_of("a.module")`` is None.
    """
    parts = rel.split("/")[:-1]
    for index in range(len(parts) - 1, -1, -1):
        if parts[index].endswith(MODULE_SUFFIX):
            return "/".join(parts[: index + 1])
    return None


def is_module_meta(rel: str) -> bool:
    """Whether ``rel`` is ``X.module/meta.json``, which HubSpot must store first."""
    return (
        posixpath.basename(rel) == MODULE_META
        and posixpath.basename(posixpath.dirname(rel)).endswith(MODULE_SUFFIX)
    )


def module_meta_of(rel: str) -> str | None:
    """The ``meta.json`` that must be acknowledged before ``rel`` is sent, if any."""
    if is_module_meta(rel):
        return None
    module = module_of(rel)
    return f"{module}/{MODULE_META}" if module is not None else None


def content_type(rel: str) -> str:
    """The MIME type of the multipart part for ``rel``, from its extension."""
    return _CONTENT_TYPES.get(extension(rel), "application/octet-stream")
