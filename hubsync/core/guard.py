"""The conflict guard's decision: may hubsync write (or delete) a remote path now?

Pure. The worker learns about the remote one read at a time (a folder listing, a
metadata read, a download) and asks :func:`judge` after each; ``judge`` either asks for
one more read or gives the verdict. The rule (issue 10):

- a path hubsync synced (a base row) is written only while the remote still holds the
  version hubsync recorded after its own write, or content equal to what it synced;
  otherwise it is a ``changed`` conflict (``deleted`` when the remote file is gone, for
  an upload; a delete of a file already gone is simply done);
- a path hubsync never synced (first contact) is looked up in its folder's listing
  (one request per folder, not one per file); when it exists remotely its content is
  compared: equal is adopted (no upload), different is an ``unsynced`` conflict unless
  the user said ``--prefer local``;
- a remote holding exactly the content an earlier send of the path may have put there
  unrecorded (``OutboxEntry.sent_sha256``: the process stopped while it was in flight),
  with no other writer named, is hubsync's own write, never a teammate's: overwritten
  or deleted like a synced one;
  likewise a remote file gone after a delete of hubsync's own that may have been applied
  unrecorded (``MAYBE_DELETED``) is not a teammate's delete;
- ``guard = false`` sends without asking. ``hubsync resolve --keep local`` needs no
  exception: it records the remote version the person saw as the base, so the guard
  lets the local file over that version, and no newer one.

The invariant the property tests check: a ``SEND`` over a remote file is decided only
when the remote holds a version hubsync saw (its recorded version, or its synced
content, or content it may have sent itself), or with ``--prefer local`` on first
contact, or when the guard is off.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from hubsync.core.effects import MAYBE_DELETED, UNKNOWN_CONTENT
from hubsync.core.extracted import window_of, within
from hubsync.model import ConflictKind, OpKind, OutboxEntry, RemoteVersion, SyncedFile


class Step(enum.StrEnum):
    """What the worker does next for one entry."""

    SEND = "send"
    """Send the entry as it is."""
    READ_LISTING = "read_listing"
    """Learn whether the path exists from its parent folder's listing (cached)."""
    READ_META = "read_meta"
    """Read the path's metadata (one request: exists? updatedAt, hash, writer)."""
    READ_CONTENT = "read_content"
    """Download the remote file and hash it (sha256)."""
    CONFLICT = "conflict"
    """Do not send: someone else's version is there (``Verdict.kind`` says how)."""
    ADOPT = "adopt"
    """Do not send: the remote already holds the local content; record it as synced."""
    DONE = "done"
    """Do not send: a delete of a file that is already gone."""


@dataclass(frozen=True, slots=True)
class RemoteView:
    """What the worker has learned of one remote path so far.

    ``listed``: whether the path's folder listing names it (None: not listed).
    ``meta_read``: a metadata read was made; then ``exists`` says whether it found a file
    and ``version`` what it said. ``content_sha256``: sha256 of a download (None: none).
    ``copy_path``: where the downloaded copy would be kept if this becomes a conflict.
    """

    listed: bool | None = None
    meta_read: bool = False
    exists: bool = False
    version: RemoteVersion | None = None
    content_sha256: str | None = None
    copy_path: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """``judge``'s answer; ``kind`` only with ``Step.CONFLICT``."""

    step: Step
    kind: ConflictKind | None = None


def same_version(recorded: RemoteVersion | None, seen: RemoteVersion | None) -> bool:
    """Whether ``seen`` is the remote version hubsync ``recorded`` after its write.

    The Source Code API's ``hash`` decides when both have one (same API, hubspot-api.md
    §4); otherwise ``updatedAt`` (epoch ms) must be equal and known, and so must the
    writer where both answers name one. Unknown is never the same. A version recorded for
    an archive extraction is a window (core/extracted.py): ``seen`` must fall within it.
    """
    if recorded is None or seen is None:
        return False
    if window_of(recorded) is not None:
        return within(recorded, seen)
    if recorded.hash is not None and seen.hash is not None:
        return recorded.hash == seen.hash
    if recorded.updated_at_ms is None or recorded.updated_at_ms != seen.updated_at_ms:
        return False
    writers = (recorded.writer_user_id, seen.writer_user_id)
    return None in writers or writers[0] == writers[1]


def judge(entry: OutboxEntry, base: SyncedFile | None, view: RemoteView, *,
          guard: bool = True, prefer_local: bool = False,
          user_id: int | None = None) -> Verdict:
    """The next step for ``entry`` given the ``base`` row of its path and ``view``.

    ``guard``: the account's ``guard`` setting. ``prefer_local``: ``--prefer local``,
    which overwrites files hubsync never synced (first contact) that differ.
    ``user_id``: the HubSpot user of the account's key (None: unknown).
    """
    if not guard:
        return Verdict(Step.SEND)
    if base is None:
        return _first_contact(entry, view, prefer_local=prefer_local, user_id=user_id)
    if base.sha256 == UNKNOWN_CONTENT:
        return _unknown(entry, view, user_id)
    return _synced(entry, base, view, user_id)


