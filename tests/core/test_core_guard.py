"""The conflict guard's decision (``core/guard.py``) and its effects in the outbox
(``core/conflicts.py``): table tests, and a Hypothesis property over any sequence of
reads: no write or delete is decided over a remote version hubsync did not see."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from hubsync.core.conflicts import KEEP_LOCAL, KEEP_REMOTE, iso_ms
from hubsync.core.effects import MAYBE_DELETED, UNKNOWN_CONTENT
from hubsync.core.guard import RemoteView, Step, Verdict, judge, same_version
from hubsync.core.outbox import Outbox
from hubsync.model import (
    ConflictKind,
    OpKind,
    OutboxEntry,
    RemoteVersion,
    SyncedFile,
)
from tests.core.outbox_helpers import ACCOUNT, T0, WATCH, outbox, remote, seen

OURS = RemoteVersion(1_000, None, 7001)
THEIRS = RemoteVersion(2_000, None, 7002)
OLD, NEW, OTHER = seen("old").sha256, seen("new").sha256, seen("other").sha256


def upload(sha: str = NEW) -> OutboxEntry:
    return OutboxEntry(ACCOUNT, remote("a.css"), WATCH.name, "a.css", OpKind.UPLOAD, sha, 3)


def delete() -> OutboxEntry:
    return OutboxEntry(ACCOUNT, remote("a.css"), WATCH.name, "a.css", OpKind.DELETE)


def base(sha: str = OLD, version: RemoteVersion | None = OURS) -> SyncedFile:
    return SyncedFile(ACCOUNT, remote("a.css"), WATCH.name, "a.css", sha, 3, T0, version)


def meta(version: RemoteVersion | None, exists: bool = True) -> RemoteView:
    return RemoteView(meta_read=True, exists=exists, version=version if exists else None)


def test_synced_path_reads_metadata_then_sends_only_over_its_own_version() -> None:
    """With a base row: first a metadata read; the recorded version (or content equal to
    what was synced) -> send; someone else's content -> conflict `changed`; the local
    content already there -> adopt; gone -> `deleted` for an upload, done for a delete."""
    assert judge(upload(), base(), RemoteView()) == Verdict(Step.READ_META)
    assert judge(upload(), base(), meta(OURS)) == Verdict(Step.SEND)
    assert judge(delete(), base(), meta(OURS)) == Verdict(Step.SEND)
    assert judge(upload(), base(), meta(THEIRS)) == Verdict(Step.READ_CONTENT)
    changed = replace(meta(THEIRS), content_sha256=OTHER)
    assert judge(upload(), base(), changed) == Verdict(Step.CONFLICT, ConflictKind.CHANGED)
    assert judge(delete(), base(), changed) == Verdict(Step.CONFLICT, ConflictKind.CHANGED)
    assert judge(upload(), base(), replace(changed, content_sha256=OLD)) == Verdict(Step.SEND)
    assert judge(upload(), base(), replace(changed, content_sha256=NEW)) == Verdict(Step.ADOPT)
    assert judge(upload(), base(), meta(None, exists=False)) == Verdict(
        Step.CONFLICT, ConflictKind.DELETED)
    assert judge(delete(), base(), meta(None, exists=False)) == Verdict(Step.DONE)
    # A base written before versions were recorded: the content decides.
    assert judge(upload(), base(version=None), meta(OURS)) == Verdict(Step.READ_CONTENT)


def test_first_contact_lists_the_folder_then_compares_content() -> None:
    """Without a base row: the folder listing first (not a metadata read per file);
    absent -> send; present -> download, then a metadata read for the version; equal ->
    adopt, different -> `unsynced` (sent only with --prefer local)."""
    assert judge(upload(), None, RemoteView()) == Verdict(Step.READ_LISTING)
    assert judge(upload(), None, RemoteView(listed=False)) == Verdict(Step.SEND)
    listed = RemoteView(listed=True)
    assert judge(upload(), None, listed) == Verdict(Step.READ_CONTENT)
    differs = replace(listed, content_sha256=OTHER)
    assert judge(upload(), None, differs) == Verdict(Step.READ_META)
    assert judge(upload(), None, differs, prefer_local=True) == Verdict(Step.SEND)
    read = replace(differs, meta_read=True, exists=True, version=THEIRS)
    assert judge(upload(), None, read) == Verdict(Step.CONFLICT, ConflictKind.UNSYNCED)
    assert judge(upload(), None, replace(read, content_sha256=NEW)) == Verdict(Step.ADOPT)
    assert judge(delete(), None, RemoteView()) == Verdict(Step.READ_META)
    assert judge(delete(), None, meta(None, exists=False)) == Verdict(Step.DONE)


def test_content_of_an_unrecorded_send_is_hubsyncs_own() -> None:
    """A remote holding exactly what an earlier send of the path may have put there
    unrecorded (``sent_sha256``) is overwritten or deleted like a synced file, on first
    contact, over a base, and over an unknown base; any other content stays a conflict."""
    mine = replace(upload(), sent_sha256=OLD)
    gone = replace(delete(), sent_sha256=OLD)
    first = RemoteView(listed=True, content_sha256=OLD)
    assert judge(mine, None, first) == Verdict(Step.READ_META)  # who wrote it?
    assert judge(mine, None, replace(meta(OURS), listed=True, content_sha256=OLD),
                 user_id=7001) == Verdict(Step.SEND)
    # A teammate who uploaded the same bytes is not hubsync (found in a trial).
    assert judge(mine, None, replace(meta(THEIRS), listed=True, content_sha256=OLD),
                 user_id=7001) == Verdict(Step.CONFLICT, ConflictKind.UNSYNCED)
    assert judge(gone, None, replace(meta(THEIRS), content_sha256=OLD),
                 user_id=7001) == Verdict(Step.CONFLICT, ConflictKind.UNSYNCED)
    assert judge(gone, None, meta(THEIRS)) == Verdict(Step.READ_CONTENT)
    assert judge(gone, None, replace(meta(THEIRS), content_sha256=OLD)) == Verdict(Step.SEND)
    assert judge(gone, None, replace(meta(THEIRS), content_sha256=OTHER)) == Verdict(
        Step.CONFLICT, ConflictKind.UNSYNCED)
    assert judge(delete(), None, meta(THEIRS)) == Verdict(Step.CONFLICT, ConflictKind.UNSYNCED)
    # Over a base: a later version of our own (our writer) with that content.
    over_base = replace(meta(RemoteVersion(3_000, None, 7001)), content_sha256=OLD)
    assert judge(mine, base(NEW), over_base, user_id=7001) == Verdict(Step.SEND)
    assert judge(upload(), base(NEW), over_base, user_id=7001) == Verdict(
        Step.CONFLICT, ConflictKind.CHANGED)
    assert judge(mine, base(NEW), replace(meta(THEIRS), content_sha256=OLD),
                 user_id=7001) == Verdict(Step.CONFLICT, ConflictKind.CHANGED)
    unknown = base(UNKNOWN_CONTENT, None)
    assert judge(mine, unknown, replace(meta(THEIRS), content_sha256=OLD),
                 user_id=7001) == Verdict(Step.CONFLICT, ConflictKind.CHANGED)
    # Gone after hubsync's own delete that may have been applied unrecorded: re-created.
    recreate = replace(upload(), sent_sha256=MAYBE_DELETED)
    assert judge(recreate, base(), meta(None, exists=False)) == Verdict(Step.SEND)
    assert judge(recreate, base(), replace(meta(THEIRS), content_sha256=OTHER)) == Verdict(
        Step.CONFLICT, ConflictKind.CHANGED)


def test_guard_off_and_unknown_content() -> None:
    """guard = false sends without reading; a base left unknown by hubsync's own request
    sends over its own (or an unattributed) version, and is a conflict only when another
    user wrote it and the content differs."""
    assert judge(upload(), base(), RemoteView(), guard=False) == Verdict(Step.SEND)
    unknown = base(UNKNOWN_CONTENT, None)
    assert judge(upload(), unknown, RemoteView(), user_id=7001) == Verdict(Step.READ_META)
    assert judge(upload(), unknown, meta(OURS), user_id=7001) == Verdict(Step.SEND)
    assert judge(upload(), unknown, meta(RemoteVersion(5, None, None)),
                 user_id=7001) == Verdict(Step.SEND)
    theirs = replace(meta(THEIRS), content_sha256=OTHER)
    assert judge(upload(), unknown, theirs, user_id=7001) == Verdict(
        Step.CONFLICT, ConflictKind.CHANGED)


def test_same_version_rules() -> None:
    """The hash decides when both have one; else updatedAt, and the writer where both
    name one; unknown is never the same."""
    assert same_version(RemoteVersion(1, "h", 1), RemoteVersion(9, "h", 2))
    assert not same_version(RemoteVersion(1, "h", 1), RemoteVersion(1, "g", 1))
    assert same_version(RemoteVersion(1, None, 1), RemoteVersion(1, None, None))
    assert not same_version(RemoteVersion(1, None, 1), RemoteVersion(1, None, 2))
    assert not same_version(RemoteVersion(None, None, 1), RemoteVersion(None, None, 1))
    assert not same_version(None, OURS)


def test_iso_ms_matches_the_calendar() -> None:
    """The core's own epoch-ms to ISO conversion (no datetime in core) agrees with known
    dates, leap days included."""
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(951_782_400_123) == "2000-02-29T00:00:00.123Z"
    assert iso_ms(1_796_016_300_456) == "2026-11-30T05:25:00.456Z"
    assert iso_ms(None) is None


def test_conflict_holds_the_path_until_resolved_both_ways() -> None:
    """A conflict from the guard drops the entry, records the conflict and a `conflict`
    event; later observations of the path owe nothing. keep remote: the base becomes the
    remote content, nothing owed. keep local: the base becomes the remote version seen,
    so the local content is owed again and the guard lets it over that version."""
    box = outbox()
    box.load([], [base(seen("v1").sha256)])
    box.observe(WATCH, {"a.css": seen("mine")}, T0)
    [sent] = box.next_batch(ACCOUNT, T0, 5)
    view = RemoteView(meta_read=True, exists=True, version=THEIRS,
                      content_sha256=seen("theirs").sha256, copy_path="/s/conflicts/x")
    verdict = box.guard_verdict(sent, view)
    assert verdict == Verdict(Step.CONFLICT, ConflictKind.CHANGED)
    effects = box.on_guard(sent, verdict, view, T0 + 1)
    [conflict] = effects.conflicts
    assert (conflict.kind, conflict.local_sha256, conflict.remote) == (
        ConflictKind.CHANGED, seen("mine").sha256, THEIRS)
    assert [e.event for e in effects.events] == ["conflict"]
    assert effects.events[0].fields["remote_user_id"] == 7002
    assert box.entries(ACCOUNT) == []
    assert not box.observe(WATCH, {"a.css": seen("mine again")}, T0 + 2).upsert

    took = box.resolve(conflict, KEEP_REMOTE, T0 + 3, remote_size=6)
    assert took.resolved == [conflict.key]
    assert box.base(ACCOUNT)[remote("a.css")].sha256 == seen("theirs").sha256
    assert not box.observe(WATCH, {"a.css": seen("theirs")}, T0 + 4).upsert

    box2 = outbox()
    box2.load([], [base(seen("v1").sha256)], [conflict])
    kept = box2.resolve(conflict, KEEP_LOCAL, T0 + 3)
    assert [e.fields["keep"] for e in kept.events] == ["local"]
    owed = box2.observe(WATCH, {"a.css": seen("mine")}, T0 + 4)
    [entry] = owed.upsert
    assert judge(entry, box2.base(ACCOUNT)[remote("a.css")], meta(THEIRS)) == Verdict(Step.SEND)


def in_conflict() -> Outbox:
    """An outbox whose a.css (synced as "v1", saved as "mine") met the teammate's
    "theirs" remotely: a `changed` conflict."""
    box = outbox()
    box.load([], [base(seen("v1").sha256)])
    box.observe(WATCH, {"a.css": seen("mine")}, T0)
    [sent] = box.next_batch(ACCOUNT, T0, 5)
    view = RemoteView(meta_read=True, exists=True, version=THEIRS,
                      content_sha256=seen("theirs").sha256)
    box.on_guard(sent, box.guard_verdict(sent, view), view, T0)
    return box


def test_a_local_file_made_equal_to_the_remote_copy_ends_the_conflict() -> None:
    """Merging by hand until the local file equals the kept remote copy resolves it."""
    box = in_conflict()
    effects = box.observe(WATCH, {"a.css": seen("theirs")}, T0 + 1)
    assert [e.event for e in effects.events] == ["resolved"]
    assert box.conflicts(ACCOUNT) == []
    assert box.base(ACCOUNT)[remote("a.css")].remote == THEIRS


def test_a_save_held_by_a_conflict_is_told_once_per_content() -> None:
    """A save of new content to a path in conflict is not sent, and one `skipped` line
    says so with the command that decides it; the same content again says nothing, nor
    does a reconcile (its summary lists open conflicts)."""
    box = in_conflict()
    assert not box.observe(WATCH, {"a.css": seen("mine")}, T0 + 1).events
    said = box.observe(WATCH, {"a.css": seen("mine 2")}, T0 + 2)
    assert not said.upsert
    [line] = [e.fields for e in said.events if e.event == "skipped"]
    assert line["path"] == "a.css"
    assert "hubsync resolve a.css --keep local|remote" in str(line["reason"])
    assert not box.observe(WATCH, {"a.css": seen("mine 2")}, T0 + 3).events
    assert not box.observe(WATCH, {"a.css": seen("mine 3")}, T0 + 4, complete=True).events


VERSIONS = st.one_of(st.none(), st.builds(
    RemoteVersion, st.sampled_from([None, 1, 2]), st.sampled_from([None, "h1", "h2"]),
    st.sampled_from([None, 7001, 7002])))
CONTENTS = st.sampled_from([OLD, NEW, OTHER, UNKNOWN_CONTENT])


@given(op=st.sampled_from([OpKind.UPLOAD, OpKind.DELETE]),
       base_row=st.one_of(st.none(), st.builds(base, CONTENTS, VERSIONS)),
       remote_version=VERSIONS, remote_exists=st.booleans(),
       remote_content=st.sampled_from([OLD, NEW, OTHER]), prefer_local=st.booleans(),
       sent=st.sampled_from([None, OLD, OTHER, MAYBE_DELETED]))
def test_no_send_over_a_remote_version_hubsync_did_not_see(
        op: OpKind, base_row: SyncedFile | None, remote_version: RemoteVersion | None,
        remote_exists: bool, remote_content: str, prefer_local: bool,
        sent: str | None) -> None:
    """Whatever the base and the remote, feeding judge the reads it asks for: a SEND over
    an existing remote file happens only when the remote is the version hubsync recorded,
    holds the content hubsync synced or content an unrecorded send of its own may have
    put there (``sent_sha256``), is hubsync's own unknown write, or --prefer local said
    so on first contact; a remote that does not exist is never a conflict for a delete;
    every path ends in a verdict within a few reads."""
    entry = replace(upload() if op is OpKind.UPLOAD else delete(), sent_sha256=sent)
    view = RemoteView()
    for _ in range(6):
        verdict = judge(entry, base_row, view, prefer_local=prefer_local, user_id=7001)
        if verdict.step is Step.READ_LISTING:
            view = replace(view, listed=remote_exists)
        elif verdict.step is Step.READ_META:
            view = replace(view, meta_read=True, exists=remote_exists,
                           version=remote_version if remote_exists else None)
        elif verdict.step is Step.READ_CONTENT:
            assert remote_exists
            view = replace(view, content_sha256=remote_content)
        else:
            break
    else:
        raise AssertionError("no verdict after 6 reads")
    if verdict.step is Step.SEND and remote_exists:
        saw = view.content_sha256
        writer = remote_version.writer_user_id if remote_version else None
        if sent is not None and saw == sent and writer in (None, 7001):
            pass  # hubsync's own unrecorded write
        elif base_row is None:
            assert op is OpKind.UPLOAD
            assert prefer_local
            assert saw != entry.sha256
        elif base_row.sha256 == UNKNOWN_CONTENT:
            writer = remote_version.writer_user_id if remote_version else None
            assert writer in (None, 7001)
        else:
            assert same_version(base_row.remote, remote_version) or saw == base_row.sha256
    if not remote_exists and op is OpKind.DELETE:
        assert verdict.step is Step.DONE
    if verdict.step is Step.ADOPT:
        assert view.content_sha256 == entry.sha256
