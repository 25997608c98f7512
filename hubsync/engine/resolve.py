"""Resolving a conflict: the local-file half of ``hubsync resolve``, and the offline path.

The decision is the core's (``Outbox.resolve``: the base becomes the remote version the
person saw); this module does the I/O around it. ``--keep remote`` first keeps the local
file under ``<state_dir>/overwritten/`` (so neither side is ever lost), then writes the kept
remote copy (``<state_dir>/conflicts/...``) into the local file atomically (a temporary file in
the same folder, then a rename: an editor or the watcher never sees half a file), or
removes the local file when the remote one was deleted. With nothing running,
:func:`resolve_offline` does it on the state under the instance lock; ``--keep local``
then pushes that watch for that account at once (its own client, like ``push``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hubsync.config import Config
from hubsync.core.conflicts import KEEP_LOCAL, KEEP_REMOTE
from hubsync.core.effects import Effects, Policy
from hubsync.core.outbox import Outbox
from hubsync.errors import HubsyncError, UsageError
from hubsync.fieldsjs import sources_of
from hubsync.journal import LOG_NAME, Journal
from hubsync.localtree import hash_file
from hubsync.lock import InstanceLock
from hubsync.model import Conflict, ConflictKind, EngineEvent, Identity
from hubsync.remote import keep_overwritten, write_atomically
from hubsync.state import STATE_FILE, AsyncStateStore, StateStore, drop_remote_copy


class ResolveError(HubsyncError):
    """The conflict cannot be resolved as asked (the kept copy is missing or damaged)."""


def check_keep(keep: str) -> str:
    """``keep`` if it is "local" or "remote"; UsageError otherwise."""
    if keep not in (KEEP_LOCAL, KEEP_REMOTE):
        raise UsageError(f"--keep {keep!r}: use --keep local or --keep remote")
    return keep


@dataclass(frozen=True, slots=True)
class Applied:
    """What :func:`apply_remote_copy` did to the local file."""

    size: int | None
    """Bytes written (None: the local file was removed, for a remote delete)."""
    local_copy: Path | None = None
    """Where the local file it replaced or removed was kept
    (``<state_dir>/overwritten/...``, ``remote.keep_overwritten``); None when there was
    none to keep (no local file, or it already held the remote version)."""


@dataclass(frozen=True, slots=True)
class Resolved:
    """One conflict resolved, and where the local side went when it was replaced."""

    conflict: Conflict
    local_copy: Path | None = None

    def to_json(self) -> dict[str, object]:
        """``Conflict.to_json()`` plus ``local_copy`` (a path, or None)."""
        return {**self.conflict.to_json(),
                "local_copy": None if self.local_copy is None else str(self.local_copy)}


def with_local_copy(effects: Effects, copy: Path | None) -> Effects:
    """``effects`` whose ``resolved`` sync log line says where the local file it replaced
    was kept (field ``local_copy``); unchanged when nothing was kept."""
    if copy is not None:
        effects.events = [EngineEvent(e.event, {**e.fields, "local_copy": str(copy)})
                          if e.event == "resolved" else e for e in effects.events]
    return effects


def apply_remote_copy(root: Path, conflict: Conflict, *, convert_fields: bool = True,
                      keep_in: Path | None = None, now: float = 0.0) -> Applied:
    """Make the local file of ``conflict`` (under the watch folder ``root``) what the
    remote holds: the kept copy written atomically, or the file removed when the remote
    one was deleted. With ``keep_in`` (the state folder) the local file is first copied
    to ``<keep_in>/overwritten/<watch>/<UTC time of now>/<rel>`` unless it already holds
    the remote version: --keep remote never loses the local side.

    The temporary file is made beside the kept copy (in the state folder) when that is on
    the same disk as the watch folder, so the watcher sees only the final rename, not a
    stray temporary name; otherwise in the file's own folder. Raises ResolveError when
    the copy is missing or no longer has the sha256 recorded (say to run ``hubsync pull``
    or ``resolve --keep local``), or when the file is a ``fields.json`` generated from a
    fields.js here (``convert_fields``): HubSpot's JSON cannot be written into the
    JavaScript; OSError from the disk.
    """
    source = generated_by(root, conflict.rel) if convert_fields else None
    if source is not None and (conflict.kind is ConflictKind.DELETED or conflict.remote is None):
        raise ResolveError(
            f"{conflict.rel} was deleted remotely, and here it is made from {source}: "
            f"to take the delete, delete {source} first and run this again; or `hubsync "
            f"resolve {conflict.rel} --keep local` to upload it again")
    if source is not None:
        where = f"their version: {conflict.copy_path}; " if conflict.copy_path else ""
        raise ResolveError(
            f"{conflict.rel} is generated from {source}, so the remote version cannot be "
            f"written into your files ({where}a fields.json beside {source} would never "
            f"be pushed). Put the change you want into {source}, then `hubsync resolve "
            f"{conflict.rel} --keep local`")
    local = root / conflict.rel
    if conflict.kind is ConflictKind.DELETED or conflict.remote is None:
        kept = _keep_local(keep_in, root, conflict, now)
        local.unlink(missing_ok=True)
        return Applied(None, kept)
    if conflict.copy_path is None or not Path(conflict.copy_path).is_file():
        raise ResolveError(
            f"{conflict.rel}: the remote copy was not kept ({conflict.copy_path or 'none'}); "
            "use `hubsync resolve --keep local`, or fetch the remote file with `hubsync pull`")
    copy = Path(conflict.copy_path)
    content = copy.read_bytes()
    if conflict.remote_sha256 and hashlib.sha256(content).hexdigest() != conflict.remote_sha256:
        raise ResolveError(
            f"{conflict.rel}: the kept remote copy {conflict.copy_path} changed since it was "
            "downloaded; use `hubsync resolve --keep local`, or `hubsync pull` it again")
    kept = _keep_local(keep_in, root, conflict, now)
    # Temp file beside the file, then a rename (remote.write_atomically): the watcher
    # sees the old file or the new one, never half of it, and never reports the temp.
    write_atomically(root, conflict.rel, content)
    return Applied(len(content), kept)


def _keep_local(state_dir: Path | None, root: Path, conflict: Conflict,
                now: float) -> Path | None:
    """The copy of the local file --keep remote is about to replace or remove (None:
    not asked, no file, or it already holds the remote version: nothing to lose)."""
    local = root / conflict.rel
    if state_dir is None or local.is_symlink() or not local.is_file():
        return None
    if conflict.remote_sha256 and hash_file(local) == conflict.remote_sha256:
        return None
    return keep_overwritten(state_dir, conflict.watch, root, conflict.rel, now=now)


def generated_by(root: Path, rel: str) -> str | None:
    """The fields source (``fields.js``/``.mjs``/``.cjs``, watch-relative) that ``rel``, a
    ``fields.json``, is converted from under the watch folder ``root``; None when no
    such file is there (``hubsync.fieldsjs.sources_of``)."""
    for source in sources_of(rel):
        if (root / source).is_file():
            return source
    return None


def find_conflict(conflicts: list[Conflict], account: str, remote_path: str) -> Conflict:
    """The conflict of ``account`` at ``remote_path``; UsageError when there is none."""
    for conflict in conflicts:
        if conflict.account == account and conflict.remote_path == remote_path:
            return conflict
    raise UsageError(f"no conflict at {remote_path} in account {account!r} (see "
                     "`hubsync conflicts`)")


async def list_offline(config: Config) -> list[Conflict]:
    """Every configured account's conflicts, from the state alone (none without one)."""
    state_dir = config.settings.state_dir
    if not (state_dir / STATE_FILE).exists():
        return []
    store = await AsyncStateStore.open(state_dir)
    try:
        await store.bind({name: a.target for name, a in config.accounts.items()})
        return await store.conflicts()
    finally:
        await store.close()


