"""The folder-delete rules of the decision core (``hubsync.core.folders``): which pending
deletes form a whole folder, when one folder delete may go, and what follows from its
answer. Table tests, one integration through ``Outbox`` (the brake counts files), and
Hypothesis properties: a folder delete is only ever decided over a listing equal to the
synced set, and a group always holds every synced file of its folder and nothing owed."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from hubsync.core import retry
from hubsync.core.effects import UNKNOWN_CONTENT, Policy, Result
from hubsync.core.folders import (
    FolderGroup,
    Listing,
    candidate_folders,
    decide,
    folder_results,
    whole_folders,
)
from hubsync.core.outbox import Outbox
from hubsync.core.paths import is_under
from hubsync.model import EngineEvent, OpKind, OutboxEntry, OutboxState
from tests.core.outbox_helpers import ACCOUNT, T0, WATCH, outbox, remote, seen, synced

HERO = ("modules/hero.module/meta.json", "modules/hero.module/module.html",
        "modules/hero.module/css/hero.css")


def delete(rel: str, watch: str = WATCH.name) -> OutboxEntry:
    """An approved, due per-file delete of ``rel`` under :data:`WATCH`."""
    return OutboxEntry(account=ACCOUNT, remote_path=remote(rel), watch=watch, rel=rel,
                       op=OpKind.DELETE, approved=True)


def gone(*rels: str) -> set[tuple[str, str]]:
    return {(WATCH.name, rel) for rel in rels}


def test_candidate_folders_are_every_folder_above_a_delete_but_the_root() -> None:
    """Each delete names the folders above it inside the watch; the root never."""
    found = candidate_folders([delete("modules/hero.module/css/hero.css"), delete("a.css")])
    assert found == gone("modules", "modules/hero.module", "modules/hero.module/css")


def test_a_folder_gone_locally_whose_every_synced_file_is_deleted_is_whole() -> None:
    """Every synced file of hero.module has a delete and the folder is gone: one group,
    the outermost whole folder (not its css/ sub-folder), holding all three."""
    [group] = whole_folders([delete(r) for r in HERO],
                            gone=gone("modules/hero.module", "modules/hero.module/css"),
                            base=[remote(r) for r in (*HERO, "css/main.css")])
    assert group.remote_folder == remote("modules/hero.module")
    assert group.rel == "modules/hero.module"
    assert group.synced == {remote(r) for r in HERO}


def test_the_outermost_gone_folder_is_taken_only_when_it_is_whole() -> None:
    """modules/ is gone too, but holds another synced file without a delete: hero.module
    is the group; with that file deleted as well, modules/ is."""
    other = "modules/card.module/meta.json"
    base = [remote(r) for r in (*HERO, other)]
    folders = gone("modules", "modules/hero.module", "modules/card.module")
    [inner] = whole_folders([delete(r) for r in HERO], gone=folders, base=base)
    assert inner.rel == "modules/hero.module"
    [outer] = whole_folders([delete(r) for r in (*HERO, other)], gone=folders, base=base)
    assert outer.rel == "modules"
    assert len(outer.entries) == 4


def test_nothing_is_whole_that_is_still_there_locally_owed_in_conflict_or_busy() -> None:
    """No group when the folder exists locally, a synced file under it has no delete, an
    upload or a request in flight is owed under it, a path under it is in conflict, or a
    folder delete over it is being worked on."""
    deletes = [delete(r) for r in HERO]
    base = [remote(r) for r in HERO]
    folder = gone("modules/hero.module")
    assert whole_folders(deletes, gone=set(), base=base) == []
    assert whole_folders(deletes[:2], gone=folder, base=base) == []
    new = remote("modules/hero.module/new.css")
    assert whole_folders(deletes, gone=folder, base=base, owed=[new]) == []
    assert whole_folders(deletes, gone=folder, base=base, conflicts=[base[0]]) == []
    assert whole_folders(deletes, gone=folder, base=base, busy=[remote("modules")]) == []
    assert len(whole_folders(deletes, gone=folder, base=base, owed=[remote("x.css")])) == 1


def test_deletes_of_two_watches_never_share_a_group() -> None:
    """A folder whose deletes belong to two watches is not one watch's removal."""
    deletes = [delete(HERO[0]), delete(HERO[1], watch="other"), delete(HERO[2])]
    folder = gone("modules/hero.module")
    assert whole_folders(deletes, gone=folder, base=[remote(r) for r in HERO]) == []


