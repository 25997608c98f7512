"""TOML -> validated, frozen ``Config``; and the two edits ``hubsync auth`` makes to it.

The pipeline: read bytes -> ``tomllib`` -> plain mapping -> validator collecting every
problem with its dotted key -> frozen dataclasses. Keys never live here: a key-like
setting is an error that says where keys belong, and no problem message ever repeats a
value that could be one.

The validator is generic: it walks ``dataclasses.fields()`` of ``Settings``, ``Account``
and ``Watch`` with their resolved type hints, so a new field is validated by adding it to
the dataclass (plus, if it needs more than a type, one entry in ``_FIELD_RULES``). What no
single field can say (unknown account references, two watches writing to one place) is
checked afterwards, across the whole file.

Editing (``upsert_account``/``remove_account``) goes through tomlkit so the user's
comments and layout survive, and replaces the file atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import enum
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hubsync import atomic
from hubsync.core.keynames import env_var_name
from hubsync.core.paths import display_path, name_problem
from hubsync.core.urls import api_base_problem
from hubsync.errors import ConfigError
from hubsync.model import Api, Env, Mode, Target

DEFAULT_DEBOUNCE_MS = 300
DEFAULT_CONCURRENCY = 5
DEFAULT_MAX_CONCURRENCY = 20
DEFAULT_RATE_LIMIT = 100
DEFAULT_RATE_WINDOW_MS = 10_000

TRANSPORTS = ("filemapper", "source-code")
"""``accounts.NAME.transport``: the CMS filemapper API (what ``hs`` uses), or the public
CMS Source Code API."""

BULK_MODES = ("auto", "archive", "files")
"""``accounts.NAME.bulk``: how a large batch of uploads goes (``hubsync.engine.bulk``):
``auto`` tries one zip archive extracted by HubSpot and falls back to per-file uploads
for good after a refusal; ``archive`` always tries it; ``files`` never does."""

DEFAULT_SOURCE_CODE_VERSION = "2026-03"
"""``accounts.NAME.source_code_version``: the dated Source Code API version, or ``"v3"`` for
the previous ``/cms/v3/source-code`` family (hubspot-api.md §4). Kept equal to
``hubsync.hubspot.SOURCE_CODE_VERSION`` (a test checks)."""


_BOM = "\ufeff"

MAX_PORTAL_ID = 2**31 - 1
"""The largest portal (Hub) ID: HubSpot's account-info API types ``portalId`` as
``integer<int32>`` (developers.hubspot.com/docs/api-reference/latest/account/
account-information/get-account-details), so IDs have at most 10 digits."""
_TOO_BIG_ID = (f"must be at most {MAX_PORTAL_ID}: HubSpot portal/Hub IDs are 32-bit "
               "(copy the ID `hs accounts list` or HubSpot's account menu shows)")


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


class Notifications(enum.StrEnum):
    """``settings.notifications``: where problems are told besides the log."""

    NONE = "none"
    """Only the console, the sync log and the journal."""
    DESKTOP = "desktop"
    """Also a desktop notification (freedesktop Notifications, session D-Bus)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """``[settings]``: process-wide knobs, all optional."""

    state_dir: Path = field(default_factory=default_state_dir)
    debounce_ms: int = DEFAULT_DEBOUNCE_MS
    settle_on_close: bool = True
    """Push a known file as soon as its writer closes it (or renames it into place), on
    Linux; the quiet period ``debounce_ms`` then only coalesces what follows. False:
    every change waits out ``debounce_ms``."""
    concurrency: int = DEFAULT_CONCURRENCY
    """Uploads in flight at once per account (more up to ``max_concurrency`` while the
    rate budget is large and the server slow; half of it after a 429 or server error)."""
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    """The most uploads in flight per account when the budget allows more than
    ``concurrency`` (``hubsync.ratelimit.slots_for``); equal to ``concurrency``: fixed."""
    rate_limit: int = DEFAULT_RATE_LIMIT
    """Requests per ``rate_window_ms`` per account until HubSpot's headers say otherwise."""
    rate_window_ms: int = DEFAULT_RATE_WINDOW_MS
    max_deletes: int = 20
    """Safety brake: a batch deleting more than this many files is held."""
    allow_deletes: bool = False
    """Config override of the safety brake (``push --allow-deletes`` for one run)."""
    notify_file: Path | None = None
    """Live-reload hook (``watch --notify FILE`` for one run): the local paths of each
    settled batch are appended here once every account has stored them (hubsync.livereload)."""
    notifications: Notifications = Notifications.NONE
    """``"desktop"``: problems (a template error, a held account, a refused key) become
    freedesktop desktop notifications over the session D-Bus (hubsync.desktop)."""


