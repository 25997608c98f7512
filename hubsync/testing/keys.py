"""``MemoryKeys``: a :data:`hubsync.ports.KeyLookup` over a dict."""

from __future__ import annotations

from collections.abc import Mapping

from hubsync.credentials import KeySource
from hubsync.errors import KeyNotFound


class MemoryKeys:
    """``await keys(account)`` -> ``(key, source)`` from a dict, as
    :func:`hubsync.credentials.find_key` answers; ``KeyNotFound`` for a missing account.

    Change ``keys.keys[name]`` (or delete it) mid-test to model a user fixing or
    removing a key. ``lookups`` counts the calls per account.
    """

    def __init__(self, keys: Mapping[str, str] | None = None, *,
                 source: KeySource = KeySource.ENV) -> None:
        self.keys: dict[str, str] = dict(keys or {})
        self.source = source
        self.lookups: dict[str, int] = {}

    async def __call__(self, account: str) -> tuple[str, KeySource]:
        self.lookups[account] = self.lookups.get(account, 0) + 1
        key = self.keys.get(account)
        if key is None:
            raise KeyNotFound(
                f"no key for account {account!r} in this test's MemoryKeys "
                f"(known: {', '.join(sorted(self.keys)) or 'none'})")
        return key, self.source

    def __repr__(self) -> str:  # never show the keys themselves
        return f"MemoryKeys(accounts={sorted(self.keys)!r})"
