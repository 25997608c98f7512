"""Scanning a watch root: which files exist, what they hold, and what is left out.

This is where the core's decisions meet the disk. ``scan`` walks a whole watch (at
startup, after a watcher overflow, on the safety-net timer); ``probe`` looks at one
settled path. Both hash with sha256 only when the ``lstat`` key changed, or when the
cached entry is "racy" (the file was modified within ``RACY_NS`` of being recorded,
so a same-size rewrite in the same timestamp tick would look unchanged; git's
racy-git rule). Both block on disk: the engine calls them in a thread.
"""

# The scanner works on str paths with os.* on purpose: a Path object per entry costs
# measurably on a 10,000-file theme that must rescan in well under a second.
# ruff: noqa: PTH116, PTH118, PTH120

from __future__ import annotations

import enum
import errno
import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from hubsync.core.ignore import IgnoreRules
from hubsync.core.paths import NameRule, display_path, is_allowed, name_problem, normalize_rel
from hubsync.core.plan import LocalFile

if TYPE_CHECKING:
    from hubsync.fieldsjs import FieldsJs

HSIGNORE = ".hsignore"
RACY_NS = 2_000_000_000
"""An entry recorded less than this after the file's mtime/ctime is rehashed next time."""


class SkipReason(enum.StrEnum):
    """Why a path of the watch is not pushed (ignore rules give their own reasons)."""

    EXTENSION = "extension not accepted by HubSpot"
    """HubSpot's Design Manager only takes the extensions in ``core.paths``."""
    SYMLINK_OUTSIDE = "symlink leaves the watch root"
    """Following it would push files from outside the theme."""
    BROKEN_SYMLINK = "symlink target does not exist"
    """A dangling link (emacs lock files are ignored before this)."""
    SYMLINK_LOOP = "symlink loop"
    """A folder link back to one of its own ancestors."""
    NOT_REGULAR = "not a regular file"
    """A FIFO, socket or device."""
    EMPTY = "empty file: HubSpot refuses empty files"
    """HubSpot answers 400 "File source stream cannot be empty" (hubspot-api.md §3);
    skipped by ``push --dry-run`` and ``push`` alike (``file_problem``)."""
    UNREADABLE = "cannot be read"
    """Permission denied or another read error: the prefix of an ``Unreadable`` reason.

    Not a rule: an unreadable path is reported as ``Unreadable``, a failure to retry."""
    NAME_NOT_UTF8 = NameRule.NOT_UTF8.value
    """See ``core.paths.NameRule``: the name rules, checked after the ignore rules."""
    NAME_CONTROL = NameRule.CONTROL.value
    NAME_PERCENT = NameRule.PERCENT.value
    NAME_BACKSLASH = NameRule.BACKSLASH.value
    NAME_TOO_LONG = NameRule.TOO_LONG.value


@dataclass(frozen=True, slots=True)
class StatKey:
    """What ``stat`` says about a file; any difference means "maybe changed".

    ``ino`` changes on every rename-save (vim, JetBrains), so it is a change hint,
    never an identity.
    """

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> StatKey:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True, slots=True)
class CachedStat:
    """A file's stat key and content hash, and when (epoch ns) they were recorded."""

    key: StatKey
    sha256: str
    recorded_ns: int

    def is_racy(self) -> bool:
        """Whether the file changed too close to the recording to trust the key."""
        return self.recorded_ns - max(self.key.mtime_ns, self.key.ctime_ns) < RACY_NS


@dataclass(frozen=True, slots=True)
class Skipped:
    """A path left out of the push by a rule, and why (shown once, never silently dropped).

    ``rel`` is ``core.paths.display_path`` of the path: safe to print or store even when
    the name is not UTF-8 or holds a newline, and the path itself for ordinary names.
    """

    rel: str
    reason: str
    folder: bool = False


@dataclass(frozen=True, slots=True)
class Unreadable(Skipped):
    """A path that exists but could not be read (permission denied, I/O error): a failure.

    Not left out by a rule: it should be retried when it changes. ``reason`` is
    ``"cannot be read: <strerror>"``; ``folder`` is True when a whole folder could not be
    listed (``rel == ""`` is the watch root itself). A subclass of ``Skipped`` so that a
    caller matching only ``Skipped`` keeps treating it as "not pushed"; match
    ``Unreadable`` first to tell them apart.
    """

    retry_note: ClassVar[str] = "retried when it can be read"
    """What the ``failed`` line adds about retrying (a subclass says its own)."""


def _unreadable(rel: str, exc: OSError, *, folder: bool = False) -> Unreadable:
    return Unreadable(display_path(rel), f"{SkipReason.UNREADABLE}: {exc.strerror or exc}",
                      folder)


