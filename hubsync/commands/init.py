"""Write a commented starter config (never over an existing one without --force).

The file goes to --config PATH, else $HUBSYNC_CONFIG, else
$XDG_CONFIG_HOME/hubsync/config.toml. With --src it holds a [[watch]] for that theme
folder; without, the [[watch]] is there commented out, ready to fill in. What it writes
always passes `hubsync check`.

examples:
  hubsync init
  hubsync init --src ~/themes/marketing --dest marketing-theme
  hubsync --config ./hubsync.toml init --force
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from hubsync.errors import EX_OK, HubsyncError


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """``--force``, ``--src DIR`` and ``--dest NAME``."""
    parser.add_argument("--force", action="store_true",
                        help="overwrite an existing config file")
    parser.add_argument("--src", metavar="DIR",
                        help="a local theme folder to add as the first [[watch]]")
    parser.add_argument("--dest", metavar="NAME",
                        help="the remote Design Manager folder for --src "
                             "(default: the folder's name)")


def run(args: argparse.Namespace) -> int:
    from hubsync.commands import config_path
    from hubsync.config import config_from_bytes, write_atomically

    path = config_path(args)
    explicit = bool(getattr(args, "config", None))
    if args.dest is not None and args.src is None:
        raise HubsyncError("--dest needs --src: say which local folder goes to that remote folder")
    if path.exists() and not args.force:
        raise HubsyncError(
            f"{path} already exists; edit it and run `{_hubsync(path, explicit)} check`, "
            "or pass --force to replace it"
        )
    src = Path(args.src).expanduser().absolute() if args.src is not None else None
    text = render_starter(src, args.dest)
    # Validate before writing, so a bad --src never leaves a broken file behind.
    config_from_bytes(text.encode("utf-8"), path)
    write_atomically(path, text)
    print(f"wrote {path.absolute()}")
    steps = next_steps(path, explicit=explicit, watch_written=src is not None)
    width = max(len(command) for command, _ in steps)
    # Side by side when that fits 80 columns, else each reason under its command.
    side_by_side = 2 + width + 2 + max(len(why) for _, why in steps) <= 80
    print("next steps:")
    for command, why in steps:
        print(f"  {command.ljust(width)}  {why}" if side_by_side else f"  {command}\n      {why}")
    return EX_OK


def next_steps(path: Path, *, explicit: bool, watch_written: bool) -> list[tuple[str, str]]:
    """(command, why) pairs after ``init``: each command names ``--config PATH`` when the
    config is not the default one (``explicit``), so every line works as pasted; the
    account goes into the watch by `auth add` itself (it edits the only [[watch]])."""
    import shlex

    hubsync = _hubsync(path, explicit)
    steps = [] if watch_written else [
        (f"edit {shlex.quote(str(path))}", "uncomment the [[watch]] and set its src and dest")]
    steps += [
        (f"{hubsync} auth add NAME --portal ID",
         "store the key; adds NAME to the watch"),
        (f"{hubsync} check", "validate the config (offline)"),
        (f"{hubsync} push", "push every watch once"),
    ]
    return steps


def _hubsync(path: Path, explicit: bool) -> str:
    """How to call hubsync on ``path``: with ``--config`` unless it is the default."""
    import shlex

    return f"hubsync --config {shlex.quote(str(path))}" if explicit else "hubsync"


def render_starter(src: Path | None, dest: str | None) -> str:
    """The starter config text: a [[watch]] for ``src`` if given, else a commented one."""
    import tomlkit

    def toml_string(value: str) -> str:
        return str(tomlkit.item(value).as_string())

    if src is None:
        watch = _WATCH_COMMENTED
    else:
        folder = src.name or "theme"
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", folder).strip("-_")[:64] or "theme"
        watch = _WATCH_ACTIVE.format(
            name=toml_string(name),
            src=toml_string(str(src)),
            dest=toml_string(dest if dest is not None else folder),
        )
    return _STARTER.format(watch=watch)


_STARTER = """\
# hubsync configuration. Check it with `hubsync check`.
# Every key, its type and default: docs/configuration.md and config.example.toml.
#
# Personal access keys NEVER go in this file. Store each account's key with
#   hubsync auth add NAME --portal ID
# (OS keyring), or give it as a systemd credential or HUBSYNC_KEY_<NAME>.

[settings]
# state_dir = "~/.local/state/hubsync"  # default: $XDG_STATE_HOME/hubsync
# debounce_ms = 300                     # quiet time after a save before pushing (0..60000)
# concurrency = 5                       # uploads in flight per account (1..20)
# max_deletes = 20                      # hold a batch that deletes more files than this

# One [accounts.NAME] per HubSpot account; `hubsync auth add` writes these for you.
# [accounts.sandbox]
# portal_id = 12345678                  # the account's Hub ID
# env = "prod"                          # "prod" or "qa"

{watch}"""

_WATCH_COMMENTED = """\
# One [[watch]] per local theme folder.
# [[watch]]
# name = "marketing"
# src = "~/themes/marketing"            # local theme folder
# dest = "marketing-theme"              # remote Design Manager folder
# accounts = ["sandbox"]                # push to each of these accounts
# delete_remote = false                 # also delete remote files deleted locally
# mode = "publish"                      # "publish" or "draft"
# ignore = ["*.scss"]                   # extra gitignore-style patterns
"""

_WATCH_ACTIVE = """\
# One [[watch]] per local theme folder.
[[watch]]
name = {name}
src = {src}
dest = {dest}  # remote Design Manager folder
accounts = []                           # add account names, e.g. ["sandbox"]
delete_remote = false                   # also delete remote files deleted locally
mode = "publish"                        # "publish" or "draft"
ignore = []                             # extra gitignore-style patterns, e.g. ["*.scss"]
"""
