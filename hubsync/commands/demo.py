"""See hubsync sync a sample theme to two emulated HubSpot accounts, with no account.

Starts a HubSpot emulator in this process on a free loopback port with two accounts
(sandbox and staging, two different users), copies the sample theme into DIR/theme,
writes DIR/config.toml (state in DIR/state, so your real state is untouched) and
watches the theme with the live console. Edit a file in DIR/theme and watch it reach
both accounts; the emulator's copies are under DIR/remote. The demo keys exist only
in this process: your keyring is never touched. Ctrl-C stops it.

A re-run keeps your edited theme and starts the remote copies and the state afresh.
--scripted starts from a fresh copy of the theme, makes a realistic series of changes
by itself (edits, a burst of saves, an atomic save, a rename, a template HubSpot
refuses and its fix, a delete), proves that both accounts equal the local theme, shows
who pushed what, and exits (1 if the copies differ).

examples:
  hubsync demo                          watch ./hubsync-demo/theme live
  hubsync demo --scripted               watch hubsync do it by itself, then exit
  hubsync demo --dir /tmp/try --port 8765
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"ports are 0-65535, not {value}")
    return value


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    # A literal, not hubsync.demo.DEFAULT_DIR: importing the demo would load the engine
    # and aiohttp for every `hubsync` command. A test keeps the two equal.
    parser.add_argument("--dir", type=Path, default=Path("hubsync-demo"), metavar="DIR",
                        help="the demo folder (default: ./hubsync-demo)")
    parser.add_argument("--scripted", action="store_true",
                        help="make the changes automatically, prove the result, and exit")
    parser.add_argument("--port", type=_port, default=0, metavar="N",
                        help="the emulator's port on 127.0.0.1 (default: a free one)")


def run(args: argparse.Namespace) -> int:
    from hubsync.demo import run_demo

    return run_demo(args.dir, scripted=args.scripted, port=args.port)