async def resolve_offline(config: Config, account: str, remote_path: str, keep: str, *,
                          now: Callable[[], float], identity: Identity | None = None
                          ) -> Resolved:
    """Resolve one conflict with no session running: under the instance lock, apply the
    core's decision to the state, write (or remove) the local file for ``remote`` (the
    local one kept first under ``<state_dir>/overwritten/``), log the ``resolved`` line
    with ``identity`` (the key's user; None: the last ``auth test``'s) and ``local_copy``.
    The caller pushes for ``local``. Returns the conflict resolved and the local copy.

    Raises AlreadyRunning when a session holds the state (ask it instead), UsageError
    when there is no such conflict, ResolveError/OSError for the local file, StateError.
    """
    check_keep(keep)
    state_dir = config.settings.state_dir
    with InstanceLock(state_dir):
        store = await AsyncStateStore.open(state_dir)
        try:
            await store.bind({account: config.accounts[account].target})
            outbox = Outbox([account], Policy())
            entries, base = await store.load()
            conflicts = await store.conflicts(account)
            outbox.load(entries, base, conflicts)
            conflict = find_conflict(conflicts, account, remote_path)
            applied = Applied(None)
            if keep == KEEP_REMOTE:
                watch = config.watch(conflict.watch)
                applied = apply_remote_copy(watch.src, conflict,
                                            convert_fields=watch.convert_fields,
                                            keep_in=state_dir, now=now())
            effects = with_local_copy(
                outbox.resolve(conflict, keep, now(), remote_size=applied.size),
                applied.local_copy)
            await store.apply(effects)
            checked = (await store.run(StateStore.auth_statuses)).get(account)
        finally:
            await store.close()
        drop_remote_copy(state_dir, conflict.copy_path)
        who = identity or (checked.identity if checked is not None else None)
        journal = Journal(state_dir / LOG_NAME)
        try:
            for event in effects.events:
                journal.write(event.event, **decorated(event, config, account,
                                                        who.user_id if who else None,
                                                        who.email if who else None))
        finally:
            journal.close()
    return Resolved(conflict, applied.local_copy)


def decorated(event: EngineEvent, config: Config, account: str, user_id: int | None,
              email: str | None) -> dict[str, object]:
    """An event's fields with the account's identity, as a running session adds them."""
    extra = {"portal_id": config.accounts[account].portal_id, "hub_user_id": user_id,
             "hub_user_email": email}
    return {**event.fields, **{k: v for k, v in extra.items() if v is not None}}