def _group() -> FolderGroup:
    return FolderGroup(ACCOUNT, WATCH.name, "modules/hero.module",
                       remote("modules/hero.module"), tuple(delete(r) for r in HERO))


def test_one_folder_delete_only_over_exactly_the_synced_files_all_sendable() -> None:
    """decide: yes for a listing equal to the synced set with every file sendable; no
    for a failed listing, a teammate's file, a file missing remotely, a file the guard
    would not delete, or a file it never judged."""
    group = _group()
    synced_set = group.synced
    every = dict.fromkeys(synced_set, True)
    assert decide(group, Listing(synced_set), every)
    assert decide(group, Listing(synced_set, frozenset({remote("modules/hero.module/x")})),
                  every)  # an empty sub-folder holds nothing
    assert not decide(group, None, every)
    assert not decide(group, Listing(synced_set | {remote("modules/hero.module/b.css")}),
                      every)
    assert not decide(group, Listing(synced_set - {remote(HERO[0])}), every)
    assert not decide(group, Listing(synced_set), {**every, remote(HERO[1]): False})
    assert not decide(group, Listing(synced_set), {remote(HERO[0]): True})


def test_a_folder_delete_answer_is_every_files_answer() -> None:
    """folder_results: one result per file, the same outcome, marked via the folder."""
    group = _group()
    answer = Result(retry.Outcome.OK, status=204, correlation_id="c-1",
                    fields={"duration_ms": 5})
    results = folder_results(group, answer)
    assert [e for e, _ in results] == list(group.entries)
    for _, each in results:
        assert each.outcome is retry.Outcome.OK
        assert each.status == 204
        assert each.fields == {"duration_ms": 5, "via": "folder",
                               "remote_folder": remote("modules/hero.module")}


def _removed_folder(files: int, policy: Policy) -> tuple[list[str], Outbox]:
    rels = [f"images/icons/i{n:02d}.svg" for n in range(files)]
    box = outbox(policy)
    synced(box, dict.fromkeys([*rels, "theme.json"], "x"))
    box.observe(WATCH, dict.fromkeys(rels), T0)
    return rels, box


def test_the_brake_counts_a_folder_delete_as_its_files() -> None:
    """60 files of one folder with max_deletes 50: the batch is held (60 counted, not one
    request); released, they form ONE group; its OK answer unsyncs all 60, logs 60
    `deleted` lines, and the ledger counts 60 files, so one more delete is held."""
    rels, box = _removed_folder(60, Policy(max_deletes=50, delete_settle_s=0.0))
    held = box.vet_deletes(ACCOUNT, T0)
    [event] = [e for e in held.events if e.event == "held"]
    assert event.fields["deletes"] == 60
    assert "more than 50 files" in event.fields["reason"]
    box.release_holds(ACCOUNT, T0)
    [group] = box.take_folders(ACCOUNT, T0, gone("images", "images/icons"))
    assert group.rel == "images"
    assert len(group.entries) == 60
    assert box.next_batch(ACCOUNT, T0, 10) == []  # all in flight with the group
    events: list[EngineEvent] = []
    for entry, each in folder_results(group, Result(retry.Outcome.OK, status=204)):
        events.extend(box.on_result(entry, each, T0, jitter=0.0).events)
    box.folder_done(group)
    assert sorted(e.fields["path"] for e in events if e.event == "deleted") == rels
    assert set(box.base(ACCOUNT)) == {remote("theme.json")}
    assert box.totals(ACCOUNT) == (0, 60)
    box.observe(WATCH, {"theme.json": None}, T0 + 1)
    again = box.vet_deletes(ACCOUNT, T0 + 1)
    [more] = [e for e in again.events if e.event == "held"]
    assert "60 deleted or approved before them" in more.fields["reason"]


def test_nothing_under_a_busy_folder_is_dispatched_until_it_is_done() -> None:
    """While a group is worked on, an upload of a new file under its folder waits (it
    must not land before the folder delete); after folder_done it goes."""
    _rels, box = _removed_folder(3, Policy(allow_deletes=True))
    [group] = box.take_folders(ACCOUNT, T0, gone("images", "images/icons"))
    box.observe(WATCH, {"images/icons/new.svg": seen("new")}, T0)
    assert box.next_batch(ACCOUNT, T0, 10) == []
    for entry, each in folder_results(group, Result(retry.Outcome.OK, status=204)):
        box.on_result(entry, each, T0, jitter=0.0)
    box.folder_done(group)
    [upload] = box.next_batch(ACCOUNT, T0, 10)
    assert (upload.op, upload.rel) == (OpKind.UPLOAD, "images/icons/new.svg")


