"""Path mapping between a watch and the Design Manager, and accepted file types."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hubsync.core.paths import (
    ALLOWED_EXTENSIONS,
    ancestors,
    content_type,
    is_allowed,
    is_module_meta,
    is_under,
    module_meta_of,
    module_of,
    normalize_rel,
    to_local,
    to_remote,
)


@pytest.mark.parametrize(
    ("rel", "allowed"),
    [
        ("templates/home.html", True),
        ("css/Main.CSS", True),
        ("fonts/x.woff2", True),
        ("schema.graphql", True),
        ("img/logo.JPEG", True),
        ("scripts/build.py", False),
        ("README", False),
        ("archive.tar.gz", False),
        (".css", False),
        ("notes.md", True),
        ("data.yaml", False),
    ],
)
def test_is_allowed(rel: str, allowed: bool) -> None:
    """Only the hs CLI's extensions are accepted, case-insensitively."""
    assert is_allowed(rel) is allowed


def test_allowed_extensions_match_the_contract() -> None:
    """The list is exactly the one from the API contract."""
    contract = {"css", "js", "json", "html", "txt", "md", "jpg", "jpeg", "png", "gif", "map",
                "svg", "eot", "otf", "ttf", "woff", "woff2", "graphql"}
    assert contract == ALLOWED_EXTENSIONS


@pytest.mark.parametrize(
    ("dest", "rel", "remote"),
    [
        ("my-theme", "templates/home.html", "my-theme/templates/home.html"),
        ("/my-theme/", "templates/./home.html", "my-theme/templates/home.html"),
        ("a//b", "x//y.css", "a/b/x/y.css"),
        ("", "x.css", "x.css"),
        ("/", "x.css", "x.css"),
        ("theme", "", "theme"),
    ],
)
def test_to_remote(dest: str, rel: str, remote: str) -> None:
    """Posix join, normalised, never a leading slash."""
    assert to_remote(dest, rel) == remote


@pytest.mark.parametrize("rel", ["../x.css", "a/../../x.css", "/etc/passwd"])
def test_to_remote_refuses_paths_leaving_the_root(rel: str) -> None:
    """A path escaping the watch root is a bug, not a remote path."""
    with pytest.raises(ValueError, match="root"):
        to_remote("theme", rel)


@pytest.mark.parametrize(
    ("dest", "remote", "rel"),
    [
        ("theme", "theme/a/b.css", "a/b.css"),
        ("/theme/", "theme/a.css", "a.css"),
        ("theme", "theme", ""),
        ("theme", "themes/a.css", None),
        ("theme", "other/a.css", None),
        ("", "a/b.css", "a/b.css"),
    ],
)
def test_to_local(dest: str, remote: str, rel: str | None) -> None:
    """Only paths inside dest map back; a sibling with a common prefix does not."""
    assert to_local(dest, remote) == rel


SEGMENT = st.text(alphabet="abcXYZ019-_. ", min_size=1, max_size=8).filter(
    lambda s: s not in {".", ".."} and s.strip(".") != ""
)


@given(dest=st.lists(SEGMENT, max_size=3).map("/".join),
       rel=st.lists(SEGMENT, min_size=1, max_size=4).map("/".join))
def test_remote_round_trip(dest: str, rel: str) -> None:
    """to_local inverts to_remote for any normalised path."""
    assert to_local(dest, to_remote(dest, rel)) == normalize_rel(rel)


@pytest.mark.parametrize(
    ("rel", "module"),
    [
        ("modules/hero.module/module.html", "modules/hero.module"),
        ("modules/hero.module/meta.json", "modules/hero.module"),
        ("a.module/b.module/x.css", "a.module/b.module"),
        ("a.module/sub/x.css", "a.module"),
        ("templates/home.html", None),
        ("hero.module", None),
    ],
)
def test_module_of(rel: str, module: str | None) -> None:
    """The innermost *.module folder above the path, if any."""
    assert module_of(rel) == module


@pytest.mark.parametrize(
    ("rel", "meta"),
    [
        ("m/hero.module/meta.json", True),
        ("hero.module/meta.json", True),
        ("hero.module/fields.json", False),
        ("templates/meta.json", False),
        ("hero.module/sub/meta.json", False),
    ],
)
def test_is_module_meta(rel: str, meta: bool) -> None:
    """meta.json directly inside a *.module folder is the module's meta."""
    assert is_module_meta(rel) is meta


def test_module_meta_of() -> None:
    """A module file waits for its module's meta.json; the meta itself waits for nothing."""
    assert module_meta_of("m/hero.module/module.css") == "m/hero.module/meta.json"
    assert module_meta_of("m/hero.module/meta.json") is None
    assert module_meta_of("css/main.css") is None


