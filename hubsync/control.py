"""The control socket: how `hubsync status/pause/resume/flush` talk to a running hubsync.

One Unix stream socket per state directory, in an owner-only folder of the runtime dir.
The protocol is one JSON object per line each way: the request ``{"cmd": NAME, ...}`` and
the reply ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``. One
request per connection keeps both ends trivial.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from hubsync.errors import ControlError

Handler = Callable[[dict[str, Any]], Awaitable[Any]]

log = structlog.get_logger("hubsync.control")

MAX_REQUEST_BYTES = 64 * 1024
"""The longest request line (bytes, newline included) the server reads; a longer one gets
an error reply. Real requests are under 200 bytes; the cap bounds the memory any local
client can make the daemon hold."""
_MAX_LINE = MAX_REQUEST_BYTES

REQUEST_TIMEOUT_S = 5.0
"""How long a connected client may take to send its request line before the server
answers with an error and hangs up, so idle connections cannot pile up."""


def runtime_dir() -> Path:
    """An owner-only folder for sockets: ``$XDG_RUNTIME_DIR/hubsync``, else one under /tmp."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and Path(base).is_dir():
        folder = Path(base) / "hubsync"
    else:
        folder = Path(tempfile.gettempdir()) / f"hubsync-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    # Another user could have made the /tmp fallback first: refuse to use it then.
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise ControlError(f"{folder} is not a folder owned by you; set XDG_RUNTIME_DIR")
    if stat.S_IMODE(info.st_mode) & 0o077:
        folder.chmod(0o700)
    return folder


def socket_path(state_dir: Path) -> Path:
    """The control socket of the hubsync that uses ``state_dir``.

    Named by a hash of the resolved state dir, because a socket path is limited to about
    100 bytes and state dirs can be long.
    """
    digest = hashlib.sha256(str(state_dir.expanduser().resolve()).encode()).hexdigest()[:16]
    return runtime_dir() / f"{digest}.sock"


class ControlServer:
    """Serves control requests on a Unix socket; ``handler`` gets the request dict."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self._handler = handler
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen on ``path``; ControlError when another live process answers there.

        A socket left by a killed process is stale and replaced. The instance lock (taken
        before this) already guarantees no live hubsync uses this state directory; the
        connect test also keeps a second state directory whose name hashes alike, or a
        lock bypassed by hand, from stealing a running session's socket.
        """
        if await _answers(self.path):
            raise ControlError(
                f"another process is serving {self.path}; is a hubsync already running "
                "for this state directory?"
            )
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old_umask = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=_MAX_LINE
            )
        finally:
            os.umask(old_umask)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await _read_request(reader)
            if line is not None:
                reply = await self._answer(line) if isinstance(line, bytes) else line
                writer.write(json.dumps(reply, default=str).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass  # the client went away; nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict) or not isinstance(request.get("cmd"), str):
                raise ValueError("a request is a JSON object with a string 'cmd'")
            return {"ok": True, "result": await self._handler(request)}
        except (ValueError, KeyError, ControlError) as exc:
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # one bad request must not kill the server
            log.exception("control_request_failed", error=type(exc).__name__)
            return {"ok": False, "error": f"internal error: {type(exc).__name__}"}


async def _read_request(reader: asyncio.StreamReader) -> bytes | dict[str, Any] | None:
    """The request line; an error reply when it is too slow or too long; None at EOF."""
    try:
        return await asyncio.wait_for(reader.readuntil(b"\n"), REQUEST_TIMEOUT_S)
    except TimeoutError:
        return {"ok": False, "error": f"no request within {REQUEST_TIMEOUT_S:g} s"}
    except asyncio.LimitOverrunError:
        return {"ok": False,
                "error": f"request longer than {MAX_REQUEST_BYTES // 1024} KiB"}
    except asyncio.IncompleteReadError as exc:
        # The client closed its side without a newline: answer what it sent, if anything.
        return exc.partial or None


async def _answers(path: Path) -> bool:
    """Whether a live process accepts connections on the Unix socket ``path``."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 2.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def request(path: Path, cmd: str, *, wait_s: float = 10.0, **params: Any) -> Any:
    """Send one request and return its result; ControlError when nobody answers or it failed."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_unix_connection(str(path), limit=16 * 2**20), wait_s
        )
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise ControlError("no hubsync is running for this state directory") from exc
    except (OSError, TimeoutError) as exc:
        raise ControlError(f"cannot reach the running hubsync at {path}: {exc}") from exc
    try:
        writer.write(json.dumps({"cmd": cmd, **params}).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), wait_s)
    except (OSError, TimeoutError) as exc:
        raise ControlError(f"the running hubsync did not answer `{cmd}` in {wait_s:g} s") from exc
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    try:
        reply = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ControlError(f"the running hubsync sent a malformed reply to `{cmd}`") from exc
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error", "request failed")))
    return reply.get("result")


def call(state_dir: Path, cmd: str, *, wait_s: float = 10.0, **params: Any) -> Any:
    """Synchronous ``request`` for the CLI."""
    return asyncio.run(request(socket_path(state_dir), cmd, wait_s=wait_s, **params))