def test_an_uncertain_folder_delete_leaves_each_file_unknown_and_owed() -> None:
    """A 503 on the folder delete: it may have applied. Each file's base becomes unknown
    content and its delete is retried later, one by one (the guard reads it first)."""
    _rels, box = _removed_folder(3, Policy(allow_deletes=True))
    [group] = box.take_folders(ACCOUNT, T0, gone("images"))
    failure = Result(retry.Outcome.TRANSIENT, status=503, error="Service Unavailable")
    for entry, each in folder_results(group, failure):
        box.on_result(entry, each, T0, jitter=0.0)
    box.folder_done(group)
    base = box.base(ACCOUNT)
    assert all(base[e.remote_path].sha256 == UNKNOWN_CONTENT for e in group.entries)
    owed = [e for e in box.entries(ACCOUNT) if e.op is OpKind.DELETE]
    assert len(owed) == 3
    assert all(e.attempts == 1 and e.due_s > T0 for e in owed)
    assert box.take_folders(ACCOUNT, T0, gone("images")) == []  # not due yet


# --- properties -------------------------------------------------------------------------

NAMES = ("a", "b", "c")
paths = st.lists(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3).map(
    lambda parts: "f/" + "/".join(parts) + ".css"), max_size=8, unique=True)


@given(paths, paths, st.dictionaries(st.sampled_from(NAMES), st.booleans()))
def test_a_folder_delete_is_only_decided_over_a_listing_equal_to_the_synced_set(
        synced_rels: list[str], listed_rels: list[str], verdicts: dict[str, bool]) -> None:
    """For any synced set, listing and guard verdicts: decide says yes only when the
    listing's files equal the synced set and the guard would delete every file."""
    entries = tuple(delete(r) for r in synced_rels)
    group = FolderGroup(ACCOUNT, WATCH.name, "f", remote("f"), entries)
    listing = Listing(frozenset(remote(r) for r in listed_rels))
    sendable = {e.remote_path: verdicts.get(e.rel.split("/")[1].removesuffix(".css"), True)
                for e in entries}
    if decide(group, listing, sendable):
        assert listing.files == group.synced
        assert all(sendable[p] for p in group.synced)


@given(paths, paths, paths, paths, st.sets(st.sampled_from(
    ("f", "f/a", "f/b", "f/c", "f/a/b", "f/b/a"))))
def test_a_group_holds_every_synced_file_of_its_folder_and_nothing_owed(
        base_rels: list[str], delete_rels: list[str], owed_rels: list[str],
        conflict_rels: list[str], gone_rels: set[str]) -> None:
    """For any base, deletes, owed paths, conflicts and local absences: each group's
    folder is gone locally, its entries are exactly the synced files under it, nothing
    owed or in conflict lies under it, and no delete is in two groups."""
    deletes = [delete(r) for r in delete_rels if r in base_rels]
    groups = whole_folders(deletes, gone=gone(*gone_rels),
                           base=[remote(r) for r in base_rels],
                           owed=[remote(r) for r in owed_rels if r not in delete_rels],
                           conflicts=[remote(r) for r in conflict_rels])
    seen_paths: set[str] = set()
    for group in groups:
        folder = group.remote_folder
        assert group.rel in gone_rels
        under = {remote(r) for r in base_rels if is_under(remote(r), folder)}
        assert group.synced == under
        assert not any(is_under(remote(r), folder) for r in (*owed_rels, *conflict_rels)
                       if r not in delete_rels or r in conflict_rels)
        assert not seen_paths & group.synced
        seen_paths |= group.synced


def test_only_sendable_deletes_are_taken() -> None:
    """take_folders ignores deletes not approved, held, not yet due, or in flight."""
    _rels, box = _removed_folder(2, Policy())
    assert box.take_folders(ACCOUNT, T0, gone("images")) == []  # not approved yet
    _rels, box = _removed_folder(2, Policy(allow_deletes=True))
    entries = box.entries(ACCOUNT)
    later = [replace(e, due_s=T0 + 60) for e in entries]
    box.load(later, [])
    assert box.take_folders(ACCOUNT, T0, gone("images")) == []
    assert all(e.state is OutboxState.PENDING for e in box.entries(ACCOUNT))