@dataclass(frozen=True, slots=True)
class Account:
    """``[accounts.NAME]``: one HubSpot account (portal) and the user whose key it uses."""

    name: str
    portal_id: int
    env: Env = Env.PROD
    api_base: str | None = None
    transport: str = "filemapper"
    source_code_version: str = DEFAULT_SOURCE_CODE_VERSION
    """Used when ``transport = "source-code"``: ``YYYY-MM`` or ``"v3"``."""
    guard: bool = True
    """The conflict guard (docs/teams.md): before overwriting or deleting a remote file,
    check that it is still the version hubsync synced. Off only for a portal one person
    pushes to alone: it saves one metadata read per changed file."""
    bulk: str = "auto"
    """One of :data:`BULK_MODES`: whether a large batch of uploads is sent as one archive."""

    @property
    def base_url(self) -> str:
        """The API base URL without a trailing slash."""
        return (self.api_base or self.env.default_api_base).rstrip("/")

    @property
    def target(self) -> Target:
        """The remote identity the state keys this account's records by: portal, API base
        and API. Another portal (or base, or API) under the same name is another target."""
        return Target(self.portal_id, self.base_url, Api(self.transport))


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
    two_way: bool = False
    """``watch`` also brings remote edits down into the folder (``engine/poller.py``)."""
    convert_fields: bool = True
    """Run each module's or the theme's ``fields.js`` with node and upload the output as
    ``fields.json`` (``hs ... --convert-fields``; ``hubsync.fieldsjs``)."""
    field_options: tuple[str, ...] = ()
    """Passed to the function ``fields.js`` exports, joined with ``,`` (``hs
    --field-options``); ``""`` when empty."""


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


# --------------------------------------------------------------------------- loading

_T = TypeVar("_T")

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""Account and watch names: they appear in CLI arguments, keyring entries, environment
variable names (``HUBSYNC_KEY_<NAME>``) and log lines."""

_TOP_LEVEL = ("settings", "accounts", "watch")

# Key names that hold a credential in some tool or other. Matched on the whole
# normalised key, or on its last word, so `api_base` passes and `hubspot_api_key` does not.
_SECRET_WORDS = frozenset({
    "key", "token", "secret", "password", "passwd", "pat", "apikey", "hapikey",
    "credential", "credentials", "auth", "authorization", "bearer",
})
_SECRET_SUFFIXES = ("_key", "_token", "_secret", "_password", "_credential", "_credentials")
# A HubSpot personal access key: `pat-na1-<uuid>`, `pat-eu1-...`.
_PAT_VALUE = re.compile(r"^pat-[a-z]{2,4}\d*-[0-9a-f-]{8,}", re.IGNORECASE)


class _Invalid(Exception):
    """One problem with one value; the validator adds the dotted key in front."""


def load_config(path: Path | None = None) -> Config:
    """Read, parse and validate the config file; every problem is reported at once.

    ``path`` defaults to ``default_config_path()``. Raises ``ConfigError`` for a missing
    or unreadable file, a TOML syntax error (with line and column), or any number of
    validation problems, each ``<dotted key>: <problem>``.
    """
    path = path if path is not None else default_config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            path, "no config file here; run `hubsync init` to write one, or pass --config PATH"
        ) from None
    except IsADirectoryError:
        raise ConfigError(path, "is a directory, not a config file") from None
    except OSError as exc:
        raise ConfigError(path, f"cannot read the config file: {exc.strerror}") from exc
    return config_from_bytes(raw, path)


def config_from_bytes(raw: bytes, path: Path) -> Config:
    """Parse and validate config text as if it were the file at ``path``.

    Relative paths in it resolve against ``path.parent``. ``hubsync init`` uses this to
    validate what it is about to write before writing it.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, f"not UTF-8 text (byte {exc.start})") from None
    # Windows editors (Notepad) start UTF-8 files with a byte-order mark, which TOML does
    # not allow; it carries no meaning here, so it is dropped rather than refused.
    text = text.removeprefix(_BOM)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message carries "(at line L, column C)"; the error names the file.
        raise ConfigError(path, f"invalid TOML: {exc}") from None
    return _validate(data, path)


