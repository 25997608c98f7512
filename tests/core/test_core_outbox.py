"""The decision core's rules, one table test each (``hubsync.core.outbox.Outbox``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hubsync.core import retry
from hubsync.core.effects import UNKNOWN_CONTENT, Policy, Result, Seen
from hubsync.core.outbox import Outbox
from hubsync.model import OpKind, OutboxEntry, OutboxState
from tests.core.outbox_helpers import (
    ACCOUNT,
    KEEP,
    T0,
    WATCH,
    events,
    failed,
    ok,
    outbox,
    remote,
    seen,
    send_all,
    synced,
)

CSS = "css/main.css"
META = "modules/hero.module/meta.json"
MODULE_HTML = "modules/hero.module/module.html"
Outcome = retry.Outcome


def only(entries: list[OutboxEntry]) -> OutboxEntry:
    """The single entry of ``entries``."""
    assert len(entries) == 1, entries
    return entries[0]


# --- observing local content -------------------------------------------------------------


def test_first_sight_uploads() -> None:
    """A file never synced is owed as one upload of its content, due now."""
    box = outbox()
    fx = box.observe(WATCH, {CSS: seen("a")}, T0)
    entry = only(fx.upsert)
    assert (entry.op, entry.remote_path, entry.sha256, entry.due_s) == (
        OpKind.UPLOAD, remote(CSS), seen("a").sha256, T0)
    assert only(box.next_batch(ACCOUNT, T0, 5)) == entry


def test_unchanged_content_is_not_owed() -> None:
    """Seeing the synced content again owes nothing and writes nothing."""
    box = outbox()
    synced(box, {CSS: "a"})
    fx = box.observe(WATCH, {CSS: seen("a")}, T0)
    assert not fx.durable
    assert box.next_batch(ACCOUNT, T0, 5) == []
    assert not box.has_sendable(ACCOUNT)


def test_content_going_back_cancels() -> None:
    """Changed then changed back before sending: the entry is removed, nothing is sent."""
    box = outbox()
    synced(box, {CSS: "a"})
    box.observe(WATCH, {CSS: seen("b")}, T0)
    fx = box.observe(WATCH, {CSS: seen("a")}, T0 + 1)
    assert fx.remove == [(ACCOUNT, remote(CSS))]
    assert box.entries(ACCOUNT) == []
    assert box.next_batch(ACCOUNT, T0 + 1, 5) == []


def test_going_back_while_the_change_is_in_flight_sends_the_old_content_again() -> None:
    """b is in flight when the file goes back to a: after b lands, a is sent again, so
    the remote ends with what is on disk."""
    box = outbox()
    synced(box, {CSS: "a"})
    box.observe(WATCH, {CSS: seen("b")}, T0)
    b = only(box.next_batch(ACCOUNT, T0, 5))
    box.observe(WATCH, {CSS: seen("a")}, T0 + 1)
    box.on_result(b, ok(seen("b")), T0 + 2, jitter=0)
    again = only(box.next_batch(ACCOUNT, T0 + 2, 5))
    assert again.sha256 == seen("a").sha256
    box.on_result(again, ok(seen("a")), T0 + 3, jitter=0)
    assert box.synced_sha(ACCOUNT, remote(CSS)) == seen("a").sha256
    assert box.entries(ACCOUNT) == []


def test_newest_content_goes_next_after_the_one_in_flight() -> None:
    """A new save while the previous is in flight is not sent in parallel; it goes
    right after the first answer, and only the newest of several saves is sent."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("v1")}, T0)
    first = only(box.next_batch(ACCOUNT, T0, 5))
    box.observe(WATCH, {CSS: seen("v2")}, T0 + 1)
    box.observe(WATCH, {CSS: seen("v3")}, T0 + 2)
    assert box.next_batch(ACCOUNT, T0 + 2, 5) == []
    assert box.in_flight(ACCOUNT) == 1
    box.on_result(first, ok(seen("v1")), T0 + 3, jitter=0)
    second = only(box.next_batch(ACCOUNT, T0 + 3, 5))
    assert second.sha256 == seen("v3").sha256
    box.on_result(second, ok(seen("v3")), T0 + 4, jitter=0)
    assert box.synced_sha(ACCOUNT, remote(CSS)) == seen("v3").sha256
    assert box.entries(ACCOUNT) == []


