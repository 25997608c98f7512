"""A whole :class:`~hubsync.engine.Engine` on the in-memory twins, with a fake clock.

Only HubSpot (``MemoryApi``), time (``FakeClock``), the watcher (``ScriptedWatchers``) and
the key lookup (``MemoryKeys``) are twins; the theme files, the SQLite state and the sync
log are real files in ``tmp_path``. Nothing waits on wall time: a test moves the clock and
waits on :meth:`Rig.quiet`, the barrier "every engine task is blocked on the fake clock
and no request is in flight", after which nothing can happen until the clock moves.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubsync.auth import TokenManager
from hubsync.config import Account, Config, Settings, Watch
from hubsync.core.effects import Effects
from hubsync.engine import Adapters, Engine, EngineEvent
from hubsync.errors import StateDiskFull
from hubsync.journal import LOG_NAME, Journal
from hubsync.model import AccountStatus, Api, Target
from hubsync.ports import RemoteApi
from hubsync.ratelimit import Pacer
from hubsync.state import AsyncStateStore, StateStore
from hubsync.testing import FakeClock, MemoryApi, MemoryKeys, MemoryRequest, ScriptedWatchers

PORTALS = {"sandbox": 111, "staging": 222}
USERS = {"sandbox": 9001, "staging": 9002}
DEST = "my-theme"
QUIET_S = 0.5
"""The watch's quiet period (``debounce_ms`` 500)."""
STEP_S = 0.001
"""A small step of fake time, for "just before" and "just after" a deadline."""
BARRIER_S = 20.0
"""Real seconds a barrier may take before the test fails (never expected to be reached)."""


def sha(content: bytes | str) -> str:
    """The hex SHA-256 of ``content`` (str as UTF-8), as the base records it."""
    data = content.encode() if isinstance(content, str) else content
    return hashlib.sha256(data).hexdigest()


def remote(rel: str) -> str:
    """The remote path of the watch-relative ``rel``."""
    return f"{DEST}/{rel}"


class FlakyStore(AsyncStateStore):
    """The real state store whose ``apply`` raises ``StateDiskFull`` while ``full``."""

    full: bool = False
    refused: int = 0
    """How many writes were refused so far."""

    async def apply(self, *effects: Effects) -> None:
        if self.full:
            self.refused += 1
            # Refused on the store's thread, as a real full disk is: the loop runs on
            # meanwhile (a worker may dispatch before the failure is known).
            await self.run(_disk_full)
        await super().apply(*effects)


def _disk_full(store: StateStore) -> None:
    raise StateDiskFull(f"cannot write the state {store.path}: the disk is full "
                        "(scripted by the test)")