def _validate(data: dict[str, Any], path: Path) -> Config:
    problems: list[str] = []
    base_dir = path.parent.absolute()
    _find_secrets(data, "", problems)
    for key in data:
        if key not in _TOP_LEVEL and not _looks_secret(key):
            problems.append(f"{_dotted('', key)}: unknown key{_did_you_mean(key, _TOP_LEVEL)}")

    settings = Settings()
    if "settings" in data:
        structured = _structure(Settings, data["settings"], "settings", base_dir, problems)
        settings = structured or settings
    if settings.max_concurrency < settings.concurrency:
        problems.append(
            f"settings.max_concurrency: {settings.max_concurrency} is below "
            f"settings.concurrency ({settings.concurrency}); set it to at least "
            f"{settings.concurrency} (equal keeps the number of uploads in flight fixed)")
    accounts, account_names = _validate_accounts(data.get("accounts", {}), base_dir, problems)
    raw_watches, watches = _validate_watches(data.get("watch", []), base_dir, problems)

    _check_watches(raw_watches, account_names, problems)
    if problems:
        raise ConfigError(path, problems)
    return Config(
        path=path,
        settings=settings,
        accounts=types.MappingProxyType(accounts),
        watches=tuple(watch for _, watch in watches),
    )


def _validate_accounts(raw_accounts: object, base_dir: Path, problems: list[str]
                       ) -> tuple[dict[str, Account], list[str]]:
    """The valid ``[accounts.NAME]`` tables, and every name given (valid or not)."""
    accounts: dict[str, Account] = {}
    account_names: list[str] = []
    if not isinstance(raw_accounts, dict):
        problems.append(f"accounts: expected a table of [accounts.NAME] tables, got "
                        f"{_kind(raw_accounts)}")
        return accounts, account_names
    for name, table in raw_accounts.items():
        where = _dotted("accounts", name)
        account_names.append(name)
        if not NAME_PATTERN.fullmatch(name):
            problems.append(f"{where}: account names are letters, digits, '-' and '_' "
                            "(at most 64, starting with a letter or digit)")
            continue
        account = _structure(Account, table, where, base_dir, problems, fixed={"name": name})
        if account is not None:
            accounts[name] = account
    return accounts, account_names


def _validate_watches(raw_watches: object, base_dir: Path, problems: list[str]
                      ) -> tuple[list[Any], list[tuple[int, Watch]]]:
    """The ``[[watch]]`` tables as given (for the cross checks) and the valid ones."""
    if isinstance(raw_watches, dict):
        problems.append("watch: expected [[watch]] (an array of tables), got a single [watch] "
                        "table; write it as [[watch]]")
        return [], []
    if not isinstance(raw_watches, list):
        problems.append(f"watch: expected [[watch]] tables, got {_kind(raw_watches)}")
        return [], []
    watches: list[tuple[int, Watch]] = []
    for index, table in enumerate(raw_watches):
        watch = _structure(Watch, table, f"watch[{index}]", base_dir, problems)
        if watch is not None:
            watches.append((index, watch))
    return raw_watches, watches


