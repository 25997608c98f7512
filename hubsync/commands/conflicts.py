"""List the files hubsync did not overwrite because someone else changed them remotely.

Before overwriting or deleting a remote file it synced, hubsync checks that the remote
still holds the version it synced (the conflict guard, docs/teams.md). When a teammate
(or the Design Manager) changed it, nothing is sent for that file: it is a conflict,
kept until you decide with `hubsync resolve PATH --keep local|remote`. The remote
version is kept in the state folder (never in your theme folder).

Kinds: changed (the remote changed since hubsync synced it), deleted (the remote file was
deleted since), unsynced (it exists remotely, hubsync never synced it, and its content
differs from yours), both (changed on both sides, seen by a two-way watch).

Who changed it: HubSpot gives the writer's user id; hubsync adds their email when it has
seen that user here (a key check, or a sync log line written with their key): `by
bob@example.com (user 7002)`, else `by user 7002`; --json adds remote_user_email.

With `hubsync watch` or the service running, it asks that session; otherwise it reads
the state. Exits 0 when there is no conflict, 1 when there is at least one.

examples:
  hubsync conflicts                      every account's conflicts
  hubsync conflicts --account sandbox    only sandbox's
  hubsync conflicts --json | jq '.conflicts[].path'
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from hubsync.errors import EX_FAILURE, EX_OK


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--account", metavar="NAME",
                        help="only this account's conflicts (default: all)")
    parser.add_argument("--json", action="store_true",
                        help='print {"conflicts": [...]} as one JSON object')


def listed(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The conflicts (``Conflict.to_json`` shapes) of the running session, else the state;
    only ``args.account``'s when given (UsageError for an unknown name)."""
    from hubsync.commands import check_names, session_of
    from hubsync.session_client import ask_running, holder

    path, state_dir, accounts = session_of(args)
    account = getattr(args, "account", None)
    if account is not None and accounts:
        check_names("account", [account], accounts, option="--account")
    held_by = holder(state_dir)
    if held_by is not None and held_by.answers:
        found = ask_running(state_dir, "conflicts", config_path=path, account=account)
        return list(found.get("conflicts") or [])
    from hubsync.config import load_config
    from hubsync.engine.resolve import list_offline

    conflicts = asyncio.run(list_offline(load_config(path)))
    return [c.to_json() for c in conflicts if account is None or c.account == account]


def named(conflicts: list[dict[str, Any]], state_dir: Path) -> list[dict[str, Any]]:
    """``conflicts`` with ``remote_user_email`` added to each whose writer
    (``remote_user_id``) the user directory of ``state_dir`` knows (``hubsync.people``:
    key checks and sync log identities; no request). Nothing is renamed or removed."""
    from hubsync.people import Directory, with_writer_email

    if not any(c.get("remote_user_id") is not None for c in conflicts):
        return conflicts
    directory = Directory.load(state_dir)
    return [with_writer_email(c, directory) for c in conflicts]


def run(args: argparse.Namespace) -> int:
    from hubsync.commands import session_of

    conflicts = named(listed(args), session_of(args)[1])
    if args.json:
        print(json.dumps({"conflicts": conflicts}, ensure_ascii=False))
        return EX_FAILURE if conflicts else EX_OK
    if not conflicts:
        print("no conflicts")
        return EX_OK
    for item in conflicts:
        print(describe(item))
    print("keep one side with `hubsync resolve PATH --keep local` (push yours over it) or "
          "`--keep remote` (take theirs into your file)")
    return EX_FAILURE


def describe(item: dict[str, Any]) -> str:
    """One line: account, local path, what happened on each side (here: changed or
    deleted, from ``local_sha256``; remotely: the kind), who changed it remotely
    (``bob@example.com (user 7002)`` when ``remote_user_email`` is known, ``user 7002``
    otherwise) and when, copy."""
    writer, email = item.get("remote_user_id"), item.get("remote_user_email")
    who = ("someone" if not writer else
           f"{email} (user {writer})" if email else f"user {writer}")
    when = f" at {item['remote_updated_at']}" if item.get("remote_updated_at") else ""
    here = "deleted here" if item.get("local_sha256") is None else "changed here"
    what = {"changed": f"{here}, changed remotely by {who}{when}",
            "deleted": f"{here}, deleted remotely (HubSpot does not say by whom)",
            "unsynced": f"exists remotely with other content ({who}{when}); hubsync never "
                        "synced it",
            "both": f"{here} and changed remotely ({who}{when})"}.get(
                str(item.get("kind")), str(item.get("kind")))
    copy = f"; their version: {item['copy_path']}" if item.get("copy_path") else ""
    return f"{item['account']}: {item['path']} ({item['remote_path']}): {what}{copy}"
