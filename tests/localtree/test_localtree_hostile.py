"""Scanning a hostile tree: names HubSpot may not hold, and files that cannot be read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from hubsync.core.paths import NameRule
from hubsync.localtree import (
    Gone,
    Skipped,
    SkipReason,
    Unreadable,
    load_rules,
    probe,
    scan,
)
from tests.support.unprivileged import as_unprivileged, open_up, shared_folder

LATER = 4 * 10**18


def _make(root: Path, name: bytes, data: bytes = b"x") -> None:
    # fsdecode gives undecodable bytes as surrogates, which Path encodes back unchanged.
    path = root / os.fsdecode(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


ODD = {
    b"bad\xff.css": ("bad\\xff.css", NameRule.NOT_UTF8),
    b"a\nb.css": ("a\\nb.css", NameRule.CONTROL),
    b"x%2Fy.css": ("x%2Fy.css", NameRule.PERCENT),
    b"back\\slash.css": ("back\\\\slash.css", NameRule.BACKSLASH),
}
DEEP = "/".join(["d" * 200] * 5)
"""A folder whose path under the root is 1,004 bytes: over ``MAX_REL_BYTES``. (A single
name over 255 bytes cannot be made on Linux file systems at all.)"""


def test_scan_skips_odd_names_with_their_rule(tmp_path: Path) -> None:
    """Each odd name is skipped, shown escaped, with its rule; ordinary files are pushed."""
    root = tmp_path / "theme"
    _make(root, b"ok.css")
    _make(root, b"sub/fine.js")
    _make(root, b"d" * 200 + b"/x.css")
    for name in ODD:
        _make(root, name)
    _make(root, b"odd\x01dir/inside.css")  # a folder's name leaves out all it holds
    _make(root, DEEP.encode() + b"/deep.css")

    result = scan(root, load_rules(root), {}, now_ns=LATER)

    assert set(result.files) == {"ok.css", "sub/fine.js", "d" * 200 + "/x.css"}
    skipped = {s.rel: (s.reason, s.folder) for s in result.skipped}
    for shown, rule in ODD.values():
        assert skipped[shown] == (rule, False)
    assert skipped["odd\\x01dir"] == (NameRule.CONTROL, True)
    assert skipped[DEEP] == (NameRule.TOO_LONG, True)
    assert result.unreadable == []
    for item in result.skipped:
        item.rel.encode("utf-8")  # printable and storable as it is


def test_probe_skips_odd_names(tmp_path: Path) -> None:
    """A settled odd name (as watch sees it) is Skipped with its rule, never Gone or pushed."""
    root = tmp_path / "theme"
    _make(root, b"ok.css")
    rules = load_rules(root)
    for name, (shown, rule) in ODD.items():
        _make(root, name)
        outcome = probe(root, os.fsdecode(name), rules, None, now_ns=LATER)
        assert outcome == Skipped(shown, rule)
    deep = DEEP + "/deep.css"
    assert probe(root, deep, rules, None, now_ns=LATER) == Skipped(deep, NameRule.TOO_LONG)
    # Deleted again: still the rule, so nothing is ever planned for such a name.
    assert probe(root, "gone\udcfe.css", rules, None, now_ns=LATER) == Skipped(
        "gone\\xfe.css", SkipReason.NAME_NOT_UTF8)


def test_ignore_rules_come_before_name_rules(tmp_path: Path) -> None:
    """A path the user ignores is reported with the ignore rule, not a name rule."""
    root = tmp_path / "theme"
    _make(root, b"ok.css")
    _make(root, b"node_modules/bad\xff.css")
    result = scan(root, load_rules(root), {}, now_ns=LATER)
    (item,) = result.skipped
    assert item.rel == "node_modules"
    assert item.folder
    assert item.reason not in set(NameRule)


SCANNER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from hubsync import localtree
    root = Path(sys.argv[1])
    rules, rules_unreadable = localtree.read_rules(root)
    result = localtree.scan(root, rules, {}, now_ns=time.time_ns())
    probes = {rel: [type(o).__name__, getattr(o, "reason", None)]
              for rel in sys.argv[2:]
              for o in [localtree.probe(root, rel, rules, None, now_ns=time.time_ns())]}
    print(json.dumps({
        "files": sorted(result.files),
        "skipped": [[s.rel, s.reason, s.folder] for s in result.skipped],
        "unreadable": [[u.rel, u.reason, u.folder] for u in result.unreadable],
        "probes": probes,
        "rules_unreadable": rules_unreadable and [rules_unreadable.rel,
                                                  rules_unreadable.reason],
    }))
""")


