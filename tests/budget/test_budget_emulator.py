"""The budget rule against the emulator over real HTTP: more requests in flight when the
server is slow and the budget large (the emulator's high-water mark shows it), the fixed
concurrency when the rule is off, and never a 429 under a strict limit."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from hubsync.app import build_engine
from hubsync.config import DEFAULT_CONCURRENCY, Account, Config, Settings, Watch
from hubsync.credentials import env_var_name
from hubsync.emulator import Emulator, Endpoint
from hubsync.hubspot import HubSpotClient


@pytest.fixture
def theme_config(tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
                 ) -> Config:
    """120 small CSS files pushed to the ``sandbox`` account, default settings."""
    monkeypatch.setenv(env_var_name("sandbox"), emulator.accounts["sandbox"].key)
    root = tmp_path / "theme"
    for i in range(120):
        path = root / f"part{i // 40}" / f"f{i:03}.css"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"/* {i} */ a {{ color: red }}")
    return Config(
        path=tmp_path / "config.toml",
        settings=Settings(state_dir=tmp_path / "state"),
        # Per-file uploads: a first push this big would go as one archive under bulk = "auto".
        accounts={"sandbox": Account("sandbox", 111, api_base=emulator.url, bulk="files")},
        watches=(Watch("theme", root, "my-theme", ("sandbox",)),),
    )


def uploads(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests if r.endpoint == Endpoint.UPLOAD and r.status == 200)


async def test_slow_server_large_budget_uses_more_connections(
    emulator: Emulator, theme_config: Config
) -> None:
    """50 ms per request and 10,000 requests / 10 s announced: with the default settings
    the push keeps more than ``concurrency`` (5) uploads in flight, at most
    ``max_concurrency`` (20) plus nothing else, and gets no 429."""
    emulator.set_rate_limit(10_000, 10_000)
    emulator.set_faults(latency_ms=50)
    summary = await build_engine(theme_config).push_once()
    assert summary.ok, summary
    assert uploads(emulator) == 120
    assert DEFAULT_CONCURRENCY < emulator.max_in_flight <= theme_config.settings.max_concurrency
    assert not [r for r in emulator.requests if r.status == 429]


async def test_rule_off_keeps_the_fixed_concurrency(
    emulator: Emulator, theme_config: Config
) -> None:
    """The same server with ``max_concurrency = concurrency``: never more than 5 requests
    at the emulator at once, as before the rule."""
    emulator.set_rate_limit(10_000, 10_000)
    emulator.set_faults(latency_ms=50)
    fixed = replace(theme_config, settings=replace(theme_config.settings,
                                                   max_concurrency=DEFAULT_CONCURRENCY))
    summary = await build_engine(fixed).push_once()
    assert summary.ok, summary
    assert uploads(emulator) == 120
    assert emulator.max_in_flight <= DEFAULT_CONCURRENCY


async def test_strict_limit_is_never_exceeded(
    emulator: Emulator, theme_config: Config
) -> None:
    """A strict limit, 40 requests per 2 s, on a slow server (50 ms): hubsync starts from
    its default budget (100 / 10 s), learns the limit from the first answers and sends
    all 120 files with 0 x 429, taking the time the limit requires (>= 4 s: 120 requests
    at 38 per 2 s after the first window)."""
    emulator.set_rate_limit(40, 2_000)
    emulator.set_faults(latency_ms=50)
    summary = await build_engine(theme_config).push_once()
    assert summary.ok, summary
    assert uploads(emulator) == 120
    assert [r for r in emulator.requests if r.status == 429] == []
    counted = sorted(r.ts for r in emulator.requests if r.endpoint == Endpoint.UPLOAD)
    assert counted[-1] - counted[0] >= 4.0


async def test_emulator_counts_requests_at_once(emulator: Emulator, tmp_path: Path) -> None:
    """The emulator's high-water mark: 7 uploads sent together to a 100 ms server are 7
    at once; ``clear_requests`` starts it again, and one more upload alone is 1."""
    emulator.set_faults(latency_ms=100)
    local = tmp_path / "a.css"
    local.write_text("a{}")
    async with HubSpotClient(emulator.url, 111, max_connections=10) as client:
        token = (await client.exchange_key(emulator.accounts["sandbox"].key)).token
        await asyncio.gather(*(client.upload(token, f"t/{i}.css", local, publish=True)
                               for i in range(7)))
        assert emulator.max_in_flight == 7
        emulator.clear_requests()
        assert emulator.max_in_flight == 0
        await client.upload(token, "t/alone.css", local, publish=True)
    assert emulator.max_in_flight == 1
