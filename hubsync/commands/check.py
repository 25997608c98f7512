"""Validate the config offline: no keys are read and nothing goes over the network.

Prints "config OK: N accounts, M watches" and what is still missing before anything
can sync, and exits 0; or lists every problem, one per line, on stderr and exits 78.
It also checks that settings.state_dir is a folder you can write, or can be created.

--json prints one object either way:
  {"ok": bool, "config": PATH, "accounts": [NAME], "watches": [NAME],
   "notes": [TEXT], "problems": [TEXT]}

examples:
  hubsync check
  hubsync --config ./hubsync.toml check
  hubsync check --json | jq .problems
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hubsync.errors import EX_OK

if TYPE_CHECKING:
    from hubsync.config import Config


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """``--json``; the global --config names the file."""
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON object (exit status unchanged)")


def run(args: argparse.Namespace) -> int:
    from hubsync.commands import config_path
    from hubsync.config import load_config, sync_readiness
    from hubsync.errors import ConfigError
    from hubsync.statedir import state_dir_problem

    path = config_path(args)
    if args.json:
        try:
            config = load_config(path)
            _check_state_dir(config, state_dir_problem)
        except ConfigError as exc:
            print(json.dumps({"ok": False, "config": str(path), "accounts": [],
                              "watches": [], "notes": [], "problems": exc.problems}))
            return exc.exit_code
        print(json.dumps({"ok": True, "config": str(config.path),
                          "accounts": list(config.accounts),
                          "watches": [w.name for w in config.watches],
                          "notes": sync_readiness(config), "problems": []}))
        return EX_OK
    # A ConfigError goes to the CLI's error funnel: all problems, exit 78.
    config = load_config(path)
    _check_state_dir(config, state_dir_problem)
    accounts = len(config.accounts)
    watches = len(config.watches)
    print(
        f"config OK: {accounts} account{'s' if accounts != 1 else ''}, "
        f"{watches} watch{'es' if watches != 1 else ''} ({config.path})"
    )
    for note in sync_readiness(config):
        print(f"note: {note}")
    return EX_OK


def _check_state_dir(config: Config, problem_of: Callable[[Path], str | None]) -> None:
    """A state_dir that is a file or unwritable is as fatal as a bad key: ConfigError."""
    from hubsync.errors import ConfigError, clause

    problem = problem_of(config.settings.state_dir)
    if problem is not None:
        raise ConfigError(config.path, f"settings.state_dir: {clause(problem)}; set it to a folder "
                                       "you can write")
