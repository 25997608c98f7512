"""The remote version of a file an archive extraction wrote: a window, not an instant.

Pure. The archive path (engine/bulk.py, issue 13) stores many files with one extraction;
HubSpot then says when the task started and completed (``startedAt``, ``completedAt`` of
``extract/async/tasks/{id}/status``, hubspot-api.md §4) but not each file's ``updatedAt``,
and no answer states ``updatedAt`` for many files at once (a folder's metadata names its
children only, on both APIs). Without a recorded version the conflict guard downloaded
every such file before its next overwrite (bench/README.md: 300 downloads for a second
push of 300 files).

So the base records the window the extraction wrote in::

    RemoteVersion(updated_at_ms=completed_ms,
                  hash=f"{WINDOW_PREFIX}{started_ms}",
                  writer_user_id=<the key's user, when known>)

in the state's existing columns (``hash`` holds the marker; HubSpot's hashes are opaque
but never start with ``hubsync-``, and a marker is never compared with one of them).
A later metadata read is that write (:func:`within`) when its ``updatedAt`` (epoch ms,
HubSpot's clock) lies in ``[started_ms, completed_ms]`` and its writer, where both name
one, is the recorded user. Anything later, earlier or by another named writer is not: the
guard compares content then, as before.

What no read short of a download can tell apart: a write by someone else to the same file
*during* the extraction, after the extraction wrote it, on an account whose answers name
no writer. A metadata read of each file after the extraction (one request per file) would
record such a write as ours just the same, as the per-file path's read after an upload
whose answer has no metadata does; the window costs no request and accepts nothing
written after ``completedAt``.
"""

from __future__ import annotations

from hubsync.model import RemoteVersion

WINDOW_PREFIX = "hubsync-extracted-from:"
"""Marks a recorded version as an extraction window; the window's start (epoch ms) follows."""


def extraction_version(started_ms: int, completed_ms: int, writer_user_id: int | None
                       ) -> RemoteVersion | None:
    """The version to record for a file written by an extraction that ran from
    ``started_ms`` to ``completed_ms`` (epoch ms, HubSpot's clock), by the key's user
    ``writer_user_id`` (None: unknown). None when the window is not a window (it ends
    before it starts): nothing safe to record."""
    if completed_ms < started_ms:
        return None
    return RemoteVersion(completed_ms, f"{WINDOW_PREFIX}{started_ms}", writer_user_id)


def window_of(version: RemoteVersion | None) -> tuple[int, int] | None:
    """``(started_ms, completed_ms)`` when ``version`` is an extraction window, else None
    (a version HubSpot stated, or a marker that does not parse)."""
    if version is None or version.hash is None or version.updated_at_ms is None:
        return None
    if not version.hash.startswith(WINDOW_PREFIX):
        return None
    start = version.hash.removeprefix(WINDOW_PREFIX)
    if not start.isdigit():
        return None
    return int(start), version.updated_at_ms


def within(recorded: RemoteVersion, seen: RemoteVersion | None) -> bool:
    """Whether ``seen`` (a metadata read) may be the write recorded as the extraction
    window ``recorded``: its ``updatedAt`` in the window, and no other writer where both
    name one. False for a ``recorded`` that is not a window, and for an unknown ``seen``."""
    window = window_of(recorded)
    if window is None or seen is None or seen.updated_at_ms is None:
        return False
    started_ms, completed_ms = window
    if not started_ms <= seen.updated_at_ms <= completed_ms:
        return False
    writers = (recorded.writer_user_id, seen.writer_user_id)
    return None in writers or writers[0] == writers[1]
