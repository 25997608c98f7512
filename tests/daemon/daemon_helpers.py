"""Running ``hubsync daemon`` as a real process under a real ``NOTIFY_SOCKET``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from hubsync.emulator import EmulatorThread
from tests.support.processes import (
    HUBSYNC,
    PORTALS,
    HubsyncProcess,
    hubsync_process,
    keys_env,
)


def write_config(path: Path, emu: EmulatorThread, state_dir: Path,
                 watches: Mapping[str, tuple[Path, str, tuple[str, ...]]], *,
                 settings: str = "") -> Path:
    """A config with ``watches``: name -> (src, dest, accounts)."""
    used = sorted({a for _src, _dest, accounts in watches.values() for a in accounts})
    lines = ["[settings]", f'state_dir = "{state_dir}"', "debounce_ms = 50", settings]
    for name in used:
        lines += [f"[accounts.{name}]", f"portal_id = {PORTALS[name]}",
                  f'api_base = "{emu.url}"']
    for name, (src, dest, accounts) in watches.items():
        quoted = ", ".join(f'"{a}"' for a in accounts)
        lines += ["[[watch]]", f'name = "{name}"', f'src = "{src}"', f'dest = "{dest}"',
                  f"accounts = [{quoted}]"]
    path.write_text("\n".join(lines) + "\n")
    return path


def base_env(emu: EmulatorThread, runtime_dir: Path) -> dict[str, str]:
    """The environment of every hubsync process in a test: keys, and a private runtime dir."""
    env = keys_env(emu, {k: v for k, v in os.environ.items()
                         if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                                      "JOURNAL_STREAM")})
    env["XDG_RUNTIME_DIR"] = str(runtime_dir)
    return env


def run_hubsync(config: Path, env: Mapping[str, str], *args: str,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HUBSYNC, "--config", str(config), *args], env=dict(env),
                          capture_output=True, text=True, timeout=timeout, check=False)


class NotifySocket:
    """A bound ``AF_UNIX`` datagram socket playing systemd: records every notification."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.1)
        self._lock = threading.Lock()
        self._messages: list[tuple[float, str]] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._messages.append((time.monotonic(), data.decode()))

    def close(self) -> None:
        self._closed.set()
        self._thread.join(2)
        self._sock.close()

    @property
    def messages(self) -> list[tuple[float, str]]:
        with self._lock:
            return list(self._messages)

    def lines(self, start: int = 0) -> list[str]:
        """Every ``KEY=VALUE`` line received, in order, from message ``start`` on."""
        return [line for _, text in self.messages[start:] for line in text.split("\n")]

    def wait_for(self, wanted: Callable[[str], bool], *, start: int = 0,
                 timeout: float = 30) -> int:
        """Index of the first message from ``start`` with a line ``wanted`` accepts."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index, (_, text) in enumerate(self.messages[start:], start):
                if any(wanted(line) for line in text.split("\n")):
                    return index
            time.sleep(0.02)
        raise AssertionError(f"no such notification; got {self.messages[start:]!r}")

    def wait_line(self, line: str, *, start: int = 0, timeout: float = 30) -> int:
        return self.wait_for(lambda got: got == line, start=start, timeout=timeout)


class Daemon(HubsyncProcess):
    """A running ``hubsync daemon``; output goes to a file we can read while it runs."""

    def stop(self, timeout: float = 25) -> int:
        """SIGTERM, then the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


@contextmanager
def daemon(config: Path, env: Mapping[str, str], out: Path, notify: NotifySocket | None,
           *, watchdog_usec: int | None = None) -> Iterator[Daemon]:
    """Start ``hubsync daemon``; SIGTERM (then SIGKILL) it at the end if still running."""
    child_env = dict(env)
    if notify is not None:
        child_env["NOTIFY_SOCKET"] = str(notify.path)
    if watchdog_usec is not None:
        child_env["WATCHDOG_USEC"] = str(watchdog_usec)
    with hubsync_process(["--config", str(config), "daemon"], child_env, out,
                         stop_signal=signal.SIGTERM) as running:
        yield Daemon(running.process, running.out)