def test_ancestors_and_is_under() -> None:
    """Folder helpers used by the planner and the dispatcher."""
    assert ancestors("a/b/c.css") == ["a", "a/b"]
    assert ancestors("c.css") == []
    assert is_under("a/b/c", "a")
    assert not is_under("ab/c", "a")
    assert not is_under("a", "a")


@pytest.mark.parametrize(
    ("rel", "mime"),
    [
        ("a.css", "text/css"),
        ("a.JS", "application/javascript"),
        ("a.json", "application/json"),
        ("a.svg", "image/svg+xml"),
        ("a.woff2", "font/woff2"),
        ("a.bin", "application/octet-stream"),
    ],
)
def test_content_type(rel: str, mime: str) -> None:
    """The multipart part's content type follows the extension."""
    assert content_type(rel) == mime


# --- names HubSpot may not take, and showing any name safely ------------------------------

from hubsync.core.paths import (  # noqa: E402 - grouped with the tests that use them
    MAX_NAME_BYTES,
    MAX_REL_BYTES,
    NameRule,
    display_path,
    name_problem,
)


@pytest.mark.parametrize(
    ("rel", "rule"),
    [
        ("css/bad\udcff.css", NameRule.NOT_UTF8),
        ("bad\udcff/ok.css", NameRule.NOT_UTF8),
        ("a\nb.css", NameRule.CONTROL),
        ("tab\t.css", NameRule.CONTROL),
        ("esc\x1b[31m.css", NameRule.CONTROL),
        ("del\x7f.css", NameRule.CONTROL),
        ("c1\x85.css", NameRule.CONTROL),
        ("ls\u2028.css", NameRule.CONTROL),
        ("x%2Fy.css", NameRule.PERCENT),
        ("x%2fy.css", NameRule.PERCENT),
        ("x%252Fy.css", NameRule.PERCENT),
        ("dir%5C/a.css", NameRule.PERCENT),
        ("back\\slash.css", NameRule.BACKSLASH),
        ("n" * (MAX_NAME_BYTES + 1), NameRule.TOO_LONG),
        ("é" * 128 + ".css", NameRule.TOO_LONG),  # 256 bytes in UTF-8, 132 characters
        ("/".join(["d" * 200] * 5) + "/x.css", NameRule.TOO_LONG),
    ],
)
def test_name_problem_names_each_rule(rel: str, rule: NameRule) -> None:
    """Each kind of name the OS allows and HubSpot may not is refused by its own rule."""
    assert name_problem(rel) is rule


@pytest.mark.parametrize(
    "rel",
    ["css/main.css", "100%.css", "50% off.css", "é/ü.css", "trail .css", "a b/c d.html",
     "n" * MAX_NAME_BYTES, "/".join(["d" * 99] * 9) + "/x.css", "x\u202e.css"],
)
def test_name_problem_accepts_ordinary_names(rel: str) -> None:
    """Spaces, non-ASCII letters, a lone % and names at the bounds are pushed."""
    assert len(rel.encode()) <= MAX_REL_BYTES
    assert name_problem(rel) is None


@pytest.mark.parametrize(
    ("rel", "shown"),
    [
        ("css/main.css", "css/main.css"),
        ("é/ü.css", "é/ü.css"),
        ("bad\udcff.css", "bad\\xff.css"),
        ("a\nb.css", "a\\nb.css"),
        ("tab\t.css", "tab\\t.css"),
        ("esc\x1b.css", "esc\\x1b.css"),
        ("c1\x85.css", "c1\\u0085.css"),
        ("back\\slash.css", "back\\\\slash.css"),
        ("rtl\u202eexe.css", "rtl\\u202eexe.css"),
    ],
)
def test_display_path_escapes_what_a_console_cannot_show(rel: str, shown: str) -> None:
    """Undecodable bytes, controls, invisible marks and backslashes are escaped; text is not."""
    assert display_path(rel) == shown


@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=40))
def test_display_path_is_printable_utf8_and_one_line(rel: str) -> None:
    """Any string, surrogates included, renders as UTF-8 on one line without controls."""
    shown = display_path(rel)
    shown.encode("utf-8")
    assert "\n" not in shown
    assert "\r" not in shown
    assert name_problem(shown) in (None, NameRule.BACKSLASH, NameRule.PERCENT,
                                   NameRule.TOO_LONG)


@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=12),
       st.text(alphabet=st.characters(exclude_categories=()), max_size=12))
def test_display_path_never_renders_two_names_alike(a: str, b: str) -> None:
    """Two different names never look the same once rendered."""
    if a != b:
        assert display_path(a) != display_path(b)
