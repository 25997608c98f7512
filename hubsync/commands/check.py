"""Validate the config offline: no keys are read and nothing goes over the network.

Prints "config OK: N accounts, M watches" and what is still missing before anything
can sync, and exits 0; or lists every problem, one per line, on stderr and exits 78.

examples:
  hubsync check
  hubsync --config ./hubsync.toml check
"""

from __future__ import annotations

import argparse

from hubsync.errors import EX_OK


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """No arguments: the global --config names the file."""


def run(args: argparse.Namespace) -> int:
    from hubsync.commands import config_path
    from hubsync.config import load_config, sync_readiness

    # A ConfigError goes to the CLI's error funnel: all problems, exit 78.
    config = load_config(config_path(args))
    accounts = len(config.accounts)
    watches = len(config.watches)
    print(
        f"config OK: {accounts} account{'s' if accounts != 1 else ''}, "
        f"{watches} watch{'es' if watches != 1 else ''} ({config.path})"
    )
    for note in sync_readiness(config):
        print(f"note: {note}")
    return EX_OK
