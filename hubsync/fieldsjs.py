"""``fields.js`` modules and themes: run node, upload its output as ``fields.json``.

What HubSpot's ``hs`` CLI does with ``--convert-fields`` (``@hubspot/local-dev-lib``
5.10, ``lib/cms/handleFieldsJS.ts`` and ``processFieldsJs.ts``; read, not copied):

- A file named ``fields.js``, ``fields.mjs`` or ``fields.cjs`` directly in the uploaded
  root (a theme's fields) or anywhere inside a ``*.module`` folder is a fields source.
- node imports it (``import()`` of its file URL, so CommonJS and ES modules both work)
  with the source's folder as working directory; the default export (or, for CommonJS,
  ``module.exports``) must be a function. It is called with the field options (a
  string, ``""`` unless given), may return a Promise, and must give an array. The array
  is flattened at any depth, each element awaited, ``toJSON()`` called where an element
  has one, and the result written as ``JSON.stringify(fields, null, 2)`` (no newline at
  the end). Those bytes are uploaded as ``fields.json`` in the same remote folder; the
  source itself is not uploaded.
- ``hs cms watch`` converts again only when the source itself changes, not when a file
  it requires does; a delete of the source deletes nothing remotely (hubsync: the
  remote ``fields.json`` follows the normal delete rules, brake and all).
- When a folder holds both a fields source and a ``fields.json``, ``hs cms upload``
  asks which one to upload. hubsync does not ask: the source wins, and the local
  ``fields.json`` is reported as skipped (``Shadowed``).

hubsync runs node itself (no shell, a timeout, the source's folder as cwd, and an
environment without any ``HUBSYNC_*`` variable, so no key can reach the child), once per
session and again whenever the source's stat key changes, and keeps the bytes in a
private temporary folder for the upload (the stat cache of an earlier session knows
only their hash). A conversion that fails (node missing or too
old, the file throws, returns no array, runs too long) is an ``Unconverted``: a
``failed`` line with node's message, nothing uploaded or deleted, retried when the source
changes. See docs/usage.md, "fields.js modules".
"""

# The conversion is on the scanner's hot path (str paths, os.*), like localtree.
# ruff: noqa: PTH118

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from hubsync.core.paths import display_path, module_of, name_problem
from hubsync.core.plan import LocalFile
from hubsync.errors import FieldsConversionFailed
from hubsync.localtree import (
    CachedStat,
    Gone,
    ScanResult,
    Skipped,
    StatKey,
    Unreadable,
    hash_file,
    load_rules,
    stat_inside,
)

if TYPE_CHECKING:
    from hubsync.config import Watch
    from hubsync.core.ignore import IgnoreRules

SOURCE_NAMES: tuple[str, ...] = ("fields.js", "fields.mjs", "fields.cjs")
"""The names ``hs`` converts (``isConvertableFieldJs``), in the order listed in messages."""
TARGET_NAME = "fields.json"
"""What the output is uploaded as, in the source's folder."""

TIMEOUT_S = 30.0
"""The longest one conversion may run (seconds) before node is killed; ``hs`` has no
limit, but a fields.js that never ends must not stall every upload behind it."""
MIN_NODE_MAJOR = 18
"""The oldest node hubsync runs fields.js with (dynamic ``import()`` of CommonJS and ES
modules); tested with node 20, what ``hs`` 8 itself needs."""
MESSAGE_LINES = 4
"""How many lines of node's stderr a ``failed`` line carries."""

# Environment variables the child keeps: what node and npm packages need to find their
# files and speak the user's language. Everything else is dropped, above all every
# HUBSYNC_* variable (HUBSYNC_KEY_<NAME> holds a personal access key); ``hs`` passes its
# child even less (four variables of its own).
_KEPT_ENV = frozenset({"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "NODE_PATH",
                       "NODE_ENV", "SYSTEMROOT"})
_KEPT_ENV_PREFIXES = ("LC_",)