def _structure(
    cls: type[_T],
    table: object,
    where: str,
    base_dir: Path,
    problems: list[str],
    *,
    fixed: Mapping[str, object] | None = None,
) -> _T | None:
    """Build ``cls`` from a TOML table, or append its problems and return None."""
    if not isinstance(table, dict):
        problems.append(f"{where}: expected a table, got {_kind(table)}")
        return None
    fixed = fixed or {}
    hints = typing.get_type_hints(cls)
    settable = [f for f in dataclasses.fields(cls) if f.name not in fixed]  # type: ignore[arg-type]
    known = [f.name for f in settable]
    count_before = len(problems)
    for key in table:
        if key not in known and not _looks_secret(key):
            problems.append(f"{_dotted(where, key)}: unknown key{_did_you_mean(key, known)}")
    values: dict[str, object] = dict(fixed)
    for spec in settable:
        dotted = _dotted(where, spec.name)
        if spec.name not in table:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                problems.append(f"{dotted}: missing required key")
            continue
        try:
            value = _coerce(table[spec.name], hints[spec.name], dotted, base_dir, problems)
            rule = _FIELD_RULES.get((cls, spec.name))
            values[spec.name] = rule(value) if rule is not None else value
        except _Skip:
            pass
        except _Invalid as exc:
            problems.append(f"{dotted}: {exc}")
    if len(problems) > count_before:
        return None
    return cls(**values)