@dataclass
class Rig:
    """One engine on the twins, and everything a test drives or inspects."""

    tmp_path: Path
    clock: FakeClock
    api: MemoryApi
    keys: MemoryKeys
    watchers: ScriptedWatchers
    config: Config
    events: list[EngineEvent] = field(default_factory=list)
    engine: Engine | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    store_class: type[AsyncStateStore] = AsyncStateStore
    store: AsyncStateStore | None = None
    """The state store the engine opened last."""

    @property
    def root(self) -> Path:
        return self.config.watches[0].src

    @property
    def state_dir(self) -> Path:
        return self.config.settings.state_dir

    # --- building --------------------------------------------------------------------

    def adapters(self) -> Adapters:
        clock = self.clock

        def make_pacer(settings: Settings) -> Pacer:
            return Pacer(settings.rate_limit, settings.rate_window_ms / 1000,
                         clock=clock.monotonic, sleep=clock.sleep)

        def make_api(account: Account, settings: Settings, pacer: Pacer) -> RemoteApi:
            return self.api.bind(account.portal_id)

        def make_tokens(account: Account, api: RemoteApi) -> TokenManager:
            return TokenManager(account, api, key_lookup=self.keys, clock=clock.time,
                                jitter=lambda: 1.0)

        return Adapters(clock=clock, open_state=self._open_state, open_journal=Journal,
                        make_pacer=make_pacer, make_api=make_api, make_tokens=make_tokens,
                        make_watcher=self.watchers,
                        # 1.0: full jitter at its top, so backoff is exactly 1, 2, 4… s.
                        jitter=lambda: 1.0)

    async def _open_state(self, state_dir: Path) -> AsyncStateStore:
        self.store = await self.store_class.open(state_dir)
        return self.store

    def build(self, **options: Any) -> Engine:
        self.engine = Engine(self.config, adapters=self.adapters(),
                             on_event=self.events.append, **options)
        return self.engine

    # --- running in watch mode -------------------------------------------------------

    async def start(self, **options: Any) -> Engine:
        """Run the engine in watch mode and wait until its first reconcile is pushed."""
        engine = self.build(**options)
        ready = asyncio.Event()
        self.task = asyncio.create_task(engine.run(self.stop, ready=ready.set))
        async with asyncio.timeout(BARRIER_S):
            await asyncio.wait({self.task, asyncio.create_task(ready.wait())},
                               return_when=asyncio.FIRST_COMPLETED)
        if self.task.done():
            self.task.result()  # raises what ended it
        await self.quiet()
        return engine

    async def finish(self) -> None:
        """Stop the engine and wait for it (re-raising what it raised)."""
        self.stop.set()
        assert self.task is not None
        async with asyncio.timeout(BARRIER_S):
            await self.task

    def tasks_on_clock(self) -> int:
        """The long-lived tasks of a watch session that wait on the clock when idle: the
        settler, the auth rechecker, the committer and one worker per account."""
        assert self.engine is not None
        return 3 + len(self.engine.status().accounts)

    def in_flight(self) -> int:
        assert self.engine is not None
        return sum(a.in_flight for a in self.engine.status().accounts)

    async def quiet(self, *, in_flight: int = 0) -> None:
        """Barrier: every engine task is blocked on the fake clock and exactly
        ``in_flight`` requests are in flight (held at a gate): nothing more happens until
        the clock moves or the test acts."""
        async with asyncio.timeout(BARRIER_S):
            await self.clock.quiescent(self.tasks_on_clock(),
                                       also=lambda: self.in_flight() == in_flight)

    async def advance(self, seconds: float, *, in_flight: int = 0) -> None:
        """Move the fake clock, then wait until the engine is quiet again."""
        self.clock.advance(seconds)
        await self.quiet(in_flight=in_flight)

    def edit(self, rel: str, content: str | bytes, *, emit: bool = True) -> None:
        """Write ``rel`` under the root (a real file) and have the watcher report it."""
        write_files(self.root, {rel: content})
        if emit:
            self.watchers[self.root].emit(rel)

    def remove(self, rel: str) -> None:
        """Delete ``rel`` under the root and have the watcher report it."""
        (self.root / rel).unlink()
        self.watchers[self.root].emit(rel)

    # --- inspecting ------------------------------------------------------------------

    def uploads(self, rel: str | None = None, portal: int | None = None,
                ) -> list[MemoryRequest]:
        """The successful uploads (of ``rel``, to ``portal``), oldest first."""
        return [r for r in self.api.requests_of("upload", remote(rel) if rel else None)
                if portal is None or r.portal_id == portal]

    def account(self, name: str = "sandbox") -> AccountStatus:
        """The engine's status of account ``name`` (AssertionError when it has none)."""
        assert self.engine is not None
        status = self.engine.status().account(name)
        assert status is not None, name
        return status

    def content(self, rel: str, account: str = "sandbox") -> bytes | None:
        """The published bytes of ``rel`` in ``account``'s portal; None when absent."""
        stored = self.api.files(portal_id=PORTALS[account]).get(remote(rel))
        return stored.content if stored is not None else None

    def sync_log(self) -> list[dict[str, Any]]:
        path = self.state_dir / LOG_NAME
        return [json.loads(line) for line in path.read_text().splitlines()]

    def synced(self) -> dict[tuple[str, str], str]:
        """(account, remote path) -> sha256 of the base, read from the state file."""
        with StateStore.open(self.state_dir) as store:
            store.bind({name: _target(self.config.accounts[name])
                        for name in self.config.watches[0].accounts})
            _entries, base = store.load()
        return {(row.account, row.remote_path): row.sha256 for row in base}

    def pending_rows(self) -> list[tuple[str, str, str]]:
        """(account, remote path, state) of the outbox rows in the state file."""
        with StateStore.open(self.state_dir) as store:
            store.bind({name: _target(self.config.accounts[name])
                        for name in self.config.watches[0].accounts})
            entries, _base = store.load()
        return sorted((e.account, e.remote_path, str(e.state)) for e in entries)


def _target(account: Account) -> Target:
    """The binding the engine makes for ``account`` (``engine.session._target``)."""
    return Target(account.portal_id, account.base_url, Api(account.transport))


def write_files(root: Path, files: Mapping[str, bytes | str]) -> None:
    """Create ``files`` (rel -> content) under ``root``."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)


def make_rig(tmp_path: Path, files: Mapping[str, bytes | str], *,
             accounts: tuple[str, ...] = ("sandbox",), max_deletes: int = 20,
             store_class: type[AsyncStateStore] = AsyncStateStore,
             keys: Mapping[str, str] | None = None) -> Rig:
    """A theme of ``files`` in ``tmp_path/theme``, watched into ``accounts`` on one twin;
    each account's user is registered with the key ``key-<account>`` (``keys`` overrides
    what the key lookup answers)."""
    root = tmp_path / "theme"
    root.mkdir()
    write_files(root, files)
    clock = FakeClock()
    api = MemoryApi(None, clock=clock)
    for name in accounts:
        api.add_user(PORTALS[name], USERS[name], key=f"key-{name}",
                     hub_name=f"{name} portal")
    settings = Settings(state_dir=tmp_path / "state", debounce_ms=int(QUIET_S * 1000),
                        max_deletes=max_deletes)
    config = Config(path=tmp_path / "config.toml", settings=settings,
                    accounts={n: Account(n, PORTALS[n]) for n in accounts},
                    watches=(Watch(name="theme", src=root, dest=DEST, accounts=accounts,
                                   delete_remote=True),))
    lookup = MemoryKeys(keys if keys is not None else {n: f"key-{n}" for n in accounts})
    return Rig(tmp_path, clock, api, lookup, ScriptedWatchers(), config,
               store_class=store_class)


async def drive(rig: Rig, work: asyncio.Task[Any], *, tasks_on_clock: int,
                max_steps: int = 1000) -> float:
    """Run ``work`` (a ``push_once``) to its end, moving the fake clock to the next
    deadline each time everything waits on it. Returns the fake seconds that passed."""
    passed = 0.0
    for _ in range(max_steps):
        async with asyncio.timeout(BARRIER_S):
            await rig.clock.quiescent(0, also=lambda: work.done() or (
                rig.clock.blocked >= tasks_on_clock and rig.in_flight() == 0))
        if work.done():
            return passed
        step = rig.clock.next_deadline()
        if step is None:
            raise AssertionError("push_once waits on nothing the clock can end")
        rig.clock.advance(max(0.0, step))
        passed += max(0.0, step)
    raise AssertionError(f"push_once still running after {max_steps} clock steps")

