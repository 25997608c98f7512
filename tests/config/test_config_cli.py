"""`hubsync check` and `hubsync init`, in process and as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hubsync.cli import main
from hubsync.config import load_config
from hubsync.errors import EX_CONFIG, EX_FAILURE

FAKE_KEY = "pat-na1-99999999-8888-7777-6666-555555555555"

GOOD = """\
    [accounts.sandbox]
    portal_id = 12345678
    [accounts.spare]
    portal_id = 2
    [[watch]]
    name = "site"
    src = "theme"
    dest = "site"
    accounts = ["sandbox"]
"""

BAD = f"""\
    [settings]
    debounce_ms = "250"
    [accounts.sandbox]
    portal_id = 1
    personal_access_key = "{FAKE_KEY}"
    [[watch]]
    name = "site"
    src = "theme"
    dest = "site"
    accounts = ["sandbx"]
"""


def write(tmp_path: Path, text: str) -> Path:
    """A config file (dedented) with an existing `theme` folder beside it."""
    (tmp_path / "theme").mkdir(exist_ok=True)
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run_hubsync(*argv: str, env_extra: dict[str, str] | None = None,
                code: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run hubsync as its own Python process (or ``code`` in one) and capture its output."""
    env = {**os.environ, **(env_extra or {})}
    command = [sys.executable, "-m", "hubsync", *argv] if code is None \
        else [sys.executable, "-c", code, *argv]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60,
                          check=False)


def test_check_ok_prints_counts_and_readiness(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A valid config: exit 0, "config OK: N accounts, M watches" and notes on stdout."""
    path = write(tmp_path, GOOD)
    assert main(["--config", str(path), "check"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"config OK: 2 accounts, 1 watch ({path})\n")
    assert "note: account 'spare' is not used by any [[watch]]" in out
    assert err == ""


def test_check_reports_every_problem_one_per_line(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A broken config: exit 78, all problems on stderr one per line, the key never shown."""
    path = write(tmp_path, BAD)
    assert main(["--config", str(path), "check"]) == EX_CONFIG
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == f"hubsync: error: {path}: 3 problems:"
    assert lines[1].startswith("  accounts.sandbox.personal_access_key: keys and tokens never")
    assert lines[2] == "  settings.debounce_ms: expected an integer, got a string"
    assert lines[3] == "  watch[0].accounts[0]: unknown account 'sandbx' (did you mean 'sandbox'?)"
    assert FAKE_KEY not in err


def test_check_missing_file_says_init(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`hubsync check` without a config file exits 78 and says to run `hubsync init`."""
    assert main(["--config", str(tmp_path / "none.toml"), "check"]) == EX_CONFIG
    assert "run `hubsync init`" in capsys.readouterr().err


def test_check_as_a_subprocess(tmp_path: Path) -> None:
    """The real command: exit 0 on a good file, 78 with the problems on stderr on a bad one."""
    good = run_hubsync("check", env_extra={"HUBSYNC_CONFIG": str(write(tmp_path, GOOD))})
    assert (good.returncode, good.stderr) == (0, "")
    assert good.stdout.startswith("config OK: 2 accounts, 1 watch")

    bad = run_hubsync("--config", str(write(tmp_path, BAD)), "check")
    assert bad.returncode == EX_CONFIG
    assert "settings.debounce_ms: expected an integer, got a string" in bad.stderr
    assert "unknown account 'sandbx'" in bad.stderr
    assert FAKE_KEY not in bad.stderr + bad.stdout


def test_check_is_offline(tmp_path: Path) -> None:
    """check never loads keyring or opens a socket, even for an account with an api_base."""
    emulated = '    [accounts.emu]\n    portal_id = 3\n    api_base = "http://127.0.0.1:9"\n'
    path = write(tmp_path, GOOD + emulated)
    code = textwrap.dedent("""\
        import socket, sys
        from hubsync.cli import main
        def refuse(*args, **kwargs):
            raise SystemExit("check opened a socket")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        code = main(sys.argv[1:])
        print("keyring loaded:", "keyring" in sys.modules)
        sys.exit(code)
    """)
    result = run_hubsync("--config", str(path), "check", code=code)
    assert result.returncode == 0, result.stderr
    assert "config OK: 3 accounts, 1 watch" in result.stdout
    assert "keyring loaded: False" in result.stdout


def test_init_writes_a_config_that_passes_check(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """init writes a commented starter (0600), says what to do next, and it validates."""
    path = tmp_path / "cfg" / "config.toml"
    assert main(["--config", str(path), "init"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {path}" in out
    for step in ("auth add", "check", "push"):  # named with the config they need
        assert f"hubsync --config {path} {step}" in out
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text(encoding="utf-8")
    assert "# [[watch]]" in text
    config = load_config(path)
    assert (len(config.accounts), len(config.watches)) == (0, 0)
    assert main(["--config", str(path), "check"]) == 0


def test_init_with_src_includes_a_watch(tmp_path: Path) -> None:
    """--src and --dest become an active [[watch]] that loads."""
    theme = tmp_path / "My Theme"
    theme.mkdir()
    path = tmp_path / "config.toml"
    assert main(["--config", str(path), "init", "--src", str(theme), "--dest", "themes/mine"]) == 0
    (watch,) = load_config(path).watches
    assert (watch.name, watch.src, watch.dest, watch.accounts) == (
        "My-Theme", theme, "themes/mine", ()
    )


def test_init_never_overwrites_without_force(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """An existing file is kept (exit 1, a hint about --force); --force replaces it."""
    path = write(tmp_path, GOOD)
    before = path.read_bytes()
    assert main(["--config", str(path), "init"]) == EX_FAILURE
    assert "already exists" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert main(["--config", str(path), "init", "--force", "--src", str(tmp_path / "theme")]) == 0
    assert path.read_bytes() != before
    assert load_config(path).watches[0].src == tmp_path / "theme"


def test_init_with_a_missing_src_writes_nothing(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A --src that does not exist fails validation before anything is written."""
    path = tmp_path / "config.toml"
    assert main(["--config", str(path), "init", "--src", str(tmp_path / "nope")]) == EX_CONFIG
    assert "watch[0].src: folder" in capsys.readouterr().err
    assert not path.exists()


def test_init_dest_needs_src(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--dest alone is refused: it says which folder it belongs to."""
    assert main(["--config", str(tmp_path / "c.toml"), "init", "--dest", "x"]) == EX_FAILURE
    assert "--dest needs --src" in capsys.readouterr().err
