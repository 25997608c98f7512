"""Running ``hubsync`` as a real process against the emulator, and comparing trees."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from hubsync.credentials import env_var_name
from hubsync.emulator import Emulator, EmulatorThread
from hubsync.engine.bulk import ARCHIVE_PREFIX

HUBSYNC = [sys.executable, "-m", "hubsync"]
PORTALS = {"sandbox": 111, "staging": 222}
"""The portals of the shared ``emulator_thread`` fixture's accounts."""


def keys_env(emu: EmulatorThread, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with every emulator account's key in
    its ``HUBSYNC_KEY_<NAME>`` and no ``HUBSYNC_CONFIG`` to override ``--config``."""
    env = dict(os.environ if base is None else base)
    for name, account in emu.accounts.items():
        env[env_var_name(name)] = account.key
    env.pop("HUBSYNC_CONFIG", None)
    return env


class HubsyncProcess:
    """A running ``hubsync``; its output goes to a file we can read while it runs."""

    def __init__(self, process: subprocess.Popen[bytes], out: Path) -> None:
        self.process = process
        self.out = out

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        wait_until(lambda: text in self.output(), timeout,
                   f"{text!r} in output:\n" + self.output())


@contextmanager
def hubsync_process(args: list[str], env: Mapping[str, str], out: Path, *,
                    stop_signal: signal.Signals) -> Iterator[HubsyncProcess]:
    """Start ``hubsync ARGS`` (stdout and stderr to ``out``); at the end, if it still runs,
    send ``stop_signal``, then SIGKILL after 20 s."""
    with out.open("wb") as sink:
        process = subprocess.Popen([*HUBSYNC, *args], env=dict(env), stdout=sink,
                                   stderr=subprocess.STDOUT)
    try:
        yield HubsyncProcess(process, out)
    finally:
        if process.poll() is None:
            process.send_signal(stop_signal)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until(predicate: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    """Poll ``predicate`` until it holds; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def file_deletes(emu: EmulatorThread | Emulator) -> list[str]:
    """The remote paths of the theme files the emulator was asked to delete, oldest first:
    every delete request except the archive path's removal of its own temporary archive
    (engine/bulk.py), which is not a user's file."""
    return [r.remote_path or "" for r in emu.requests
            if r.endpoint in ("delete", "v3_delete")
            and ARCHIVE_PREFIX not in (r.remote_path or "")]


def remote_tree(emu: EmulatorThread | Emulator, portal: int, dest: str,
                environment: str = "published") -> dict[str, bytes]:
    """The emulator's files under ``dest`` (published, or ``environment``), relative to
    it."""
    prefix = dest + "/"
    return {path.removeprefix(prefix): stored.content
            for path, stored in emu.files(portal, environment).items()
            if path.startswith(prefix)}


def local_tree(root: Path, ignore: Callable[[str], bool] = lambda rel: False) -> dict[str, bytes]:
    """Every file under ``root`` (relative, ``/``-separated) whose path ``ignore`` refuses."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not ignore(p.relative_to(root).as_posix())}


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Write each relative path's content under ``root``, making folders as needed."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