# The runner, given to ``node -e``: argv is [node, source, options, output file]. It
# follows the contract above; its own errors name the file and say what to change.
_RUNNER = r"""
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const [source, options, output] = process.argv.slice(1);
const name = path.basename(source);
const contract = (message) => Object.assign(new Error(message), { contract: true });
const flatten = (items) => items.reduce(
  (all, item) => all.concat(Array.isArray(item) ? flatten(item) : [item]), []);
(async () => {
  const exported = await import(pathToFileURL(source).href);
  const fn = exported.default || exported;
  if (typeof fn !== 'function') {
    throw contract(`${name} must export a function that returns the fields ` +
      `(module.exports = () => [...] or export default), not ${typeof fn}`);
  }
  const fields = await fn(options);
  if (!Array.isArray(fields)) {
    throw contract(`the function exported by ${name} must return an array of fields ` +
      `(or a Promise of one), not ${fields === null ? 'null' : typeof fields}`);
  }
  const resolved = await Promise.all(flatten(fields));
  const json = resolved.map((field) =>
    field !== null && field !== undefined && typeof field.toJSON === 'function'
      ? field.toJSON() : field);
  fs.writeFileSync(output, JSON.stringify(json, null, 2));
  // Done: a timer or socket the file left open must not hold node until the timeout.
  process.exit(0);
})().catch((error) => {
  // Our own message alone; the file's: its message, then where in the file it was thrown.
  let text = String(error);
  if (error && !error.contract && typeof error.stack === 'string') {
    const lines = error.stack.split('\n');
    const frame = lines.findIndex((line) => /^\s+at /.test(line));
    text = (frame < 0 ? lines : lines.slice(0, frame)).join('\n');
    const where = lines.find((line) => /^\s+at /.test(line) && line.includes(source));
    if (where) text += '\n' + where.trim();
  } else if (error && error.contract) {
    text = error.message;
  }
  process.stderr.write(text + '\n');
  process.exit(1);
});
"""


# --------------------------------------------------------------------------- the rule


def is_source(rel: str) -> bool:
    """Whether ``rel`` (watch-relative, ``/``-separated) is a fields source ``hs`` converts:
    ``fields.js``/``.mjs``/``.cjs`` at the watch root or inside a ``*.module`` folder."""
    name = posixpath.basename(rel)
    return name in SOURCE_NAMES and (posixpath.dirname(rel) == "" or module_of(rel) is not None)


def target_of(rel: str) -> str:
    """The ``fields.json`` a source is uploaded as (same folder); ``rel`` itself otherwise.

    >>> target_of("modules/hero.module/fields.js")
    'modules/hero.module/fields.json'
    """
    return posixpath.join(posixpath.dirname(rel), TARGET_NAME) if is_source(rel) else rel


def sources_of(rel: str) -> tuple[str, ...]:
    """The fields sources that would be uploaded as ``rel``; ``()`` when ``rel`` is not a
    ``fields.json`` where a source can stand (the root, inside a module)."""
    if posixpath.basename(rel) != TARGET_NAME:
        return ()
    folder = posixpath.dirname(rel)
    candidates = tuple(posixpath.join(folder, name) for name in SOURCE_NAMES)
    return candidates if is_source(candidates[0]) else ()


# --------------------------------------------------------------------------- outcomes


@dataclass(frozen=True, slots=True)
class Unconverted(Unreadable):
    """A fields source that could not be converted: a failure of its ``fields.json``.

    ``rel`` is the ``fields.json`` (display form) it stands for, so that the remote copy
    is neither replaced nor judged deleted; ``reason`` names the source and says why.
    ``fresh`` is False when the same failure was found for the same file before (it is
    not reported again).
    """

    fresh: bool = True
    retry_note: ClassVar[str] = "nothing uploaded; converted again when the file changes"


@dataclass(frozen=True, slots=True)
class Shadowed(Skipped):
    """A local ``fields.json`` beside a fields source: the source's output is uploaded in
    its place. Not a rule leaving the path out: the path itself is pushed."""


