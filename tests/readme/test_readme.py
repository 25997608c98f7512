"""The README's commands work when pasted on a fresh machine.

Every fenced ``sh``/``bash`` block of README.md runs, in order, in a fresh copy of the
repository with a temporary HOME, unless the line before it is an HTML comment
``<!-- not-run: why -->``. The copy gets its own ``.venv``, as a new user's clone would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK = re.compile(
    r"(?P<before>[^\n]*)\n```(?P<lang>[a-z]*)\n(?P<body>.*?)\n```", re.DOTALL
)
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(?P<why>[^>]+?)\s*-->")


def readme_blocks() -> list[tuple[str, str | None]]:
    """(body, reason it is not run or None) of every sh/bash block."""
    blocks = []
    for match in BLOCK.finditer(README.read_text()):
        if match["lang"] not in ("sh", "bash"):
            continue
        marker = NOT_RUN.search(match["before"])
        blocks.append((match["body"], marker["why"] if marker else None))
    return blocks


def test_readme_has_the_two_quick_start_commands() -> None:
    """The quick start has one runnable command for the demo and one for the tests."""
    text = README.read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [b for b in BLOCK.finditer(quick) if b["lang"] in ("sh", "bash")]
    assert len(commands) == 2
    assert "hubsync demo" in commands[0]["body"]
    assert "tests/run.sh" in commands[1]["body"]


def test_every_skipped_block_says_why() -> None:
    """A block left out of this test carries a reason, and the test command is one of them
    (running the whole suite from inside the suite would recurse)."""
    blocks = readme_blocks()
    reasons = [why for _, why in blocks if why is not None]
    assert all(reasons)
    assert any("tests/run.sh" in body for body, why in blocks if why)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_readme_blocks_run_in_a_fresh_clone(tmp_path: Path) -> None:
    """Each runnable README block exits 0 in a fresh copy of the repo with a new HOME."""
    clone = tmp_path / "hubsync"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode().split("\0")
    for name in filter(None, tracked):
        source = ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        # Reuse the machine's download cache: the point is a fresh install, not a slow one.
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip")),
        # The real keyring must not be touched by anything the README runs.
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    runnable = [body for body, why in readme_blocks() if why is None]
    assert runnable, "the README has no runnable command"
    for body in runnable:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", body],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, (
            f"README block failed ({done.returncode}):\n{body}\n"
            f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
        )