def test_same_content_seen_twice_is_owed_once() -> None:
    """Observing the same new content twice keeps one entry and its queue place."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("a"), "b.css": seen("b")}, T0)
    fx = box.observe(WATCH, {CSS: seen("a")}, T0 + 5)
    assert not fx.durable
    assert [e.rel for e in box.entries(ACCOUNT)] == [CSS, "b.css"]
    assert box.entries(ACCOUNT)[0].enqueued_s == T0


def test_gone_file_deletes_only_with_delete_remote() -> None:
    """A synced file that is gone is owed a delete only when the watch deletes remotely."""
    keep = outbox()
    synced(keep, {CSS: "a"})
    kept = keep.observe(KEEP, {CSS: None}, T0)
    assert not kept.upsert  # no delete owed; only the base forgets the path
    assert keep.entries(ACCOUNT) == []
    delete = outbox()
    synced(delete, {CSS: "a"})
    entry = only(delete.observe(WATCH, {CSS: None}, T0).upsert)
    assert (entry.op, entry.state, entry.approved) == (OpKind.DELETE, OutboxState.PENDING,
                                                      False)


def test_gone_before_it_was_ever_synced_owes_nothing() -> None:
    """A file created and deleted before its upload: the pending upload is dropped and
    no delete is owed (the remote never had it)."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("a")}, T0)
    fx = box.observe(WATCH, {CSS: None}, T0 + 1)
    assert fx.remove == [(ACCOUNT, remote(CSS))]
    assert box.entries(ACCOUNT) == []


def test_reconcile_finds_synced_files_that_are_gone() -> None:
    """``complete=True``: a synced path missing from the whole-tree listing is gone."""
    box = outbox()
    synced(box, {CSS: "a", "b.css": "b"})
    fx = box.observe(WATCH, {CSS: seen("a")}, T0, complete=True)
    entry = only(fx.upsert)
    assert (entry.rel, entry.op) == ("b.css", OpKind.DELETE)


def test_deletes_go_first_then_upload_order_and_meta_before_its_module() -> None:
    """Within a batch: deletes, then a module's meta.json; the module's other files wait
    until meta.json is acknowledged."""
    box = outbox(Policy(allow_deletes=True))
    synced(box, {"old.css": "x"})
    box.observe(WATCH, {MODULE_HTML: seen("<p/>"), CSS: seen("a"), META: seen("{}"),
                        "old.css": None}, T0)
    batch = box.next_batch(ACCOUNT, T0, 10)
    assert [(e.op, e.rel) for e in batch] == [
        (OpKind.DELETE, "old.css"), (OpKind.UPLOAD, META), (OpKind.UPLOAD, CSS)]
    for entry in batch:
        box.on_result(entry, ok(seen("{}") if entry.rel == META else (
            seen("a") if entry.rel == CSS else None)), T0 + 1, jitter=0)
    assert [e.rel for e in box.next_batch(ACCOUNT, T0 + 1, 10)] == [MODULE_HTML]


# --- answers -------------------------------------------------------------------------------


def test_ok_records_the_base_and_logs_pushed() -> None:
    """A 2xx with the file unchanged: the base row is written, the entry removed, one
    ``pushed`` event with the attempt number."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("a")}, T0)
    sent = only(box.next_batch(ACCOUNT, T0, 5))
    fx = box.on_result(sent, ok(seen("a")), T0 + 1, jitter=0)
    assert len(fx.synced) == 1
    row = fx.synced[0]
    assert (row.remote_path, row.sha256, row.synced_s) == (remote(CSS), seen("a").sha256,
                                                           T0 + 1)
    assert fx.remove == [(ACCOUNT, remote(CSS))]
    assert [e["attempt"] for e in events(fx, "pushed")] == [1]
    assert box.totals(ACCOUNT) == (1, 0)


@pytest.mark.parametrize("after", [seen("changed"), None], ids=["changed", "gone"])
def test_changed_during_upload_reprobes_and_records_nothing_synced(after: Seen | None) -> None:
    """The file changed (or vanished) while uploading: what arrived is unknown, so the
    content is not recorded as synced (the base row says UNKNOWN_CONTENT, no ``pushed``
    event); the path is looked at again and the sent entry dropped."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("a")}, T0)
    sent = only(box.next_batch(ACCOUNT, T0, 5))
    fx = box.on_result(sent, ok(after), T0 + 1, jitter=0)
    assert [(r.remote_path, r.sha256) for r in fx.synced] == [(remote(CSS), UNKNOWN_CONTENT)]
    assert fx.reprobe == [(WATCH.name, CSS)]
    assert box.synced_sha(ACCOUNT, remote(CSS)) == UNKNOWN_CONTENT
    assert box.entries(ACCOUNT) == []
    assert events(fx, "pushed") == []
    assert box.totals(ACCOUNT) == (0, 0)


