"""The version recorded for files an archive extraction wrote (``core/extracted.py``):
a window from the task's start to its completion. Table tests of the form, and a
Hypothesis property over the guard's ``judge``: with such a base, no write or delete goes
over a version written after the extraction completed, before it started, or by another
named writer, unless the remote holds the content hubsync synced."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from hubsync.core.extracted import WINDOW_PREFIX, extraction_version, window_of, within
from hubsync.core.guard import RemoteView, Step, judge, same_version
from hubsync.model import OpKind, OutboxEntry, RemoteMeta, RemoteVersion, SyncedFile
from hubsync.remote import same_version as poller_same_version
from tests.core.outbox_helpers import ACCOUNT, T0, WATCH, remote, seen

STARTED, COMPLETED = 1_000, 2_000
US, TEAMMATE = 7001, 7002
OLD, NEW, OTHER = seen("old").sha256, seen("new").sha256, seen("other").sha256


def window(writer: int | None = US) -> RemoteVersion:
    version = extraction_version(STARTED, COMPLETED, writer)
    assert version is not None
    return version


def base(version: RemoteVersion, sha: str = OLD) -> SyncedFile:
    return SyncedFile(ACCOUNT, remote("a.css"), WATCH.name, "a.css", sha, 3, T0, version)


def test_the_window_form_round_trips_and_rejects_what_it_is_not() -> None:
    """The recorded form gives its window back; a version HubSpot stated (a real hash, no
    marker, a marker without a number) is no window; a window that ends before it starts
    is never recorded."""
    assert window_of(window()) == (STARTED, COMPLETED)
    assert window().hash == f"{WINDOW_PREFIX}{STARTED}"
    assert window_of(RemoteVersion(COMPLETED, "9f86d081", US)) is None
    assert window_of(RemoteVersion(COMPLETED, None, US)) is None
    assert window_of(RemoteVersion(COMPLETED, f"{WINDOW_PREFIX}soon", US)) is None
    assert window_of(RemoteVersion(None, f"{WINDOW_PREFIX}{STARTED}", US)) is None
    assert extraction_version(COMPLETED, STARTED, US) is None


def test_a_read_is_the_extraction_only_inside_the_window_and_by_no_other_writer() -> None:
    """Both ends count; one ms outside does not; another named writer does not; an
    unnamed writer is judged by time alone; a seen hash plays no part (hubsync has none
    of its own to compare); unknown is never the same."""
    for updated in (STARTED, 1_500, COMPLETED):
        assert within(window(), RemoteVersion(updated, None, US))
        assert within(window(), RemoteVersion(updated, "any-hash", None))
        assert same_version(window(), RemoteVersion(updated, "any-hash", US))
    for updated in (STARTED - 1, COMPLETED + 1):
        assert not within(window(), RemoteVersion(updated, None, US))
        assert not same_version(window(), RemoteVersion(updated, None, None))
    assert not within(window(), RemoteVersion(1_500, None, TEAMMATE))
    assert within(window(None), RemoteVersion(1_500, None, TEAMMATE))
    assert not within(window(), RemoteVersion(None, "h", US))
    assert not within(window(), None)
    assert not same_version(window(), None)


def test_the_poller_reads_the_window_too() -> None:
    """The two-way watch's rule (``remote.same_version``) sees the same window, so a file
    sent by archive is not downloaded by the next poll either."""
    row = base(window())

    def meta(updated: int, writer: int | None, digest: str | None = None) -> RemoteMeta:
        return RemoteMeta(remote("a.css"), False, 1, updated, digest, (), writer)

    assert poller_same_version(row, meta(1_500, US, "some-hash"))
    assert poller_same_version(row, meta(1_500, None))
    assert not poller_same_version(row, meta(COMPLETED + 1, US))
    assert not poller_same_version(row, meta(1_500, TEAMMATE))


UPDATED = st.sampled_from([None, STARTED - 500, STARTED - 1, STARTED, 1_500, COMPLETED,
                           COMPLETED + 1, COMPLETED + 10_000])
SEEN = st.one_of(st.none(), st.builds(RemoteVersion, UPDATED,
                                      st.sampled_from([None, "h1", f"{WINDOW_PREFIX}1500"]),
                                      st.sampled_from([None, US, TEAMMATE])))


@given(op=st.sampled_from([OpKind.UPLOAD, OpKind.DELETE]),
       recorded_writer=st.sampled_from([None, US]), synced=st.sampled_from([OLD, NEW]),
       seen_version=SEEN, remote_exists=st.booleans(),
       remote_content=st.sampled_from([OLD, NEW, OTHER]))
def test_no_send_over_a_version_the_extraction_did_not_write(
        op: OpKind, recorded_writer: int | None, synced: str,
        seen_version: RemoteVersion | None, remote_exists: bool, remote_content: str) -> None:
    """Whatever the remote says after an archive push, feeding judge the reads it asks
    for: a SEND over an existing remote file happens only when the remote holds the
    content hubsync synced, or its version is inside the extraction's window and names no
    other writer. So a teammate's write after the extraction (updatedAt after
    completedAt, or another writer named) is never overwritten unless it put back
    exactly what hubsync synced; and every path ends in a verdict within a few reads."""
    entry = OutboxEntry(ACCOUNT, remote("a.css"), WATCH.name, "a.css", op,
                        NEW if op is OpKind.UPLOAD else None, 3 if op is OpKind.UPLOAD else None)
    row = base(window(recorded_writer), synced)
    view = RemoteView()
    for _ in range(6):
        verdict = judge(entry, row, view, user_id=US)
        if verdict.step is Step.READ_META:
            view = replace(view, meta_read=True, exists=remote_exists,
                           version=seen_version if remote_exists else None)
        elif verdict.step is Step.READ_CONTENT:
            assert remote_exists
            view = replace(view, content_sha256=remote_content)
        elif verdict.step is Step.READ_LISTING:
            raise AssertionError("a synced path is never looked up by listing")
        else:
            break
    else:
        raise AssertionError("no verdict after 6 reads")
    if verdict.step is not Step.SEND or not remote_exists:
        return
    if view.content_sha256 == synced:
        return
    assert seen_version is not None
    assert seen_version.updated_at_ms is not None
    assert STARTED <= seen_version.updated_at_ms <= COMPLETED
    assert recorded_writer is None or seen_version.writer_user_id in (None, recorded_writer)