@dataclass(frozen=True, slots=True)
class Gone:
    """The path is not there (or is no longer a file) after the quiet period."""

    rel: str


@dataclass(slots=True)
class ScanResult:
    """One walk of a watch root."""

    files: dict[str, LocalFile]
    skipped: list[Skipped]
    stats: dict[str, CachedStat]
    """The cache entries to keep: one per file in ``files``."""
    root_ok: bool
    """False when the root is missing, not a folder, or holds no pushable file."""
    hashed: int = 0
    """How many files were read and hashed (the rest came from the cache)."""
    unreadable: list[Unreadable] = field(default_factory=list)
    """Paths that exist but could not be read: failures, never among ``skipped``."""


def load_rules(root: Path, extra: Sequence[str] = ()) -> IgnoreRules:
    """Ignore rules for a watch: defaults, ``<root>/.hsignore`` if present, ``extra``.

    An unreadable ``.hsignore`` falls back to the defaults; ``read_rules`` says so.
    """
    return read_rules(root, extra)[0]


def read_rules(root: Path, extra: Sequence[str] = ()) -> tuple[IgnoreRules, Unreadable | None]:
    """``load_rules``, and ``Unreadable(".hsignore", ...)`` when that file exists but
    cannot be read: the rules then lack the user's patterns, so pushing that watch could
    send files the user meant to keep out; a caller should hold it and retry."""
    try:
        text: str | None = (root / HSIGNORE).read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        text = None
    except OSError as exc:
        # The defaults still apply; the caller decides whether to go on without the file.
        return IgnoreRules.build(None, extra), _unreadable(HSIGNORE, exc)
    return IgnoreRules.build(text, extra), None


def hash_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's content, hex."""
    with open(path, "rb") as handle:  # noqa: PTH123 - plain open is the fast path
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _inside(real: str, real_root: str) -> bool:
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _fresh_or_cached(path: str, rel: str, key: StatKey, cached: CachedStat | None,
                     now_ns: int) -> tuple[CachedStat, bool] | None:
    """The cache entry for a file: reused when trustworthy, else hashed now.

    Returns None when the file vanished between stat and open.
    """
    if cached is not None and cached.key == key and not cached.is_racy():
        return cached, False
    try:
        sha = hash_file(path)
    except FileNotFoundError:
        return None
    return CachedStat(key, sha, now_ns), True


def file_problem(rel: str, st: os.stat_result) -> SkipReason | None:
    """Why a file that passed the ignore and name rules is still not pushed, or None: not
    a regular file, an extension HubSpot does not take, or empty. The one rule for a
    whole-tree scan (``push``, ``--dry-run``, reconcile) and a single look (``watch``)."""
    if not stat.S_ISREG(st.st_mode):
        return SkipReason.NOT_REGULAR
    if not is_allowed(rel):
        return SkipReason.EXTENSION
    if st.st_size == 0:
        return SkipReason.EMPTY
    return None