def test_changed_during_upload_then_back_to_the_synced_content_is_sent_again() -> None:
    """Synced a; b is uploaded while the file goes back to a. b (or a mix) may now be
    remote, so a is sent again: the remote must not keep b while the disk has a."""
    box = outbox()
    synced(box, {CSS: "a"})
    box.observe(WATCH, {CSS: seen("b")}, T0)
    sent = only(box.next_batch(ACCOUNT, T0, 5))
    fx = box.on_result(sent, ok(seen("a")), T0 + 1, jitter=0)
    assert fx.reprobe == [(WATCH.name, CSS)]
    box.observe(WATCH, {CSS: seen("a")}, T0 + 1)
    again = only(box.next_batch(ACCOUNT, T0 + 1, 5))
    assert again.sha256 == seen("a").sha256
    box.on_result(again, ok(seen("a")), T0 + 2, jitter=0)
    assert box.synced_sha(ACCOUNT, remote(CSS)) == seen("a").sha256


def test_first_upload_of_a_file_deleted_meanwhile_is_deleted_remotely() -> None:
    """A new file vanishes during its first upload: it may now exist remotely, so the
    reprobe that finds it gone owes a delete (nothing is left behind)."""
    box = outbox(Policy(allow_deletes=True))
    box.observe(WATCH, {CSS: seen("a")}, T0)
    sent = only(box.next_batch(ACCOUNT, T0, 5))
    box.on_result(sent, ok(None), T0 + 1, jitter=0)
    box.observe(WATCH, {CSS: None}, T0 + 1)
    delete = only(box.next_batch(ACCOUNT, T0 + 1, 5))
    assert (delete.op, delete.rel) == (OpKind.DELETE, CSS)


@pytest.mark.parametrize("outcome", [Outcome.TRANSIENT, Outcome.UNEXPECTED])
def test_an_uncertain_failure_then_a_revert_sends_the_old_content(
        outcome: retry.Outcome) -> None:
    """Synced a; b fails with a 5xx (which may have been stored) and the file goes back
    to a: a is sent, since the remote may hold b."""
    box = outbox()
    synced(box, {CSS: "a"})
    box.observe(WATCH, {CSS: seen("b")}, T0)
    sent = only(box.next_batch(ACCOUNT, T0, 5))
    box.on_result(sent, failed(outcome, "503"), T0 + 1, jitter=0)
    assert box.synced_sha(ACCOUNT, remote(CSS)) == UNKNOWN_CONTENT
    box.observe(WATCH, {CSS: seen("a")}, T0 + 2)
    assert only(box.next_batch(ACCOUNT, T0 + 2, 5)).sha256 == seen("a").sha256


