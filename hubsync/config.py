"""TOML -> validated, frozen ``Config``.

The pipeline: read bytes -> ``tomllib`` -> plain mapping -> validator collecting every
problem with its dotted key -> frozen dataclasses. Keys never live here: a key-like
setting is an error that says where keys belong.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hubsync.model import Env, Mode

DEFAULT_DEBOUNCE_MS = 300
DEFAULT_CONCURRENCY = 5
DEFAULT_RATE_LIMIT = 100
DEFAULT_RATE_WINDOW_MS = 10_000


def xdg_dir(variable: str, fallback: str) -> Path:
    """``$VARIABLE`` if set to an absolute path (as the XDG spec says), else ``~/fallback``."""
    value = os.environ.get(variable, "")
    if value and Path(value).is_absolute():
        return Path(value)
    return Path.home() / fallback


def default_config_path() -> Path:
    """``$HUBSYNC_CONFIG``, else ``$XDG_CONFIG_HOME/hubsync/config.toml``."""
    explicit = os.environ.get("HUBSYNC_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return xdg_dir("XDG_CONFIG_HOME", ".config") / "hubsync" / "config.toml"


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/hubsync`` (``~/.local/state/hubsync``)."""
    return xdg_dir("XDG_STATE_HOME", ".local/state") / "hubsync"


@dataclass(frozen=True, slots=True)
class Settings:
    """``[settings]``: process-wide knobs, all optional."""

    state_dir: Path = field(default_factory=default_state_dir)
    debounce_ms: int = DEFAULT_DEBOUNCE_MS
    concurrency: int = DEFAULT_CONCURRENCY
    """Uploads in flight at once per account."""
    rate_limit: int = DEFAULT_RATE_LIMIT
    """Requests per ``rate_window_ms`` per account until HubSpot's headers say otherwise."""
    rate_window_ms: int = DEFAULT_RATE_WINDOW_MS
    max_deletes: int = 20
    """Safety brake: a batch deleting more than this many files is held."""
    allow_deletes: bool = False
    """Config override of the safety brake (``push --allow-deletes`` for one run)."""


@dataclass(frozen=True, slots=True)
class Account:
    """``[accounts.NAME]``: one HubSpot account (portal) and the user whose key it uses."""

    name: str
    portal_id: int
    env: Env = Env.PROD
    api_base: str | None = None
    transport: str = "filemapper"

    @property
    def base_url(self) -> str:
        """The API base URL without a trailing slash."""
        return (self.api_base or self.env.default_api_base).rstrip("/")


@dataclass(frozen=True, slots=True)
class Watch:
    """``[[watch]]``: one local theme folder pushed to a remote folder in some accounts."""

    name: str
    src: Path
    dest: str
    accounts: tuple[str, ...]
    delete_remote: bool = False
    mode: Mode = Mode.PUBLISH
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Config:
    """A whole validated configuration. ``path`` is the file it came from."""

    path: Path
    settings: Settings = field(default_factory=Settings)
    accounts: Mapping[str, Account] = field(default_factory=dict)
    watches: tuple[Watch, ...] = ()

    def watch(self, name: str) -> Watch:
        for watch in self.watches:
            if watch.name == name:
                return watch
        raise KeyError(name)