class _Walker:
    def __init__(self, root: Path, rules: IgnoreRules, cache: Mapping[str, CachedStat],
                 now_ns: int, fields: FieldsJs | None = None) -> None:
        self.root = os.fspath(root)
        self.real_root = os.path.realpath(self.root)
        self.rules = rules
        self.cache = cache
        self.now_ns = now_ns
        self.result = ScanResult(files={}, skipped=[], stats={}, root_ok=False)
        self.fields = fields
        self.fields_sources: list[tuple[str, str, os.stat_result]] = []
        """fields.js files found (rel, path, stat): converted once the walk is done."""

    def skip(self, rel: str, reason: str, *, folder: bool = False) -> None:
        self.result.skipped.append(Skipped(display_path(rel), reason, folder))

    def unreadable(self, rel: str, exc: OSError, *, folder: bool = False) -> None:
        self.result.unreadable.append(_unreadable(rel, exc, folder=folder))

    def left_out(self, rel: str, *, is_dir: bool) -> bool:
        """Skip ``rel`` if an ignore rule, then a name rule, leaves it out."""
        reason = self.rules.reason(rel, is_dir=is_dir) or name_problem(rel)
        if reason is None:
            return False
        # One line for a folder, not one per file inside it.
        self.skip(rel, reason, folder=is_dir)
        return True

    def walk(self, directory: str, prefix: str, ancestors: frozenset[tuple[int, int]]) -> None:
        try:
            with os.scandir(directory) as entries:
                listing = list(entries)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            self.unreadable(prefix.rstrip("/"), exc, folder=True)
            return
        for entry in listing:
            self.visit(entry, prefix + entry.name, ancestors)

    def visit(self, entry: os.DirEntry[str], rel: str,
              ancestors: frozenset[tuple[int, int]]) -> None:
        try:
            is_link = entry.is_symlink()
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            return
        if is_link:
            self.visit_symlink(entry.path, rel, ancestors)
            return
        if is_dir:
            self.visit_dir(entry.path, rel, ancestors, entry)
            return
        if self.left_out(rel, is_dir=False):
            return
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            return
        except OSError as exc:
            self.unreadable(rel, exc)
            return
        self.visit_file(entry.path, rel, st)

    def visit_dir(self, path: str, rel: str, ancestors: frozenset[tuple[int, int]],
                  entry: os.DirEntry[str] | None = None) -> None:
        if self.left_out(rel, is_dir=True):
            return
        try:
            st = entry.stat(follow_symlinks=False) if entry is not None else os.stat(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            self.unreadable(rel, exc, folder=True)
            return
        identity = (st.st_dev, st.st_ino)
        if identity in ancestors:
            self.skip(rel, SkipReason.SYMLINK_LOOP, folder=True)
            return
        self.walk(path, rel + "/", ancestors | {identity})

    def visit_symlink(self, path: str, rel: str,
                      ancestors: frozenset[tuple[int, int]]) -> None:
        real = os.path.realpath(path)
        if not _inside(real, self.real_root):
            self.skip(rel, self.rules.reason(rel) or SkipReason.SYMLINK_OUTSIDE)
            return
        try:
            st = os.stat(path)
        except FileNotFoundError:
            self.skip(rel, self.rules.reason(rel) or SkipReason.BROKEN_SYMLINK)
            return
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self.skip(rel, self.rules.reason(rel) or SkipReason.SYMLINK_LOOP)
            elif not self.left_out(rel, is_dir=False):
                self.unreadable(rel, exc)
            return
        if stat.S_ISDIR(st.st_mode):
            self.visit_dir(path, rel, ancestors)
            return
        if self.left_out(rel, is_dir=False):
            return
        self.visit_file(path, rel, st)

    def visit_file(self, path: str, rel: str, st: os.stat_result) -> None:
        if (stat.S_ISREG(st.st_mode) and self.fields is not None
                and self.fields.target_of(rel) is not None):
            self.fields_sources.append((rel, path, st))
            return
        problem = file_problem(rel, st)
        if problem is not None:
            self.skip(rel, problem)
            return
        try:
            found = _fresh_or_cached(path, rel, StatKey.of(st), self.cache.get(rel),
                                     self.now_ns)
        except OSError as exc:
            self.unreadable(rel, exc)
            return
        if found is None:
            return
        entry, hashed = found
        self.result.hashed += hashed
        self.result.stats[rel] = entry
        self.result.files[rel] = LocalFile(rel, entry.sha256, entry.key.size)


def scan(root: Path, rules: IgnoreRules, cache: Mapping[str, CachedStat], *,
         now_ns: int, fields: FieldsJs | None = None) -> ScanResult:
    """Walk ``root``: the pushable files with their hashes, and everything left out.

    ``cache`` is the stat cache from the last scan (rel -> CachedStat); ``now_ns`` is
    the wall clock (``time.time_ns()``) recorded with fresh hashes. With ``fields``,
    each fields.js it converts is in ``files`` as its ``fields.json`` (runs node when the
    source changed; ``hubsync.fieldsjs``).
    """
    walker = _Walker(root, rules, cache, now_ns, fields)
    try:
        root_stat = os.stat(walker.root)
    except (FileNotFoundError, NotADirectoryError):
        return walker.result
    except OSError as exc:
        walker.unreadable("", exc, folder=True)
        return walker.result
    if not stat.S_ISDIR(root_stat.st_mode):
        return walker.result
    walker.walk(walker.root, "", frozenset({(root_stat.st_dev, root_stat.st_ino)}))
    if fields is not None and walker.fields_sources:
        fields.finish_scan(walker.result, walker.fields_sources, rules, cache, now_ns=now_ns)
    walker.result.root_ok = bool(walker.result.files)
    walker.result.skipped.sort(key=lambda skipped: skipped.rel)
    walker.result.unreadable.sort(key=lambda unreadable: unreadable.rel)
    return walker.result


def _parents_are_plain(root_path: str, parts: list[str]) -> bool:
    """Whether no folder between the root and the file is a symlink (one ``lstat`` per
    folder below the root; a folder that is not there counts as plain: the file's own
    ``lstat`` then says it is gone)."""
    folder = root_path
    for part in parts[:-1]:
        folder = os.path.join(folder, part)
        try:
            if stat.S_ISLNK(os.lstat(folder).st_mode):
                return False
        except OSError:
            return True
    return True


def stat_inside(root_path: str, parts: list[str], real_root: str,
                 ) -> os.stat_result | SkipReason | None:
    """What ``root_path/parts...`` is after following a symlink that stays inside the
    root (``real_root`` is the root resolved).

    None when it is not there, a ``SkipReason`` when a symlink rule leaves it out;
    OSError when it exists but cannot be looked at.
    """
    path = os.path.join(root_path, *parts)
    # Folders above the file may themselves be symlinks: judge where the path really is.
    # Resolving it costs a stat per component of the whole path, so only when a folder
    # below the root is a symlink (the root itself may be one: it is resolved once).
    if (not _parents_are_plain(root_path, parts)
            and not _inside(os.path.realpath(os.path.dirname(path)), real_root)):
        return SkipReason.SYMLINK_OUTSIDE
    try:
        st = os.lstat(path)
        if not stat.S_ISLNK(st.st_mode):
            return st
        if not _inside(os.path.realpath(path), real_root):
            return SkipReason.SYMLINK_OUTSIDE
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return SkipReason.SYMLINK_LOOP
        raise


def probe_with_stat(root: Path, rel: str, rules: IgnoreRules, cached: CachedStat | None, *,
                    now_ns: int, real_root: str | None = None, fields: FieldsJs | None = None,
                    ) -> tuple[LocalFile | Gone | Skipped, CachedStat | None]:
    """``probe``, plus the cache entry to save (None when there is nothing to cache).

    The outcome is ``Unreadable`` (a ``Skipped`` subclass) when the path exists but
    cannot be read; ``Skipped`` when an ignore rule, a name rule (``core.paths``), the
    extension or a symlink rule leaves it out. ValueError when ``rel`` is the root or
    leaves it. ``real_root`` is ``os.path.realpath(root)`` when the caller keeps it (a
    tracker probing many paths); None resolves it here, a stat per path component.
    With ``fields``, a ``fields.json`` that a fields.js stands for is that file's
    converted output (``hubsync.fieldsjs``); callers ask for the ``fields.json``, never
    the fields.js (``FieldsJs.target_of``).
    """
    rel = normalize_rel(rel)
    if not rel:
        raise ValueError("probe takes a path inside the watch root, not the root")
    reason = rules.reason(rel) or name_problem(rel)
    if reason is not None:
        return Skipped(display_path(rel), reason), None
    root_path = os.fspath(root)
    real_root = real_root or os.path.realpath(root_path)
    if fields is not None and fields.sources_of(rel):
        converted = fields.probe(root, rel, rules, cached, now_ns=now_ns, real_root=real_root)
        if converted is not None:
            return converted
    parts = rel.split("/")
    path = os.path.join(root_path, *parts)
    try:
        st = stat_inside(root_path, parts, real_root)
    except OSError as exc:
        return _unreadable(rel, exc), None
    if st is None or (not isinstance(st, SkipReason) and stat.S_ISDIR(st.st_mode)):
        # A folder is not a file: the file that was here is gone (the engine rescans
        # the folder's contents from its own events or the next reconcile).
        return Gone(rel), None
    if isinstance(st, SkipReason):
        return Skipped(display_path(rel), st), None
    problem = file_problem(rel, st)
    if problem is not None:
        return Skipped(display_path(rel), problem), None
    try:
        found = _fresh_or_cached(path, rel, StatKey.of(st), cached, now_ns)
    except OSError as exc:
        return _unreadable(rel, exc), None
    if found is None:
        return Gone(rel), None
    entry, _ = found
    return LocalFile(rel, entry.sha256, entry.key.size), entry


def unchanged(root: Path, rel: str, cached: CachedStat) -> bool:
    """Whether ``rel`` is certainly still the file ``cached`` describes: a regular file
    (not a symlink, no symlinked folder above it) with the same stat key, recorded long
    enough after its last change (``is_racy``). A few ``lstat`` calls and no read, cheap
    enough for the event loop; False means "probe it" (changed, gone, or cannot tell),
    never "changed". Raises nothing.
    """
    if cached.is_racy():
        return False
    root_path = os.fspath(root)
    parts = rel.split("/")
    try:
        for depth in range(1, len(parts)):
            if stat.S_ISLNK(os.lstat(os.path.join(root_path, *parts[:depth])).st_mode):
                return False
        st = os.lstat(os.path.join(root_path, *parts))
    except (OSError, ValueError):
        return False
    return stat.S_ISREG(st.st_mode) and StatKey.of(st) == cached.key


def probe(root: Path, rel: str, rules: IgnoreRules, cached: CachedStat | None, *,
          now_ns: int) -> LocalFile | Gone | Skipped:
    """Look at one settled path: a file with its hash, gone, left out and why, or
    ``Unreadable`` (see ``probe_with_stat``)."""
    return probe_with_stat(root, rel, rules, cached, now_ns=now_ns)[0]