# --------------------------------------------------------------------------- node


def child_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a conversion runs with: ``environ`` (default ``os.environ``) cut
    down to ``_KEPT_ENV`` and ``LC_*``: never a ``HUBSYNC_*`` variable or any other."""
    source = os.environ if environ is None else environ
    return {name: value for name, value in source.items()
            if name in _KEPT_ENV or name.startswith(_KEPT_ENV_PREFIXES)}


def find_node() -> str | None:
    """The ``node`` executable on ``PATH``, or None."""
    return shutil.which("node")


_NODE_VERSIONS: dict[str, tuple[int, str] | None] = {}
_NODE_LOCK = threading.Lock()


def node_version(node: str) -> tuple[int, str] | None:
    """``(major, "v20.11.1")`` of the node at ``node``, asked once per process; None when
    it cannot say (not node, or it fails)."""
    with _NODE_LOCK:
        if node in _NODE_VERSIONS:
            return _NODE_VERSIONS[node]
        found: tuple[int, str] | None = None
        try:
            out = subprocess.run([node, "--version"], capture_output=True, text=True,
                                 timeout=10, check=False, env=child_env(),
                                 stdin=subprocess.DEVNULL).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        match = re.fullmatch(r"v(\d+)\.\d+\.\d+\S*", out)
        if match:
            found = (int(match.group(1)), out)
        _NODE_VERSIONS[node] = found
        return found


def node_missing() -> tuple[str, str] | None:
    """Why no fields.js can be converted on this machine, and how to fix it:
    ``(what is wrong, what to do)``; None when the ``node`` on PATH will do."""
    node = find_node()
    if node is None:
        return (f"converting fields.js needs Node.js {MIN_NODE_MAJOR} or newer, and `node` "
                "is not on PATH",
                "install it (https://nodejs.org/, or `sudo apt install nodejs`)")
    version = node_version(node)
    if version is None or version[0] < MIN_NODE_MAJOR:
        found = version[1] if version else "a version it would not tell"
        return (f"converting fields.js needs Node.js {MIN_NODE_MAJOR} or newer; {node} is "
                f"{found}", "install a newer one (https://nodejs.org/)")
    return None


def node_problem(source: str, watch: str) -> str | None:
    """``node_missing`` as one message naming ``source`` and saying both ways out (install
    node, or ``convert_fields = false`` for ``watch``); None when node will do."""
    missing = node_missing()
    if missing is None:
        return None
    problem, fix = missing
    return (f"{source}: {problem}; {fix} and save the file again, or set "
            f"convert_fields = false in the [[watch]] {watch!r} to upload fields.js as is")


def _first_lines(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    shown = " | ".join(lines[:MESSAGE_LINES])
    return shown + (" | ..." if len(lines) > MESSAGE_LINES else "")


def run_node(source: Path, *, rel: str, options: str, workdir: Path,
             timeout_s: float = TIMEOUT_S, watch: str = "") -> bytes:
    """Convert the fields source at ``source`` and return the ``fields.json`` bytes.

    Runs ``node -e <runner> -- source options out`` without a shell, with cwd the
    source's folder, ``child_env()`` and stdin closed; stdout (the file's own
    ``console.log``) is dropped. ``workdir`` is a private folder for the output file.
    Raises ``FieldsConversionFailed`` naming ``rel`` when node is missing or too old,
    the file throws or breaks the contract (the first ``MESSAGE_LINES`` lines of
    stderr), or it runs longer than ``timeout_s`` (then node and whatever it started
    are killed).
    """
    problem = node_problem(rel, watch)
    if problem is not None:
        raise FieldsConversionFailed(problem)
    node = find_node()
    assert node is not None
    handle, out_name = tempfile.mkstemp(prefix="convert-", suffix=".json", dir=workdir)
    os.close(handle)
    out = Path(out_name)
    try:
        _run(node, source, options, out, rel=rel, timeout_s=timeout_s)
        content = out.read_bytes()
    finally:
        out.unlink(missing_ok=True)
    if not content:
        raise FieldsConversionFailed(
            f"{rel}: node ended without output: the function's Promise never settled, or "
            "the file ended node itself (process.exit)")
    return content


def _run(node: str, source: Path, options: str, out: Path, *, rel: str,
         timeout_s: float) -> None:
    # A session of its own, so that a timeout kills whatever the file started as well.
    proc = subprocess.Popen(  # fixed argv, no shell
        [node, "-e", _RUNNER, "--", str(source), options, str(out)],
        cwd=source.parent, env=child_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        try:
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            # A process that left node's session still holds stderr: stop reading it.
            if proc.stderr is not None:
                proc.stderr.close()
            proc.wait()
        raise FieldsConversionFailed(
            f"{rel}: node did not finish within {timeout_s:g} s and was stopped; does the "
            "function wait for something that never comes?") from None
    if proc.returncode != 0:
        message = _first_lines(stderr.decode("utf-8", "replace")) or (
            f"node exited with status {proc.returncode}")
        raise FieldsConversionFailed(f"{rel}: {message}")


def find_sources(root: Path, *, limit: int = 1000) -> list[str]:
    """The fields sources under ``root`` (watch-relative, sorted), for ``doctor``: a walk
    that skips hidden folders and ``node_modules`` (ignored by default, as in ``hs``);
    at most ``limit``. Raises nothing (an unreadable folder is passed over)."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "node_modules")
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        prefix = "" if rel_dir == "." else rel_dir + "/"
        found.extend(prefix + name for name in sorted(filenames) if is_source(prefix + name))
        if len(found) >= limit:
            break
    return sorted(found[:limit])


