"""The control socket: one JSON request and reply per connection, owner-only."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from hubsync import control
from hubsync.errors import ControlError


@pytest.fixture(autouse=True)
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    return run


async def test_request_reaches_handler_and_returns_result(tmp_path: Path) -> None:
    """A request's parameters reach the handler and its return value comes back."""
    seen: list[dict[str, Any]] = []

    async def handler(req: dict[str, Any]) -> Any:
        seen.append(req)
        return {"paused": req.get("account")}

    path = control.socket_path(tmp_path / "state")
    async with control.ControlServer(path, handler):
        result = await control.request(path, "pause", account="sandbox")
    assert result == {"paused": "sandbox"}
    assert seen == [{"cmd": "pause", "account": "sandbox"}]


async def test_socket_is_owner_only_and_removed_on_close(tmp_path: Path) -> None:
    """Nobody but the owner may connect, and no socket file is left behind."""

    async def handler(req: dict[str, Any]) -> Any:
        return None

    path = control.socket_path(tmp_path / "state")
    async with control.ControlServer(path, handler):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not path.exists()


async def test_handler_error_becomes_control_error(tmp_path: Path) -> None:
    """A handler's ControlError reaches the client as a ControlError with the message."""

    async def handler(req: dict[str, Any]) -> Any:
        raise ControlError(f"unknown account {req['account']!r}")

    path = control.socket_path(tmp_path / "state")
    async with control.ControlServer(path, handler):
        with pytest.raises(ControlError, match="unknown account 'nope'"):
            await control.request(path, "pause", account="nope")


async def test_nobody_running_is_a_clear_error(tmp_path: Path) -> None:
    """Without a server the client says no hubsync is running, at once."""
    with pytest.raises(ControlError, match="no hubsync is running"):
        await control.request(control.socket_path(tmp_path / "state"), "status", wait_s=2)


async def test_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    """A socket file left by a killed process does not stop a new server from starting."""
    path = control.socket_path(tmp_path / "state")
    path.write_text("stale")

    async def handler(req: dict[str, Any]) -> Any:
        return "fresh"

    async with control.ControlServer(path, handler):
        assert await control.request(path, "status") == "fresh"


def test_distinct_state_dirs_get_distinct_sockets(tmp_path: Path) -> None:
    """Two configs with different state dirs never share a control socket."""
    assert control.socket_path(tmp_path / "a") != control.socket_path(tmp_path / "b")
    assert control.socket_path(tmp_path / "a") == control.socket_path(tmp_path / "a")
