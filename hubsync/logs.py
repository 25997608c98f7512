"""structlog set-up (placeholder until the logging module lands)."""

from __future__ import annotations


def configure(*, debug: bool = False) -> None:
    """Configure logging for the process."""
