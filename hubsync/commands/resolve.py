"""Settle one conflict: keep your local file, or take the remote version.

  --keep local    push your local file over the remote version the conflict recorded
                  (if it changed again since, that is a new conflict: nothing is lost);
                  a local file you deleted deletes the remote one
  --keep remote   write the remote version (kept in the state folder) into your local
                  file, atomically, and record it as synced: nothing is uploaded; for a
                  remote delete, your local file is removed. Your local file is first
                  copied to <state_dir>/overwritten/WATCH/TIME/PATH (never into the watch
                  folder); the output and the `resolved` line (local_copy) say where

PATH is the local file (relative to the current folder, or to the watch folder) or its
remote path, as `hubsync conflicts` lists it. With `hubsync watch` or the service running
it asks that session; otherwise it works on the state under the lock, and --keep local
pushes that watch to that account at once. A `resolved` line goes to the sync log.

examples:
  hubsync resolve templates/home.html --keep remote
  hubsync resolve my-theme/css/main.css --keep local --account sandbox
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from hubsync.errors import EX_FAILURE, EX_OK, UsageError


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("path", metavar="PATH",
                        help="the conflicting file: local path or remote path")
    parser.add_argument("--keep", required=True, choices=("local", "remote"),
                        help="local: push your file over theirs; remote: take theirs")
    parser.add_argument("--account", metavar="NAME",
                        help="the account, when PATH is in conflict in more than one")


def run(args: argparse.Namespace) -> int:
    from hubsync.commands import session_of
    from hubsync.commands.conflicts import listed
    from hubsync.session_client import ask_running, holder

    path, state_dir, _accounts = session_of(args)
    conflicts = listed(args)
    chosen = pick(conflicts, args.path, roots=_roots(path))
    held_by = holder(state_dir)
    if held_by is not None and held_by.answers:
        answer = ask_running(state_dir, "resolve", config_path=path,
                             account=chosen["account"], remote_path=chosen["remote_path"],
                             keep=args.keep, wait_s=30.0)
        paused = args.keep == "local" and _paused(state_dir, chosen["account"])
        copy = (answer.get("resolved") or {}).get("local_copy")
        print(_said(chosen, args.keep, running=True, paused=paused, local_copy=copy))
        return EX_OK
    return _offline(path, chosen, args.keep)


def _paused(state_dir: Path, account: str) -> bool:
    """Whether the running session has ``account`` paused (`hubsync pause`): then what
    --keep local sends waits for `hubsync resume`. False when the session cannot say."""
    from hubsync.errors import HubsyncError
    from hubsync.session_client import ask_running

    try:
        status = ask_running(state_dir, "status")
    except HubsyncError:
        return False
    return any(a.get("name") == account and a.get("paused")
               for a in status.get("accounts") or [])


def _roots(config_path: Path) -> dict[str, Path]:
    """watch name -> its folder, when the config loads (empty when it does not)."""
    from hubsync.config import load_config
    from hubsync.errors import HubsyncError

    try:
        return {w.name: w.src for w in load_config(config_path).watches}
    except HubsyncError:
        return {}


def pick(conflicts: list[dict[str, Any]], given: str, *,
         roots: dict[str, Path]) -> dict[str, Any]:
    """The one conflict ``given`` names (local path relative to the current folder or to
    its watch folder, or remote path). UsageError with did-you-mean when none, or when it
    is in conflict in several accounts (say which with --account)."""
    from hubsync.commands import check_names

    if not conflicts:
        raise UsageError("there are no conflicts to resolve (`hubsync conflicts` lists them)")
    # resolve(): the watch folder in the config may be spelled through a symlink.
    absolute = Path(given).resolve()
    matches = [c for c in conflicts if given in (c["path"], c["remote_path"])
               or given.strip("/") == c["remote_path"]
               or (c["watch"] in roots
                   and absolute == (roots[c["watch"]] / c["path"]).resolve())]
    if not matches:
        known = sorted({c["path"] for c in conflicts} | {c["remote_path"] for c in conflicts})
        check_names("conflicting file", [given], known)
    if len(matches) > 1:
        names = ", ".join(sorted(c["account"] for c in matches))
        raise UsageError(f"{given!r} is in conflict in several accounts ({names}); pick one "
                         "with --account NAME")
    return matches[0]


def _offline(path: Path, chosen: dict[str, Any], keep: str) -> int:
    from hubsync.config import load_config
    from hubsync.engine.resolve import resolve_offline

    config = load_config(path)
    identity = asyncio.run(_identify(config, chosen["account"]))
    resolved = asyncio.run(resolve_offline(config, chosen["account"], chosen["remote_path"],
                                           keep, now=time.time, identity=identity))
    copy = None if resolved.local_copy is None else str(resolved.local_copy)
    print(_said(chosen, keep, running=False, local_copy=copy))
    if keep == "remote":
        return EX_OK
    return _push(config, resolved.conflict.watch, resolved.conflict.account)


async def _identify(config: Any, account: str) -> Any:
    """Who the account's key belongs to (for the `resolved` line), None when the key
    cannot be exchanged now (the line then carries the last `auth test`'s identity)."""
    from hubsync.app import real_adapters
    from hubsync.errors import HubsyncError

    adapters = real_adapters()
    settings = config.settings
    chosen = config.accounts[account]
    api = adapters.make_api(chosen, settings, adapters.make_pacer(settings))
    try:
        tokens = adapters.make_tokens(chosen, api)
        await tokens.token()
        return tokens.identity
    except HubsyncError:
        return None
    finally:
        await api.close()


def _push(config: Any, watch: str, account: str) -> int:
    """Push ``watch`` to ``account`` now, the way `hubsync push` does."""
    from dataclasses import replace

    from hubsync import render
    from hubsync.app import build_engine
    from hubsync.console import Reporter
    from hubsync.lock import InstanceLock

    with Reporter(progress=False, quiet=False) as reporter:
        engine = build_engine(config, watches=[watch], accounts=[account], on_event=reporter)
        with InstanceLock(config.settings.state_dir):
            summary = asyncio.run(engine.push_once())
    # The other conflicts still open are not this command's failure: judge the push by
    # what it did, but never print "in sync" while they are open (summary_lines says
    # that only when the summary, open conflicts included, is ok).
    text = render.summary_lines(summary, others_open=True)
    for line in text.out:
        print(line)
    for line in text.err:
        print(line, file=sys.stderr)
    return EX_OK if replace(summary, open_conflicts=()).ok else EX_FAILURE


def _said(chosen: dict[str, Any], keep: str, *, running: bool, paused: bool = False,
          local_copy: str | None = None) -> str:
    """:func:`_what` and, when --keep remote replaced or removed a local file, where
    that file was kept (``local_copy``, under ``<state_dir>/overwritten/``)."""
    text = _what(chosen, keep, running=running, paused=paused)
    if local_copy:
        text += f"; your local version is kept at {local_copy}"
    return text


def _what(chosen: dict[str, Any], keep: str, *, running: bool, paused: bool) -> str:
    """What the resolution did, in the words of its case: a remote delete kept removes
    the local file, a local delete kept deletes the remote one (``local_sha256`` is None
    when the local side was a delete; the conflict's ``kind`` says what the remote did).
    ``paused``: the running session has the account paused, so what --keep local sends
    goes when it is resumed, not now."""
    account = chosen["account"]
    where = f"{account}: {chosen['path']}"
    remote_gone = chosen.get("kind") == "deleted"
    local_gone = chosen.get("local_sha256") is None
    now = ("the running session does it now" if running and not paused else
           f"{account} is paused: the running session does it when you resume it "
           f"(`hubsync resume {account}`)" if running else "doing it now")
    if keep == "remote":
        if remote_gone:
            return (f"{where}: it was deleted remotely; removed your local file too; "
                    "nothing is uploaded")
        if local_gone:
            return (f"{where}: you had deleted it; wrote the remote version back into your "
                    "file; nothing is uploaded")
        return f"{where}: took the remote version into your file; nothing is uploaded"
    if local_gone:
        return (f"{where}: keeping your deletion; deleting the remote file "
                f"({chosen['remote_path']}); {now}")
    if remote_gone:
        return (f"{where}: keeping your local file, which was deleted remotely; uploading "
                f"it again; {now}")
    return f"{where}: keeping your local file; pushing it over the remote version; {now}"
