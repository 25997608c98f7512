"""``hubsync doctor``: check the whole set-up and say, one line each, how to fix it.

Each check gives a :class:`Check`: a status, one line saying what was found, and a
fix when there is something to do. ``FAIL`` means hubsync cannot sync as configured
(bad config, no key, key refused, state dir not writable); ``WARN`` means it can, but
something will hurt (no usable keyring for ``hubsync auth add``, a low inotify limit,
a skewed clock, an installed service that is not running or would not see a key that
only this shell's ``HUBSYNC_KEY_<NAME>`` holds); ``INFO`` is context.

The HubSpot check is a real key exchange per account, with a short timeout. Keys
are looked up exactly as the engine does and never printed: only where they came
from and whom HubSpot says they belong to.
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from hubsync import credentials
from hubsync.config import Account, Config, Watch, load_config, sync_readiness
from hubsync.credentials import KeySource, credential_name, env_var_name
from hubsync.errors import (
    EX_FAILURE,
    EX_OK,
    AuthError,
    ConfigError,
    CredentialError,
    HubSpotError,
    KeyRejected,
    KeyringUnavailable,
)
from hubsync.hubspot import USER_AGENT, HubSpotClient
from hubsync.model import Identity

INOTIFY_LIMIT_FILE = Path("/proc/sys/fs/inotify/max_user_watches")
EXCHANGE_TIMEOUT_S = 10.0
KEYRING_TIMEOUT_S = 5.0
CLOCK_TOLERANCE_S = 60.0
RAISED_INOTIFY_LIMIT = 524288
_SYSTEMCTL_TIMEOUT_S = 10.0
class Status(enum.StrEnum):
    """How one check came out, worst last."""

    OK = "ok"
    """Nothing to do."""
    INFO = "info"
    """Worth knowing; nothing is wrong (e.g. the optional service is not installed)."""
    WARN = "warn"
    """hubsync can sync, but something will hurt; the fix says what to do."""
    FAIL = "FAIL"
    """hubsync cannot sync as configured until this is fixed."""


SYMBOLS = {Status.OK: "✓", Status.INFO: "·", Status.WARN: "!", Status.FAIL: "✗"}


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    name: str
    status: Status
    message: str
    fix: str = ""

    def line(self, *, tty: bool) -> str:
        mark = SYMBOLS[self.status] if tty else f"{self.status.value:<4}"
        fix = f" -> {self.fix}" if self.fix else ""
        return f"{mark} {self.name}: {self.message}{fix}"

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status.value, "message": self.message,
                "fix": self.fix}


@dataclass(frozen=True, slots=True)
class Report:
    """Every check, in the order they are shown."""

    checks: tuple[Check, ...]

    @property
    def blocking(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status is Status.FAIL)

    @property
    def warnings(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status is Status.WARN)

    @property
    def exit_code(self) -> int:
        return EX_FAILURE if self.blocking else EX_OK

    def verdict(self) -> str:
        if self.blocking:
            count = len(self.blocking)
            verb = "stops" if count == 1 else "stop"
            return f"{count} problem{'s' * (count != 1)} {verb} hubsync from syncing"
        warned = len(self.warnings)
        return "ready to sync" + (f" ({warned} warning{'s' * (warned != 1)})" if warned else "")

    def as_dict(self) -> dict[str, Any]:
        return {"ok": not self.blocking, "verdict": self.verdict(),
                "checks": [c.as_dict() for c in self.checks]}

    def write(self, stream: TextIO, *, tty: bool) -> None:
        for check in self.checks:
            print(check.line(tty=tty), file=stream)
        print(self.verdict(), file=stream)


# --------------------------------------------------------------------------- config


def check_config(path: Path) -> tuple[Config | None, list[Check]]:
    """The config loaded (or None) and its lines: validity, then readiness notes."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        where = f"{exc.path}: " if exc.path is not None else ""
        fix = "fix the file; `hubsync check` shows each problem" if path.exists() else ""
        return None, [Check("config", Status.FAIL, where + "; ".join(exc.problems), fix)]
    counts = (f"{len(config.accounts)} account{'s' * (len(config.accounts) != 1)}, "
              f"{len(config.watches)} watch{'es' * (len(config.watches) != 1)}")
    checks = [Check("config", Status.OK, f"{path} is valid ({counts})")]
    checks += [Check("config", Status.WARN, note) for note in sync_readiness(config)]
    return config, checks