def test_changed_during_upload_keeps_a_newer_want() -> None:
    """If the new content was already observed while the upload ran, that entry stays
    and goes next (the reprobe does not lose it)."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("a")}, T0)
    sent = only(box.next_batch(ACCOUNT, T0, 5))
    box.observe(WATCH, {CSS: seen("b")}, T0 + 0.5)
    box.on_result(sent, ok(seen("b")), T0 + 1, jitter=0)
    assert only(box.next_batch(ACCOUNT, T0 + 1, 5)).sha256 == seen("b").sha256


def test_validation_parks_until_the_content_changes() -> None:
    """A 400 parks the entry: not sent again, not retried, until new content is seen."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("bad")}, T0)
    sent = only(box.next_batch(ACCOUNT, T0, 5))
    fx = box.on_result(sent, failed(Outcome.VALIDATION, "unclosed tag", status=400), T0,
                       jitter=0)
    assert only(fx.upsert).state is OutboxState.PARKED
    assert [e["error"] for e in events(fx, "failed")] == ["unclosed tag"]
    assert box.next_batch(ACCOUNT, T0 + 3600, 5) == []
    assert not box.has_sendable(ACCOUNT)
    assert box.next_wake(ACCOUNT, T0) is None
    assert not box.observe(WATCH, {CSS: seen("bad")}, T0 + 10).durable
    box.observe(WATCH, {CSS: seen("fixed")}, T0 + 20)
    again = only(box.next_batch(ACCOUNT, T0 + 20, 5))
    assert (again.sha256, again.state, again.attempts) == (seen("fixed").sha256,
                                                           OutboxState.PENDING, 0)


def test_unexpected_error_parks_after_the_attempt_limit() -> None:
    """An unexpected error is retried with backoff, then parked at
    ``unexpected_max_attempts``: never a retry loop."""
    box = outbox(Policy(unexpected_max_attempts=3))
    box.observe(WATCH, {CSS: seen("a")}, T0)
    now = T0
    states = []
    for _ in range(3):
        sent = only(box.next_batch(ACCOUNT, now, 5))
        fx = box.on_result(sent, failed(Outcome.UNEXPECTED, "bad header"), now, jitter=0)
        entry = only(fx.upsert)
        states.append((entry.state, entry.attempts))
        if entry.state is OutboxState.PENDING:
            assert entry.due_s > now
            now = entry.due_s
    assert states == [(OutboxState.PENDING, 1), (OutboxState.PENDING, 2),
                      (OutboxState.PARKED, 3)]
    assert box.next_batch(ACCOUNT, now + 3600, 5) == []


def test_transient_failures_back_off_and_push_gives_up_after_its_limit() -> None:
    """5xx: retried at growing delays; with ``give_up_after`` the entry stops being sent
    in this session but stays pending for the next run; ``reschedule_all`` revives it."""
    box = outbox(Policy(give_up_after=3))
    box.observe(WATCH, {CSS: seen("a")}, T0)
    now, delays = T0, []
    for attempt in range(1, 4):
        sent = only(box.next_batch(ACCOUNT, now, 5))
        fx = box.on_result(sent, failed(Outcome.TRANSIENT, "503", status=503), now,
                           jitter=1.0)
        entry = only(fx.upsert)
        assert entry.attempts == attempt
        delays.append(entry.due_s - now)
        now = entry.due_s
    assert delays == sorted(delays)
    assert delays[0] < delays[-1]
    assert [str(e["note"]).split(";")[0] for e in events(fx, "failed")] == [
        "gave up after 3 attempts"]
    assert [e.rel for e in box.gave_up(ACCOUNT)] == [CSS]
    assert box.count(ACCOUNT, OutboxState.PENDING) == 1
    assert not box.has_sendable(ACCOUNT)
    assert box.next_batch(ACCOUNT, now + 3600, 5) == []
    box.reschedule_all(ACCOUNT, now)
    assert only(box.next_batch(ACCOUNT, now, 5)).rel == CSS


def test_rate_limited_waits_for_retry_after() -> None:
    """A 429 with Retry-After 30 is not sent again before 30 s; ``next_wake`` says when."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("a")}, T0)
    sent = only(box.next_batch(ACCOUNT, T0, 5))
    box.on_result(sent, failed(Outcome.RATE_LIMITED, "429", retry_after_s=30.0), T0,
                  jitter=0)
    assert box.next_batch(ACCOUNT, T0 + 29.9, 5) == []
    assert box.next_wake(ACCOUNT, T0) == pytest.approx(T0 + 30)
    assert only(box.next_batch(ACCOUNT, T0 + 30, 5)).rel == CSS


def test_token_expired_retries_at_once() -> None:
    """401 expired on the first attempt: retried immediately (the token is refreshed)."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("a")}, T0)
    sent = only(box.next_batch(ACCOUNT, T0, 5))
    box.on_result(sent, failed(Outcome.TOKEN_EXPIRED, "expired"), T0, jitter=0)
    assert only(box.next_batch(ACCOUNT, T0, 5)).attempts == 1


