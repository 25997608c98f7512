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
