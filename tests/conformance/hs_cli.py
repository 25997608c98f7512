"""Running HubSpot's ``hs`` CLI against the emulator, with no route off the machine.

``hs`` is ``@hubspot/cli@8.14.0`` installed by ``tests/run.sh`` into
``$HUBSYNC_TEST_CACHE/hs-cli-8.14.0`` (default ``~/.cache/hubsync-tests``), or any ``hs``
named by ``$HUBSYNC_HS``. Every run gets a private ``HOME``, trusts only the emulator's
throwaway CA in addition to the system's, is redirected with ``HUBAPI_DOMAIN_OVERRIDE``,
and has ``deny-net.cjs`` preloaded, which refuses any connection or name lookup that is
not loopback (``hs`` loads an error reporter that would call a HubSpot host). Facts from
``hs-on-loopback.md``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from hubsync.emulator import EmulatorThread

HS_VERSION = "8.14.0"
PRELOAD = Path(__file__).with_name("deny-net.cjs")
ALLOWED = frozenset({"css", "js", "json", "html", "txt", "md", "jpg", "jpeg", "png", "gif",
                     "map", "svg", "eot", "otf", "ttf", "woff", "woff2", "graphql"})
"""What ``hs`` uploads (hubspot-api.md §3)."""


def cache_dir() -> Path:
    """Where tests/run.sh installs the CLI."""
    explicit = os.environ.get("HUBSYNC_TEST_CACHE")
    return Path(explicit) if explicit else Path.home() / ".cache" / "hubsync-tests"


def find_hs() -> Path | None:
    """The ``hs`` executable to test with, or None when it is not installed."""
    explicit = os.environ.get("HUBSYNC_HS")
    if explicit:
        return Path(explicit)
    candidate = cache_dir() / f"hs-cli-{HS_VERSION}" / "node_modules" / ".bin" / "hs"
    return candidate if candidate.exists() else None


class Hs:
    """``hs`` bound to one emulator and one private home folder."""

    def __init__(self, executable: Path, emulator: EmulatorThread, home: Path) -> None:
        self.executable = executable
        self.emulator = emulator
        self.home = home
        self.denied_log = home / "denied.log"

    def env(self) -> dict[str, str]:
        """The environment of every ``hs`` run: nothing of the user's, nothing off-machine."""
        ca = self.emulator.ca_path
        assert ca is not None, "the conformance emulator must run with tls=True"
        netloc = urlsplit(self.emulator.url).netloc
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            # The library builds https://${override}.com, so /api.hubapi.com/ prefixes paths.
            "HUBAPI_DOMAIN_OVERRIDE": f"{netloc}/api.hubapi",
            "NODE_EXTRA_CA_CERTS": str(ca),
            "NODE_OPTIONS": f"--require {PRELOAD}",
            "HUBSYNC_DENIED_LOG": str(self.denied_log),
            "NO_UPDATE_NOTIFIER": "1",
            "SKIP_HUBSPOT_CLI_AUTO_UPDATES": "1",
            "BROWSER": "none",
            "CI": "1",
        }

    def run(self, *args: str, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """``hs ARGS`` to completion in ``cwd``; output captured as text."""
        return subprocess.run([str(self.executable), *args], cwd=cwd, env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)

    @contextmanager
    def background(self, *args: str, cwd: Path, out: Path) -> Iterator[subprocess.Popen[bytes]]:
        """``hs ARGS`` running (output to ``out``) for the body; SIGINT at the end, then
        SIGKILL after 20 s."""
        with out.open("wb") as sink:
            process = subprocess.Popen([str(self.executable), *args], cwd=cwd, env=self.env(),
                                       stdout=sink, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def denied(self) -> list[str]:
        """Every connection or lookup the preload refused so far."""
        if not self.denied_log.exists():
            return []
        return self.denied_log.read_text().splitlines()


def uploadable(root: Path, ignored: Callable[[str], bool] = lambda _: False) -> dict[str, bytes]:
    """The files under ``root`` that ``hs`` uploads: allowed extensions, no dot-files or
    dot-folders, minus ``ignored`` relative paths; relative path -> bytes."""
    found: dict[str, bytes] = {}
    for item in sorted(root.rglob("*")):
        rel = item.relative_to(root).as_posix()
        if not item.is_file() or any(part.startswith(".") for part in rel.split("/")):
            continue
        if item.suffix.lower().lstrip(".") in ALLOWED and not ignored(rel):
            found[rel] = item.read_bytes()
    return found


def remote_tree(emulator: EmulatorThread, portal_id: int, folder: str,
                environment: str = "published") -> dict[str, bytes]:
    """The emulator's files under ``folder``, relative to it -> bytes."""
    prefix = folder.rstrip("/") + "/"
    return {path[len(prefix):]: stored.content
            for path, stored in emulator.files(portal_id, environment).items()
            if path.startswith(prefix)}


def local_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, relative path -> bytes."""
    return {item.relative_to(root).as_posix(): item.read_bytes()
            for item in sorted(root.rglob("*")) if item.is_file()}


def wait_for(condition: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    """Poll ``condition`` until true; fail with ``what()`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s: {what()}")
        time.sleep(0.1)


def copy_theme(source: Path, target: Path) -> Path:
    """A private copy of a theme folder to run ``hs`` on."""
    shutil.copytree(source, target)
    return target
