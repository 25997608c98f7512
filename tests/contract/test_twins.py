"""The twins' own knobs: ``FakeClock`` barriers, ``MemoryApi`` faults, gates and request
log, ``ScriptedWatcher`` and ``MemoryKeys`` (the shared semantics are in the contract)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hubsync.credentials import KeySource
from hubsync.errors import (
    Forbidden,
    KeyNotFound,
    KeyRejected,
    NotFound,
    RateLimited,
    TokenExpired,
    TransientError,
)
from hubsync.ports import Clock, KeyLookup, SystemClock, WatcherFactory
from hubsync.testing import DROPPED, FakeClock, MemoryApi, MemoryKeys, ScriptedWatchers

CSS = "theme/css/main.css"


def test_twins_implement_their_ports() -> None:
    """FakeClock is a Clock, ScriptedWatchers a WatcherFactory, MemoryKeys a KeyLookup
    (mypy checks these assignments)."""
    clock: Clock = FakeClock()
    factory: WatcherFactory = ScriptedWatchers()
    keys: KeyLookup = MemoryKeys()
    assert (clock.time(), callable(factory), callable(keys)) == (FakeClock().time(), True, True)


# --- clocks ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [FakeClock, SystemClock], ids=["fake", "system"])
async def test_wait_returns_at_once_for_a_set_event_or_no_time(make: type[Clock]) -> None:
    """Both clocks: a set event or ``seconds <= 0`` returns without waiting."""
    clock = make()
    event = asyncio.Event()
    async with asyncio.timeout(5):
        await clock.wait(event, 0)
        await clock.wait(event, -1)
        event.set()
        await clock.wait(event, None)
        await clock.wait(event, 3600)


@pytest.mark.parametrize("make", [FakeClock, SystemClock], ids=["fake", "system"])
async def test_wait_returns_when_the_event_is_set(make: type[Clock]) -> None:
    """Both clocks: a waiter with a long deadline returns when the event is set."""
    clock = make()
    event = asyncio.Event()
    waiter = asyncio.create_task(clock.wait(event, 3600))
    await asyncio.sleep(0)
    event.set()
    async with asyncio.timeout(5):
        await waiter


async def test_fake_time_moves_only_by_advance() -> None:
    """``time()`` and ``monotonic()`` stand still until ``advance``; ``set`` steps only the
    wall clock (even backwards); a negative advance is refused."""
    clock = FakeClock(start=1000.0, monotonic_start=5.0)
    await asyncio.sleep(0)
    assert (clock.time(), clock.monotonic()) == (1000.0, 5.0)
    clock.advance(2.5)
    assert (clock.time(), clock.monotonic()) == (1002.5, 7.5)
    clock.set(900.0)
    assert (clock.time(), clock.monotonic()) == (900.0, 7.5)
    with pytest.raises(ValueError, match="only advances"):
        clock.advance(-1)


async def test_wait_wakes_when_advance_passes_the_deadline() -> None:
    """A 10 s wait is still waiting after 9.9 s of fake time and done after 10 s; the
    ``sleepers`` barrier says when it started waiting."""
    clock = FakeClock()
    waiter = asyncio.create_task(clock.wait(asyncio.Event(), 10))
    async with asyncio.timeout(5):
        await clock.sleepers(1)
    assert clock.advance(9.9) == 0
    assert clock.waiting == 1
    assert clock.next_deadline() == pytest.approx(0.1)
    assert clock.advance(0.1) == 1
    async with asyncio.timeout(5):
        await waiter
    assert clock.waiting == 0


async def test_cancelled_wait_leaves_no_sleeper() -> None:
    """Cancelling a waiter removes it from the clock."""
    clock = FakeClock()
    waiter = asyncio.create_task(clock.sleep(60))
    await clock.sleepers(1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert clock.waiting == 0


async def test_run_until_idle_follows_a_chain_of_timers() -> None:
    """A task sleeping 1 s three times finishes after exactly 3 s of fake time."""
    clock = FakeClock()

    async def three_naps() -> None:
        for _ in range(3):
            await clock.sleep(1)

    task = asyncio.create_task(three_naps())
    async with asyncio.timeout(5):
        passed = await clock.run_until_idle()
        await task
    assert passed == pytest.approx(3.0)


# --- MemoryApi's knobs -------------------------------------------------------------------


def theme_file(tmp_path: Path, content: bytes = b"a{}") -> Path:
    """A local CSS file."""
    path = tmp_path / "main.css"
    path.write_bytes(content)
    return path


async def test_tokens_expire_by_the_fake_clock(tmp_path: Path) -> None:
    """A token works until ``token_ttl_s`` of fake time has passed, then TokenExpired."""
    clock = FakeClock()
    api = MemoryApi(111, clock=clock, token_ttl_s=60)
    grant = await api.exchange_key(api.add_user(111, 1))
    assert grant.token.expires_at == clock.time() + 60
    clock.advance(59.9)
    await api.upload(grant.token, CSS, theme_file(tmp_path), publish=True)
    clock.advance(0.1)
    with pytest.raises(TokenExpired):
        await api.upload(grant.token, CSS, theme_file(tmp_path), publish=True)


async def test_fail_next_counts_down_then_succeeds(tmp_path: Path) -> None:
    """``fail_next(2, 503)`` fails exactly two requests, then the API works again."""
    api = MemoryApi(111, clock=FakeClock())
    token = (await api.exchange_key(api.add_user(111, 1))).token
    api.fail_next(2, 503)
    for _ in range(2):
        with pytest.raises(TransientError) as caught:
            await api.upload(token, CSS, theme_file(tmp_path), publish=True)
        assert caught.value.status == 503
    await api.upload(token, CSS, theme_file(tmp_path), publish=True)
    assert [r.status for r in api.requests if r.op == "upload"] == [503, 503, 200]


@pytest.mark.parametrize(("status", "error"), [
    (429, RateLimited), (500, TransientError), (DROPPED, TransientError),
    (403, Forbidden), (404, NotFound)])
async def test_fault_statuses_raise_the_clients_errors(
        tmp_path: Path, status: int, error: type[Exception]) -> None:
    """Each scripted status raises the class ``HubSpotClient`` raises for it."""
    api = MemoryApi(111, clock=FakeClock())
    token = (await api.exchange_key(api.add_user(111, 1))).token
    api.fail_next(1, status, op="delete", retry_after=3)
    with pytest.raises(error) as caught:
        await api.delete(token, CSS)
    if status == 429:
        assert isinstance(caught.value, RateLimited)
        assert caught.value.retry_after == 3


async def test_exchange_faults_are_transient_or_a_rejected_key() -> None:
    """At the exchange a 429 stays RateLimited (retry later) while a 403 is KeyRejected,
    as the real client's ``exchange_key`` translates them."""
    api = MemoryApi(111, clock=FakeClock())
    key = api.add_user(111, 1)
    api.fail_next(1, 429, op="exchange", retry_after=5)
    with pytest.raises(RateLimited):
        await api.exchange_key(key)
    api.fail_next(1, 403, op="exchange")
    with pytest.raises(KeyRejected):
        await api.exchange_key(key)
    assert (await api.exchange_key(key)).identity.hub_id == 111