def _unknown(entry: OutboxEntry, view: RemoteView, user_id: int | None) -> Verdict:
    """hubsync's own request left the remote unknown (a timeout, a 5xx, a change during
    the upload): what is there may be its own write, which must not block itself. Only a
    remote that names another writer is someone else's."""
    if not view.meta_read:
        return Verdict(Step.READ_META)
    if not view.exists:
        return Verdict(Step.DONE if entry.op is OpKind.DELETE else Step.SEND)
    writer = view.version.writer_user_id if view.version is not None else None
    if writer is None or user_id is None or writer == user_id:
        return Verdict(Step.SEND)
    if view.content_sha256 is None:
        return Verdict(Step.READ_CONTENT)
    if entry.op is OpKind.UPLOAD and view.content_sha256 == entry.sha256:
        return Verdict(Step.ADOPT)
    if _ours(entry, view, user_id):
        return Verdict(Step.SEND)
    return Verdict(Step.CONFLICT, ConflictKind.CHANGED)


def _ours(entry: OutboxEntry, view: RemoteView, user_id: int | None) -> bool:
    """Whether the remote is what an earlier send of ``entry``'s path may have put there
    unrecorded (``OutboxEntry.sent_sha256``): that content, and no other writer named
    (a teammate who uploaded the same bytes is not hubsync; found in a trial). Needs the
    metadata read for the writer; HubSpot naming no writer leaves the content to decide."""
    if entry.sent_sha256 is None or view.content_sha256 != entry.sent_sha256:
        return False
    writer = view.version.writer_user_id if view.version is not None else None
    return writer is None or user_id is None or writer == user_id


def _first_contact(entry: OutboxEntry, view: RemoteView, *, prefer_local: bool,
                   user_id: int | None) -> Verdict:
    if entry.op is OpKind.DELETE:
        return _first_contact_delete(entry, view, user_id)
    exists = view.exists if view.meta_read else view.listed
    if exists is None:
        return Verdict(Step.READ_LISTING)
    if not exists:
        return Verdict(Step.SEND)
    if view.content_sha256 is None:
        return Verdict(Step.READ_CONTENT)
    if view.content_sha256 != entry.sha256 and prefer_local:
        return Verdict(Step.SEND)
    if not view.meta_read:
        return Verdict(Step.READ_META)  # the version (and writer) to record or to report
    if not view.exists:
        return Verdict(Step.SEND)  # deleted since the listing: nothing to lose
    if view.content_sha256 == entry.sha256:
        return Verdict(Step.ADOPT)
    if _ours(entry, view, user_id):
        return Verdict(Step.SEND)
    return Verdict(Step.CONFLICT, ConflictKind.UNSYNCED)


def _first_contact_delete(entry: OutboxEntry, view: RemoteView,
                          user_id: int | None) -> Verdict:
    """hubsync deletes only what it synced: without a base row, only a remote holding
    what an unrecorded send of its own put there (``sent_sha256``) is its to delete."""
    if not view.meta_read:
        return Verdict(Step.READ_META)
    if not view.exists:
        return Verdict(Step.DONE)
    if entry.sent_sha256 is None:
        return Verdict(Step.CONFLICT, ConflictKind.UNSYNCED)
    if view.content_sha256 is None:
        return Verdict(Step.READ_CONTENT)
    if _ours(entry, view, user_id):
        return Verdict(Step.SEND)
    return Verdict(Step.CONFLICT, ConflictKind.UNSYNCED)


def _synced(entry: OutboxEntry, base: SyncedFile, view: RemoteView,
            user_id: int | None) -> Verdict:
    if not view.meta_read:
        return Verdict(Step.READ_META)
    if not view.exists:
        if entry.op is OpKind.DELETE:
            return Verdict(Step.DONE)
        if entry.sent_sha256 == MAYBE_DELETED:
            return Verdict(Step.SEND)  # gone by hubsync's own unrecorded delete
        return Verdict(Step.CONFLICT, ConflictKind.DELETED)
    if same_version(base.remote, view.version):
        return Verdict(Step.SEND)
    if view.content_sha256 is None:
        return Verdict(Step.READ_CONTENT)
    if entry.op is OpKind.UPLOAD and view.content_sha256 == entry.sha256:
        return Verdict(Step.ADOPT)  # someone put exactly our bytes there
    if view.content_sha256 == base.sha256 or _ours(entry, view, user_id):
        # A new version with the content hubsync synced (re-saved unchanged, or a base
        # written before versions were recorded), or hubsync's own unrecorded write:
        # nobody's work is lost.
        return Verdict(Step.SEND)
    return Verdict(Step.CONFLICT, ConflictKind.CHANGED)