def _coerce(value: object, hint: Any, where: str, base_dir: Path, problems: list[str]) -> object:
    """Check ``value`` against a type hint, converting only TOML's spelling of it.

    No coercion across types: ``"250"`` is not an int and ``true`` is not ``1``. Tuple
    elements are checked one by one so each bad one gets its own ``key[i]`` problem.
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        # TOML has no null, so `X | None` means "X, or leave the key out".
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        origin = typing.get_origin(hint)
    if origin is tuple:
        return _coerce_tuple(value, hint, where, base_dir, problems)
    if hint in _SCALARS:
        expected, accepts = _SCALARS[hint]
        if not accepts(value):
            raise _Invalid(f"expected {expected}, got {_kind(value)}")
        return value
    if hint is Path:
        return _coerce_path(value, base_dir)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _coerce_enum(value, hint)
    raise TypeError(f"the config validator has no rule for {hint!r} at {where}")


_SCALARS: dict[object, tuple[str, Callable[[object], bool]]] = {
    bool: ("true or false", lambda v: isinstance(v, bool)),
    # bool is an int subclass in Python, but `true` is not a number in TOML.
    int: ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    str: ("a string", lambda v: isinstance(v, str)),
}


def _coerce_tuple(value: object, hint: Any, where: str, base_dir: Path,
                  problems: list[str]) -> tuple[object, ...]:
    if not isinstance(value, list):
        raise _Invalid(f"expected an array, got {_kind(value)}")
    (item_hint, _) = typing.get_args(hint)
    items: list[object] = []
    for index, item in enumerate(value):
        try:
            items.append(_coerce(item, item_hint, f"{where}[{index}]", base_dir, problems))
        except _Invalid as exc:
            problems.append(f"{where}[{index}]: {exc}")
    if len(items) < len(value):
        raise _Skip
    return tuple(items)


def _coerce_path(value: object, base_dir: Path) -> Path:
    if not isinstance(value, str):
        raise _Invalid(f"expected a path (a string), got {_kind(value)}")
    if not value.strip():
        raise _Invalid("must not be empty")
    expanded = Path(value).expanduser()
    return expanded if expanded.is_absolute() else base_dir / expanded


def _coerce_enum(value: object, hint: type[enum.Enum]) -> enum.Enum:
    allowed = [member.value for member in hint]
    if not isinstance(value, str):
        raise _Invalid(f"expected one of {_quoted(allowed)}, got {_kind(value)}")
    if value not in allowed:
        raise _Invalid(f"{_show(value)} is not one of {_quoted(allowed)}"
                       f"{_did_you_mean(value, allowed)}")
    return hint(value)


class _Skip(_Invalid):
    """The element problems are already recorded; add nothing for the array itself."""


# Semantic rules for single fields, run on the already type-checked value. Each
# returns the value to keep (possibly normalised) or raises _Invalid.
_Rule = Callable[[Any], object]


def _in_range(low: int, high: int) -> _Rule:
    def rule(value: int) -> int:
        if not low <= value <= high:
            raise _Invalid(f"must be between {low} and {high}")
        return value

    return rule


def _name_rule(value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise _Invalid("use letters, digits, '-' and '_' (at most 64, starting with a letter "
                       "or digit)")
    return value


def _positive_id(value: int) -> int:
    if value <= 0:
        raise _Invalid("must be a positive integer (the portal/Hub ID of the account)")
    if value > MAX_PORTAL_ID:
        raise _Invalid(_TOO_BIG_ID)
    return value


def _transport_rule(value: str) -> str:
    if value not in TRANSPORTS:
        raise _Invalid(f"{_show(value)} is not one of {_quoted(TRANSPORTS)}"
                       f"{_did_you_mean(value, TRANSPORTS)}")
    return value


def _bulk_rule(value: str) -> str:
    if value not in BULK_MODES:
        raise _Invalid(f"{_show(value)} is not one of {_quoted(BULK_MODES)}"
                       f"{_did_you_mean(value, BULK_MODES)}")
    return value


def _source_code_version_rule(value: str) -> str:
    if value == "v3" or re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", value):
        return value
    raise _Invalid(f"{_show(value)} is not a Source Code API version: use a dated one like "
                   f'"{DEFAULT_SOURCE_CODE_VERSION}" (the default) or "v3" for the previous '
                   "/cms/v3/source-code family")


def _existing_dir(value: Path) -> Path:
    if not value.exists():
        raise _Invalid(f"folder {str(value)!r} does not exist")
    if not value.is_dir():
        raise _Invalid(f"{str(value)!r} is not a folder")
    return value


def _ignore_patterns(value: tuple[str, ...]) -> tuple[str, ...]:
    if any(not pattern.strip() for pattern in value):
        raise _Invalid("patterns must not be empty")
    return value


def _check_dest(dest: str) -> str:
    """A remote Design Manager folder: relative, no ``..``; returns it without a trailing ``/``."""
    if dest.startswith("/"):
        raise _Invalid("must be relative to the Design Manager root (no leading '/')")
    if "\\" in dest:
        raise _Invalid("use '/' between folders, not '\\'")
    trimmed = dest[:-1] if dest.endswith("/") else dest
    segments = trimmed.split("/")
    if not trimmed or any(segment in ("", ".") for segment in segments):
        raise _Invalid("must be a folder path like 'my-theme' or 'themes/my-theme'")
    if ".." in segments:
        raise _Invalid("must not contain '..'")
    # The same rules as every local name (docs/operations.md, "Names hubsync will not
    # push"): dest is the first part of each remote path.
    problem = name_problem(trimmed)
    if problem is not None:
        raise _Invalid(f"{problem.split(';')[0]} ({display_path(trimmed)})")
    return trimmed


def _check_api_base(url: str) -> str:
    problem = api_base_problem(url)
    if problem is not None:
        raise _Invalid(problem)
    return url


_FIELD_RULES: dict[tuple[type, str], _Rule] = {
    (Settings, "debounce_ms"): _in_range(0, 60_000),
    (Settings, "concurrency"): _in_range(1, 20),
    (Settings, "max_concurrency"): _in_range(1, 64),
    (Settings, "rate_limit"): _in_range(1, 10_000),
    (Settings, "rate_window_ms"): _in_range(100, 3_600_000),
    (Settings, "max_deletes"): _in_range(0, 1_000_000),
    (Account, "portal_id"): _positive_id,
    (Account, "api_base"): _check_api_base,
    (Account, "transport"): _transport_rule,
    (Account, "source_code_version"): _source_code_version_rule,
    (Account, "bulk"): _bulk_rule,
    (Watch, "name"): _name_rule,
    (Watch, "src"): _existing_dir,
    (Watch, "dest"): _check_dest,
    (Watch, "ignore"): _ignore_patterns,
}


def _check_watches(raw_watches: list[Any], account_names: list[str], problems: list[str]) -> None:
    """What no single [[watch]] can say alone: references, duplicates, overlapping targets.

    Works on the raw tables so that a watch with an unrelated problem (a missing folder,
    say) still gets these checks: every problem is reported in one run.
    """
    first_with_name: dict[str, int] = {}
    targets: dict[str, list[tuple[str, int, str]]] = {}
    for index, table in enumerate(raw_watches):
        if not isinstance(table, dict):
            continue
        name = table.get("name")
        if isinstance(name, str):
            if name in first_with_name:
                problems.append(f"watch[{index}].name: duplicate watch name {_show(name)} "
                                f"(also watch[{first_with_name[name]}])")
            else:
                first_with_name[name] = index
        dest: str | None = None
        if isinstance(table.get("dest"), str):
            # An invalid dest is reported by its field rule; it has no target to compare.
            with contextlib.suppress(_Invalid):
                dest = _check_dest(table["dest"])
        label = _show(name) if isinstance(name, str) else "unnamed"
        for account in _watch_accounts(index, table.get("accounts"), account_names, problems):
            if dest is not None:
                problems.extend(_clashes(index, dest, account, targets.get(account, [])))
                targets.setdefault(account, []).append((dest, index, label))


def _watch_accounts(index: int, accounts: object, account_names: list[str],
                    problems: list[str]) -> list[str]:
    """The known accounts one watch lists, each once; a problem for each other entry."""
    found: list[str] = []
    seen: set[str] = set()
    for position, account in enumerate(accounts if isinstance(accounts, list) else []):
        where = f"watch[{index}].accounts[{position}]"
        if not isinstance(account, str):
            continue
        if account in seen:
            problems.append(f"{where}: account {_show(account)} is listed twice")
            continue
        seen.add(account)
        if account not in account_names:
            hint = _did_you_mean(account, account_names)
            if not account_names:
                hint = " (there are no [accounts.NAME] tables; run `hubsync auth add`)"
            problems.append(f"{where}: unknown account {_show(account)}{hint}")
        else:
            found.append(account)
    return found


def _clashes(index: int, dest: str, account: str,
             earlier: list[tuple[str, int, str]]) -> list[str]:
    """A problem for each earlier watch whose target in ``account`` is or overlaps ``dest``."""
    problems: list[str] = []
    for other_dest, other, other_name in earlier:
        if other_dest == dest:
            clash = "is also the target of"
        elif dest.startswith(other_dest + "/") or other_dest.startswith(dest + "/"):
            clash = f"overlaps {other_dest!r}, the target of"
        else:
            continue
        problems.append(f"watch[{index}].dest: {dest!r} in account {account!r} "
                        f"{clash} watch[{other}] ({other_name}); two watches would "
                        "overwrite each other's files")
    return problems


def _looks_secret(key: str) -> bool:
    normal = key.strip().lower().replace("-", "_")
    if normal in _SECRET_WORDS or normal.endswith(_SECRET_SUFFIXES):
        return True
    words = [word for word in normal.split("_") if word]
    return bool(words) and words[-1] in _SECRET_WORDS - {"auth"}


def _find_secrets(node: object, where: str, problems: list[str]) -> None:
    """Report every key-like entry anywhere in the document, never its value."""
    if isinstance(node, dict):
        for key, value in node.items():
            dotted = _dotted(where, key)
            # Under [accounts] the keys are account names, not settings.
            if where != "accounts" and _looks_secret(key):
                problems.append(f"{dotted}: {_secret_advice(where)}")
            elif isinstance(value, str) and _PAT_VALUE.match(value):
                problems.append(f"{dotted}: this value looks like a personal access key; "
                                f"{_secret_advice(where)}")
            else:
                _find_secrets(value, dotted, problems)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _find_secrets(item, f"{where}[{index}]", problems)


def _secret_advice(where: str) -> str:
    match = re.fullmatch(r"accounts\.([A-Za-z0-9_-]+)", where)
    name = match.group(1) if match else "NAME"
    variable = env_var_name(name) if match else "HUBSYNC_KEY_<NAME>"
    return (
        "keys and tokens never go in the config file; remove it (and revoke the key if the "
        f"file was shared) and keep it in the OS keyring with `hubsync auth add {name}`, in a "
        f"systemd credential, or in the {variable} environment variable"
    )


def _dotted(where: str, key: str) -> str:
    part = key if NAME_PATTERN.fullmatch(key) else json.dumps(key)
    return f"{where}.{part}" if where else part


def _did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _show(value: str) -> str:
    """A user's string for a message, unless it could be a key."""
    if len(value) > 64 or _PAT_VALUE.match(value):
        return "<value hidden>"
    return repr(value)