@pytest.mark.parametrize("outcome", [Outcome.FORBIDDEN, Outcome.AUTH])
def test_a_refused_key_blocks_the_account(outcome: retry.Outcome) -> None:
    """403 or a refused key: the account is blocked (with the error), the entry stays
    pending and due, and its attempt count does not grow."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("a")}, T0)
    sent = only(box.next_batch(ACCOUNT, T0, 5))
    fx = box.on_result(sent, failed(outcome, "missing scope"), T0 + 1, jitter=0)
    assert fx.block == [(ACCOUNT, "missing scope")]
    entry = only(fx.upsert)
    assert (entry.state, entry.attempts, entry.due_s) == (OutboxState.PENDING, 0, T0 + 1)


def test_failure_of_a_superseded_upload_sends_the_newer_content_next() -> None:
    """v1 fails while v2 was saved: v1's failure is not retried or parked, v2 goes now."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("v1")}, T0)
    sent = only(box.next_batch(ACCOUNT, T0, 5))
    box.observe(WATCH, {CSS: seen("v2")}, T0 + 1)
    fx = box.on_result(sent, failed(Outcome.VALIDATION, "bad"), T0 + 2, jitter=0)
    assert events(fx, "failed") == []
    nxt = only(box.next_batch(ACCOUNT, T0 + 2, 5))
    assert (nxt.sha256, nxt.state) == (seen("v2").sha256, OutboxState.PENDING)


def test_not_found_on_delete_is_success() -> None:
    """A 404 answering a delete: the file is gone either way; base row removed."""
    box = outbox(Policy(allow_deletes=True))
    synced(box, {CSS: "a"})
    box.observe(WATCH, {CSS: None}, T0)
    sent = only(box.next_batch(ACCOUNT, T0, 5))
    fx = box.on_result(sent, failed(Outcome.NOT_FOUND, "404", status=404), T0 + 1, jitter=0)
    assert fx.unsynced == [(ACCOUNT, remote(CSS))]
    assert box.base(ACCOUNT) == {}
    assert len(events(fx, "deleted")) == 1
    assert box.totals(ACCOUNT) == (0, 1)


def test_not_found_on_upload_is_retried() -> None:
    """A 404 answering an upload is not success: it is retried later."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("a")}, T0)
    sent = only(box.next_batch(ACCOUNT, T0, 5))
    fx = box.on_result(sent, failed(Outcome.NOT_FOUND, "404"), T0, jitter=0)
    assert only(fx.upsert).due_s > T0
    assert box.synced_sha(ACCOUNT, remote(CSS)) is None


def test_folder_delete_unsyncs_everything_under_it() -> None:
    """A folder delete removes the base rows of every file under it."""
    box = outbox(Policy(allow_deletes=True))
    synced(box, {"a/x.css": "x", "a/y.css": "y", "b.css": "b"})
    entry = OutboxEntry(ACCOUNT, remote("a"), WATCH.name, "a", OpKind.DELETE, folder=True,
                        approved=True, due_s=T0)
    box.load([entry], [])
    sent = only(box.next_batch(ACCOUNT, T0, 5))
    fx = box.on_result(sent, Result(Outcome.OK, status=204), T0, jitter=0)
    assert sorted(fx.unsynced) == [(ACCOUNT, remote("a/x.css")), (ACCOUNT, remote("a/y.css"))]
    assert list(box.base(ACCOUNT)) == [remote("b.css")]


# --- holds, dispatch, loading -------------------------------------------------------------


def held_box() -> tuple[Outbox, list[str]]:
    """An outbox holding 25 deletes (over the default limit of 20)."""
    box = outbox()
    files = {f"f{i:02}.css": str(i) for i in range(100)}
    synced(box, files)
    gone = sorted(files)[:25]
    box.observe(WATCH, dict.fromkeys(gone), T0)
    box.vet_deletes(ACCOUNT, T0 + 10)
    assert box.count(ACCOUNT, OutboxState.HELD) == 25
    return box, gone


def test_release_holds_sends_them() -> None:
    """``release_holds`` approves every held delete, due now; one ``released`` event."""
    box, gone = held_box()
    fx = box.release_holds(ACCOUNT, T0 + 20)
    assert [e["deletes"] for e in events(fx, "released")] == [25]
    sent = box.next_batch(ACCOUNT, T0 + 20, 100)
    assert sorted(e.rel for e in sent) == gone
    assert all(e.op is OpKind.DELETE for e in sent)


def test_discard_holds_forgets_them_and_their_base() -> None:
    """``discard_holds`` drops the held deletes and their base rows: the remote files
    stay, nothing is sent, and hubsync no longer tracks them."""
    box, gone = held_box()
    fx = box.discard_holds(ACCOUNT)
    assert sorted(p for _, p in fx.unsynced) == sorted(remote(r) for r in gone)
    assert [e["deletes"] for e in events(fx, "discarded")] == [25]
    assert box.entries(ACCOUNT) == []
    assert box.next_batch(ACCOUNT, T0 + 20, 100) == []
    assert len(box.base(ACCOUNT)) == 75


def test_holds_of_an_unknown_account_are_a_key_error() -> None:
    """Releasing for an account the outbox does not know raises KeyError."""
    with pytest.raises(KeyError):
        outbox().release_holds("nobody", T0)


def test_reschedule_all_makes_backed_off_entries_due_now() -> None:
    """After an outage, every pending entry waiting for its backoff is due at once."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("a"), "b.css": seen("b")}, T0)
    for sent in box.next_batch(ACCOUNT, T0, 5):
        box.on_result(sent, failed(Outcome.TRANSIENT, "503"), T0, jitter=1.0)
    assert box.next_batch(ACCOUNT, T0, 5) == []
    box.reschedule_all(ACCOUNT, T0)
    assert sorted(e.rel for e in box.next_batch(ACCOUNT, T0, 5)) == ["b.css", CSS]


