"""Upload order and the dispatch rule: one request per path, meta.json first."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hubsync.core.ordering import PendingItem, dispatchable, upload_order
from hubsync.core.paths import module_meta_of, overlaps
from hubsync.model import OpKind

UP, DEL = OpKind.UPLOAD, OpKind.DELETE


def test_upload_order_meta_first_referencing_json_last() -> None:
    """meta.json of every module first, theme.json/fields.json last, rest by path."""
    rels = ["theme.json", "m/b.module/module.html", "css/a.css", "m/b.module/meta.json",
            "m/b.module/fields.json", "m/a.module/meta.json", "templates/t.html"]
    assert upload_order(rels) == [
        "m/a.module/meta.json", "m/b.module/meta.json", "css/a.css",
        "m/b.module/module.html", "templates/t.html", "m/b.module/fields.json", "theme.json",
    ]


@given(st.permutations(["a.css", "x.module/meta.json", "x.module/y.html", "theme.json",
                        "b/fields.json", "y.module/meta.json"]))
def test_upload_order_is_deterministic(rels: list[str]) -> None:
    """Any input order gives the same output."""
    assert upload_order(rels) == upload_order(sorted(rels))


def _paths(items: list[PendingItem]) -> list[str]:
    return [item.rel for item in items]


def test_one_request_per_path() -> None:
    """A path in flight is not started again; duplicates in pending start once."""
    pending = [PendingItem("a.css", UP, "1"), PendingItem("a.css", UP, "2"),
               PendingItem("b.css", UP, "3")]
    assert _paths(dispatchable(pending, set(), {"a.css", "b.css"})) == ["a.css", "b.css"]
    assert _paths(dispatchable(pending, {"a.css"}, {"a.css", "b.css"})) == ["b.css"]


def test_module_files_wait_for_meta() -> None:
    """A module's files wait while its meta.json is pending or in flight."""
    pending = [PendingItem("m.module/module.html", UP, "1"),
               PendingItem("m.module/meta.json", UP, "2"), PendingItem("x.css", UP, "3")]
    paths = {item.rel for item in pending}
    assert _paths(dispatchable(pending, set(), paths)) == ["m.module/meta.json", "x.css"]
    rest = [pending[0], pending[2]]
    assert _paths(dispatchable(rest, {"m.module/meta.json"}, {"m.module/module.html",
                                                              "x.css"})) == ["x.css"]
    assert _paths(dispatchable(rest, set(), {"m.module/module.html", "x.css"})) == [
        "m.module/module.html", "x.css"]


def test_meta_not_yet_due_still_blocks() -> None:
    """A meta.json waiting for a retry (in pending_paths, not in pending) blocks too."""
    pending = [PendingItem("m.module/module.css", UP, "1")]
    assert dispatchable(pending, set(), {"m.module/module.css", "m.module/meta.json"}) == []


def test_module_file_delete_does_not_wait_for_meta() -> None:
    """Only uploads of module files wait for meta.json."""
    pending = [PendingItem("m.module/meta.json", UP, "1"), PendingItem("m.module/old.css", DEL)]
    assert _paths(dispatchable(pending, set(), {i.rel for i in pending})) == [
        "m.module/meta.json", "m.module/old.css"]


def test_folder_delete_waits_for_files_in_flight_and_vice_versa() -> None:
    """A folder delete and anything under it never run at the same time."""
    folder = PendingItem("old", DEL, folder=True)
    inner = PendingItem("old/a.css", UP, "1")
    assert dispatchable([folder], {"old/x.css"}, {"old"}) == []
    assert dispatchable([inner], {"old"}, {"old/a.css"}) == []
    assert _paths(dispatchable([folder, inner], set(), {"old", "old/a.css"})) == ["old"]
    assert _paths(dispatchable([inner, folder], set(), {"old", "old/a.css"})) == ["old/a.css"]
    assert _paths(dispatchable([folder], {"older/x.css"}, {"old"})) == ["old"]


def test_later_item_does_not_overtake_an_earlier_overlapping_one() -> None:
    """A blocked folder delete keeps later files under it waiting (order is intent)."""
    pending = [PendingItem("old", DEL, folder=True), PendingItem("old/new.css", UP, "1")]
    assert dispatchable(pending, {"old/x.css"}, {"old", "old/new.css"}) == []


def test_limit() -> None:
    """At most ``limit`` items are returned."""
    pending = [PendingItem(f"f{i}.css", UP, str(i)) for i in range(10)]
    assert len(dispatchable(pending, set(), {i.rel for i in pending}, limit=3)) == 3


ITEMS = st.lists(
    st.builds(
        PendingItem,
        rel=st.sampled_from(["a.module/meta.json", "a.module/x.html", "a.module/y.css",
                             "b.module/meta.json", "b.module/z.js", "c.css", "d/e.css", "d"]),
        op=st.sampled_from([UP, DEL]),
        sha256=st.sampled_from(["1", "2", None]),
    # "d" is a folder: only ever deleted as one.
    ).map(lambda item: PendingItem("d", DEL, None, folder=True) if item.rel == "d" else item),
    max_size=12,
)


@settings(max_examples=200)
@given(ITEMS, st.data())
def test_simulated_workers_acknowledge_meta_before_module_files(
        items: list[PendingItem], data: st.DataObject) -> None:
    """Driving dispatch to completion in any finishing order: no upload of a module file
    starts while that module's meta.json is queued or in flight (so meta.json is
    acknowledged first), no two overlapping requests are ever in flight, and every
    item is eventually sent exactly once."""
    queue = list(items)
    in_flight: list[PendingItem] = []
    acknowledged: list[PendingItem] = []
    started: list[PendingItem] = []
    for _ in range(200):
        if not queue and not in_flight:
            break
        new = dispatchable(queue, {i.rel for i in in_flight}, {i.rel for i in queue},
                           limit=data.draw(st.integers(1, 4)))
        for item in new:
            queue.remove(item)
            for other in in_flight:
                assert not overlaps(other.rel, item.rel)
            meta = module_meta_of(item.rel)
            if item.op is UP and meta is not None:
                assert not any(q.rel == meta for q in queue + in_flight)
            in_flight.append(item)
            started.append(item)
        if in_flight:
            done = in_flight.pop(data.draw(st.integers(0, len(in_flight) - 1)))
            acknowledged.append(done)
    assert not queue
    assert not in_flight
    assert sorted(map(repr, started)) == sorted(map(repr, items))
    assert len(acknowledged) == len(items)