def _quoted(values: typing.Iterable[str]) -> str:
    return ", ".join(repr(value) for value in values)


def _kind(value: object) -> str:
    kinds: list[tuple[type | tuple[type, ...], str]] = [
        (bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string"),
        (list, "an array"), (dict, "a table"),
    ]
    for kinds_type, name in kinds:
        if isinstance(value, kinds_type):
            return name
    return "a date/time"


# --------------------------------------------------------------------------- readiness


def sync_readiness(config: Config) -> list[str]:
    """What stops a valid config from syncing anything yet, as one hint per line.

    Offline: it looks at the config only, not at keys or the network. Empty means every
    watch pushes somewhere and every account is used.
    """
    notes: list[str] = []
    if not config.accounts:
        notes.append("no accounts: run `hubsync auth add NAME --portal ID`")
    if not config.watches:
        notes.append(f"no [[watch]] in {config.path}: add one (see config.example.toml), or "
                     "run `hubsync init --force --src DIR`")
    used: set[str] = set()
    for watch in config.watches:
        used.update(watch.accounts)
        if not watch.accounts:
            notes.append(f"watch {watch.name!r} pushes to no account: list some in its "
                         "`accounts = [...]`")
    notes.extend(
        f"account {name!r} is not used by any [[watch]]: add it to a watch's `accounts`"
        for name in config.accounts
        if name not in used and config.watches
    )
    return notes


# --------------------------------------------------------------------------- editing

CONFIG_HEADER = """\
hubsync configuration. Check it with `hubsync check`; every key is described in
docs/configuration.md and config.example.toml. Keys never go in this file: store them
with `hubsync auth add NAME --portal ID`.
"""


def _account_problems(where: str, name: str, portal_id: int,
                      api_base: str | None) -> list[str]:
    """What is wrong with an account ``upsert_account`` is asked to write, each problem
    starting with its dotted key; empty when nothing is."""
    problems: list[str] = []
    if not NAME_PATTERN.fullmatch(name):
        problems.append(f"{where}: account names are letters, digits, '-' and '_' "
                        "(at most 64, starting with a letter or digit)")
    if isinstance(portal_id, bool) or not isinstance(portal_id, int) or portal_id <= 0:
        problems.append(f"{where}.portal_id: must be a positive integer")
    elif portal_id > MAX_PORTAL_ID:
        problems.append(f"{where}.portal_id: {_TOO_BIG_ID}")
    if api_base is not None:
        try:
            _check_api_base(api_base)
        except _Invalid as exc:
            problems.append(f"{where}.api_base: {exc}")
    return problems


def upsert_account(
    path: Path, name: str, *, portal_id: int, env: Env, api_base: str | None
) -> None:
    """Add ``[accounts.NAME]`` or update it in place, keeping every comment and other key.

    Creates the file (mode 0600, with a header comment) if it does not exist. ``api_base``
    None removes an existing override. Raises ``ConfigError`` for an invalid name,
    portal id or URL, or a file tomlkit cannot parse.
    """
    import tomlkit

    where = _dotted("accounts", name)
    problems = _account_problems(where, name, portal_id, api_base)
    if problems:
        raise ConfigError(path, problems)

    document = _read_document(path) if path.exists() else _new_document()
    accounts = document.get("accounts")
    if accounts is not None and not isinstance(accounts, dict):
        raise ConfigError(path, "accounts: is not a table; fix it by hand, then retry")
    table = accounts.get(name) if accounts is not None else None
    if table is None:
        text = _with_new_account(document, name, portal_id, env, api_base)
    elif isinstance(table, dict):
        table["portal_id"] = portal_id
        table["env"] = env.value
        if api_base is not None:
            table["api_base"] = api_base
        elif "api_base" in table:
            del table["api_base"]
        text = tomlkit.dumps(document)
    else:
        raise ConfigError(path, f"{where}: is not a table; fix it by hand, then retry")
    written = tomllib.loads(text)["accounts"][name]
    if (written["portal_id"], written["env"], written.get("api_base")) != (
        portal_id, env.value, api_base
    ):  # pragma: no cover - a tomlkit bug, not a user error
        raise ConfigError(path, f"{where}: could not be written; edit the file by hand")
    write_atomically(path, text)


def _with_new_account(
    document: Any, name: str, portal_id: int, env: Env, api_base: str | None
) -> str:
    """The document with ``[accounts.NAME]`` appended at the very end.

    tomlkit would insert it after the last account table, below any comment that
    introduces the next table; at the end of the file it disturbs nothing.
    """
    import tomlkit
    import tomlkit.items

    body = tomlkit.document()
    body["portal_id"] = portal_id
    body["env"] = env.value
    if api_base is not None:
        body["api_base"] = api_base
    existing = tomlkit.dumps(document).rstrip("\n")
    appended = f"{existing}\n\n[accounts.{name}]\n{tomlkit.dumps(body)}".lstrip("\n")
    try:
        tomllib.loads(appended)
    except tomllib.TOMLDecodeError:
        # `accounts = { ... }` (an inline table) cannot be extended by a header.
        accounts = document.get("accounts")
        if accounts is None:
            accounts = tomlkit.table(is_super_table=True)
            document["accounts"] = accounts
        inline = isinstance(accounts, tomlkit.items.InlineTable)
        table = tomlkit.inline_table() if inline else tomlkit.table()
        for key, value in body.items():
            table[key] = value
        accounts[name] = table
        return str(tomlkit.dumps(document))
    return appended


def remove_account(path: Path, name: str) -> None:
    """Remove ``[accounts.NAME]``, keeping everything else as written.

    Raises ``ConfigError`` if the file or the account does not exist, or if a
    ``[[watch]]`` still pushes to it (naming the watch, which must be edited first).
    """
    where = _dotted("accounts", name)
    if not path.exists():
        raise ConfigError(path, "no config file here, so no account to remove")
    document = _read_document(path)
    accounts = document.get("accounts")
    if not isinstance(accounts, dict) or name not in accounts:
        names = list(accounts) if isinstance(accounts, dict) else []
        raise ConfigError(path, f"{where}: no such account{_did_you_mean(name, names)}")
    users: list[str] = []
    watches = document.get("watch", [])
    for index, watch in enumerate(watches if isinstance(watches, list) else []):
        if isinstance(watch, dict) and name in (watch.get("accounts") or []):
            users.append(f"watch[{index}] ({str(watch.get('name', '?'))!r})")
    if users:
        raise ConfigError(path, f"{where}: still used by {', '.join(users)}; remove {name!r} "
                                "from their `accounts` first")
    del accounts[name]
    if not accounts:
        del document["accounts"]
    import tomlkit

    write_atomically(path, tomlkit.dumps(document))


def _new_document() -> Any:
    import tomlkit

    document = tomlkit.document()
    for line in CONFIG_HEADER.splitlines():
        document.add(tomlkit.comment(line))
    document.add(tomlkit.nl())
    return document


def _read_document(path: Path) -> Any:
    import tomlkit
    import tomlkit.exceptions

    try:
        return tomlkit.parse(path.read_text(encoding="utf-8").removeprefix(_BOM))
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(path, f"invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, f"cannot read the config file: {exc}") from None


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) so a reader sees the old file or the new,
    never half: :func:`hubsync.atomic.write_atomically` (temporary file in the same
    folder, fsync, rename, fsync the folder). An existing file keeps its permissions, a
    new one is 0600 (its folder 0700): a config may name where keys are. Raises OSError.
    """
    atomic.write_atomically(path, text.encode("utf-8"), purpose="config", mode=0o600,
                            folder_mode=0o700)
