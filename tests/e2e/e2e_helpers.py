"""Running ``hubsync`` as a subprocess against the emulator thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from hubsync.emulator import EmulatorThread

HUBSYNC = [sys.executable, "-m", "hubsync"]


def write_config(path: Path, emu: EmulatorThread, root: Path, state_dir: Path, *,
                 accounts: tuple[str, ...] = ("sandbox", "staging"), debounce_ms: int = 50,
                 delete_remote: bool = True, extra_settings: str = "") -> Path:
    """A config for a watch ``theme`` of ``root`` to ``my-theme`` in the given accounts."""
    portals = {"sandbox": 111, "staging": 222}
    text = [
        "[settings]",
        f'state_dir = "{state_dir}"',
        f"debounce_ms = {debounce_ms}",
        extra_settings,
    ]
    for name in accounts:
        text += [f"[accounts.{name}]", f"portal_id = {portals[name]}",
                 f'api_base = "{emu.url}"']
    quoted = ", ".join(f'"{a}"' for a in accounts)
    text += ["[[watch]]", 'name = "theme"', f'src = "{root}"', 'dest = "my-theme"',
             f"accounts = [{quoted}]", f"delete_remote = {str(delete_remote).lower()}"]
    path.write_text("\n".join(text) + "\n")
    return path


def env_with_keys(emu: EmulatorThread) -> dict[str, str]:
    env = dict(os.environ)
    for name, account in emu.accounts.items():
        env[f"HUBSYNC_KEY_{name.upper()}"] = account.key
    env.pop("HUBSYNC_CONFIG", None)
    return env


def run_hubsync(config: Path, emu: EmulatorThread, *args: str,
                timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HUBSYNC, "--config", str(config), *args], env=env_with_keys(emu),
                          capture_output=True, text=True, timeout=timeout, check=False)


class Session:
    """A running ``hubsync watch``; its output goes to a file we can read while it runs."""

    def __init__(self, process: subprocess.Popen[bytes], out: Path) -> None:
        self.process = process
        self.out = out

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        wait_until(lambda: text in self.output(), timeout, f"{text!r} in output:\n"
                   + self.output())


@contextmanager
def watch_session(config: Path, emu: EmulatorThread, out: Path) -> Iterator[Session]:
    """Start ``hubsync watch``, wait for "watching", and stop it with SIGINT at the end."""
    with out.open("wb") as sink:
        process = subprocess.Popen([*HUBSYNC, "--config", str(config), "watch"],
                                   env=env_with_keys(emu), stdout=sink,
                                   stderr=subprocess.STDOUT)
    session = Session(process, out)
    try:
        session.wait_for_output("watching")
        yield session
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until(predicate: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def remote_tree(emu: EmulatorThread, portal: int, dest: str = "my-theme") -> dict[str, bytes]:
    prefix = dest + "/"
    return {path.removeprefix(prefix): stored.content
            for path, stored in emu.files(portal).items() if path.startswith(prefix)}


def local_tree(root: Path, ignore: Callable[[str], bool] = lambda rel: False) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not ignore(p.relative_to(root).as_posix())}


def uploads_of(emu: EmulatorThread, remote_path: str, portal: int | None = None) -> int:
    return sum(1 for r in emu.requests if r.endpoint == "upload"
               and r.remote_path == remote_path and 200 <= r.status < 300
               and (portal is None or r.portal_id == portal))


def requests_of(emu: EmulatorThread, endpoint: str, remote_path: str) -> int:
    return sum(1 for r in emu.requests if r.endpoint == endpoint
               and r.remote_path == remote_path)


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