# --------------------------------------------------------------------------- keyring


async def check_keyring(timeout_s: float = KEYRING_TIMEOUT_S) -> Check:
    """Which keyring backend ``hubsync auth add`` would use, and whether it can keep keys."""
    fix = ("for `hubsync auth add`, run and unlock a Secret Service (GNOME Keyring, "
           "KeePassXC); keys given as HUBSYNC_KEY_<NAME> or systemd credentials need none")
    try:
        name, problem = await credentials.describe_keyring(timeout_s=timeout_s)
    except CredentialError as exc:
        return Check("keyring", Status.WARN, str(exc), fix)
    if problem is not None:
        return Check("keyring", Status.WARN, f"{name}: {problem}", fix)
    return Check("keyring", Status.OK, f"{name} can keep keys")


# --------------------------------------------------------------------------- accounts


class _ClockedClient(HubSpotClient):
    """A HubSpotClient that remembers the server's ``Date`` header and the local time."""

    def __init__(self, *args: Any, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock
        self.skew_s: float | None = None
        """Server time minus local time at the last response; None before one."""

    def _get_session(self) -> aiohttp.ClientSession:
        # Same session as the parent's (one connection, this client's timeout), plus a
        # trace hook: the client exposes no response headers. See the report of issue 6.
        if self._session is None or self._session.closed:
            trace = aiohttp.TraceConfig()
            trace.on_request_end.append(self._response_seen)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1),
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
                trace_configs=[trace],
            )
        return self._session

    async def _response_seen(self, session: aiohttp.ClientSession, context: Any,
                             params: aiohttp.TraceRequestEndParams) -> None:
        header = params.response.headers.get("Date")
        if not header:
            return
        try:
            server = email.utils.parsedate_to_datetime(header).timestamp()
        except (TypeError, ValueError):
            return
        self.skew_s = server - self._clock()


@dataclass(frozen=True, slots=True)
class AccountResult:
    """The lines of one account, and the clock skew its key exchange showed."""

    checks: tuple[Check, ...]
    skew_s: float | None = None


def _where(account: str, source: KeySource) -> str:
    if source is KeySource.ENV:
        return f"${env_var_name(account)}"
    if source is KeySource.SYSTEMD:
        return f"systemd credential {credential_name(account)!r} ($CREDENTIALS_DIRECTORY)"
    return "the OS keyring"


def _who(identity: Identity, email_address: str | None) -> str:
    hub = f"portal {identity.hub_id}" + (f" ({identity.hub_name})" if identity.hub_name else "")
    user = f"user {identity.user_id}" + (f" <{email_address}>" if email_address else "")
    return f"{hub} as {user}"


async def check_account(account: Account, *, clock: Callable[[], float] = time.time,
                        exchange_timeout_s: float = EXCHANGE_TIMEOUT_S,
                        keyring_timeout_s: float = KEYRING_TIMEOUT_S) -> AccountResult:
    """Where the account's key is, and whether HubSpot accepts it (a real exchange)."""
    name = account.name
    key_line = f"key {name}"
    try:
        key, source = await credentials.find_key(name, timeout_s=keyring_timeout_s)
    except KeyringUnavailable:
        return AccountResult((Check(
            key_line, Status.FAIL,
            f"not in ${env_var_name(name)} or systemd credential {credential_name(name)!r}, "
            "and the OS keyring cannot be read (see the keyring line)",
            f"set {env_var_name(name)}, load the systemd credential, or unlock a keyring and "
            f"run `hubsync auth add {name} --portal {account.portal_id}`"),))
    except CredentialError as exc:
        return AccountResult((Check(key_line, Status.FAIL, str(exc)),))
    found = Check(key_line, Status.OK, f"found in {_where(name, source)}")
    line = f"hubspot {name}"
    client = _ClockedClient(account.base_url, account.portal_id, timeout_s=exchange_timeout_s,
                            max_connections=1, clock=clock)
    try:
        grant = await client.exchange_key(key)
        identity = grant.identity
        if identity.hub_id != account.portal_id:
            return AccountResult((found, Check(
                line, Status.FAIL,
                f"the key belongs to portal {identity.hub_id} ({identity.hub_name}), not "
                f"{account.portal_id}",
                f"run `hubsync auth add {name} --portal {account.portal_id}` with the key of "
                "that portal, or correct portal_id")), client.skew_s)
        email_address = await client.fetch_email(grant.token)
    except KeyRejected as exc:
        return AccountResult((found, Check(
            line, Status.FAIL, f"{exc} (HTTP {exc.status})" if exc.status else str(exc),
            f"create a new personal access key in HubSpot, then run "
            f"`hubsync auth add {name} --portal {account.portal_id}`")), client.skew_s)
    except (AuthError, HubSpotError) as exc:
        return AccountResult((found, Check(
            line, Status.WARN, f"could not check the key at {account.base_url}: {exc}",
            "check the network and api_base; hubsync retries by itself")), client.skew_s)
    finally:
        await client.close()
    return AccountResult(
        (found, Check(line, Status.OK, f"key accepted: {_who(identity, email_address)}")),
        client.skew_s)


