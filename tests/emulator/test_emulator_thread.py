"""EmulatorThread: the emulator on its own loop, used from synchronous code."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

import pytest

from hubsync.emulator import Emulator, EmulatorThread


def post_json(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_thread_serves_and_accepts_calls_from_the_test_thread(
    emulator_thread: EmulatorThread,
) -> None:
    """A sync caller can exchange a key and change the emulator while it runs."""
    url = emulator_thread.url + "/localdevauth/v1/auth/refresh"
    key = emulator_thread.account("staging").key
    status, body = post_json(url, {"encodedOAuthRefreshToken": key})
    assert (status, body["hubId"], body["userId"]) == (200, 222, 9002)
    emulator_thread.revoke_key(key)
    assert post_json(url, {"encodedOAuthRefreshToken": key})[0] == 401
    new_key = emulator_thread.rotate_key("sandbox")
    assert post_json(url, {"encodedOAuthRefreshToken": new_key})[0] == 200
    added = emulator_thread.add_account("qa", portal_id=333, user_id=9333)
    assert post_json(url, {"encodedOAuthRefreshToken": added.key})[1]["hubId"] == 333
    emulator_thread.set_faults(storm_seconds=30)
    assert post_json(url, {"encodedOAuthRefreshToken": new_key})[0] == 429
    emulator_thread.set_faults()
    emulator_thread.set_rate_limit(0)
    emulator_thread.expire_all_tokens()
    assert [r.endpoint == "auth" for r in emulator_thread.requests].count(True) == 5
    assert emulator_thread.files(111) == {}


def test_thread_stops_cleanly_and_frees_the_port() -> None:
    """After the with-block the port no longer accepts connections."""
    with EmulatorThread(Emulator(rate_limit=0)) as emu:
        port = int(emu.url.rsplit(":", 1)[1])
        # A whole request, not a bare connect: an accept still in flight at shutdown
        # would leave asyncio an orphan transport to warn about.
        assert post_json(emu.url + "/localdevauth/v1/auth/refresh", {})[0] == 400
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_thread_start_failure_is_raised_in_the_caller() -> None:
    """A port already in use fails ``start`` in the calling thread, not silently."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError), EmulatorThread(Emulator(), port=port):
            pass


def test_non_loopback_host_is_refused() -> None:
    """The emulator never listens beyond loopback."""
    with pytest.raises(ValueError, match="loopback"), EmulatorThread(Emulator(), host="0.0.0.0"):
        pass


def test_thread_edits_as_another_user_and_sets_extract_faults() -> None:
    """From the caller's thread: ``edit_as`` stores as that user (published and draft, or
    the draft only), ``delete_as`` removes, ``set_extract_faults`` replaces the faults."""
    with EmulatorThread(Emulator(rate_limit=0)) as emu:
        stored = emu.edit_as(111, "t/a.css", b"a{}", user_id=4242)
        assert (stored.user_id, stored.content) == (4242, b"a{}")
        emu.edit_as(111, "t/a.css", b"draft{}", user_id=7, publish=False)
        assert emu.files(111)["t/a.css"].content == b"a{}"
        assert emu.files(111, "draft")["t/a.css"].content == b"draft{}"
        assert emu.delete_as(111, "t")
        assert not emu.delete_as(111, "t")
        assert emu.files(111) == {}
        emu.set_extract_faults(refuse_status=404, never_complete=True)
        assert (emu.emulator.extract_faults.refuse_status,
                emu.emulator.extract_faults.never_complete) == (404, True)
        with pytest.raises(ValueError, match="403, 404"):
            emu.set_extract_faults(refuse_status=500)
