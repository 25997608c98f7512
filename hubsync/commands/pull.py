"""Download the remote theme into the watch folder, like `hs cms fetch`, without losing work.

Lists the watch's remote folder (recursively), downloads each file HubSpot holds there,
and writes it into the local folder (a temp file and a rename, folders created). Files
the local rules leave out (.hsignore, the defaults, an extension HubSpot refuses) are
skipped. Every file is then recorded as synced with its remote version, so the next
`hubsync push` uploads nothing, and each is a `pulled` line in the sync log with who
pulled it (`hubsync log --event pulled`).

Local work is never overwritten without --force: a local file that changed since it was
last synced, a synced file deleted locally, or a file hubsync never synced that differs
from the remote one. Those are listed and nothing at all is written (exit 1); push them
first, move them away, or run again with --force. With --force each such file is first
copied to <state_dir>/overwritten/WATCH/TIME/PATH (never into a watch folder); the
pulled line (console and sync log, field local_copy) says where. A local file equal to
the remote one is adopted (recorded as synced, not written); a file whose recorded
remote version and local content are both unchanged is not downloaded again.

A fields.json made from a fields.js here is judged by node's output (what push
uploads): equal to the remote one, nothing to do; different, it is refused and never
written, not even with --force (beside the fields.js it would be ignored): carry the
change into the fields.js yourself. --dry-run lists the whole plan, refusals included,
and exits 1 when a real pull would be refused; --json says "written" only for files
written ("would_write" otherwise).

With several accounts on a watch, --account picks the one to pull from. Reads share the
account's rate budget (hubsync paces itself under it). The instance lock is held, so a
running `watch` or service must be stopped first.

examples:
  hubsync pull                         pull every watch (each with one account)
  hubsync pull theme --account sandbox pull the watch "theme" from sandbox
  hubsync pull --dry-run               list what would be written, write nothing
  hubsync pull --force                 overwrite local changes too
  hubsync -q pull --json | jq .ok
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubsync.errors import EX_FAILURE, EX_OK
from hubsync.render import counted

if TYPE_CHECKING:
    from rich.progress import Progress

    from hubsync.auth import TokenManager
    from hubsync.config import Config, Watch
    from hubsync.journal import Journal
    from hubsync.model import SyncedFile
    from hubsync.remote import RemoteFile, RemoteFiles, Verdict
    from hubsync.state import StateStore

PULLED_SYMBOL = "↓"
LARGE_PULL = 20
"""More files than this: no line per file unless -v (the summary says how many)."""


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("watches", nargs="*", metavar="WATCH",
                        help="names of the watches to pull (default: all)")
    parser.add_argument("--account", action="append", default=[], metavar="NAME",
                        dest="accounts",
                        help="pull from this account (needed when a watch has several)")
    parser.add_argument("--dry-run", action="store_true",
                        help="download and compare, but write nothing; print the plan, "
                        "refusals included (exit 1 when a real pull would be refused)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite local files that changed since the last sync "
                        "(a copy of each is kept under <state_dir>/overwritten/)")
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON object")


@dataclass(slots=True)
class WatchPull:
    """One watch's pull: what the remote holds and what becomes of each file."""

    watch: str
    account: str
    root: Path
    dest: str
    written: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    current: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)
    """(path, why) of local work a write would lose."""
    generated: list[str] = field(default_factory=list)
    """Among ``refused``: ``fields.json`` files made from a fields.js here, never written
    (not even with --force): beside the fields.js they would be ignored."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)
    """(path, copy) of each local file --force overwrote, kept first under
    ``<state_dir>/overwritten/`` (``remote.keep_overwritten``)."""
    requests: int = 0
    bytes: int = 0
    applied: bool = False
    """Whether the files were written and recorded (False: refused, or a dry run)."""

    def to_json(self) -> dict[str, Any]:
        """``written``/``adopted`` list what was done; ``would_write``/``would_adopt`` what
        a pull not refused (or not dry) would do (empty once done); ``generated``: the
        refused paths that --force does not write either (fields.json from fields.js)."""
        done = (self.written, self.adopted) if self.applied else ([], [])
        would = ([], []) if self.applied else (self.written, self.adopted)
        return {"account": self.account, "root": str(self.root), "dest": self.dest,
                "applied": self.applied, "written": done[0], "adopted": done[1],
                "would_write": would[0], "would_adopt": would[1], "current": self.current,
                "refused": [{"path": p, "why": w} for p, w in self.refused],
                "generated": self.generated,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
                "kept": [{"path": p, "copy": c} for p, c in self.kept],
                "requests": self.requests, "bytes": self.bytes}


def _pairs(config: Config, args: argparse.Namespace) -> list[tuple[Watch, str]]:
    """(watch, account) to pull; UsageError when a watch has several accounts and no
    --account picks one, or when --account names more than one."""
    from hubsync.commands import select
    from hubsync.errors import UsageError

    if len(set(args.accounts)) > 1:
        raise UsageError("pull reads from one account: give --account once "
                         f"(got {', '.join(sorted(set(args.accounts)))})")
    chosen = select(config, args)
    names = set(args.watches)
    pairs: list[tuple[Watch, str]] = []
    for watch in chosen.watches:
        if (names and watch.name not in names) or not watch.accounts:
            continue
        if len(watch.accounts) > 1:
            raise UsageError(
                f"watch {watch.name!r} syncs with {len(watch.accounts)} accounts "
                f"({', '.join(watch.accounts)}): pick the one to pull from, e.g. "
                f"`hubsync pull {watch.name} --account {watch.accounts[0]}`")
        pairs.append((watch, watch.accounts[0]))
    return pairs


def run(args: argparse.Namespace) -> int:
    from hubsync.commands import config_path
    from hubsync.config import load_config
    from hubsync.lock import InstanceLock

    config = load_config(config_path(args))
    pairs = _pairs(config, args)
    quiet = args.quiet or args.json
    show_progress = sys.stderr.isatty() and not quiet
    lock: AbstractContextManager[object] = (
        nullcontext() if args.dry_run else InstanceLock(config.settings.state_dir))
    with lock:
        results = asyncio.run(_pull_all(config, pairs, args, show_progress))
    ok = not any(r.generated for r in results) and (
        args.force or not any(r.refused for r in results))
    if args.json:
        print(json.dumps({"ok": ok, "dry_run": args.dry_run,
                          "watches": {r.watch: r.to_json() for r in results}},
                         ensure_ascii=False))
    else:
        _print_summary(results, args)
    return EX_OK if ok else EX_FAILURE


async def _pull_all(config: Config, pairs: Sequence[tuple[Watch, str]],
                    args: argparse.Namespace, show_progress: bool) -> list[WatchPull]:
    from hubsync.journal import LOG_NAME, Journal
    from hubsync.state import StateStore

    settings = config.settings
    with ExitStack() as stack:
        store: StateStore | None = None
        journal: Journal | None = None
        if not args.dry_run or (settings.state_dir / "state.db").exists():
            store = stack.enter_context(StateStore.open(settings.state_dir))
            store.bind({account: config.accounts[account].target for _, account in pairs})
        if not args.dry_run:
            journal = stack.enter_context(Journal(settings.state_dir / LOG_NAME))
        progress = stack.enter_context(_progress(show_progress))
        results = []
        for watch, account in pairs:
            puller = _Puller(config, watch, account, store, journal, progress, args)
            results.append(await puller.run())
            if puller.result.refused and not args.force and not args.dry_run:
                break  # nothing more is written once local work is in the way
        return results


def _progress(show: bool) -> AbstractContextManager[Progress | None]:
    """rich's own columns, as ``push`` shows them: what, bar, M/N, elapsed, remaining,
    files per second; on stderr, gone when done."""
    if not show:
        return nullcontext()
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("- files/s" if speed is None else f"{speed:.1f} files/s")

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                    RateColumn(), transient=True, console=Console(stderr=True))


class _Puller:
    """Pulls one watch from one account."""

    def __init__(self, config: Config, watch: Watch, account: str, store: StateStore | None,
                 journal: Journal | None, progress: Progress | None,
                 args: argparse.Namespace) -> None:
        self.config = config
        self.watch = watch
        self.account = account
        self.store = store
        self.journal = journal
        self.progress = progress
        self.force: bool = args.force
        self.dry_run: bool = args.dry_run
        self.loud = not (args.quiet or args.json)
        self.verbose: bool = bool(getattr(args, "verbose", False))
        self.result = WatchPull(watch.name, account, watch.src, watch.dest.strip("/"))

    async def run(self) -> WatchPull:
        from hubsync.app import open_remote

        base = self._base()
        async with open_remote(self.config, self.account,
                               publish=self.watch.mode.value == "publish") as (remote, tokens):
            await remote.check_key()  # the key is checked before anything is listed
            started = time.monotonic()
            files = await self._list(remote)
            wanted = self._filter(files)
            contents = await self._download(remote, wanted, base)
            self.result.requests = remote.requests
            plan = self._plan(wanted, base, contents)
            if (self.result.refused and not self.force) or self.dry_run:
                return self.result
            self._apply(plan, contents, tokens, time.monotonic() - started)
            self.result.applied = True
        return self.result

    def _base(self) -> dict[str, SyncedFile]:
        if self.store is None:
            return {}
        _, rows = self.store.load()
        return {row.remote_path: row for row in rows if row.account == self.account}

    async def _list(self, remote: RemoteFiles) -> list[RemoteFile]:
        task = None
        if self.progress is not None:
            task = self.progress.add_task(f"listing {self.result.dest} ({self.account})",
                                          total=None)
        try:
            return await remote.walk(self.result.dest)
        finally:
            if self.progress is not None and task is not None:
                self.progress.remove_task(task)

    def _filter(self, files: list[RemoteFile]) -> list[RemoteFile]:
        from hubsync.localtree import load_rules
        from hubsync.remote import left_out_reason

        rules = load_rules(self.watch.src, self.watch.ignore)
        kept = []
        for item in files:
            reason = left_out_reason(item.rel, rules)
            if reason is None:
                kept.append(item)
            else:
                self.result.skipped.append((item.rel, reason))
        return kept

    def _source_of(self, rel: str) -> str | None:
        """The fields.js (.mjs, .cjs) here that the ``fields.json`` ``rel`` is made from."""
        from hubsync.engine.resolve import generated_by

        return generated_by(self.watch.src, rel) if self.watch.convert_fields else None

    def _local_sha(self, rel: str) -> str | None:
        from hubsync.fieldsjs import converted_sha
        from hubsync.localtree import hash_file

        if self._source_of(rel) is not None:
            # A fields.json made from fields.js is what push would upload: node's output
            # (None when it does not convert now; never a stray file beside it).
            return converted_sha(self.watch, rel)
        path = self.watch.src / rel
        if not path.is_file() or path.is_symlink():
            return None
        return hash_file(path)

    async def _download(self, remote: RemoteFiles, files: list[RemoteFile],
                        base: dict[str, SyncedFile]) -> dict[str, bytes]:
        """The content of every file whose base does not already say it is current."""
        from hubsync.remote import Local, Verdict, all_of, decide

        needed = [f for f in files if decide(Local(self._local_sha(f.rel)),
                                             base.get(f.meta.path), f.meta, None)
                  is not Verdict.CURRENT]
        self.result.current = len(files) - len(needed)
        task = None
        if self.progress is not None:
            task = self.progress.add_task(f"downloading ({self.account})", total=len(needed))
        contents: dict[str, bytes] = {}

        async def one(item: RemoteFile) -> None:
            contents[item.rel] = await remote.download(item.meta.path)
            if self.progress is not None and task is not None:
                self.progress.advance(task)

        try:
            await all_of(one(item) for item in needed)  # a failure raised as itself
        finally:
            if self.progress is not None and task is not None:
                self.progress.remove_task(task)
        return contents

    def _plan(self, files: list[RemoteFile], base: dict[str, SyncedFile],
              contents: dict[str, bytes]) -> list[tuple[RemoteFile, Verdict]]:
        """Each downloaded file's verdict; fills the result's written/adopted/refused."""
        from hubsync.remote import Local, Verdict, decide, sha256_of

        plan: list[tuple[RemoteFile, Verdict]] = []
        for item in files:
            if item.rel not in contents:
                continue
            local = Local(self._local_sha(item.rel))
            synced = base.get(item.meta.path)
            verdict = decide(local, synced, item.meta, sha256_of(contents[item.rel]))
            source = self._source_of(item.rel)
            if source is not None and verdict is not Verdict.ADOPT:
                self.result.refused.append((item.rel, _generated_why(source, local.sha256)))
                self.result.generated.append(item.rel)
                continue
            if verdict is Verdict.LOCAL_CHANGE:
                self.result.refused.append((item.rel, _why(local.sha256, synced)))
            if verdict is Verdict.ADOPT:
                self.result.adopted.append(item.rel)
            else:
                self.result.written.append(item.rel)
                self.result.bytes += len(contents[item.rel])
            plan.append((item, verdict))
        return plan

    def _apply(self, plan: list[tuple[RemoteFile, Verdict]], contents: dict[str, bytes],
               tokens: TokenManager, took_s: float) -> None:
        """Write the files, then record them all as synced in one transaction, then log."""
        from hubsync.core.effects import Effects
        from hubsync.model import SyncedFile
        from hubsync.remote import Verdict, keep_overwritten, sha256_of, write_atomically

        effects = Effects()
        now = time.time()
        lines: list[tuple[str, RemoteFile, bytes, bool]] = []
        for item, verdict in plan:
            content = contents[item.rel]
            if verdict is Verdict.LOCAL_CHANGE:
                # --force: the local work is kept (state folder) before it is replaced.
                copy = keep_overwritten(self.config.settings.state_dir, self.watch.name,
                                        self.watch.src, item.rel, now=now)
                if copy is not None:
                    self.result.kept.append((item.rel, str(copy)))
            if verdict is not Verdict.ADOPT:
                write_atomically(self.watch.src, item.rel, content)
            effects.synced.append(SyncedFile(
                account=self.account, remote_path=item.meta.path, watch=self.watch.name,
                rel=item.rel, sha256=sha256_of(content), size=len(content), synced_s=now,
                remote=item.version))
            # A pending upload or delete of the old content is no longer owed.
            effects.remove.append((self.account, item.meta.path))
            event = "adopted" if verdict is Verdict.ADOPT else "pulled"
            lines.append((event, item, content, verdict is Verdict.LOCAL_CHANGE))
        if self.store is not None:
            self.store.apply(effects)
            # The local file now holds the remote version: a conflict there is settled.
            pulled = {item.meta.path for item, _ in plan}
            for conflict in self.store.conflicts(self.account):
                if conflict.remote_path in pulled:
                    self.store.clear_conflict(self.account, conflict.remote_path)
                    if self.journal is not None:
                        self.journal.write(
                            "resolved", watch=conflict.watch, account=self.account,
                            path=conflict.rel, remote_path=conflict.remote_path,
                            kind=str(conflict.kind), keep="remote",
                            note="hubsync pull wrote the remote version into the local file")
        self._log(lines, tokens, took_s)

    def _log(self, lines: list[tuple[str, RemoteFile, bytes, bool]], tokens: TokenManager,
             took_s: float) -> None:
        from hubsync.console import pulled_text
        from hubsync.people import of_state
        from hubsync.remote import pulled_fields

        people = of_state(self.config.settings.state_dir)  # loaded only for an unknown writer
        identity = tokens.identity
        portal_id = self.config.accounts[self.account].portal_id
        per_file_ms = round(took_s * 1000 / max(1, len(lines)))
        kept = dict(self.result.kept)
        for event, item, content, forced in lines:
            fields = pulled_fields(
                watch=self.watch.name, account=self.account, portal_id=portal_id,
                identity=identity, rel=item.rel, meta=item.meta, content=content,
                mode=self.watch.mode.value)
            fields["duration_ms"] = per_file_ms
            if forced:
                fields["forced"] = True
                if item.rel in kept:
                    fields["local_copy"] = kept[item.rel]
            if self.journal is not None:
                self.journal.write(event, **fields)
            if self.loud and event == "pulled" and (self.verbose or len(lines) <= LARGE_PULL
                                                    or forced):
                print(f"{PULLED_SYMBOL} {pulled_text(fields, people.see(fields))}", flush=True)


def _why(local_sha: str | None, synced: SyncedFile | None) -> str:
    if local_sha is None:
        return "deleted locally since the last sync"
    if synced is None:
        return "never synced, and differs from the remote file"
    return "changed locally since the last sync"


def _generated_why(source: str, converted: str | None) -> str:
    if converted is None:
        return (f"made from {source}, which does not convert now (`hubsync push` says "
                f"why); the remote fields.json is not written beside it")
    return (f"made from {source}, whose output differs from the remote fields.json "
            f"(someone changed it); not written beside {source} (it would be ignored): "
            f"carry the change into {source} yourself, or push to replace the remote one")


def _print_summary(results: list[WatchPull], args: argparse.Namespace) -> None:
    for result in results:
        if result.refused and not args.force and not args.dry_run:
            _print_refusal(result)
            continue
        if not (result.written or result.adopted or result.current or result.skipped
                or result.refused):
            print(f"{result.watch} <- {result.account}: nothing to pull, the remote folder "
                  f"{result.dest!r} holds no file (`hubsync ls {result.dest} --account "
                  f"{result.account}` shows what is there)")
            continue
        head = "would write" if args.dry_run else "written"
        parts = [f"{len(result.written)} {head}",
                 f"{len(result.adopted)} adopted (already equal)",
                 f"{result.current} already current"]
        if result.skipped:
            parts.append(f"{len(result.skipped)} skipped by the local rules")
        print(f"{result.watch} <- {result.account}: " + ", ".join(parts)
              + f" ({counted(result.requests, 'request')}, {counted(result.bytes, 'byte')})"
              + (" (dry run: nothing written)" if args.dry_run else ""))
        if args.dry_run:
            _print_plan(result, force=args.force)
        else:
            why = dict(result.refused)
            for path in result.generated:
                print(f"  not written {path}: {why[path]}", file=sys.stderr)
            if result.kept:
                where = sorted({copy[:-len(rel)].rstrip("/") for rel, copy in result.kept})
                print(f"  {counted(len(result.kept), 'local file')} --force overwrote "
                      f"{'is' if len(result.kept) == 1 else 'are'} kept under "
                      f"{', '.join(where)}")
        for path, reason in result.skipped:
            print(f"  skipped {path}: {reason}")


def _print_plan(result: WatchPull, *, force: bool) -> None:
    """What a real pull would do with each file, refusals included (``--dry-run``)."""
    why = dict(result.refused)
    for path in result.written:
        if path in why:
            print(f"  would overwrite {path} (local work: {why[path]})"
                  + ("" if force else "; only with --force"))
        else:
            print(f"  would write {path}")
    for path in result.adopted:
        print(f"  would adopt {path} (already equal)")
    for path in result.generated:
        print(f"  would not write {path}: {why[path]}")
    if result.refused and not force:
        print(f"  a real pull would be refused ({counted(len(result.refused), 'file')} above), "
              "and "
              "write nothing")


def _print_refusal(result: WatchPull) -> None:
    print(f"hubsync: pull of {result.watch!r} from {result.account} refused: "
          f"{counted(len(result.refused), 'local file')} "
          f"{'holds' if len(result.refused) == 1 else 'hold'} work a pull would overwrite; "
          "nothing was written:", file=sys.stderr)
    for path, why in result.refused:
        print(f"  {path}: {why}", file=sys.stderr)
    print(f"push them first (`hubsync push {result.watch}`), move them away, or run "
          f"`hubsync pull {result.watch} --account {result.account} --force` to overwrite "
          "them", file=sys.stderr)
