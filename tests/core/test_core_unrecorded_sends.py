"""The decision core after a process stopped with sends in flight: a loaded upload may
have reached the remote without a base row saying so (``OutboxEntry.sent_sha256``), and
remote files left in place on purpose are remembered across sessions (``left_remote``).
The end-to-end form, with a real SIGKILL between the server's write and its answer, is
``tests/e2e/test_e2e_unanswered_writes.py``."""

from __future__ import annotations

from hubsync.core.effects import MAYBE_DELETED
from hubsync.core.guard import RemoteView, Step, Verdict
from hubsync.model import OpKind, OutboxEntry
from tests.core.outbox_helpers import (
    ACCOUNT,
    KEEP,
    T0,
    WATCH,
    events,
    ok,
    outbox,
    remote,
    seen,
    seen_of,
    send_all,
    synced,
)

CSS = "css/main.css"


def loaded_upload(content: str) -> OutboxEntry:
    """An upload row of the last session, as the state returns it (no ``sent_sha256``)."""
    return OutboxEntry(ACCOUNT, remote(CSS), WATCH.name, CSS, OpKind.UPLOAD,
                       seen(content).sha256, seen(content).size, due_s=T0, enqueued_s=T0)


def test_a_loaded_upload_may_have_been_sent() -> None:
    """Every upload loaded from the state carries its own content as ``sent_sha256``:
    the process may have stopped after the server stored it."""
    box = outbox()
    box.load([loaded_upload("v1")], [])
    [entry] = box.entries(ACCOUNT)
    assert entry.sent_sha256 == seen("v1").sha256


def test_an_edit_after_the_stop_keeps_what_may_have_been_sent() -> None:
    """The file changed while hubsync was down: the new upload still names the content
    the last session may have put remotely, and writes it to the state (a second stop
    before it is sent must not lose it)."""
    box = outbox()
    box.load([loaded_upload("v1")], [])
    fx = box.observe(WATCH, {CSS: seen("v2")}, T0 + 5)
    [row] = fx.upsert
    assert (row.sha256, row.sent_sha256) == (seen("v2").sha256, seen("v1").sha256)


def test_a_delete_after_the_stop_deletes_what_may_have_been_sent() -> None:
    """The file was deleted while hubsync was down: a never-synced path whose upload may
    have landed is owed a delete (the guard sends it only over that content); without a
    possible send, nothing is owed, as before."""
    box = outbox()
    box.load([loaded_upload("v1")], [])
    fx = box.observe(WATCH, {CSS: None}, T0 + 5)
    [row] = fx.upsert
    assert (row.op, row.sent_sha256) == (OpKind.DELETE, seen("v1").sha256)
    fresh = outbox()
    fresh.observe(WATCH, {CSS: seen("v1")}, T0)
    assert not fresh.observe(WATCH, {CSS: None}, T0 + 5).upsert
    assert fresh.entries(ACCOUNT) == []


def test_back_to_the_synced_content_still_overwrites_what_may_have_been_sent() -> None:
    """Synced as v1, v2 in flight at the stop, the file back to v1 meanwhile: v1 is owed
    again (the remote may hold v2), not dropped as "unchanged"."""
    box = outbox()
    synced(box, {CSS: "v1"})
    box.load([loaded_upload("v2")], [])
    fx = box.observe(WATCH, {CSS: seen("v1")}, T0 + 5)
    [row] = fx.upsert
    assert (row.sha256, row.sent_sha256) == (seen("v1").sha256, seen("v2").sha256)


def test_a_loaded_approved_delete_may_have_been_applied() -> None:
    """An approved delete loaded from the state may have been applied before the stop
    (``MAYBE_DELETED``); re-creating the file carries that into its upload, even with the
    synced content (the remote may no longer have it). A held or unapproved delete was
    never sent, and carries nothing."""
    box = outbox()
    synced(box, {CSS: "v1", "b.css": "b"})
    gone = OutboxEntry(ACCOUNT, remote(CSS), WATCH.name, CSS, OpKind.DELETE, approved=True)
    unapproved = OutboxEntry(ACCOUNT, remote("b.css"), WATCH.name, "b.css", OpKind.DELETE)
    box.load([gone, unapproved], [])
    assert {e.rel: e.sent_sha256 for e in box.entries(ACCOUNT)} == {
        CSS: MAYBE_DELETED, "b.css": None}
    fx = box.observe(WATCH, {CSS: seen("v1")}, T0 + 5)
    [row] = fx.upsert
    assert (row.op, row.sha256, row.sent_sha256) == (
        OpKind.UPLOAD, seen("v1").sha256, MAYBE_DELETED)


def test_a_confirmed_send_forgets_the_unrecorded_one() -> None:
    """Once a send is answered, what the remote holds is known: a newer want queued
    behind it no longer carries the old ``sent_sha256``."""
    box = outbox()
    box.load([loaded_upload("v1")], [])
    [sent] = box.next_batch(ACCOUNT, T0, 5)
    box.observe(WATCH, {CSS: seen("v3")}, T0 + 1)
    box.on_result(sent, ok(seen_of(sent)), T0 + 2, jitter=0.0)
    [after] = box.entries(ACCOUNT)
    assert (after.sha256, after.sent_sha256) == (seen("v3").sha256, None)


def test_files_left_remote_are_remembered_across_sessions() -> None:
    """A local delete under ``delete_remote = false`` writes a ``left_remote`` row; a
    later session that loads it still knows the remote copy stays on purpose, until the
    path is synced again."""
    box = outbox()
    synced(box, {CSS: "v1"})
    fx = box.observe(KEEP, {CSS: None}, T0)
    assert fx.left_remote == [((ACCOUNT, remote(CSS)), T0)]
    assert events(fx, "skipped")
    later = outbox()
    later.load([], [], left_remote=[key for key, _ in fx.left_remote])
    assert later.left_remote(ACCOUNT, remote(CSS))
    later.observe(KEEP, {CSS: seen("v2")}, T0 + 10)
    send_all(later, T0 + 10)
    assert not later.left_remote(ACCOUNT, remote(CSS))


def test_discarded_holds_are_left_remote_durably() -> None:
    """``discard_holds`` writes a ``left_remote`` row per file it stops tracking."""
    box = outbox()
    synced(box, {f"css/f{i}.css": str(i) for i in range(8)})
    box.observe(WATCH, {f"css/f{i}.css": None for i in range(8)}, T0)
    box.vet_deletes(ACCOUNT, T0 + 60)
    fx = box.discard_holds(ACCOUNT, T0 + 61)
    assert sorted(path for (_, path), _ in fx.left_remote) == sorted(
        remote(f"css/f{i}.css") for i in range(8))
    assert all(left_s == T0 + 61 for _, left_s in fx.left_remote)


def test_a_delete_of_a_send_that_never_landed_is_dropped_silently() -> None:
    """The delete owed for a never-synced path whose upload may have landed finds the
    remote empty: the entry is dropped with no `deleted` line (nothing was deleted)."""
    box = outbox()
    box.load([loaded_upload("v1")], [])
    box.observe(WATCH, {CSS: None}, T0)
    box.vet_deletes(ACCOUNT, T0 + 60)
    [sent] = box.next_batch(ACCOUNT, T0 + 60, 5)
    view = RemoteView(meta_read=True, exists=False)
    verdict = box.guard_verdict(sent, view)
    assert verdict == Verdict(Step.DONE)
    effects = box.on_guard(sent, verdict, view, T0 + 61)
    assert not effects.events
    assert box.entries(ACCOUNT) == []
    assert effects.remove == [sent.key]
