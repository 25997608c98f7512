"""Which watches and accounts a session serves, and the remote identity of an account."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from hubsync.config import Config, Watch
from hubsync.errors import UsageError


def select_watches(config: Config, watches: Sequence[str], accounts: Sequence[str]) -> list[Watch]:
    """The watches to run, each limited to ``accounts`` when given."""
    names = [w.name for w in config.watches]
    unknown = [n for n in watches if n not in names]
    if unknown:
        raise UsageError(unknown_names("watch", unknown, names, config.path))
    chosen = [_without_notify_file(config, config.watch(n)) for n in (watches or names)]
    if not accounts:
        return chosen
    configured = sorted(config.accounts)
    missing = [a for a in accounts if a not in configured]
    if missing:
        raise UsageError(unknown_names("account", missing, configured, config.path))
    limited = [replace(w, accounts=tuple(a for a in w.accounts if a in accounts))
               for w in chosen]
    return [w for w in limited if w.accounts]


def _without_notify_file(config: Config, watch: Watch) -> Watch:
    """``watch`` ignoring the live-reload file when it lies inside the watched folder:
    appending to it must not be pushed (and so notified, and appended to, forever)."""
    notify = config.settings.notify_file
    if notify is None:
        return watch
    try:
        rel = notify.absolute().relative_to(watch.src.absolute())
    except ValueError:
        return watch
    # Anchored and escaped: the path itself, not a gitignore pattern it may look like.
    pattern = "/" + re.sub(r"([\\*?\[\]!# ])", r"\\\1", rel.as_posix())
    return replace(watch, ignore=(*watch.ignore, pattern))


def unknown_names(kind: str, names: list[str], known: list[str], path: Path | None) -> str:
    hints = [m for n in names for m in difflib.get_close_matches(n, known, n=1)]
    hint = f"; did you mean {hints[0]!r}?" if hints else ""
    return (f"no {kind} named {', '.join(map(repr, names))} in {path} "
            f"(configured: {', '.join(known) or 'none'}){hint}")
