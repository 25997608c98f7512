"""The composition root: the one place that builds hubsync's real adapters.

HubSpot clients, token managers, pacers, the state store, the sync log and watchers are
constructed here and nowhere else (``tests/core/test_layers.py`` checks), so a test or
the demo swaps any of them by passing other :class:`~hubsync.engine.Adapters` (see
:mod:`hubsync.testing`) without touching the engine.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any

from hubsync.auth import TokenManager
from hubsync.config import Account, Config, Notifications, Settings
from hubsync.engine import Adapters, Engine, SessionListener
from hubsync.hubspot import HubSpotClient
from hubsync.journal import Journal
from hubsync.ports import RemoteApi, SystemClock
from hubsync.ratelimit import Pacer
from hubsync.remote import RemoteFiles
from hubsync.state import AsyncStateStore
from hubsync.watcher import Watcher


def _pacer(settings: Settings) -> Pacer:
    return Pacer(settings.rate_limit, settings.rate_window_ms / 1000,
                 max_concurrency=settings.max_concurrency)


def _client(account: Account, settings: Settings, pacer: Pacer) -> RemoteApi:
    return HubSpotClient(account.base_url, account.portal_id,
                         # As many connections as the pacer may ask for (Pacer.slots).
                         max_connections=max(settings.concurrency, settings.max_concurrency),
                         on_rate_limit=pacer.learn, on_answer=pacer.observe,
                         transport=account.transport,
                         source_code_version=account.source_code_version)


def _tokens(account: Account, api: RemoteApi) -> TokenManager:
    return TokenManager(account, api)


def session_listeners(config: Config) -> list[SessionListener]:
    """What follows a watch session as the config asks: the live-reload file
    (``settings.notify_file``) and desktop notifications (``settings.notifications``)."""
    from hubsync.desktop import DesktopNotifier
    from hubsync.livereload import LiveReload

    listeners: list[SessionListener] = []
    if config.settings.notify_file is not None:
        listeners.append(LiveReload(config.settings.notify_file,
                                    {w.name: w.src for w in config.watches}))
    if config.settings.notifications is Notifications.DESKTOP:
        listeners.append(DesktopNotifier())
    return listeners


def real_adapters() -> Adapters:
    """The adapters of a real session: HubSpot over HTTP, SQLite, watchdog, wall time."""
    return Adapters(
        clock=SystemClock(),
        open_state=AsyncStateStore.open,
        open_journal=Journal,
        make_pacer=_pacer,
        make_api=_client,
        make_tokens=_tokens,
        make_watcher=Watcher,
        jitter=random.random,
        make_listeners=session_listeners,
    )


def build_engine(config: Config, *, watches: Sequence[str] = (), accounts: Sequence[str] = (),
                 adapters: Adapters | None = None, **options: Any) -> Engine:
    """An :class:`Engine` for ``config`` on the real adapters (or ``adapters``).

    ``options`` are the engine's keyword options (``dry_run``, ``allow_deletes``,
    ``on_event``…). Raises UsageError for an unknown watch or account name.
    """
    return Engine(config, adapters=adapters or real_adapters(), watches=watches,
                  accounts=accounts, **options)


@contextlib.asynccontextmanager
async def open_remote(config: Config, account: str, *, publish: bool = True,
                      pacer: Pacer | None = None
                      ) -> AsyncIterator[tuple[RemoteFiles, TokenManager]]:
    """Paced, authenticated reads of ``account``'s files (``pull``, ``ls``), and its token
    manager (for the identity of the key). ``pacer``: the account's pacer when a session
    already has one; a new one otherwise. Raises KeyError for an unknown account."""
    settings = config.settings
    chosen = config.accounts[account]
    pacer = pacer or _pacer(settings)
    client = HubSpotClient(chosen.base_url, chosen.portal_id,
                           max_connections=settings.concurrency, on_rate_limit=pacer.learn,
                           transport=chosen.transport,
                           source_code_version=chosen.source_code_version)
    tokens = _tokens(chosen, client)
    try:
        yield RemoteFiles(client, tokens, pacer, publish=publish,
                          concurrency=settings.concurrency), tokens
    finally:
        await client.close()
