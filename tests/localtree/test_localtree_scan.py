"""Scanning a real watch root: hashes, the stat cache, ignore rules and symlinks."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from hubsync.core.plan import LocalFile
from hubsync.localtree import (
    RACY_NS,
    CachedStat,
    Gone,
    Skipped,
    SkipReason,
    StatKey,
    load_rules,
    probe,
    probe_with_stat,
    scan,
    unchanged,
)

LATER = 4 * 10**18  # year 2096: entries "recorded" then are never racy


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(root: Path, rel: str, data: bytes | str = b"x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture
def theme(tmp_path: Path) -> Path:
    root = tmp_path / "theme"
    write(root, "templates/home.html", "<h1>{{ title }}</h1>")
    write(root, "css/main.css", "body{}")
    write(root, "modules/hero.module/meta.json", "{}")
    write(root, "modules/hero.module/module.html", "hero")
    write(root, "empty.css", b"")
    return root


def test_scan_finds_files_with_hashes(theme: Path) -> None:
    """Every pushable file is listed with its sha256 and size; an empty file is skipped
    (HubSpot refuses empty files), unread."""
    result = scan(theme, load_rules(theme), {}, now_ns=LATER)
    assert result.root_ok
    assert set(result.files) == {"templates/home.html", "css/main.css",
                                 "modules/hero.module/meta.json",
                                 "modules/hero.module/module.html"}
    assert result.files["css/main.css"] == LocalFile("css/main.css", sha(b"body{}"), 6)
    assert [(s.rel, s.reason) for s in result.skipped] == [("empty.css", SkipReason.EMPTY)]
    assert set(result.stats) == set(result.files)
    assert result.hashed == 4


def test_warm_cache_skips_hashing_and_sees_changes(theme: Path) -> None:
    """A second scan reuses cached hashes; a changed file (new stat key) is rehashed."""
    first = scan(theme, load_rules(theme), {}, now_ns=LATER)
    second = scan(theme, load_rules(theme), first.stats, now_ns=LATER)
    assert second.hashed == 0
    assert second.files == first.files
    write(theme, "css/main.css", "body{color:red}")
    third = scan(theme, load_rules(theme), second.stats, now_ns=LATER)
    assert third.hashed == 1
    assert third.files["css/main.css"].sha256 == sha(b"body{color:red}")


def _forged_cache(path: Path, rel: str, recorded_ns: int) -> dict[str, CachedStat]:
    """A cache entry matching the file's stat exactly but with a wrong hash, as if the
    file was rewritten with the same size within one timestamp tick."""
    key = StatKey.of(path.stat())
    return {rel: CachedStat(key, "0" * 64, recorded_ns)}


def test_racy_entry_is_rehashed(theme: Path) -> None:
    """An entry recorded within RACY_NS of the file's mtime is not trusted."""
    path = theme / "css/main.css"
    mtime = path.stat().st_mtime_ns
    cache = _forged_cache(path, "css/main.css", recorded_ns=mtime + RACY_NS // 2)
    result = scan(theme, load_rules(theme), cache, now_ns=LATER)
    assert result.files["css/main.css"].sha256 == sha(b"body{}")


def test_settled_entry_is_trusted(theme: Path) -> None:
    """An entry recorded well after the mtime is reused without reading the file."""
    path = theme / "css/main.css"
    ctime = max(path.stat().st_mtime_ns, path.stat().st_ctime_ns)
    cache = _forged_cache(path, "css/main.css", recorded_ns=ctime + 2 * RACY_NS)
    result = scan(theme, load_rules(theme), cache, now_ns=LATER)
    assert result.files["css/main.css"].sha256 == "0" * 64
    assert result.hashed == 3


def test_racy_entry_becomes_trusted_after_a_later_rescan(theme: Path) -> None:
    """Entries recorded right after a write get rehashed once, then cached."""
    now = time.time_ns()
    first = scan(theme, load_rules(theme), {}, now_ns=now)
    second = scan(theme, load_rules(theme), first.stats, now_ns=now + 5 * RACY_NS)
    third = scan(theme, load_rules(theme), second.stats, now_ns=now + 6 * RACY_NS)
    assert second.hashed == 4
    assert third.hashed == 0


def test_skips_extensions_and_ignored_paths_with_reasons(theme: Path) -> None:
    """Unaccepted extensions and ignored paths are reported, ignored folders once."""
    write(theme, "scripts/build.py", "print()")
    for i in range(30):
        write(theme, f"node_modules/pkg{i}/index.js", "x")
    write(theme, "theme.css~", "backup")
    write(theme, "drafts/a.html", "draft")
    write(theme, "raw/big.psd.css", "x")
    write(theme, ".hsignore", "raw/\n")
    result = scan(theme, load_rules(theme, ["drafts/"]), {}, now_ns=LATER)
    reasons = {s.rel: (s.reason, s.folder) for s in result.skipped}
    assert reasons == {
        "scripts/build.py": (SkipReason.EXTENSION, False),
        "node_modules": ("default ignore", True),
        "theme.css~": ("default ignore", False),
        ".hsignore": ("default ignore", False),
        "raw": (".hsignore", True),
        "drafts": ("config ignore", True),
        "empty.css": (SkipReason.EMPTY, False),
    }
    assert not any(rel.startswith(("node_modules", "raw", "drafts")) for rel in result.files)


def test_symlinks_inside_followed_outside_skipped(tmp_path: Path, theme: Path) -> None:
    """Links resolving inside the root are followed; links leaving it are skipped."""
    outside = write(tmp_path, "secret/passwords.txt", "hunter2")
    (theme / "leak.txt").symlink_to(outside)
    (theme / "leakdir").symlink_to(outside.parent, target_is_directory=True)
    (theme / "alias.css").symlink_to(theme / "css/main.css")
    (theme / "tpl").symlink_to(theme / "templates", target_is_directory=True)
    (theme / "dangling.css").symlink_to(theme / "nowhere.css")
    result = scan(theme, load_rules(theme), {}, now_ns=LATER)
    assert result.files["alias.css"].sha256 == sha(b"body{}")
    assert "tpl/home.html" in result.files
    reasons = {s.rel: s.reason for s in result.skipped}
    assert reasons["leak.txt"] == SkipReason.SYMLINK_OUTSIDE
    assert reasons["leakdir"] == SkipReason.SYMLINK_OUTSIDE
    assert reasons["dangling.css"] == SkipReason.BROKEN_SYMLINK
    assert not any("passwords" in rel for rel in result.files)


def test_symlink_loop_is_not_followed_forever(theme: Path) -> None:
    """A folder link back to an ancestor is reported, not walked endlessly."""
    (theme / "templates/up").symlink_to(theme, target_is_directory=True)
    result = scan(theme, load_rules(theme), {}, now_ns=LATER)
    assert {s.rel: s.reason for s in result.skipped}["templates/up"] == SkipReason.SYMLINK_LOOP


def test_emacs_lock_link_is_ignored_not_broken(theme: Path) -> None:
    """Emacs' dangling `.#name` lock links are default-ignored, not reported as broken."""
    (theme / "css/.#main.css").symlink_to("user@host.1234:1700000000")
    result = scan(theme, load_rules(theme), {}, now_ns=LATER)
    assert {s.rel: s.reason for s in result.skipped}["css/.#main.css"] == "default ignore"


def test_fifo_is_not_a_regular_file(theme: Path) -> None:
    """Special files are reported and never opened (a FIFO would block the read)."""
    os.mkfifo(theme / "pipe.css")
    result = scan(theme, load_rules(theme), {}, now_ns=LATER)
    assert {s.rel: s.reason for s in result.skipped}["pipe.css"] == SkipReason.NOT_REGULAR


def test_missing_or_empty_root_is_not_ok(tmp_path: Path) -> None:
    """A vanished or empty root reports root_ok=False so the brake can hold deletes."""
    missing = scan(tmp_path / "nope", load_rules(tmp_path / "nope"), {}, now_ns=LATER)
    assert not missing.root_ok
    assert missing.files == {}
    (tmp_path / "empty").mkdir()
    write(tmp_path, "empty/.git/HEAD", "ref")
    empty = scan(tmp_path / "empty", load_rules(tmp_path / "empty"), {}, now_ns=LATER)
    assert not empty.root_ok


def test_two_thousand_files_scan_fast(tmp_path: Path) -> None:
    """A 2,000-file tree in sync rescans from the cache without hashing, quickly."""
    root = tmp_path / "big"
    for d in range(40):
        for f in range(50):
            write(root, f"d{d}/f{f}.css", f".c{d}-{f}{{}}" * 20)
    rules = load_rules(root)
    first = scan(root, rules, {}, now_ns=LATER)
    assert len(first.files) == 2000
    started = time.perf_counter()
    second = scan(root, rules, first.stats, now_ns=LATER)
    elapsed = time.perf_counter() - started
    assert second.hashed == 0
    assert second.files == first.files
    assert elapsed < 0.5, f"warm scan of 2,000 files took {elapsed:.3f} s"


def test_probe_file_gone_and_skipped(theme: Path) -> None:
    """probe looks at one settled path: a file, gone, or left out with a reason."""
    rules = load_rules(theme)
    found = probe(theme, "css/main.css", rules, None, now_ns=LATER)
    assert found == LocalFile("css/main.css", sha(b"body{}"), 6)
    assert probe(theme, "css/gone.css", rules, None, now_ns=LATER) == Gone("css/gone.css")
    assert probe(theme, "nodir/x/y.css", rules, None, now_ns=LATER) == Gone("nodir/x/y.css")
    assert probe(theme, "css", rules, None, now_ns=LATER) == Gone("css")
    assert probe(theme, "theme.css~", rules, None, now_ns=LATER) == Skipped(
        "theme.css~", "default ignore")
    write(theme, "x.py", "1")
    assert probe(theme, "x.py", rules, None, now_ns=LATER) == Skipped("x.py",
                                                                      SkipReason.EXTENSION)


def test_probe_uses_and_returns_the_cache(theme: Path) -> None:
    """probe_with_stat returns the cache entry; a trusted entry avoids reading the file."""
    rules = load_rules(theme)
    found, entry = probe_with_stat(theme, "css/main.css", rules, None, now_ns=LATER)
    assert isinstance(found, LocalFile)
    assert entry is not None
    assert entry.sha256 == sha(b"body{}")
    forged = CachedStat(entry.key, "f" * 64, LATER)
    again, _ = probe_with_stat(theme, "css/main.css", rules, forged, now_ns=LATER)
    assert isinstance(again, LocalFile)
    assert again.sha256 == "f" * 64


def test_probe_refuses_paths_through_links_leaving_the_root(tmp_path: Path,
                                                             theme: Path) -> None:
    """A path under a folder link that leaves the root is skipped, not read."""
    write(tmp_path, "elsewhere/x.css", "x")
    (theme / "ext").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (theme / "link.css").symlink_to(tmp_path / "elsewhere/x.css")
    rules = load_rules(theme)
    assert probe(theme, "ext/x.css", rules, None, now_ns=LATER) == Skipped(
        "ext/x.css", SkipReason.SYMLINK_OUTSIDE)
    assert probe(theme, "link.css", rules, None, now_ns=LATER) == Skipped(
        "link.css", SkipReason.SYMLINK_OUTSIDE)


def test_load_rules_reads_hsignore_at_the_root(theme: Path) -> None:
    """.hsignore at the watch root applies relative to that root."""
    write(theme, ".hsignore", "/templates\n")
    rules = load_rules(theme, ["*.md"])
    assert rules.reason("templates/home.html") == ".hsignore"
    assert rules.reason("a/templates/x.html") is None
    assert rules.reason("README.md") == "config ignore"


def test_probe_judges_symlinked_folders_with_a_kept_real_root(tmp_path: Path,
                                                              theme: Path) -> None:
    """A probe given the resolved root still skips a file reached through a folder
    symlink leaving the root, follows one staying inside, and works under a root that
    is itself reached through a symlink."""
    outside = write(tmp_path, "secret/passwords.css", "hunter2")
    (theme / "leakdir").symlink_to(outside.parent, target_is_directory=True)
    (theme / "tpl").symlink_to(theme / "templates", target_is_directory=True)
    rules = load_rules(theme)
    real_root = os.path.realpath(theme)
    leak = probe_with_stat(theme, "leakdir/passwords.css", rules, None, now_ns=LATER,
                           real_root=real_root)[0]
    assert leak == Skipped("leakdir/passwords.css", SkipReason.SYMLINK_OUTSIDE)
    inside = probe_with_stat(theme, "tpl/home.html", rules, None, now_ns=LATER,
                             real_root=real_root)[0]
    assert isinstance(inside, LocalFile)
    link_root = tmp_path / "link-to-theme"
    link_root.symlink_to(theme, target_is_directory=True)
    via_link = probe_with_stat(link_root, "css/main.css", rules, None, now_ns=LATER,
                               real_root=os.path.realpath(link_root))[0]
    assert via_link == LocalFile("css/main.css", sha(b"body{}"), len(b"body{}"))


def test_unchanged_is_true_only_for_the_same_settled_file(tmp_path: Path,
                                                         theme: Path) -> None:
    """``unchanged`` (the after-upload check on the loop) says True only for the very
    file the cache describes, long after its last change; a rewrite, a racy entry, a
    vanished file and a folder symlink above it all say "probe it"."""
    entry = probe_with_stat(theme, "css/main.css", load_rules(theme), None, now_ns=LATER)[1]
    assert entry is not None
    assert unchanged(theme, "css/main.css", entry)
    racy = CachedStat(entry.key, entry.sha256, max(entry.key.mtime_ns, entry.key.ctime_ns))
    assert not unchanged(theme, "css/main.css", racy)
    write(theme, "css/main.css", "body{color:red}")
    assert not unchanged(theme, "css/main.css", entry)
    assert not unchanged(theme, "css/nowhere.css", entry)
    elsewhere = write(tmp_path, "elsewhere/main.css", "body{}")
    (theme / "linked").symlink_to(elsewhere.parent, target_is_directory=True)
    linked = probe_with_stat(elsewhere.parent, "main.css", load_rules(theme), None,
                             now_ns=LATER)[1]
    assert linked is not None
    assert unchanged(elsewhere.parent, "main.css", linked)
    assert not unchanged(theme, "linked/main.css", linked)
