"""Not built yet (issue 4)."""

from __future__ import annotations

import argparse

from hubsync.errors import HubsyncError


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """No arguments yet."""


def run(args: argparse.Namespace) -> int:
    raise HubsyncError(f"`hubsync {args.command}` is not built yet (issue 4)")