def _scan_unprivileged(root: Path, *probes: str) -> dict[str, object]:
    done = subprocess.run(as_unprivileged([sys.executable, "-c", SCANNER, str(root), *probes]),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_unreadable_file_and_folder_are_failures_not_rules() -> None:
    """As a user the permission bits apply to, a chmod 000 file and folder are Unreadable,
    never among the skipped; rules still win for paths they leave out anyway; made readable
    again, the folder's files are found by the next scan."""
    with shared_folder() as shared:
        root = shared / "theme"
        for rel in ["ok.css", "secret.css", "locked/inner.css", "art.psd",
                    "node_modules/x.js"]:
            _make(root, rel.encode())
        open_up(root)
        for rel in ["secret.css", "locked", "art.psd", "node_modules"]:
            (root / rel).chmod(0)

        seen = _scan_unprivileged(root, "secret.css", "locked/inner.css", "ok.css")

        assert seen["files"] == ["ok.css"]
        assert seen["unreadable"] == [
            ["locked", "cannot be read: Permission denied", True],
            ["secret.css", "cannot be read: Permission denied", False],
        ]
        skipped = {rel: reason for rel, reason, _ in seen["skipped"]}  # type: ignore[attr-defined]
        assert set(skipped) == {"art.psd", "node_modules"}
        assert skipped["art.psd"] == SkipReason.EXTENSION
        assert seen["rules_unreadable"] is None
        assert seen["probes"] == {
            "secret.css": ["Unreadable", "cannot be read: Permission denied"],
            "locked/inner.css": ["Unreadable", "cannot be read: Permission denied"],
            "ok.css": ["LocalFile", None],
        }

        (root / "locked").chmod(0o777)
        again = _scan_unprivileged(root)
        assert again["files"] == ["locked/inner.css", "ok.css"]
        assert again["unreadable"] == [["secret.css", "cannot be read: Permission denied",
                                        False]]


def test_unreadable_is_a_skipped_for_callers_that_only_know_skipped() -> None:
    """Old callers that match Skipped keep treating an unreadable path as not pushed."""
    item = Unreadable("a.css", "cannot be read: Permission denied")
    assert isinstance(item, Skipped)
    assert not issubclass(Unreadable, Gone)


def test_unreadable_hsignore_is_reported_and_defaults_still_apply() -> None:
    """An .hsignore the user cannot read is reported as Unreadable by read_rules (a caller
    must not push as if the user had no patterns); the default ignores still apply."""
    with shared_folder() as shared:
        root = shared / "theme"
        for rel in ["ok.css", "secret.css", "node_modules/x.js"]:
            _make(root, rel.encode())
        (root / ".hsignore").write_text("secret.css\n")
        open_up(root)
        (root / ".hsignore").chmod(0)

        seen = _scan_unprivileged(root)

        assert seen["rules_unreadable"] == [".hsignore", "cannot be read: Permission denied"]
        assert "node_modules" in {rel for rel, _, _ in seen["skipped"]}  # type: ignore[attr-defined]


def test_self_referencing_symlink_is_a_loop_not_unreadable(tmp_path: Path) -> None:
    """A link to itself (ELOOP) is left out as a symlink loop, by scan and probe alike."""
    root = tmp_path / "theme"
    _make(root, b"ok.css")
    (root / "self.css").symlink_to("self.css")
    result = scan(root, load_rules(root), {}, now_ns=LATER)
    assert result.unreadable == []
    assert [(s.rel, s.reason) for s in result.skipped] == [("self.css",
                                                            SkipReason.SYMLINK_LOOP)]
    assert probe(root, "self.css", load_rules(root), None, now_ns=LATER) == Skipped(
        "self.css", SkipReason.SYMLINK_LOOP)