# --------------------------------------------------------------------------- per watch


@dataclass(frozen=True, slots=True)
class _Output:
    key: StatKey
    source_sha: str
    sha256: str
    size: int
    path: Path
    recorded_ns: int


@dataclass(frozen=True, slots=True)
class _Failure:
    key: StatKey
    reason: str


class FieldsJs:
    """One watch's fields sources: which paths they stand for, and their conversion.

    Thread-safe (the scanner and probes run in threads); one node at a time per watch.
    Disabled (``convert_fields = false``) it converts nothing and every method answers as
    if no path were a source.
    """

    def __init__(self, *, enabled: bool, options: str = "", watch: str = "",
                 timeout_s: float = TIMEOUT_S) -> None:
        self.enabled = enabled
        self.options = options
        self.watch = watch
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._outputs: dict[str, _Output] = {}
        self._failures: dict[str, _Failure] = {}
        self._tmp: Path | None = None

    @classmethod
    def for_watch(cls, watch: Watch) -> FieldsJs:
        """The converter a ``[[watch]]`` asks for (``convert_fields``, ``field_options``)."""
        return cls(enabled=watch.convert_fields, options=",".join(watch.field_options),
                   watch=watch.name)

    def target_of(self, rel: str) -> str | None:
        """The ``fields.json`` that ``rel`` is uploaded as when it is a source; else None."""
        return target_of(rel) if self.enabled and is_source(rel) else None

    def sources_of(self, rel: str) -> tuple[str, ...]:
        """``sources_of(rel)`` when converting, else ``()``."""
        return sources_of(rel) if self.enabled else ()

    def _workdir(self) -> Path:
        if self._tmp is None:
            # Private (0700, mkdtemp): the output is the theme's content. Removed when the
            # tracker is dropped or the process exits.
            self._tmp = Path(tempfile.mkdtemp(prefix="hubsync-fields-"))
            weakref.finalize(self, shutil.rmtree, self._tmp, ignore_errors=True)
        return self._tmp

    # --- one target ----------------------------------------------------------------------

    def probe(self, root: Path, rel: str, rules: IgnoreRules, cached: CachedStat | None, *,
              now_ns: int, real_root: str,
              ) -> tuple[LocalFile | Gone | Skipped, CachedStat | None] | None:
        """``localtree.probe_with_stat`` for a ``fields.json`` ``rel`` that a source
        stands for: the converted output (``LocalFile``), an ``Unconverted``, or
        ``Unreadable`` for a source that cannot be looked at. None when no source is
        there (the path is an ordinary file)."""
        present: list[tuple[str, str, os.stat_result]] = []
        root_path = os.fspath(root)
        for source in self.sources_of(rel):
            if rules.reason(source) is not None or name_problem(source) is not None:
                continue
            try:
                st = stat_inside(root_path, source.split("/"), real_root)
            except OSError as exc:
                # Under the fields.json's name: that is the path the core must not judge.
                return Unconverted(display_path(rel), f"{display_path(source)}: cannot be "
                                   f"read: {exc.strerror or exc}", fresh=False), None
            if isinstance(st, os.stat_result) and not _is_dir(st):
                present.append((source, os.path.join(root_path, *source.split("/")), st))
        if not present:
            self._forget(rel)
            return None
        return self.convert(present, rel, cached, now_ns=now_ns)

    def _forget(self, target: str) -> None:
        """The source of ``target`` is gone: its output is not needed any more."""
        with self._lock:
            output = self._outputs.pop(target, None)
            self._failures.pop(target, None)
        if output is not None:
            output.path.unlink(missing_ok=True)

    def convert(self, present: list[tuple[str, str, os.stat_result]], target: str,
                cached: CachedStat | None, *, now_ns: int,
                ) -> tuple[LocalFile | Gone | Skipped, CachedStat | None]:
        """The output for ``target`` from its one source in ``present`` (rel, path, stat):
        kept from an earlier conversion in this session while the source is unchanged,
        else node's now.

        ``cached`` (the stat cache of an earlier session) is not trusted on its own: the
        upload needs the bytes, not only their hash, so each session converts every
        source once, as ``hs`` does on every upload.
        """
        del cached
        if len(present) > 1:
            names = ", ".join(posixpath.basename(rel) for rel, _, _ in present)
            return Unconverted(display_path(target), f"{display_path(present[0][0])}: "
                               f"several fields files in one folder ({names}); keep one"), None
        source, path, st = present[0]
        key = StatKey.of(st)
        with self._lock:
            output = self._outputs.get(target)
            if output is not None and output.key == key and output.path.exists():
                entry = CachedStat(key, output.sha256, output.recorded_ns)
                # Racy (changed within localtree.RACY_NS of the conversion): the source's
                # own hash decides, cheaper than running node again.
                if not entry.is_racy() or _sha_or_none(path) == output.source_sha:
                    return LocalFile(target, output.sha256, output.size), entry
            failure = self._failures.get(target)
            if failure is not None and failure.key == key:
                return Unconverted(display_path(target), failure.reason, fresh=False), None
            return self._convert_now(source, path, target, key, now_ns)

    def _convert_now(self, source: str, path: str, target: str, key: StatKey,
                     now_ns: int) -> tuple[LocalFile | Gone | Skipped, CachedStat | None]:
        shown = display_path(source)
        missing = node_problem(shown, self.watch)
        if missing is not None:
            # Not remembered: found again (cheaply) at every look, so once node is
            # installed the next reconcile converts without a save.
            return Unconverted(display_path(target), missing, fresh=False), None
        try:
            source_sha = hash_file(path)
            content = run_node(Path(path), rel=shown, options=self.options,
                               workdir=self._workdir(), timeout_s=self.timeout_s,
                               watch=self.watch)
        except FileNotFoundError:
            return Gone(target), None
        except FieldsConversionFailed as exc:
            self._failures[target] = _Failure(key, str(exc))
            return Unconverted(display_path(target), str(exc)), None
        except OSError as exc:
            return Unconverted(display_path(target),
                               f"{shown}: cannot be read: {exc.strerror or exc}"), None
        self._failures.pop(target, None)
        sha = hashlib.sha256(content).hexdigest()
        handle, name = tempfile.mkstemp(prefix="fields-", suffix=".json", dir=self._workdir())
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        old = self._outputs.get(target)
        self._outputs[target] = _Output(key, source_sha, sha, len(content), Path(name),
                                        now_ns)
        if old is not None:
            # An upload still reading it gets FileNotFoundError: looked at again.
            old.path.unlink(missing_ok=True)
        return LocalFile(target, sha, len(content)), CachedStat(key, sha, now_ns)

    def output_path(self, root: Path, rel: str, rules: IgnoreRules, *, now_ns: int,
                    ) -> Path | None:
        """The file holding the bytes to upload for ``rel``: the converted output when a
        source stands for it, None when ``rel`` is an ordinary file. Raises
        ``FileNotFoundError`` when there is nothing to upload now (the source is gone,
        or no longer converts): the caller looks at the path again, which reports it."""
        found = self.probe(root, rel, rules, None, now_ns=now_ns,
                           real_root=os.path.realpath(root))
        if found is None:
            return None
        outcome, _ = found
        with self._lock:
            output = self._outputs.get(rel)
        if not isinstance(outcome, LocalFile) or output is None:
            raise FileNotFoundError(rel)
        return output.path

    # --- a whole scan --------------------------------------------------------------------

    def finish_scan(self, result: ScanResult,
                    sources: list[tuple[str, str, os.stat_result]], rules: IgnoreRules,
                    cache: Mapping[str, CachedStat], *, now_ns: int) -> None:
        """Put the sources a walk found (rel, path, stat) into ``result`` as their
        ``fields.json``: converted (``files``/``stats``), ``Unconverted`` (among
        ``unreadable``), and a local ``fields.json`` beside one as ``Shadowed``."""
        by_target: dict[str, list[tuple[str, str, os.stat_result]]] = {}
        for item in sources:
            by_target.setdefault(target_of(item[0]), []).append(item)
        for target, present in sorted(by_target.items()):
            reason = rules.reason(target)
            if reason is not None:
                result.skipped.extend(Skipped(display_path(rel), reason) for rel, _, _ in present)
                continue
            if result.files.pop(target, None) is not None:
                result.stats.pop(target, None)
                result.skipped.append(Shadowed(
                    display_path(target), f"{posixpath.basename(present[0][0])} beside it "
                    "is converted and uploaded as fields.json in its place"))
            before = self._outputs.get(target)
            outcome, entry = self.convert(present, target, cache.get(target), now_ns=now_ns)
            if isinstance(outcome, Unreadable):
                result.unreadable.append(outcome)
            elif isinstance(outcome, LocalFile) and entry is not None:
                result.files[target] = outcome
                result.stats[target] = entry
                result.hashed += self._outputs.get(target) is not before


_PULL_CONVERTERS: dict[tuple[str, Path], FieldsJs] = {}


def converted_sha(watch: Watch, rel: str) -> str | None:
    """The sha256 of what ``push`` would upload for ``rel`` when a fields.js of ``watch``
    stands for it (node runs, once per source and process); None when none does or it
    does not convert (the caller then looks at the file itself). For ``pull``, whose
    "is the local file what was synced?" must see what push sends."""
    if not watch.convert_fields or not sources_of(rel):
        return None
    fields = _PULL_CONVERTERS.get((watch.name, watch.src))
    if fields is None:
        fields = _PULL_CONVERTERS[(watch.name, watch.src)] = FieldsJs.for_watch(watch)
    found = fields.probe(watch.src, rel, load_rules(watch.src, watch.ignore), None,
                         now_ns=time.time_ns(), real_root=os.path.realpath(watch.src))
    if found is None or not isinstance(found[0], LocalFile):
        return None
    return found[0].sha256


def _is_dir(st: os.stat_result) -> bool:
    return stat.S_ISDIR(st.st_mode)


def _sha_or_none(path: str) -> str | None:
    try:
        return hash_file(path)
    except OSError:
        return None