def check_clock(skews: Sequence[float]) -> Check:
    """The local clock against the ``Date`` of HubSpot's answers to the key exchanges."""
    if not skews:
        return Check("clock", Status.INFO,
                     "not checked: no key exchange got an answer from HubSpot")
    skew = max(skews, key=abs)
    if abs(skew) <= CLOCK_TOLERANCE_S:
        return Check("clock", Status.OK,
                     f"within {max(1, round(abs(skew)))} s of HubSpot's clock")
    direction = "behind" if skew > 0 else "ahead of"
    return Check("clock", Status.WARN,
                 f"the local clock is {round(abs(skew))} s {direction} HubSpot's: token expiry "
                 "and sync log times will be off",
                 "turn on time synchronisation: `sudo timedatectl set-ntp true`")


# --------------------------------------------------------------------------- local


def check_state_dir(state_dir: Path) -> Check:
    """Whether hubsync can create and write its state folder (tried, not guessed)."""
    from hubsync.lock import lock_holder
    from hubsync.statedir import state_dir_problem

    fix = f"make {state_dir} writable by you, or set settings.state_dir"
    problem = state_dir_problem(state_dir)
    if problem is not None:
        return Check("state dir", Status.FAIL, problem, fix)
    if state_dir.is_dir():
        holder = lock_holder(state_dir)
        running = f"; hubsync is running on it (PID {holder})" if holder else ""
        return Check("state dir", Status.OK, f"{state_dir} is writable{running}")
    return Check("state dir", Status.OK, f"{state_dir} will be created on first use")


def check_archive_refusals(config: Config) -> list[Check]:
    """One INFO line per account whose target refused the archive path (``bulk``, read
    from the state database; nothing when there is none or it cannot be read)."""
    from hubsync.errors import HubsyncError
    from hubsync.journal import utc_timestamp
    from hubsync.state import STATE_FILE, StateStore

    if not (config.settings.state_dir / STATE_FILE).is_file():
        return []
    try:
        with StateStore.open(config.settings.state_dir) as store:
            # The accounts a session binds (those some watch uses), as `status` does.
            used = {name for watch in config.watches for name in watch.accounts}
            store.bind({name: config.accounts[name].target for name in sorted(used)})
            refusals = store.bulk_refusals()
    except HubsyncError:
        return []  # check_state_dir speaks about the state; this is a note only
    return [Check(f"{name} bulk", Status.INFO,
                  f"large batches go file by file: HubSpot refused the archive path on "
                  f"{utc_timestamp(refusal.refused_s)} ({refusal.reason})",
                  f'set bulk = "archive" in [accounts.{name}] to try again')
            for name, refusal in sorted(refusals.items())]


def count_folders(root: Path) -> int:
    """Folders under ``root``, itself included: one inotify watch each."""
    if not root.is_dir():
        return 0
    return 1 + sum(len(dirs) for _, dirs, _ in os.walk(root))


