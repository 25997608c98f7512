"""Ignore rules: hs defaults, editor temp files, .hsignore and config patterns."""

from __future__ import annotations

import pytest

from hubsync.core.ignore import DEFAULT_IGNORES, IgnoreRules


@pytest.mark.parametrize(
    "rel",
    [
        "fields.output.json", "modules/x.module/fields.output.json", "hubspot.config.yml",
        "node_modules/lodash/index.js", "a/node_modules/x.js", ".env", ".git/config",
        "css/.hidden.css", "debug.log", "Thumbs.db", "a/Desktop.ini", "__MACOSX/x.css",
        "package-lock.json", "Icon\r",
        # editors
        "theme.css~", "~", ".theme.css.swp", ".theme.css.swx", "4913", "templates/4913",
        "theme.css___jb_tmp___", "theme.css___jb_old___", ".#theme.css", "#theme.css#",
        "theme.css.vsctmp", "theme.css.tmp", ".DS_Store", "flycheck_theme.js",
    ],
)
def test_default_ignores(rel: str) -> None:
    """Everything the hs CLI ignores and every editor temp or backup file is ignored."""
    rules = IgnoreRules.defaults()
    assert rules.ignores(rel)
    assert rules.reason(rel) == "default ignore"


@pytest.mark.parametrize(
    "rel",
    ["theme.css", "templates/home.html", "modules/hero.module/meta.json", "fields.json",
     "images/4913.png", "a~b.css", "Icon.svg", "css/theme.tmp.css"],
)
def test_defaults_keep_real_files(rel: str) -> None:
    """Ordinary theme files are not caught by the defaults."""
    assert not IgnoreRules.defaults().ignores(rel)
    assert IgnoreRules.defaults().reason(rel) is None


def test_defaults_include_the_documented_editor_patterns() -> None:
    """The default list carries the pitfalls 1.3 patterns verbatim."""
    for pattern in ("*~", ".*.sw?", "4913", "*___jb_tmp___", "*___jb_old___", ".#*",
                    "*.vsctmp", "*.tmp", ".DS_Store", "flycheck_*"):
        assert pattern in DEFAULT_IGNORES


def test_hsignore_is_relative_to_the_watch_root() -> None:
    """Anchored patterns apply at the watch root; folder patterns hide their files."""
    rules = IgnoreRules.build("# comment\n/dist\nscratch/\n*.psd\n", ())
    assert rules.reason("dist/app.js") == ".hsignore"
    assert not rules.ignores("src/dist/app.js")
    assert rules.reason("a/scratch/x.css") == ".hsignore"
    assert rules.ignores("scratch", is_dir=True)
    assert not rules.ignores("scratch")  # a *file* named scratch is not the folder
    assert rules.ignores("img/raw.psd")
    assert not rules.ignores("css/main.css")


def test_hsignore_negation_within_its_own_file() -> None:
    """gitignore negation works among .hsignore's own patterns."""
    rules = IgnoreRules.build("*.json\n!theme.json\n", ())
    assert rules.ignores("fields.json")
    assert not rules.ignores("theme.json")


def test_config_patterns_have_their_own_reason() -> None:
    """Config ignore patterns report "config ignore"; the first matching source wins."""
    rules = IgnoreRules.build("*.psd\n", ["drafts/", "*.log"])
    assert rules.reason("drafts/a.html") == "config ignore"
    assert rules.reason("img/x.psd") == ".hsignore"
    assert rules.reason("x.log") == "default ignore"
    assert rules.reason("a.html") is None


def test_root_is_never_ignored() -> None:
    """The watch root itself (the empty path) is never ignored."""
    assert not IgnoreRules.build("*\n", ["*"]).ignores("", is_dir=True)


def test_empty_sources() -> None:
    """An empty or absent .hsignore and no config patterns add nothing."""
    assert IgnoreRules.build("", ()).reason("x.css") is None
    assert IgnoreRules.build(None, []).reason("x.css") is None
    assert len(IgnoreRules.build("\n\n# only comments\n", ()).specs) == 2
