"""One module per subcommand: ``configure(parser, name)`` and ``run(args) -> int``.

The helpers here are what every command shares and nothing outside ``commands/`` needs:
which config file the global ``--config`` names, and the one rule for a name the user
typed that the config does not know.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hubsync.config import Config


def config_path(args: argparse.Namespace) -> Path:
    """The config file the global ``--config`` names, else ``default_config_path()``.

    ``~`` is expanded; the path is not resolved and need not exist.
    """
    from hubsync.config import default_config_path

    explicit: str | None = getattr(args, "config", None)
    return Path(explicit).expanduser() if explicit else default_config_path()


def check_names(kind: str, given: Iterable[str], known: Iterable[str], *,
                option: str | None = None) -> None:
    """Raise ``UsageError`` (exit 64) for the first name in ``given`` not in ``known``.

    ``kind`` is what the names are ("watch", "account", "event"); ``option`` the flag
    that took them, for the message. The message offers the closest known name
    ("did you mean 'sandbox'?", difflib's ratio >= 0.6) and lists the known ones.
    """
    from hubsync.errors import UsageError

    choices = sorted(set(known))
    for name in given:
        if name in choices:
            continue
        where = f"{option} " if option else ""
        close = difflib.get_close_matches(name, choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(choices) if choices else "none"
        plural = kind + ("es" if kind.endswith(("ch", "sh", "s", "x")) else "s")
        raise UsageError(f"{where}{name!r}: no {kind} of that name{hint} "
                         f"(known {plural}: {listing})")


def add_selection_options(parser: argparse.ArgumentParser, verb: str) -> None:
    """``WATCH...``, ``--account NAME`` (repeatable) and ``--mode draft|publish``."""
    parser.add_argument("watches", nargs="*", metavar="WATCH",
                        help=f"names of the watches to {verb} (default: all)")
    parser.add_argument("--account", action="append", default=[], metavar="NAME",
                        dest="accounts",
                        help=f"{verb} to this account only (repeatable; default: every "
                             "account of each watch)")
    parser.add_argument("--mode", choices=("draft", "publish"),
                        help="override each watch's `mode`: publish (live) or draft "
                             "(HubSpot's draft buffer)")


def select(config: Config, args: argparse.Namespace) -> Config:
    """``config`` narrowed to what the command line asks: watches, accounts, mode.

    Raises ``UsageError`` (exit 64) for a watch or account name the config does not
    know, and ``ConfigError`` (exit 78) when nothing is left to sync: no watch, or no
    watch with an account. Checked here, before any engine is built, so the user gets
    the message at once instead of an idle session.
    """
    from dataclasses import replace

    from hubsync.config import sync_readiness
    from hubsync.errors import ConfigError
    from hubsync.model import Mode

    watches: list[str] = list(getattr(args, "watches", []) or [])
    accounts: list[str] = list(getattr(args, "accounts", []) or [])
    check_names("watch", watches, (w.name for w in config.watches))
    check_names("account", accounts, config.accounts, option="--account")
    chosen = [w for w in config.watches if not watches or w.name in watches]
    mode = getattr(args, "mode", None)
    narrowed = tuple(
        replace(w, accounts=tuple(a for a in w.accounts if not accounts or a in accounts),
                mode=Mode(mode) if mode else w.mode)
        for w in chosen)
    if not any(w.accounts for w in narrowed):
        notes = [n for n in sync_readiness(config) if not n.startswith("account ")]
        if accounts:
            notes.insert(0, f"no selected watch pushes to {', '.join(map(repr, accounts))}")
        raise ConfigError(config.path, ["nothing to sync: " + (notes[0] if notes else
                                        "no watch pushes to any account"), *notes[1:]])
    others = tuple(w for w in config.watches if w not in chosen)
    return replace(config, watches=narrowed if not watches else (*narrowed, *others))


def session_of(args: argparse.Namespace) -> tuple[Path, Path, list[str]]:
    """The config path, its state dir and its account names, for commands that talk to a
    running session: they must work when the config has a problem the session does not
    (a watch folder gone missing), so the account names are empty when it cannot load."""
    from hubsync.config import load_config
    from hubsync.session_client import lenient_state_dir

    path = config_path(args)
    state_dir, problem = lenient_state_dir(path)
    if problem is not None or not path.exists():
        return path, state_dir, []
    config = load_config(path)
    return path, config.settings.state_dir, list(config.accounts)