def check_inotify(watches: Sequence[Watch], limit_file: Path = INOTIFY_LIMIT_FILE) -> Check:
    """``max_user_watches`` against the folders every watch root needs."""
    try:
        limit = int(limit_file.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        return Check("inotify", Status.INFO,
                     f"no {limit_file} (not Linux): the platform's own watcher is used")
    except (OSError, ValueError) as exc:
        return Check("inotify", Status.WARN, f"cannot read {limit_file}: {exc}")
    folders = {watch.name: count_folders(watch.src) for watch in watches}
    needed = sum(folders.values())
    per_watch = ", ".join(f"{name} {count}" for name, count in folders.items()) or "no watches"
    raised = max(RAISED_INOTIFY_LIMIT, needed * 4)
    fix = (f"`sudo sysctl fs.inotify.max_user_watches={raised}`, and to keep it: "
           f"`echo fs.inotify.max_user_watches={raised} | "
           "sudo tee /etc/sysctl.d/90-hubsync.conf`")
    if needed >= limit:
        return Check("inotify", Status.WARN,
                     f"the watches need {needed} folder watches ({per_watch}) but "
                     f"max_user_watches is {limit}: hubsync falls back to slow polling", fix)
    if needed * 2 > limit:
        return Check("inotify", Status.WARN,
                     f"the watches need {needed} of max_user_watches={limit} ({per_watch}); "
                     "editors and other tools need watches too", fix)
    return Check("inotify", Status.OK,
                 f"{needed} folders to watch ({per_watch}), max_user_watches is {limit}")


def check_node(watches: Sequence[Watch]) -> Check | None:
    """Whether node can convert the watches' ``fields.js`` files (``hubsync.fieldsjs``);
    None when no watch that converts has one."""
    from hubsync import fieldsjs

    found = {watch.name: fieldsjs.find_sources(watch.src) for watch in watches
             if watch.convert_fields}
    found = {name: sources for name, sources in found.items() if sources}
    if not found:
        return None
    name, sources = next(iter(found.items()))
    counts = ", ".join(f"{len(items)} fields.js in watch {watch!r}"
                       for watch, items in found.items())
    missing = fieldsjs.node_missing()
    if missing is not None:
        problem, fix = missing
        return Check("node", Status.WARN,
                     f"{counts} to convert (e.g. {sources[0]} in watch {name!r}), but "
                     f"{problem}: they fail until it is there; every other file syncs",
                     f"{fix}, or set convert_fields = false in those [[watch]] tables")
    node = fieldsjs.find_node()
    version = fieldsjs.node_version(node) if node is not None else None
    shown = f"{node} {version[1]}" if version is not None else str(node)
    return Check("node", Status.OK, f"{shown} converts {counts}")


def check_service(config_path: Path | None) -> list[Check]:
    """The optional systemd user unit: installed? running? for this config?"""
    from hubsync import systemd

    unit = systemd.user_unit_dir() / systemd.UNIT_NAME
    if not unit.exists():
        return [Check("service", Status.INFO,
                      "not installed (optional); `hubsync service install` keeps hubsync "
                      "running in the background")]
    checks: list[Check] = []
    text = unit.read_text(encoding="utf-8", errors="replace")
    if config_path is not None and systemd.installed_exec_start(
            config_path.resolve()) not in text:
        checks.append(Check("service", Status.INFO,
                            f"{unit} runs another config or Python than this one",
                            "run `hubsync service install` to point it here"))
    probe = systemd.probe_user_systemd()
    if not probe.reachable:
        return [Check("service", Status.WARN, f"{unit} is installed, but {probe.reason}",
                      "start it where a user systemd runs, or run `hubsync watch`"), *checks]
    try:
        result = subprocess.run(
            ["systemctl", "--user", "is-active", systemd.UNIT_NAME],
            capture_output=True, text=True, timeout=_SYSTEMCTL_TIMEOUT_S, check=False)
        state = result.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired) as exc:
        state = f"unknown ({exc})"
    if state == "active":
        return [Check("service", Status.OK, f"{systemd.UNIT_NAME} is installed and running"),
                *checks]
    return [Check("service", Status.WARN, f"{systemd.UNIT_NAME} is installed but {state}",
                  f"`systemctl --user enable --now {systemd.UNIT_NAME}`; why it stopped: "
                  "`journalctl --user -u hubsync -n 50`"), *checks]


_CREDENTIAL_SETTINGS = ("LoadCredential", "LoadCredentialEncrypted", "SetCredential",
                        "SetCredentialEncrypted", "ImportCredential")


def unit_key_sources(unit: Path) -> tuple[frozenset[str], frozenset[str]]:
    """What the unit at ``unit`` and its drop-ins (``NAME.service.d/*.conf``) hand the
    service: (credential ids or ``ImportCredential=`` globs, ``Environment=`` variable
    names). systemd.exec(5) defines the settings; commented lines are skipped."""
    import shlex

    credential_ids: set[str] = set()
    variables: set[str] = set()
    drop_ins = sorted((unit.parent / f"{unit.name}.d").glob("*.conf"))
    for path in (unit, *drop_ins):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for raw in text.splitlines():
            setting, sep, value = raw.strip().partition("=")
            if not sep or setting.startswith(("#", ";")):
                continue
            if setting in _CREDENTIAL_SETTINGS:
                credential_ids.add(value.split(":", 1)[0].strip())
            elif setting == "Environment":
                with_values = shlex.split(value) if value.count('"') % 2 == 0 else []
                variables.update(item.split("=", 1)[0] for item in with_values if "=" in item)
    return frozenset(credential_ids), frozenset(variables)


