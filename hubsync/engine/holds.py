"""Release or discard held deletes with no session running: straight on the state.

The same decisions as a running session's (``Outbox.release_holds`` / ``discard_holds``),
applied to the durable outbox in one transaction, so that `hubsync deletes release|discard`
works whether or not `watch` or the service runs. Released deletes go out at the next
`push` or `watch`; discarded ones are forgotten (the remote files stay, untracked).
"""

from __future__ import annotations

import time
from pathlib import Path

from hubsync.config import Config
from hubsync.core.effects import Policy
from hubsync.core.outbox import Outbox
from hubsync.errors import UsageError
from hubsync.journal import LOG_NAME, Journal
from hubsync.lock import InstanceLock
from hubsync.state import STATE_FILE, AsyncStateStore


async def settle_holds(config: Config, action: str, account: str | None) -> int:
    """``action`` ("release" or "discard") the held deletes of ``account`` (None: every
    account). Returns how many entries changed.

    Raises AlreadyRunning when a session holds the state (ask it instead), UsageError for
    an unknown account or action, StateError when the state cannot be written.
    """
    if action not in ("release", "discard"):
        raise UsageError(f"unknown action {action!r}: release or discard")
    names = sorted(config.accounts) if account is None else [account]
    state_dir: Path = config.settings.state_dir
    if not (state_dir / STATE_FILE).exists():
        return 0
    with InstanceLock(state_dir):
        store = await AsyncStateStore.open(state_dir)
        try:
            await store.bind({name: config.accounts[name].target for name in names})
            outbox = Outbox(names, Policy())
            entries, base = await store.load()
            outbox.load(entries, base)
            effects = (outbox.release_holds(account, 0.0) if action == "release"
                       else outbox.discard_holds(account, time.time()))
            await store.apply(effects)
        finally:
            await store.close()
        journal = Journal(state_dir / LOG_NAME)
        try:
            for event in effects.events:
                journal.write(event.event, **event.fields)
        finally:
            journal.close()
    return len(effects.upsert) if action == "release" else len(effects.remove)


async def held_counts(config: Config) -> list[tuple[str, int]]:
    """(account, entries held) for every configured account, from the state alone."""
    state_dir: Path = config.settings.state_dir
    if not (state_dir / STATE_FILE).exists():
        return []
    store = await AsyncStateStore.open(state_dir)
    try:
        await store.bind({name: account.target for name, account in config.accounts.items()})
        counts = await store.counts()
    finally:
        await store.close()
    return [(name, count.held) for name, count in sorted(counts.items()) if count.held]