async def test_fail_path_fails_only_that_path(tmp_path: Path) -> None:
    """``fail_path`` refuses one remote path every time; other paths go through."""
    api = MemoryApi(111, clock=FakeClock())
    token = (await api.exchange_key(api.add_user(111, 1))).token
    api.fail_path(CSS, 500)
    for _ in range(3):
        with pytest.raises(TransientError):
            await api.upload(token, CSS, theme_file(tmp_path), publish=True)
    await api.upload(token, "theme/other.css", theme_file(tmp_path), publish=True)
    assert list(api.files()) == ["theme/other.css"]
    api.clear_faults()
    await api.upload(token, CSS, theme_file(tmp_path), publish=True)
    assert list(api.files()) == [CSS, "theme/other.css"]


async def test_gate_holds_a_request_until_released(tmp_path: Path) -> None:
    """A held upload has read its bytes but stored nothing until the gate opens; what is
    stored is what was read, even if the file changed meanwhile (as on the wire)."""
    api = MemoryApi(111, clock=FakeClock())
    token = (await api.exchange_key(api.add_user(111, 1))).token
    local = theme_file(tmp_path, b"first{}")
    gate = api.hold(op="upload", remote_path=CSS)
    upload = asyncio.create_task(api.upload(token, CSS, local, publish=True))
    async with asyncio.timeout(5):
        await gate.reached(1)
    local.write_bytes(b"second{}")
    assert api.files() == {}
    gate.release()
    async with asyncio.timeout(5):
        await upload
    assert api.read(CSS) == b"first{}"