async def keys_the_service_misses(config: Config, unit: Path, *,
                                  keyring_timeout_s: float = KEYRING_TIMEOUT_S) -> list[str]:
    """Accounts (of the config's watches) whose key this process finds only in its own
    ``HUBSYNC_KEY_<NAME>``: the service that ``unit`` starts does not inherit this
    shell's environment, so it would stop with "no key" (exit 78). Neither a credential
    nor an ``Environment=`` of the unit gives it, nor the keyring (unreadable counts as
    no). Empty when the unit is not installed."""
    from fnmatch import fnmatchcase

    if not await asyncio.to_thread(unit.exists):
        return []
    credential_ids, variables = await asyncio.to_thread(unit_key_sources, unit)
    missing = []
    for name in dict.fromkeys(a for watch in config.watches for a in watch.accounts):
        variable = env_var_name(name)
        if not os.environ.get(variable, "").strip() or variable in variables:
            continue
        if any(fnmatchcase(credential_name(name), c) for c in credential_ids):
            continue
        try:
            stored = await credentials.keyring_has_key(name, timeout_s=keyring_timeout_s)
        except KeyringUnavailable:
            stored = False
        if not stored:
            missing.append(name)
    return missing


def service_key_fix(name: str) -> str:
    """How to give ``name``'s key to the service: the keyring (from the variable, so it is
    never typed or shown), or a systemd credential (docs/operations.md)."""
    return (f"store it in the keyring: `printenv {env_var_name(name)} | hubsync auth add "
            f"{name} --key-stdin`, or load the systemd credential {credential_name(name)!r} "
            "(docs/operations.md, \"Keys on a machine without a desktop keyring\")")


async def _service_key_checks(config: Config, checks: list[Check],
                              keyring_timeout_s: float) -> list[Check]:
    """``checks`` with each ``key NAME`` line found in ``$HUBSYNC_KEY_NAME`` made a
    warning when the installed service would not see that key."""
    from hubsync import systemd

    unit = systemd.user_unit_dir() / systemd.UNIT_NAME
    missing = set(await keys_the_service_misses(config, unit,
                                                keyring_timeout_s=keyring_timeout_s))
    return [Check(c.name, Status.WARN,
                  f"{c.message} of this shell only: {systemd.UNIT_NAME} will not see it",
                  service_key_fix(c.name.removeprefix("key ")))
            if c.status is Status.OK and c.name.removeprefix("key ") in missing
            and c.name.startswith("key ") else c
            for c in checks]


# --------------------------------------------------------------------------- all


async def diagnose(
    config_path: Path,
    *,
    inotify_limit_file: Path = INOTIFY_LIMIT_FILE,
    clock: Callable[[], float] = time.time,
    exchange_timeout_s: float = EXCHANGE_TIMEOUT_S,
    keyring_timeout_s: float = KEYRING_TIMEOUT_S,
) -> Report:
    """Run every check against the config at ``config_path``.

    ``inotify_limit_file`` and ``clock`` are parameters so tests can fake a low limit
    and a skewed clock.
    """
    config, checks = check_config(config_path)
    checks.append(await check_keyring(keyring_timeout_s))
    if config is not None:
        results = await asyncio.gather(*(
            check_account(account, clock=clock, exchange_timeout_s=exchange_timeout_s,
                          keyring_timeout_s=keyring_timeout_s)
            for account in config.accounts.values()))
        for result in results:
            checks.extend(result.checks)
        checks = await _service_key_checks(config, checks, keyring_timeout_s)
        checks.append(check_clock([r.skew_s for r in results if r.skew_s is not None]))
        checks.append(check_state_dir(config.settings.state_dir))
        checks.extend(await asyncio.to_thread(check_archive_refusals, config))
        checks.append(await asyncio.to_thread(check_inotify, config.watches,
                                              inotify_limit_file))
        node = await asyncio.to_thread(check_node, config.watches)
        if node is not None:
            checks.append(node)
    checks.extend(await asyncio.to_thread(check_service,
                                          config_path if config is not None else None))
    return Report(tuple(checks))
