"""The planner: uploads, collapsed deletes and the safety brake."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hubsync.core.paths import is_under
from hubsync.core.plan import Delete, plan

A, B, C = "a" * 64, "b" * 64, "c" * 64


def test_first_run_uploads_everything_once() -> None:
    """A file never pushed counts as changed."""
    result = plan({"x.css": A, "t/home.html": B}, {}, delete_remote=True)
    assert sorted(result.uploads) == ["t/home.html", "x.css"]
    assert result.unchanged == 0
    assert result.deletes == ()


def test_restart_with_nothing_changed_uploads_nothing() -> None:
    """Equal hashes mean no work."""
    result = plan({"x.css": A, "y.css": B}, {"x.css": A, "y.css": B}, delete_remote=True)
    assert result.is_empty
    assert result.unchanged == 2


def test_changed_content_is_uploaded() -> None:
    """A different hash is an upload; the equal one stays unchanged."""
    result = plan({"x.css": A, "y.css": C}, {"x.css": A, "y.css": B}, delete_remote=False)
    assert result.uploads == ("y.css",)
    assert result.unchanged == 1


def test_deletes_only_with_delete_remote() -> None:
    """Without delete_remote a vanished file is left alone remotely."""
    result = plan({}, {"x.css": A}, delete_remote=False)
    assert result.deletes == ()
    assert result.held_deletes == ()


def test_vanished_folder_collapses_into_one_delete() -> None:
    """Every file under a folder with no local file left becomes ONE folder delete."""
    pushed = {f"old/sub/f{i}.css": A for i in range(3)} | {"old/g.css": A, "keep.css": B}
    pushed |= {f"k{i}.css": B for i in range(20)}
    result = plan({"keep.css": B} | {f"k{i}.css": B for i in range(20)}, pushed,
                  delete_remote=True)
    assert result.deletes == (Delete("old", folder=True),)
    assert result.deleted_files == 4


def test_folder_with_a_surviving_file_is_not_deleted() -> None:
    """A folder that still holds a local file gets per-file (or subfolder) deletes."""
    local = {"t/keep.html": A} | {f"z{i}.css": B for i in range(20)}
    pushed = local | {"t/gone.html": A, "t/old/a.css": A, "t/old/b.css": A}
    result = plan(local, pushed, delete_remote=True)
    assert set(result.deletes) == {Delete("t/gone.html"), Delete("t/old", folder=True)}


def test_single_file_in_vanished_folder_is_a_file_delete() -> None:
    """One gone file alone is deleted as a file, not by deleting its folder."""
    local = {f"z{i}.css": B for i in range(20)}
    result = plan(local, local | {"only/one.css": A}, delete_remote=True)
    assert result.deletes == (Delete("only/one.css"),)


def test_brake_more_than_max_deletes() -> None:
    """More than max_deletes files in one batch are held with a reason naming the fix."""
    keep = {f"keep{i}.css": A for i in range(200)}
    pushed = keep | {f"gone{i}.css": A for i in range(21)}
    result = plan(keep, pushed, delete_remote=True)
    assert result.deletes == ()
    assert len(result.held_deletes) == 21
    assert result.hold_reason is not None
    assert "--allow-deletes" in result.hold_reason
    assert "more than 20" in result.hold_reason


def test_brake_exactly_max_deletes_passes() -> None:
    """max_deletes itself is allowed (the brake is "more than")."""
    keep = {f"keep{i}.css": A for i in range(200)}
    pushed = keep | {f"gone{i}.css": A for i in range(20)}
    assert len(plan(keep, pushed, delete_remote=True).deletes) == 20


def test_brake_more_than_a_quarter_of_the_tree() -> None:
    """Deleting over a quarter of the pushed tree is held even under max_deletes."""
    keep = {f"keep{i}.css": A for i in range(20)}
    pushed = keep | {f"gone/f{i}.css": A for i in range(10)}
    result = plan(keep, pushed, delete_remote=True)
    assert result.deletes == ()
    assert result.held_deletes == (Delete("gone", folder=True),)
    assert result.hold_reason is not None
    assert "quarter" in result.hold_reason


def test_small_theme_can_delete_one_file() -> None:
    """The quarter rule does not hold a tiny batch on a tiny theme."""
    result = plan({"a.css": A, "b.css": B}, {"a.css": A, "b.css": B, "c.css": C},
                  delete_remote=True)
    assert result.deletes == (Delete("c.css"),)


def test_brake_root_missing_or_empty() -> None:
    """A vanished or empty watch root never deletes the remote tree; uploads go on."""
    result = plan({"new.css": A}, {"a.css": A, "b.css": B}, delete_remote=True,
                  root_missing_or_empty=True)
    assert result.deletes == ()
    assert set(result.held_deletes) == {Delete("a.css"), Delete("b.css")}
    assert result.uploads == ("new.css",)
    assert result.hold_reason is not None
    assert "missing or empty" in result.hold_reason


def test_allow_deletes_overrides_the_brake() -> None:
    """--allow-deletes lets every delete through."""
    pushed = {f"gone{i}.css": A for i in range(50)}
    result = plan({}, pushed, delete_remote=True, allow_deletes=True,
                  root_missing_or_empty=True)
    assert result.held_deletes == ()
    assert result.hold_reason is None
    assert len(result.deletes) == 50


def test_uploads_put_module_meta_first() -> None:
    """Uploads come in upload order: meta.json of each module first."""
    local = {"m/hero.module/module.html": A, "m/hero.module/meta.json": B, "a.css": C}
    result = plan(local, {}, delete_remote=False)
    assert result.uploads[0] == "m/hero.module/meta.json"


PATHS = st.lists(
    st.lists(st.sampled_from(["a", "b", "c.module", "d"]), min_size=0, max_size=2).flatmap(
        lambda dirs: st.sampled_from(["x.css", "meta.json", "y.html"]).map(
            lambda name: "/".join([*dirs, name]))),
    unique=True, max_size=25,
)
HASHES = st.sampled_from([A, B, C])


@st.composite
def snapshots(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, str]]:
    universe = draw(PATHS)
    local = {p: draw(HASHES) for p in universe if draw(st.booleans())}
    pushed = {p: draw(HASHES) for p in universe if draw(st.booleans())}
    return local, pushed


@given(snapshots(), st.booleans())
def test_no_file_lost_or_duplicated(snap: tuple[dict[str, str], dict[str, str]],
                                    delete_remote: bool) -> None:
    """uploads + unchanged is exactly the local tree, each file once."""
    local, pushed = snap
    result = plan(local, pushed, delete_remote=delete_remote)
    assert len(result.uploads) == len(set(result.uploads))
    assert len(result.uploads) + result.unchanged == len(local)
    assert set(result.uploads) <= set(local)
    assert all(pushed.get(rel) != local[rel] for rel in result.uploads)


@given(snapshots())
def test_deletes_cover_exactly_the_vanished_files(
        snap: tuple[dict[str, str], dict[str, str]]) -> None:
    """When allowed, deletes cover pushed - local: nothing more, nothing less."""
    local, pushed = snap
    result = plan(local, pushed, delete_remote=True, allow_deletes=True)
    covered: set[str] = set()
    for delete in result.deletes:
        hit = {p for p in pushed if p == delete.rel or is_under(p, delete.rel)}
        assert delete.folder or hit == {delete.rel}
        assert not any(is_under(p, delete.rel) or p == delete.rel for p in local)
        assert not covered & hit, "two deletes cover the same file"
        covered |= hit
    assert covered == set(pushed) - set(local)
    assert result.deleted_files == len(covered)


@given(snapshots(), st.integers(min_value=0, max_value=30))
def test_brake_holds_or_passes_all_deletes(snap: tuple[dict[str, str], dict[str, str]],
                                           max_deletes: int) -> None:
    """Deletes are either all sent or all held (with a reason), never split."""
    local, pushed = snap
    result = plan(local, pushed, delete_remote=True, max_deletes=max_deletes)
    assert not (result.deletes and result.held_deletes)
    assert (result.hold_reason is not None) == bool(result.held_deletes)
    if len(set(pushed) - set(local)) > max_deletes:
        assert result.deletes == ()
