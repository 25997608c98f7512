"""Local relative paths <-> Design Manager paths, and which files HubSpot accepts.

A ``rel`` is always relative to a watch root with ``/`` separators and no leading
slash (``templates/home.html``). A remote path is the watch's ``dest`` joined with it
(``my-theme/templates/home.html``), also without a leading slash: the filemapper API
takes it URL-encoded as one segment, which ``hubsync.hubspot`` does, not this module.
"""

from __future__ import annotations

import posixpath

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
