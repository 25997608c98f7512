"""Names the OS allows and HubSpot may not: `hubsync push` and `watch` skip them with a
reason and push everything else."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import DEST, watch_session, write_config
from tests.support.processes import HUBSYNC, PORTALS, keys_env, remote_tree, wait_until

NORMAL = {"ok.css": b"a{}", "sub/fine.js": b"1", "d" * 200 + "/x.css": b"x"}
ODD = {
    b"bad\xff.css": ("bad\\xff.css", "not valid UTF-8"),
    b"a\nb.css": ("a\\nb.css", "control character"),
    b"x%2Fy.css": ("x%2Fy.css", "%XX sequence"),
    b"back\\slash.css": ("back\\\\slash.css", "backslash"),
    b"/".join([b"d" * 200] * 5) + b"/deep.css": ("/".join(["d" * 200] * 5), "longer than"),
}


def _make(root: Path, name: bytes, data: bytes = b"x") -> None:
    # fsdecode gives undecodable bytes as surrogates, which Path encodes back unchanged.
    path = root / os.fsdecode(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _theme(root: Path) -> None:
    for rel, data in NORMAL.items():
        _make(root, rel.encode(), data)
    for name in ODD:
        _make(root, name)


def _run(config: Path, emu: EmulatorThread, *args: str) -> subprocess.CompletedProcess[str]:
    # errors="strict": hubsync's output itself must be valid UTF-8, odd names included.
    return subprocess.run([*HUBSYNC, "--config", str(config), *args], env=keys_env(emu),
                          capture_output=True, text=True, encoding="utf-8", timeout=90,
                          check=False)


def test_push_skips_odd_names_with_reasons_and_pushes_the_rest(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`push --dry-run` and `push` list each odd name as skipped with its reason, push the
    normal files, exit 0 (a skip is not a failure) and never say "internal error"."""
    root = tmp_path / "theme"
    _theme(root)
    config = write_config(tmp_path / "hubsync.toml", emulator_thread, root,
                          tmp_path / "state", accounts=("sandbox",))

    plan = _run(config, emulator_thread, "push", "--dry-run")
    pushed = _run(config, emulator_thread, "push")

    for done in (plan, pushed):
        assert done.returncode == 0, done.stdout + done.stderr
        assert "internal error" not in done.stdout + done.stderr
        lines = [line for line in done.stdout.splitlines() if "skipped" in line]
        for shown, reason in ODD.values():
            assert any(shown in line and reason in line for line in lines), (shown, lines)
    assert remote_tree(emulator_thread, PORTALS["sandbox"], DEST) == NORMAL
    log = (tmp_path / "state" / "sync.log").read_text(encoding="utf-8")
    assert "bad\\\\xff.css" in log  # the sync log names it, escaped, as valid UTF-8


def test_watch_starts_beside_odd_names_and_skips_new_ones(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`watch` starts with odd names in the tree, pushes the rest, and an odd file created
    while it runs is skipped with its reason while a normal one beside it is pushed."""
    root = tmp_path / "theme"
    _theme(root)
    config = write_config(tmp_path / "hubsync.toml", emulator_thread, root,
                          tmp_path / "state", accounts=("sandbox",))
    with watch_session(config, emulator_thread, tmp_path / "watch.out") as session:
        wait_until(lambda: remote_tree(emulator_thread, PORTALS["sandbox"], DEST) == NORMAL,
                   what="the normal files pushed")
        _make(root, b"later\xfe.css")
        _make(root, b"later.css", b"b{}")
        flushed = _run(config, emulator_thread, "flush")
        assert flushed.returncode == 0, flushed.stdout + flushed.stderr
        session.wait_for_output("later\\xfe.css")
        assert session.process.poll() is None, session.output()
    remote = remote_tree(emulator_thread, PORTALS["sandbox"], DEST)
    assert remote == {**NORMAL, "later.css": b"b{}"}
    assert "internal error" not in session.output()
