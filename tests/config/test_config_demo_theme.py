"""The demo theme shipped in the package: complete, valid, small, and findable at run time."""

from __future__ import annotations

import importlib.resources
import json
import re
from importlib.resources.abc import Traversable

import pathspec
import pytest

EXPECTED = {
    ".hsignore",
    "theme.json",
    "fields.json",
    "templates/layouts/base.html",
    "templates/home.html",
    "templates/blog-post.html",
    "templates/partials/header.html",
    "templates/partials/footer.html",
    "css/main.css",
    "js/main.js",
    "images/logo.svg",
    "modules/hero.module/meta.json",
    "modules/hero.module/fields.json",
    "modules/hero.module/module.html",
    "modules/hero.module/module.css",
    "modules/card.module/meta.json",
    "modules/card.module/fields.json",
    "modules/card.module/module.html",
    "scss/_vars.scss",
}

# HubL block tags and the tag that closes each.
CLOSERS = {
    "if": "endif",
    "for": "endfor",
    "block": "endblock",
    "macro": "endmacro",
    "dnd_area": "end_dnd_area",
    "dnd_section": "end_dnd_section",
    "dnd_column": "end_dnd_column",
    "dnd_row": "end_dnd_row",
    "dnd_module": "end_dnd_module",
    "require_css": "end_require_css",
    "require_js": "end_require_js",
}


def theme_files() -> dict[str, Traversable]:
    """Every file under hubsync/demo_theme, by path relative to it, via importlib.resources."""
    root = importlib.resources.files("hubsync") / "demo_theme"
    found: dict[str, Traversable] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            else:
                found[prefix + child.name] = child

    walk(root, "")
    return found


def test_theme_ships_every_file_including_dotfiles() -> None:
    """importlib.resources finds the whole theme, .hsignore included, and nothing stray."""
    assert set(theme_files()) == EXPECTED


def test_theme_is_small() -> None:
    """The theme stays under 40 KB so `hubsync demo` is quick."""
    assert sum(len(f.read_bytes()) for f in theme_files().values()) < 40_000


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.endswith(".json")))
def test_json_files_parse(name: str) -> None:
    """Every JSON file parses; module fields are lists of named, typed fields."""
    data = json.loads(theme_files()[name].read_text(encoding="utf-8"))
    if name.endswith("fields.json"):
        assert isinstance(data, list)
        assert all({"name", "label", "type"} <= set(item) for item in data)


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.endswith(".html")))
def test_hubl_is_balanced(name: str) -> None:
    """Delimiters pair up and every block tag is closed, in order."""
    text = theme_files()[name].read_text(encoding="utf-8")
    assert text.count("{%") == text.count("%}")
    assert text.count("{{") == text.count("}}")
    assert text.count("{#") == text.count("#}")
    stack: list[str] = []
    for tag in re.findall(r"\{%-?\s*(\w+)", text):
        if tag in CLOSERS:
            stack.append(CLOSERS[tag])
        elif tag in CLOSERS.values():
            assert stack, f"{name}: {tag} without an opening tag"
            assert stack.pop() == tag, f"{name}: {tag} closes the wrong block"
    assert stack == [], f"{name}: unclosed {stack}"


def test_templates_declare_their_type() -> None:
    """Each template starts with the annotation comment HubSpot reads."""
    files = theme_files()
    for name in EXPECTED:
        if name.startswith("templates/"):
            assert files[name].read_text(encoding="utf-8").startswith("<!--\n  templateType: ")


def test_hsignore_ignores_the_scss_and_nothing_else() -> None:
    """The theme's .hsignore matches scss/_vars.scss and drafts/, not the real theme files."""
    files = theme_files()
    spec = pathspec.GitIgnoreSpec.from_lines(
        files[".hsignore"].read_text(encoding="utf-8").splitlines()
    )
    assert spec.match_file("scss/_vars.scss")
    assert spec.match_file("drafts/new-page.html")
    kept = [n for n in EXPECTED if n != ".hsignore" and not spec.match_file(n)]
    assert sorted(kept) == sorted(EXPECTED - {".hsignore", "scss/_vars.scss"})