def test_next_batch_respects_the_limit_and_one_request_per_path() -> None:
    """At most ``limit`` entries; an in-flight path is never handed out again."""
    box = outbox()
    box.observe(WATCH, {f"f{i}.css": seen(str(i)) for i in range(5)}, T0)
    assert box.next_batch(ACCOUNT, T0, 0) == []
    first = box.next_batch(ACCOUNT, T0, 2)
    second = box.next_batch(ACCOUNT, T0, 10)
    assert len(first) == 2
    assert len(second) == 3
    assert not {e.rel for e in first} & {e.rel for e in second}
    assert box.next_batch(ACCOUNT, T0, 10) == []
    assert box.in_flight(ACCOUNT) == 5


def test_load_restores_entries_and_base() -> None:
    """Rows of the last session come back in send order; unknown accounts are ignored."""
    box = outbox()
    later = OutboxEntry(ACCOUNT, remote("b.css"), WATCH.name, "b.css", OpKind.UPLOAD,
                        sha256=seen("b").sha256, size=1, enqueued_s=T0 + 1)
    earlier = replace(later, remote_path=remote("a.css"), rel="a.css", enqueued_s=T0)
    stranger = replace(earlier, account="other")
    box.load([later, earlier, stranger], [])
    assert [e.rel for e in box.entries(ACCOUNT)] == ["a.css", "b.css"]
    assert [e.rel for e in send_all(box, T0 + 2)] == ["a.css", "b.css"]
    assert box.synced_sha(ACCOUNT, remote("a.css")) == seen("b").sha256


@pytest.mark.parametrize("outcome", [Outcome.RATE_LIMITED, Outcome.VALIDATION,
                                     Outcome.FORBIDDEN, Outcome.TOKEN_EXPIRED])
def test_a_refused_request_superseded_by_the_synced_content_sends_nothing(
        outcome: retry.Outcome) -> None:
    """Synced a; the file is deleted, the delete is sent, the file comes back as a, and
    the delete is refused (4xx: not applied). The remote still has a: nothing is owed."""
    box = outbox(Policy(allow_deletes=True))
    synced(box, {CSS: "a"})
    box.observe(WATCH, {CSS: None}, T0)
    delete = only(box.next_batch(ACCOUNT, T0, 5))
    box.observe(WATCH, {CSS: seen("a")}, T0 + 1)
    box.on_result(delete, failed(outcome, "refused"), T0 + 2, jitter=0)
    assert box.entries(ACCOUNT) == []
    assert box.next_batch(ACCOUNT, T0 + 3600, 5) == []
    assert box.synced_sha(ACCOUNT, remote(CSS)) == seen("a").sha256


