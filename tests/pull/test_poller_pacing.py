"""Remote reads (the two-way poller's, pull's) are paced requests like uploads: their
answers' ``X-HubSpot-RateLimit-*`` headers teach the account's pacer, they count from
their answers (``Pacer.answered``) and a 429 pauses the account. Real HTTP to the
emulator on 127.0.0.1, real files and SQLite; only the engine runs in this process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from hubsync.app import build_engine, real_adapters
from hubsync.config import Account, Config, Settings, Watch
from hubsync.credentials import env_var_name
from hubsync.emulator import Emulator
from hubsync.emulator.records import Endpoint
from hubsync.engine import Engine
from hubsync.engine.poller import ShareLimiter
from hubsync.ratelimit import Pacer
from hubsync.remote import RemoteFiles

PORTAL = 111
BARRIER_S = 30.0
"""Real seconds a wait for something that must happen may take before the test fails."""


@pytest.fixture
def keys(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulated accounts' keys in the environment, where hubsync looks first."""
    for name, account in emulator.accounts.items():
        monkeypatch.setenv(env_var_name(name), account.key)


def _account(emulator: Emulator) -> Account:
    return Account("sandbox", PORTAL, api_base=emulator.url)


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Wait (polling every 50 ms) until ``condition()``; fail after BARRIER_S."""
    deadline = time.monotonic() + BARRIER_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def _reader(emulator: Emulator, pacer: Pacer, settings: Settings,
                  ) -> tuple[RemoteFiles, Callable[[], Awaitable[None]]]:
    """The two-way poller's reader (``RemotePoller.remote``: the session's client, token
    manager and a ShareLimiter over the pacer, one read at a time), its share raised to
    the whole budget so the pacer alone decides; the token is fetched first. Returns the
    reader and the client's close."""
    adapters = real_adapters()
    account = _account(emulator)
    api = adapters.make_api(account, settings, pacer)
    tokens = adapters.make_tokens(account, api)
    await tokens.token()
    return RemoteFiles(api, tokens, ShareLimiter(pacer, share=1.0), concurrency=1), api.close


async def test_poll_reads_count_from_their_answers(emulator: Emulator, keys: None) -> None:
    """A read answered 0.3 s after it was sent holds its place in the window from its
    answer on: with 1 request per 0.4 s, two reads take >= 0.3 + 0.4 + 0.3 s (counted from
    the send, the second would go at 0.4 s and both be done by about 0.7 s)."""
    emulator.edit_as(PORTAL, "t/a.css", b"a{}", user_id=7)
    pacer = Pacer(limit=2, window_s=0.4)  # a budget of 1 (the safety margin takes one)
    remote, close = await _reader(emulator, pacer, Settings())
    try:
        emulator.set_faults(latency_ms=300)
        started = time.monotonic()
        assert (await remote.metadata("t/a.css")) is not None
        assert (await remote.metadata("t/a.css")) is not None
        assert time.monotonic() - started >= 0.3 + 0.4 + 0.3 - 0.01
    finally:
        emulator.set_faults()
        await close()


async def test_a_429_on_a_poll_read_pauses_the_account_and_the_read_goes_on(
        emulator: Emulator, keys: None) -> None:
    """A 429 (Retry-After: 1) answering a poll read pauses the account's pacer for 1 s;
    the read is sent again after the pause and answers."""
    emulator.edit_as(PORTAL, "t/a.css", b"a{}", user_id=7)
    pacer = Pacer(limit=100, window_s=10.0)
    remote, close = await _reader(emulator, pacer, Settings())
    try:
        emulator.set_faults(storm_seconds=0.5, retry_after=1.0)
        started = time.monotonic()
        meta = await remote.metadata("t/a.css")
        assert meta is not None
        assert meta.path == "t/a.css"
        assert time.monotonic() - started >= 1.0
        assert pacer.snapshot().rate_limited == 1
        assert [r.status for r in emulator.requests if r.endpoint is Endpoint.META] == \
            [429, 200]
    finally:
        emulator.set_faults()
        await close()


def _two_way_config(tmp_path: Path, emulator: Emulator) -> Config:
    root = tmp_path / "theme"
    (root / "css").mkdir(parents=True)
    (root / "css" / "main.css").write_text("body { color: red }")
    return Config(path=tmp_path / "config.toml",
                  settings=Settings(state_dir=tmp_path / "state", debounce_ms=50),
                  accounts={"sandbox": _account(emulator)},
                  watches=(Watch(name="theme", src=root, dest="my-theme",
                                 accounts=("sandbox",), two_way=True),))


def _learned(engine: Engine) -> tuple[int, int] | None:
    status = engine.status().account("sandbox")
    assert status is not None
    return None if status.rate is None else (status.rate.limit, status.rate.window_ms)


async def test_a_poll_reads_headers_change_the_learned_budget(
        tmp_path: Path, emulator: Emulator, keys: None) -> None:
    """In a two-way watch session with nothing left to push (flush as the barrier), the
    server's limit changes to 1200 per 12 s: the next poll reads' X-HubSpot-RateLimit-*
    headers teach it to the account's pacer (``status``), and only metadata reads (the
    poll's) were sent meanwhile."""
    emulator.set_rate_limit(1000, 10_000)
    engine = build_engine(_two_way_config(tmp_path, emulator))
    stop, ready = asyncio.Event(), asyncio.Event()
    session = asyncio.create_task(engine.run(stop, ready=ready.set))
    try:
        async with asyncio.timeout(BARRIER_S):
            await ready.wait()
            await engine.flush()
        assert _learned(engine) == (1000, 10_000)
        sent_before = len(emulator.requests)
        emulator.set_rate_limit(1200, 12_000)
        await _until(lambda: _learned(engine) == (1200, 12_000), "the new limit learned")
        since = {r.endpoint for r in emulator.requests[sent_before:]}
        assert since == {Endpoint.META}
    finally:
        stop.set()
        async with asyncio.timeout(BARRIER_S):
            await session
