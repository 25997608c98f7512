"""The documented command lines are real: each parses with hubsync's own parser, and the
documented error message is the one a user gets.

Reads every fenced ``sh`` block of README.md and docs/*.md, takes each line that runs
``hubsync`` (before any pipe), and parses it exactly as ``hubsync`` would.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from hubsync.cli import build_parser
from tests.support.keyrings import REPO_ROOT
from tests.support.processes import HUBSYNC

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```(?:sh|bash)\n(?P<body>.*?)\n```", re.DOTALL)


def _commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line, split at |, &&, || and ; (quotes respected,
    comments dropped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in ("|", "&&", "||", ";", "&"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def documented_lines() -> list[tuple[str, str]]:
    """(file name, command line) for each `hubsync ...` line of a shell block."""
    found = []
    for path in DOCS:
        for block in BLOCK.finditer(path.read_text(encoding="utf-8")):
            for raw in block["body"].splitlines():
                for words in _commands(raw):
                    # Drop `VAR=value` prefixes.
                    while words and "=" in words[0] and not words[0].startswith("-"):
                        words.pop(0)
                    if words and words[0] in ("hubsync", ".venv/bin/hubsync"):
                        found.append((path.name, shlex.join(["hubsync", *words[1:]])))
    return found


LINES = documented_lines()


def test_the_docs_have_command_lines() -> None:
    """The extraction finds the usage page's examples (the test below is not empty)."""
    assert len(LINES) > 40
    assert ("usage.md", "hubsync auth add ci --portal 42 --no-store") in LINES


@pytest.mark.parametrize(("doc", "line"), LINES, ids=[f"{d}: {x}" for d, x in LINES])
def test_documented_command_line_parses(doc: str, line: str) -> None:
    """The line is accepted by the parser: every command, option and choice exists."""
    words = shlex.split(line)[1:]
    try:
        args = build_parser().parse_args(words)
    except SystemExit as exc:  # argparse's way to say "usage error"
        pytest.fail(f"{doc}: `{line}` does not parse (exit {exc.code})")
    assert args.command is not None


def test_documented_unknown_name_message_is_the_real_one(tmp_path: Path) -> None:
    """docs/usage.md shows the answer to `hubsync push them`; hubsync answers exactly so."""
    text = (REPO_ROOT / "docs" / "usage.md").read_text(encoding="utf-8")
    shown = re.search(r"hubsync push them +# (?P<message>.+)", text)
    assert shown is not None
    root = tmp_path / "theme"
    root.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(f'[accounts.sandbox]\nportal_id = 1\n[[watch]]\nname = "theme"\n'
                      f'src = "{root}"\ndest = "theme"\naccounts = ["sandbox"]\n')
    result = subprocess.run([*HUBSYNC, "--config", str(config), "push", "them"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 64
    assert result.stderr.strip() == shown["message"]