async def test_request_log_has_op_path_token_and_time(tmp_path: Path) -> None:
    """Each request is logged with the token used and the fake time it was answered;
    the token's value never shows in the log's repr."""
    clock = FakeClock()
    api = MemoryApi(111, clock=clock)
    token = (await api.exchange_key(api.add_user(111, 7))).token
    clock.advance(5)
    await api.upload(token, CSS, theme_file(tmp_path), publish=True)
    with pytest.raises(NotFound):
        await api.delete(token, "theme/x.css")
    log = api.requests
    assert [(r.op, r.remote_path, r.status, r.user_id) for r in log] == [
        ("exchange", None, 200, 7), ("upload", CSS, 200, 7), ("delete", "theme/x.css", 404, 7)]
    assert [r.at - log[0].at for r in log] == [0, 5, 5]
    assert log[1].token == token
    assert token.value not in repr(log)
    assert [r.remote_path for r in api.requests_of("upload")] == [CSS]


async def test_bound_views_share_one_hubspot(tmp_path: Path) -> None:
    """``bind(222)`` is another portal's client on the same HubSpot: each portal's key
    writes its own tree, and a token works only on its own portal."""
    sandbox = MemoryApi(111, clock=FakeClock())
    staging = sandbox.bind(222)
    t111 = (await sandbox.exchange_key(sandbox.add_user(111, 1))).token
    t222 = (await staging.exchange_key(sandbox.add_user(222, 2))).token
    await staging.upload(t222, CSS, theme_file(tmp_path), publish=True)
    assert (list(sandbox.files()), list(staging.files())) == ([], [CSS])
    with pytest.raises(Forbidden):
        await staging.upload(t111, CSS, theme_file(tmp_path), publish=True)
    assert len(sandbox.requests) == len(staging.requests) == 4


# --- ScriptedWatcher and MemoryKeys ------------------------------------------------------


async def test_scripted_watcher_delivers_what_the_test_emits(tmp_path: Path) -> None:
    """``emit``/``overflow`` call the engine's callbacks; ``die`` makes ``is_alive`` False
    and a dead watcher refuses to emit; the factory finds the watcher by root."""
    dirty: list[tuple[str, bool]] = []
    overflows: list[int] = []
    watchers = ScriptedWatchers()
    watcher = watchers(tmp_path, lambda rel, is_dir, _complete=False: dirty.append((rel, is_dir)),
                       lambda: overflows.append(1))
    assert not watcher.is_alive()
    async with asyncio.timeout(5):
        starting = asyncio.create_task(watchers.started(tmp_path))
        await watcher.start()
        assert await starting is watcher
    watcher.emit("css/main.css")
    watcher.emit("modules", is_dir=True)
    watcher.overflow()
    assert dirty == [("css/main.css", False), ("modules", True)]
    assert overflows == [1]
    assert watchers[tmp_path] is watcher
    watcher.die()
    assert not watcher.is_alive()
    assert watchers.alive() == []
    with pytest.raises(RuntimeError, match="died"):
        watcher.emit("css/other.css")
    assert len(dirty) == 2


async def test_memory_keys_answer_like_find_key() -> None:
    """A known account -> (key, source); an unknown one -> KeyNotFound naming it; the
    repr shows account names, never keys."""
    keys = MemoryKeys({"sandbox": "pak-SECRET"})
    assert await keys("sandbox") == ("pak-SECRET", KeySource.ENV)
    with pytest.raises(KeyNotFound, match="'staging'"):
        await keys("staging")
    assert keys.lookups == {"sandbox": 1, "staging": 1}
    assert "SECRET" not in repr(keys)
