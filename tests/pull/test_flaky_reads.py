"""Remote reads on a flaky network (trial finding 1): a listing or a pull under the
emulator's faults (5xx answers, dropped connections) retries the failed read, paced,
instead of throwing the whole pass away, and when a read does fail for good the caller
gets the ``HubsyncError`` itself, never an ``ExceptionGroup`` from a TaskGroup (which
crashed the two-way poll with a traceback and made `pull` an "internal error").
Real HTTP to the emulator on 127.0.0.1; `pull` as a subprocess."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from hubsync.app import real_adapters
from hubsync.config import Account, Settings
from hubsync.credentials import env_var_name
from hubsync.emulator import Emulator, EmulatorThread
from hubsync.engine.poller import ShareLimiter
from hubsync.errors import TransientError
from hubsync.model import AccessToken, RemoteMeta
from hubsync.ratelimit import Pacer
from hubsync.remote import RemoteFiles
from tests.e2e.e2e_helpers import DEST, run_hubsync, write_config
from tests.pull.pull_helpers import seed_remote
from tests.support.processes import PORTALS, local_tree

PORTAL = 111


def _tree(files: int) -> dict[str, bytes]:
    """``files`` small files spread over nested folders (one metadata read each)."""
    return {f"d{i % 4}/sub{i % 3}/f{i:03}.css": f"/* {i} */".encode() for i in range(files)}


@pytest.fixture
def keys(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulated accounts' keys in the environment, where hubsync looks first."""
    for name, account in emulator.accounts.items():
        monkeypatch.setenv(env_var_name(name), account.key)


class _FailingAfterTop:
    """The real client; after the first metadata read (the listed folder itself) every
    connection is dropped by the emulator, so the children's reads fail for good."""

    def __init__(self, api: object, emulator: Emulator) -> None:
        self.api = api
        self.emulator = emulator
        self.reads = 0

    async def metadata(self, token: AccessToken, remote_path: str, *,
                       publish: bool = True) -> RemoteMeta | None:
        self.reads += 1
        if self.reads == 2:
            self.emulator.set_faults(drop_rate=1.0)
        meta: RemoteMeta | None = await self.api.metadata(  # type: ignore[attr-defined]
            token, remote_path, publish=publish)
        return meta

    async def download(self, token: AccessToken, remote_path: str, *,
                       publish: bool = True) -> bytes:
        content: bytes = await self.api.download(  # type: ignore[attr-defined]
            token, remote_path, publish=publish)
        return content


async def _reader(emulator: Emulator, *, wrap: bool = False, concurrency: int = 1
                  ) -> tuple[RemoteFiles, Callable[[], Awaitable[None]]]:
    """The two-way poller's kind of reader over the real client (token fetched first),
    its backoff shortened 20 times so the retries do not make the test slow."""
    pacer = Pacer(limit=100_000, window_s=10)
    adapters = real_adapters()
    account = Account("sandbox", PORTAL, api_base=emulator.url)
    api = adapters.make_api(account, Settings(), pacer)
    tokens = adapters.make_tokens(account, api)
    await tokens.token()
    reader = _FailingAfterTop(api, emulator) if wrap else api

    async def short_sleep(seconds: float) -> None:
        await asyncio.sleep(seconds / 20)
    remote = RemoteFiles(reader, tokens, ShareLimiter(pacer, share=1.0),
                         concurrency=concurrency, sleep=short_sleep)
    return remote, api.close


async def test_a_listing_on_a_flaky_network_is_complete(emulator: Emulator, keys: None) -> None:
    """With 30 % of the answers a 5xx and 20 % of the connections dropped (the trial's
    faults), a walk of 60 files in 16 folders still lists every file: each failed read is
    tried again instead of ending the pass."""
    tree = _tree(60)
    for rel, content in tree.items():
        emulator.edit_as(PORTAL, f"t/{rel}", content, user_id=7)
    remote, close = await _reader(emulator, concurrency=3)
    try:
        emulator.set_faults(error_rate=0.3, drop_rate=0.2)
        found = await remote.walk("t")
    finally:
        emulator.set_faults()
        await close()
    assert sorted(f.rel for f in found) == sorted(tree)
    assert remote.requests > len(tree) + 16  # some reads failed and were tried again


async def test_a_read_that_fails_for_good_raises_our_error_not_a_group(
        emulator: Emulator, keys: None) -> None:
    """When the children's reads fail on every try (the connection always dropped after
    the folder was read), ``walk`` raises the TransientError itself, naming the network
    error, not an ExceptionGroup an ``except HubsyncError`` would miss."""
    for rel, content in _tree(6).items():
        emulator.edit_as(PORTAL, f"t/{rel}", content, user_id=7)
    remote, close = await _reader(emulator, wrap=True, concurrency=3)
    try:
        with pytest.raises(TransientError, match="network error") as raised:
            await remote.walk("t")
    finally:
        emulator.set_faults()
        await close()
    assert not isinstance(raised.value, BaseExceptionGroup)


def test_pull_on_a_flaky_network_brings_every_file(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`hubsync pull` under the trial's faults (error_rate 0.3, drop_rate 0.2), its key
    exchange included: exit 0 and every file byte for byte, no internal error."""
    emu = emulator_thread
    root = tmp_path / "theme"
    root.mkdir()
    config = write_config(tmp_path / "config.toml", emu, root, tmp_path / "state",
                          accounts=("sandbox",))
    tree = _tree(40)
    seed_remote(emu, PORTALS["sandbox"], tree, dest=DEST)
    emu.set_faults(error_rate=0.3, drop_rate=0.2)
    try:
        done = run_hubsync(config, emu, "pull", timeout=180)
    finally:
        emu.set_faults()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "internal error" not in done.stderr
    assert local_tree(root) == tree

