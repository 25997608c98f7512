"""List remote files and folders in an account's Design Manager, like `hs ls`.

PATH is a Design Manager path (default: the root; `/` and a leading `/` are the root).
Each line shows a folder marker (`d` for a folder, `-` for a file), the size in bytes
where HubSpot says it (filemapper listings do not: `-`), the last change (ISO 8601 UTC)
and the name; folders end in `/`. -r lists everything below PATH. Reads share the
account's rate budget: a recursive listing costs one request per file and folder.

With one configured account it is used; otherwise --account picks one. An unknown
account is a usage error (exit 64); a PATH that does not exist exits 1.

examples:
  hubsync ls                               the root of the only account
  hubsync ls my-theme --account sandbox    one folder
  hubsync ls my-theme/templates -r         everything below it
  hubsync ls my-theme --json | jq -r '.[] | select(.folder | not) | .path'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hubsync.errors import EX_FAILURE, EX_OK

if TYPE_CHECKING:
    from hubsync.config import Config
    from hubsync.model import RemoteMeta
    from hubsync.remote import RemoteFile


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("path", nargs="?", default="", metavar="PATH",
                        help="remote folder or file (default: the root)")
    parser.add_argument("--account", metavar="NAME",
                        help="the account to list (needed when several are configured)")
    parser.add_argument("-r", "--recursive", action="store_true",
                        help="list everything below PATH")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON array of {path, name, folder, size, updated_at}")


def _account(config: Config, wanted: str | None) -> str:
    from hubsync.commands import check_names
    from hubsync.errors import UsageError

    names = sorted(config.accounts)
    if wanted is not None:
        check_names("account", [wanted], names, option="--account")
        return wanted
    if len(names) == 1:
        return names[0]
    if not names:
        raise UsageError("no account is configured: add one with `hubsync auth add NAME "
                         "--portal ID`")
    raise UsageError(f"{len(names)} accounts are configured ({', '.join(names)}): pick one "
                     f"with --account, e.g. `hubsync ls --account {names[0]}`")


def iso(ms: int | None) -> str | None:
    """Epoch ms as ISO 8601 UTC with a ``Z`` (seconds), or None."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _entry(meta: RemoteMeta, rel: str) -> dict[str, Any]:
    return {"path": meta.path, "name": rel or meta.path.rsplit("/", 1)[-1],
            "folder": meta.folder, "size": None, "updated_at": iso(meta.updated_at_ms)}


async def _list(config: Config, account: str, path: str,
                recursive: bool) -> list[dict[str, Any]] | None:
    from hubsync.app import open_remote

    async with open_remote(config, account) as (remote, _tokens):
        top = await remote.metadata(path)
        if top is None:
            return None
        if not top.folder:
            return [_entry(top, "")]
        if not recursive:
            found: list[RemoteFile] = await remote.walk(path, recursive=False, folders=True)
        else:
            found = await remote.walk(path, folders=True)
        return [_entry(item.meta, item.rel) for item in found]


def _line(entry: dict[str, Any]) -> str:
    marker = "d" if entry["folder"] else "-"
    size = "-" if entry["size"] is None else str(entry["size"])
    when = entry["updated_at"] or "-"
    name = entry["name"] + ("/" if entry["folder"] else "")
    return f"{marker} {size:>8} {when:<20} {name}"


def run(args: argparse.Namespace) -> int:
    from hubsync.commands import config_path
    from hubsync.config import load_config

    config = load_config(config_path(args))
    account = _account(config, args.account)
    path = args.path.strip("/")
    entries = asyncio.run(_list(config, account, path, args.recursive))
    if entries is None:
        print(f"hubsync: error: {account} has nothing at {path or '/'!r}; "
              f"`hubsync ls --account {account}` lists the root", file=sys.stderr)
        return EX_FAILURE
    if args.json:
        print(json.dumps(entries, ensure_ascii=False))
        return EX_OK
    for entry in entries:
        print(_line(entry))
    return EX_OK