def test_an_uncertain_delete_superseded_by_the_synced_content_uploads_it() -> None:
    """Same, but the delete timed out (it may have removed the file): a is uploaded."""
    box = outbox(Policy(allow_deletes=True))
    synced(box, {CSS: "a"})
    box.observe(WATCH, {CSS: None}, T0)
    delete = only(box.next_batch(ACCOUNT, T0, 5))
    box.observe(WATCH, {CSS: seen("a")}, T0 + 1)
    box.on_result(delete, failed(Outcome.TRANSIENT, "timeout"), T0 + 2, jitter=0)
    upload = only(box.next_batch(ACCOUNT, T0 + 2, 5))
    assert (upload.op, upload.sha256) == (OpKind.UPLOAD, seen("a").sha256)


def test_next_wake_follows_every_change_while_it_answers_from_memory() -> None:
    """``next_wake`` (asked after every answer, remembered between changes) is the same
    as a fresh look: a new retry time, time passing it, a reschedule and a clock going
    back each give the right answer."""
    box = outbox()
    box.observe(WATCH, {CSS: seen("a"), "b.css": seen("b")}, T0)
    first, second = box.next_batch(ACCOUNT, T0, 5)
    assert box.next_wake(ACCOUNT, T0) is None
    box.on_result(first, failed(Outcome.RATE_LIMITED, "429", retry_after_s=30.0), T0,
                  jitter=0)
    assert box.next_wake(ACCOUNT, T0) == pytest.approx(T0 + 30)
    assert box.next_wake(ACCOUNT, T0 + 10) == pytest.approx(T0 + 30)
    box.on_result(second, failed(Outcome.RATE_LIMITED, "429", retry_after_s=5.0), T0 + 10,
                  jitter=0)
    assert box.next_wake(ACCOUNT, T0 + 10) == pytest.approx(T0 + 15)
    assert box.next_wake(ACCOUNT, T0 + 16) == pytest.approx(T0 + 30)
    assert box.next_wake(ACCOUNT, T0 + 11) == pytest.approx(T0 + 15)  # clock went back
    assert box.next_wake(ACCOUNT, T0 + 31) is None
    box.on_result(only(box.next_batch(ACCOUNT, T0 + 31, 1)),
                  failed(Outcome.RATE_LIMITED, "429", retry_after_s=60.0), T0 + 31, jitter=0)
    assert box.next_wake(ACCOUNT, T0 + 31) is not None
    box.reschedule_all(ACCOUNT, T0 + 32)
    assert box.next_wake(ACCOUNT, T0 + 32) is None


def test_an_entry_is_sent_only_after_the_state_wrote_its_row() -> None:
    """With ``write_before_send`` (the engine's default) nothing goes out before
    ``written`` reports the row; a newer want written later waits for its own write."""
    box = Outbox([ACCOUNT], Policy())
    first = box.observe(WATCH, {CSS: seen("a")}, T0)
    assert box.next_batch(ACCOUNT, T0, 5) == []
    newer = box.observe(WATCH, {CSS: seen("b")}, T0)
    box.written(first.upsert)
    assert box.next_batch(ACCOUNT, T0, 5) == []
    box.written(newer.upsert)
    assert only(box.next_batch(ACCOUNT, T0, 5)).sha256 == seen("b").sha256


def test_a_local_delete_without_delete_remote_is_said_once_and_keeps_the_remote() -> None:
    """``delete_remote = false``: no delete is owed, one ``skipped`` line says the remote
    copy stays, and a later reconcile says nothing more (the path is no longer tracked)."""
    box = outbox()
    synced(box, {CSS: "a"})
    fx = box.observe(KEEP, {CSS: None}, T0)
    assert not fx.upsert
    assert [e["reason"] for e in events(fx, "skipped")] == [
        "deleted here; delete_remote is off for this watch, so the remote copy stays"]
    assert fx.unsynced == [(ACCOUNT, remote(CSS))]
    again = box.observe(KEEP, {}, T0 + 600, complete=True)
    assert not again.events
    assert not again.upsert
