"""The live-reload hook: ``watch --notify FILE`` / ``settings.notify_file``.

People run a browser live-reload tool beside the watch (browser-sync, livereload); it
reloads the page when a file it watches changes. hubsync appends to FILE, in one write,
one line per local file of a settled batch, once EVERY account that had to store it has
answered 2xx. ``hs cms watch --notify`` (HubSpot local-dev-lib ``utils/notify.ts``)
writes ``<ISO time> <Added|Changed|Removed>: <path>`` lines; the same shape is kept so
that a tool set up for ``hs`` keeps working, with the path absolute::

    2026-11-30T05:40:01.123Z Changed: /home/jane/themes/marketing/templates/home.html
    2026-11-30T05:40:01.123Z Removed: /home/jane/themes/marketing/css/old.css

Rules (a reload tool must never show a page the portal does not serve yet):

- a path is written only after every account of its watch that was sent the change
  stored it (``pushed``/``deleted`` with the same content); never when the uploads were
  only queued (``hs`` fires as soon as they are queued);
- a path that failed for good in any account (a template error, a refused key) or was
  held as a conflict (a teammate changed it) is not written: there is nothing new to
  see; a later save that works is written then;
- a path saved again before it landed is written once, for its newest content, with
  the batch of that newest save;
- the lines of one settled batch go out together in one append, when the last path of
  the batch has landed or failed: one reload per save, not one per account or file.
  A batch waits for a path that is retrying (a 429 storm) until it lands; later
  batches do not wait for it.

The sink is fed by the engine: :meth:`LiveReload.queued` with the outbox rows of each
state write (what a settle asked every account to do), and ``__call__`` with every engine
event. It is a :class:`hubsync.engine.SessionListener`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from hubsync.journal import utc_timestamp
from hubsync.model import EngineEvent, OpKind, OutboxEntry, OutboxState

log = structlog.get_logger("hubsync.livereload")

_Key = tuple[str, str]
"""(watch, rel)."""


@dataclass(slots=True)
class _Want:
    """What one account still owes for one path: the op and content of the newest want."""

    op: OpKind
    sha256: str | None
    done: bool = False


@dataclass(slots=True)
class _Batch:
    """The paths one state write queued, in order, each with what each account owes."""

    number: int
    wants: dict[_Key, dict[str, _Want]] = field(default_factory=dict)
    failed: set[_Key] = field(default_factory=set)

    def settled(self) -> bool:
        return all(key in self.failed or all(w.done for w in accounts.values())
                   for key, accounts in self.wants.items())


class LiveReload:
    """Appends the local paths of each landed batch to ``path`` (see the module doc).

    ``roots`` maps each watch name to its local folder (absolute paths are written).
    Writing errors are logged once per kind and never stop the session.
    """

    def __init__(self, path: Path, roots: Mapping[str, Path]) -> None:
        self.path = path
        self._roots = {name: Path(root).absolute() for name, root in roots.items()}
        self._batches: list[_Batch] = []
        self._owner: dict[tuple[str, str, str], _Batch] = {}
        """(watch, rel, account) -> the batch whose want is the newest for it."""
        self._numbers = itertools.count(1)
        self._write_failed = False

    # --- the engine's side -------------------------------------------------------------

    def queued(self, rows: Sequence[OutboxEntry]) -> None:
        """The outbox rows one state write made: new wants join one new batch."""
        batch = _Batch(next(self._numbers))
        for row in rows:
            self._want(batch, row)
        if batch.wants:
            self._batches.append(batch)
        self._flush_settled()

    def __call__(self, event: EngineEvent) -> None:
        """An engine event: a landing, a failure or a hold of some account's want."""
        fields = event.fields
        watch, rel, account = fields.get("watch"), fields.get("path"), fields.get("account")
        if not (isinstance(watch, str) and isinstance(rel, str) and isinstance(account, str)):
            return
        owner = self._owner.get((watch, rel, account))
        if owner is None:
            return
        want = owner.wants[(watch, rel)][account]
        if _lands(event, want):
            want.done = True
        elif event.event in ("failed", "conflict"):
            # A conflict holds the path (a teammate's change is not overwritten): nothing
            # new landed, and waiting for it would hold the batch until it is resolved.
            owner.failed.add((watch, rel))
        else:
            return
        self._flush_settled()

    async def aclose(self) -> None:
        """Nothing to release: each append opens and closes the file."""

    # --- bookkeeping -------------------------------------------------------------------

    def _want(self, batch: _Batch, row: OutboxEntry) -> None:
        key = (row.watch, row.rel)
        slot = (row.watch, row.rel, row.account)
        previous = self._owner.get(slot)
        if previous is not None:
            old = previous.wants[key][row.account]
            if (row.state is OutboxState.PENDING and old.op is row.op
                    and old.sha256 == row.sha256 and not old.done):
                return  # the same want written again (a retry's new due time)
            # Superseded (or landed earlier and changed again): the newest batch has it.
            del previous.wants[key][row.account]
            if not previous.wants[key]:
                del previous.wants[key]
        if row.state is not OutboxState.PENDING or row.folder:
            # A held delete is not going out; a folder delete's files are its children.
            self._owner.pop(slot, None)
            return
        batch.wants.setdefault(key, {})[row.account] = _Want(row.op, row.sha256)
        self._owner[slot] = batch

    def _flush_settled(self) -> None:
        """Write every batch whose paths have all landed or failed (a batch stuck on a
        retrying path does not hold back the batches after it)."""
        settled = [b for b in self._batches if b.settled()]
        for batch in settled:
            self._batches.remove(batch)
            lines = []
            for key, accounts in batch.wants.items():
                for account in accounts:
                    if self._owner.get((*key, account)) is batch:
                        del self._owner[(*key, account)]
                if key not in batch.failed and accounts:
                    lines.append(self._line(key, accounts.values()))
            if lines:
                self._append(lines)

    def _line(self, key: _Key, wants: Iterable[_Want]) -> str:
        watch, rel = key
        root = self._roots.get(watch)
        local = root.joinpath(*rel.split("/")) if root is not None else Path(rel)
        deleted = all(w.op is OpKind.DELETE for w in wants)
        return f"{utc_timestamp()} {'Removed' if deleted else 'Changed'}: {local}\n"

    def _append(self, lines: list[str]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write("".join(lines))
            self._write_failed = False
        except OSError as exc:
            if not self._write_failed:
                self._write_failed = True
                log.error("notify_file_write_failed", path=str(self.path),
                          error=exc.strerror or str(exc),
                          note="the live-reload tool is not told; syncing goes on")


def _lands(event: EngineEvent, want: _Want) -> bool:
    """Whether ``event`` is the 2xx that stores exactly what ``want`` asked for."""
    if event.event == "pushed":
        return want.op is OpKind.UPLOAD and event.fields.get("sha256") == want.sha256
    return event.event == "deleted" and want.op is OpKind.DELETE
