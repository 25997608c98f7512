"""`hubsync demo`, run the way a new user runs it: a subprocess with a fresh HOME."""

from __future__ import annotations

import hashlib
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hubsync.demo import DEMO_USERS, prepare
from hubsync.errors import HubsyncError
from tests.support.processes import HUBSYNC

pytestmark = pytest.mark.slow

# The emulator's personal access keys: "CiR" + 56 URL-safe characters.
KEY_SHAPE = re.compile(r"CiR[A-Za-z0-9_-]{40,}")
IGNORED = {".hsignore", "scss/_vars.scss"}


def new_user_env(home: Path) -> dict[str, str]:
    """The environment of someone who has never run hubsync, with no usable keyring."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "HOME": str(home),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        # Any keyring call fails: the demo must not need one.
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "PYTHONUNBUFFERED": "1",
    }


def local_files(theme: Path) -> dict[str, bytes]:
    return {p.relative_to(theme).as_posix(): p.read_bytes() for p in theme.rglob("*")
            if p.is_file() and p.relative_to(theme).as_posix() not in IGNORED}


def mirrored(copy: Path) -> dict[str, bytes]:
    return {p.relative_to(copy).as_posix(): p.read_bytes() for p in copy.rglob("*")
            if p.is_file()}


def digest(files: dict[str, bytes]) -> dict[str, str]:
    return {rel: hashlib.sha256(content).hexdigest() for rel, content in files.items()}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_scripted_demo_proves_both_accounts_equal_the_theme(tmp_path: Path) -> None:
    """`hubsync demo --scripted` as a new user: exit 0 within a minute, the sha256 proof
    for both accounts, attribution lines for two different users, the emulator's copies on
    disk equal to the theme, no key in any output, and nothing written to the real HOME
    state or config (with a keyring backend that fails every call)."""
    home = tmp_path / "home"
    demo_dir = tmp_path / "demo"
    started = time.monotonic()
    result = subprocess.run([*HUBSYNC, "demo", "--scripted", "--dir", str(demo_dir)],
                            env=new_user_env(home), cwd=tmp_path, capture_output=True,
                            text=True, timeout=90, check=False)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert elapsed < 60, f"took {elapsed:.1f} s"

    for user in DEMO_USERS:
        assert re.search(rf"✓ {user.account} \(portal {user.portal_id}, {user.email}\): "
                         r"remote == local, (\d+) of \1 files, every sha256 equal",
                         result.stdout), result.stdout
        # Attribution: the sync log lines name each account's own user.
        assert re.search(rf"pushed +{user.account} +{re.escape(user.email)} ", result.stdout)
        assert re.search(rf"deleted +{user.account} +{re.escape(user.email)}"
                         r" +templates/promo\.html", result.stdout)
    assert "HTTP 400, Template contains errors" in result.stdout
    # A teammate's Design Manager edit arrives as a conflict, then is resolved.
    for user in DEMO_USERS:
        assert f"css/main.css -> {user.account}: changed by user 5151" in result.stdout
        assert (f"css/main.css -> {user.account}: conflict resolved, keeping the remote "
                "version") in result.stdout
    # The burst is coalesced (one upload each unless the machine stalled mid-burst).
    burst = re.search(r"20 saves -> uploads per account: sandbox (\d+), staging (\d+)",
                      result.stdout)
    assert burst is not None
    assert 1 <= int(burst[1]) <= 2
    assert 1 <= int(burst[2]) <= 2

    theme = local_files(demo_dir / "theme")
    assert "templates/article.html" in theme
    assert "templates/blog-post.html" not in theme
    for user in DEMO_USERS:
        copy = demo_dir / "remote" / str(user.portal_id) / "published" / "demo-theme"
        assert digest(mirrored(copy)) == digest(theme), user.account

    config = (demo_dir / "config.toml").read_text()
    logged = (demo_dir / "state" / "sync.log").read_text()
    for text in (output, config, logged):
        assert not KEY_SHAPE.search(text)
    assert not (home / ".local" / "state" / "hubsync").exists()
    assert not (home / ".config" / "hubsync").exists()


def test_live_demo_pushes_an_edit_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """`hubsync demo` watches the theme: an edit reaches both accounts' copies on disk, the
    config points at this run's port, a concurrent demo on the folder is refused without
    touching the theme, Ctrl-C exits 0, and a second run on another port keeps the edited
    theme and rewrites the config's api_base."""
    env = new_user_env(tmp_path / "home")
    demo_dir = tmp_path / "demo"
    edited = b"/* my first edit */\nbody { color: rebeccapurple; }\n"
    for run, port in enumerate((free_port(), free_port())):
        out = tmp_path / f"out{run}.txt"
        with out.open("wb") as sink:
            process = subprocess.Popen(
                [*HUBSYNC, "demo", "--dir", str(demo_dir), "--port", str(port)],
                env=env, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT)
        try:
            wait_for(contains(out, b"watching demo-theme"), out)
            text = out.read_text()
            assert f"http://127.0.0.1:{port}" in text
            assert f'api_base = "http://127.0.0.1:{port}"' in (
                demo_dir / "config.toml").read_text()
            assert "log -f" in text
            assert "/remote/1001/published/demo-theme" in text
            if run == 0:
                assert "copied the sample theme" in text
                # Edit after the first sync has the file: a file rewritten while it is
                # being uploaded hangs the upload (reported against HubSpotClient.upload).
                theme_css = demo_dir / "theme" / "css" / "main.css"
                original = theme_css.read_bytes()
                for user in DEMO_USERS:
                    wait_for(holds(demo_dir / "remote" / str(user.portal_id) / "published"
                                   / "demo-theme" / "css" / "main.css", original), out)
                theme_css.write_bytes(edited)
                # A second demo on the same folder is refused and refreshes nothing.
                second = subprocess.run(
                    [*HUBSYNC, "demo", "--scripted", "--dir", str(demo_dir)], env=env,
                    cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
                assert second.returncode == 1
                assert "already running" in second.stderr
                assert theme_css.read_bytes() == edited
            else:
                assert "reusing your edited theme" in text
            for user in DEMO_USERS:
                copy = demo_dir / "remote" / str(user.portal_id) / "published" / "demo-theme"
                target = copy / "css" / "main.css"
                wait_for(holds(target, edited), out)
        finally:
            process.send_signal(signal.SIGINT)
            returncode = process.wait(30)
        assert returncode == 0, out.read_text()
        assert "stopped" in out.read_text()


def test_demo_refuses_a_busy_port(tmp_path: Path) -> None:
    """A --port already in use is a one-line error naming the fix, not a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*HUBSYNC, "demo", "--dir", str(tmp_path / "demo"), "--port", str(port)],
            env=new_user_env(tmp_path / "home"), cwd=tmp_path, capture_output=True,
            text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "pick another --port" in result.stderr
    assert "Traceback" not in result.stderr


def test_prepare_never_empties_a_folder_the_demo_did_not_make(tmp_path: Path) -> None:
    """--dir pointing at someone's work is refused before anything is touched; a demo
    folder is reused, and only the scripted demo refreshes the theme."""
    precious = tmp_path / "work"
    (precious / "theme").mkdir(parents=True)
    (precious / "theme" / "mine.html").write_text("keep me")
    with pytest.raises(HubsyncError, match="not a hubsync demo folder"):
        prepare(precious, fresh_theme=True)
    assert (precious / "theme" / "mine.html").read_text() == "keep me"

    demo = tmp_path / "demo"
    workspace, note = prepare(demo, fresh_theme=False)
    assert note.startswith("copied the sample theme")
    assert (workspace.theme / "modules" / "hero.module" / "meta.json").is_file()
    (workspace.theme / "css" / "main.css").write_text("edited")
    _, note = prepare(demo, fresh_theme=False)
    assert note.startswith("reusing")
    assert (workspace.theme / "css" / "main.css").read_text() == "edited"
    _, note = prepare(demo, fresh_theme=True)
    assert note.startswith("refreshed")
    assert (workspace.theme / "css" / "main.css").read_text() != "edited"


def contains(path: Path, text: bytes) -> Callable[[], bool]:
    return lambda: path.exists() and text in path.read_bytes()


def holds(path: Path, content: bytes) -> Callable[[], bool]:
    return lambda: path.exists() and path.read_bytes() == content


def wait_for(predicate: Callable[[], bool], out: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out; output so far:\n" + out.read_text())
        time.sleep(0.05)


def test_demo_command_default_dir_matches_the_demo_module() -> None:
    """`hubsync demo --help` names the same default folder the demo really uses (the command
    spells it out so that building the parser does not import the engine)."""
    import argparse

    from hubsync.commands import demo as demo_command
    from hubsync.demo import DEFAULT_DIR

    parser = argparse.ArgumentParser()
    demo_command.configure(parser, "demo")
    assert parser.parse_args([]).dir == DEFAULT_DIR
