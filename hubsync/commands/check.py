"""Validate the config offline: no keys are read and nothing goes over the network.

Prints "config OK: N accounts, M watches" and what is still missing before anything
can sync, and exits 0; or lists every problem, one per line, on stderr and exits 78.
It also checks that settings.state_dir is a folder you can write, or can be created.

examples:
  hubsync check
  hubsync --config ./hubsync.toml check
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hubsync.errors import EX_OK


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """No arguments: the global --config names the file."""


def run(args: argparse.Namespace) -> int:
    from hubsync.config import load_config, sync_readiness
    from hubsync.errors import ConfigError
    from hubsync.statedir import state_dir_problem

    # A ConfigError goes to the CLI's error funnel: all problems, exit 78.
    config = load_config(Path(args.config).expanduser() if args.config else None)
    # A state_dir that is a file or unwritable is as fatal as a bad key: catch it here.
    problem = state_dir_problem(config.settings.state_dir)
    if problem is not None:
        raise ConfigError(config.path, f"settings.state_dir: {problem}; set it to a folder "
                                       "you can write")
    accounts = len(config.accounts)
    watches = len(config.watches)
    print(
        f"config OK: {accounts} account{'s' if accounts != 1 else ''}, "
        f"{watches} watch{'es' if watches != 1 else ''} ({config.path})"
    )
    for note in sync_readiness(config):
        print(f"note: {note}")
    return EX_OK
