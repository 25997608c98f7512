"""Small builders shared by the decision core's table, brake and property tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace

from hubsync.core import retry
from hubsync.core.effects import Effects, Policy, Result, Seen, WatchSpec
from hubsync.core.outbox import Outbox
from hubsync.model import OutboxEntry, SyncedFile

ACCOUNT = "sandbox"
WATCH = WatchSpec(name="theme", dest="my-theme", accounts=(ACCOUNT,), delete_remote=True)
KEEP = WatchSpec(name="theme", dest="my-theme", accounts=(ACCOUNT,), delete_remote=False)
T0 = 1_800_000_000.0


def seen(content: str) -> Seen:
    """The ``Seen`` of a file holding ``content`` (UTF-8)."""
    data = content.encode()
    return Seen(hashlib.sha256(data).hexdigest(), len(data))


def remote(rel: str) -> str:
    """The remote path of ``rel`` under :data:`WATCH`."""
    return f"my-theme/{rel}"


def outbox(policy: Policy | None = None) -> Outbox:
    """An outbox of the one account, empty, whose rows count as written at once (the
    committer's part: ``test_core_outbox`` checks the real wait for the write)."""
    return Outbox([ACCOUNT], replace(policy or Policy(), write_before_send=False))


def synced(box: Outbox, files: dict[str, str], now: float = T0 - 3600) -> None:
    """Load ``rel -> content`` as already synced (the base of an earlier session)."""
    box.load([], [SyncedFile(ACCOUNT, remote(rel), WATCH.name, rel, seen(c).sha256,
                             seen(c).size, now) for rel, c in files.items()])


def ok(after: Seen | None) -> Result:
    """A 2xx answer; ``after`` is the local content right after the upload."""
    return Result(retry.Outcome.OK, status=200, after=after)


def failed(outcome: retry.Outcome, error: str = "boom", *, status: int | None = None,
           retry_after_s: float | None = None) -> Result:
    """A failed answer with ``outcome``."""
    return Result(outcome, error=error, status=status, retry_after_s=retry_after_s)


def send_all(box: Outbox, now: float, contents: dict[str, Seen | None] | None = None,
             limit: int = 100) -> list[OutboxEntry]:
    """Send every due entry and answer each OK, the file unchanged (or as ``contents``
    says: rel -> Seen after the upload). Returns what was sent."""
    sent = box.next_batch(ACCOUNT, now, limit)
    for entry in sent:
        after = (contents or {}).get(entry.rel, seen_of(entry))
        box.on_result(entry, ok(after), now, jitter=0.0)
    return sent


def seen_of(entry: OutboxEntry) -> Seen | None:
    """What an upload entry wanted, as a ``Seen`` (None for a delete)."""
    if entry.sha256 is None:
        return None
    return Seen(entry.sha256, entry.size or 0)


def events(effects: Effects | Iterable[Effects], name: str) -> list[dict[str, object]]:
    """The fields of every ``name`` event in ``effects``."""
    many = [effects] if isinstance(effects, Effects) else list(effects)
    return [dict(e.fields) for fx in many for e in fx.events if e.event == name]
