"""Run the sync engine for a service manager: meant for systemd, not for a terminal.

The same engine as `hubsync watch`, without the live console: diagnostics go to
stderr as journal lines with priorities when stderr is the journal (so
`journalctl --user -u hubsync -p warning` works), JSON lines otherwise; who pushed
what goes to the sync log (`hubsync log -f`). Install it as a systemd user service
with `hubsync service install`, which runs this command as a Type=notify unit:

- READY=1 once config, keys, state and watcher are up; STATUS= a one-line summary;
  WATCHDOG=1 while healthy; SIGHUP (systemctl reload) re-reads config and keys;
- SIGTERM stops gracefully: pushes in flight finish, the rest stays pending;
- one instance per state directory: a second one exits 1 naming the running PID;
- exit 0 clean stop, 78 bad config (no restart loop), 75 temporary failure, 1 else.

examples:
  hubsync service install                       run it as a systemd user service
  systemctl --user reload hubsync               re-read the config and keys
  hubsync --config ~/work.toml daemon           run it in the foreground (testing)
  hubsync status                                see what it is doing
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hubsync.engine import EngineEvent

_WARNING_EVENTS = frozenset({"failed", "auth_failed", "held", "conflict"})


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """No options: everything comes from the config file (the global --config)."""


def run(args: argparse.Namespace) -> int:
    from hubsync import logs
    from hubsync.service import SessionKind, run_session

    # No TTY decoration even when started by hand: what a service manager would see.
    logs.configure(debug=args.debug, mode="journal" if logs.journal_attached(sys.stderr)
                   else "json")
    from hubsync.commands import config_path

    return asyncio.run(run_session(config_path(args), kind=SessionKind.DAEMON,
                                   on_event=_log_event))


def _log_event(event: EngineEvent) -> None:
    """Each engine event as a diagnostics line too, so the journal shows the activity."""
    from hubsync.logs import get_logger

    logger = get_logger("hubsync.daemon")
    if event.event in _WARNING_EVENTS:
        logger.warning(event.event, **event.fields)
    else:
        logger.info(event.event, **event.fields)
