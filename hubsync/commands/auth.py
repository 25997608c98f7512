"""Add, list, test, or remove the personal access key of an account.

Each account authenticates with its own HubSpot personal access key, so HubSpot and
hubsync's sync log attribute every push to the right user. Keys are kept in the OS
keyring (or given as HUBSYNC_KEY_<NAME> / a systemd credential), never in the config.

  hubsync auth add sandbox --portal 12345678          prompt for the key (hidden)
  hubsync auth add staging                            rotate: reuse the configured portal
  HUBSYNC_KEY_CI=... hubsync auth add ci --portal 42 --no-store   no keyring: config only
  pass show hubspot/sandbox | hubsync auth add sandbox --portal 12345678 --key-stdin
  hubsync auth add local --portal 111 --api-base http://127.0.0.1:8080 --key-stdin
  hubsync auth list [--json]                          where each key comes from, who it is
  hubsync auth test [sandbox staging]                 exchange each key now
  hubsync auth remove sandbox [--purge]               forget the key (--purge: the account too)

  hubsync auth import                                 the accounts of an `hs` set-up

Running `auth add` again for an account replaces (rotates) its key; it reuses the
account's configured portal, env and api_base, and tells a running session to reload.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubsync.errors import EX_FAILURE, EX_OK, HubsyncError, StateError, clause
from hubsync.model import AuthState, Env, Identity

if TYPE_CHECKING:
    from hubsync.config import Config
    from hubsync.state import AuthStatus, StateStore

MASK_CHARACTERS = frozenset("•●·*∙⋅◦")


_RAW = argparse.RawDescriptionHelpFormatter


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """``auth add|list|test|remove|import``."""
    actions = parser.add_subparsers(dest="auth_action", metavar="ACTION", required=True)
    _configure_add(actions)

    listing = actions.add_parser(
        "list", help="each account, where its key comes from, who it is", formatter_class=_RAW,
        description="For each configured account: its portal, where its key comes from\n"
                    "(environment, systemd credential, keyring, or none) and who the key\n"
                    "belonged to at the last `auth add` or `auth test`. Never shows a key.\n\n"
                    "examples:\n  hubsync auth list\n"
                    "  hubsync auth list --json | jq '.[] | {name, key_source, state}'")
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    test = actions.add_parser(
        "test", help="exchange each account's key now", formatter_class=_RAW,
        description="Exchange each account's key with HubSpot now and say whose it is.\n"
                    "Exit 1 if any key is missing or refused; an unknown name exits 64.\n\n"
                    "examples:\n  hubsync auth test\n  hubsync auth test sandbox --json")
    test.add_argument("names", nargs="*", metavar="NAME", help="accounts (default: all)")
    test.add_argument("--json", action="store_true",
                      help="one JSON object: ok, and accounts (name, ok, source, identity, "
                      "error)")

    remove = actions.add_parser(
        "remove", help="delete an account's key from the keyring", formatter_class=_RAW,
        description="Delete the account's key from the OS keyring. The [accounts.NAME]\n"
                    "table stays in the config unless --purge is given (refused while a\n"
                    "watch still pushes to it). An unknown name exits 64.\n\n"
                    "examples:\n  hubsync auth remove sandbox\n"
                    "  hubsync auth remove sandbox --purge")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("--purge", action="store_true",
                        help="also remove [accounts.NAME] from the config")

    imported = actions.add_parser(
        "import", help="take the accounts of an `hs` (HubSpot CLI) set-up",
        formatter_class=_RAW,
        description="Read the accounts of the HubSpot CLI's config (./hubspot.config.yml,\n"
                    "else ~/.hscli/config.yml), prove each personal access key, store it in\n"
                    "the OS keyring and write [accounts.NAME] without any key. Accounts that\n"
                    "use another auth type are listed and skipped. The hs file is not changed.\n\n"
                    "examples:\n  hubsync auth import\n"
                    "  hubsync auth import ~/site/hubspot.config.yml --account DEV")
    imported.add_argument("file", nargs="?", type=Path, metavar="FILE",
                          help="the hs config (default: ./hubspot.config.yml, else "
                               "~/.hscli/config.yml)")
    imported.add_argument("--account", action="append", default=[], metavar="NAME",
                          dest="accounts", help="import only this hs account (repeatable)")
    imported.add_argument("--api-base", metavar="URL",
                          help="API base URL override (for a loopback emulator)")


def _configure_add(actions: Any) -> None:
    add = actions.add_parser(
        "add", help="store an account's key (after proving it works) and add the account",
        formatter_class=_RAW,
        description="Prove a personal access key works, store it in the keyring, and add or\n"
                    "update [accounts.NAME] in the config. Re-running rotates the key and\n"
                    "reuses the account's configured portal, env and api_base. The account is\n"
                    "added to --watch NAME, or to the only watch when there is exactly one.\n"
                    "A running session is told to reload, so it uses the new key at once.\n\n"
                    "examples:\n  hubsync auth add sandbox --portal 12345678\n"
                    "  hubsync auth add staging                      rotate staging's key\n"
                    "  hubsync auth add ci --portal 42 --no-store    key from HUBSYNC_KEY_CI")
    add.add_argument("name", metavar="NAME", help="account name, e.g. sandbox")
    add.add_argument("--portal", type=int, metavar="ID",
                     help="the HubSpot account (portal / hub) id the key must belong to "
                          "(default: the configured one)")
    add.add_argument("--env", choices=[e.value for e in Env],
                     help="HubSpot environment (default: the configured one, else prod)")
    add.add_argument("--api-base", metavar="URL",
                     help="API base URL override (https only; http for loopback emulators; "
                          "default: the configured one)")
    add.add_argument("--key-stdin", action="store_true",
                     help="read the key from standard input instead of a hidden prompt")
    add.add_argument("--no-store", action="store_true",
                     help="do not use the keyring: prove the key given as HUBSYNC_KEY_<NAME> "
                          "or a systemd credential, and write the config only")
    add.add_argument("--watch", metavar="WATCH",
                     help="also add the account to this watch's `accounts` (default: the only "
                          "watch, if there is exactly one)")


def run(args: argparse.Namespace) -> int:
    from hubsync.commands import config_path as named_config

    config_path = named_config(args)
    action = args.auth_action
    if action == "add":
        return asyncio.run(_add(args, config_path))
    if action == "list":
        return asyncio.run(_list(config_path, as_json=args.json))
    if action == "test":
        return asyncio.run(_test(config_path, args.names, as_json=args.json))
    if action == "import":
        from hubsync.commands.auth_import import import_accounts

        return import_accounts(args, config_path)
    return asyncio.run(_remove(config_path, args.name, purge=args.purge))


# --- the key from the user ----------------------------------------------------------------


def _read_key(name: str, from_stdin: bool) -> str:
    if from_stdin:
        raw = sys.stdin.readline()
    elif not sys.stdin.isatty():
        # getpass would fall back to echoing the key; a pipe must be asked for explicitly.
        raise HubsyncError("no terminal to prompt for the key; pipe it in with --key-stdin")
    else:
        raw = getpass.getpass(f"Personal access key for {name!r} (input hidden): ")
    key = raw.strip()
    if not key:
        raise HubsyncError("no key given; paste the personal access key from HubSpot "
                           "(Settings > Integrations > Private apps / Personal access key)")
    if set(key) & MASK_CHARACTERS:
        raise HubsyncError("that looks like the masked key (•••); in HubSpot click "
                           "'Show' then 'Copy' on the personal access key, and paste that")
    if any(ch.isspace() for ch in key) or not key.isascii() or not key.isprintable():
        raise HubsyncError("the key contains spaces or unexpected characters; "
                           "copy it again from HubSpot")
    return key


# --- what we remember between commands (no secrets) -----------------------------------------
# The last check of each account lives in the state database's auth_status table. It is
# only a cache for `auth list`: failing to read or write it never fails a command.

LEGACY_STATUS_FILE = "auth-status.json"
"""Where hubsync 0.1 kept the same facts; imported into the database once, then removed."""


def _identity_json(identity: Identity | None) -> dict[str, Any] | None:
    if identity is None:
        return None
    return {"hub_id": identity.hub_id, "user_id": identity.user_id,
            "hub_name": identity.hub_name, "email": identity.email,
            "account_type": identity.account_type}


def _state_dir(config_path: Path) -> Path:
    from hubsync.config import default_state_dir, load_config

    try:
        return load_config(config_path).settings.state_dir
    except HubsyncError:
        return default_state_dir()


def _legacy_statuses(state_dir: Path) -> dict[str, AuthStatus]:
    """The entries of a hubsync 0.1 ``auth-status.json`` that can be read."""
    from hubsync.state import AuthStatus

    try:
        data = json.loads((state_dir / LEGACY_STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    statuses: dict[str, AuthStatus] = {}
    for name, value in (data.items() if isinstance(data, dict) else ()):
        with contextlib.suppress(TypeError, KeyError, ValueError, AttributeError):
            raw = value.get("identity")
            identity = None if not isinstance(raw, dict) else Identity(
                hub_id=int(raw["hub_id"]), user_id=int(raw["user_id"]),
                hub_name=str(raw.get("hub_name") or ""), email=raw.get("email"),
                account_type=str(raw.get("account_type") or ""))
            statuses[str(name)] = AuthStatus(
                AuthState(value.get("state", "unknown")),
                float(value.get("checked_at", 0.0)), identity, value.get("error"))
    return statuses


def _import_legacy(store: StateStore, state_dir: Path) -> None:
    legacy = state_dir / LEGACY_STATUS_FILE
    if not legacy.exists():
        return
    known = store.auth_statuses()
    for name, status in _legacy_statuses(state_dir).items():
        if name not in known:
            store.record_auth(name, status)
    with contextlib.suppress(OSError):
        legacy.unlink()


def _load_statuses(state_dir: Path) -> dict[str, AuthStatus]:
    from hubsync.state import STATE_FILE, StateStore

    if not (state_dir / STATE_FILE).is_file():
        # Never create a database just to read nothing from it.
        return _legacy_statuses(state_dir)
    try:
        with StateStore.open(state_dir) as store:
            _import_legacy(store, state_dir)
            return store.auth_statuses()
    except StateError:
        return {}


def _ok(identity: Identity) -> AuthStatus:
    from hubsync.state import AuthStatus

    return AuthStatus(AuthState.OK, time.time(), identity)


def _failed(state: AuthState, error: str) -> AuthStatus:
    from hubsync.state import AuthStatus

    return AuthStatus(state, time.time(), None, error)


def _save_status(state_dir: Path, name: str, status: AuthStatus | None) -> None:
    from hubsync.state import STATE_FILE, StateStore

    if status is None and not (state_dir / STATE_FILE).is_file() \
            and not (state_dir / LEGACY_STATUS_FILE).exists():
        return  # nothing to forget: do not create a database for it
    try:
        with StateStore.open(state_dir) as store:
            _import_legacy(store, state_dir)
            store.record_auth(name, status)
    except StateError:
        pass


# --- proving a key --------------------------------------------------------------------------


async def prove_key(base_url: str, portal_id: int, key: str) -> Identity:
    """Exchange ``key`` at ``base_url``; the identity it authenticates as (with email).

    Raises PortalMismatch when the key belongs to another portal than ``portal_id``,
    KeyRejected when HubSpot refuses it, TransientError when it cannot be reached.
    Shared with ``auth import`` (``commands/auth_import.py``, part of this command).
    """
    from dataclasses import replace

    from hubsync.errors import PortalMismatch
    from hubsync.hubspot import HubSpotClient

    async with HubSpotClient(base_url, portal_id) as client:
        grant = await client.exchange_key(key)
        if grant.identity.hub_id != portal_id:
            raise PortalMismatch(
                f"this key belongs to portal {grant.identity.hub_id} "
                f"({grant.identity.hub_name or 'unnamed'}), not {portal_id}; use the key of "
                f"the right account, or pass --portal {grant.identity.hub_id}"
            )
        email = await client.fetch_email(grant.token)
    return replace(grant.identity, email=email)


def describe_identity(identity: Identity) -> str:
    """``Hub name, portal N, user N email, account type`` for one line of output."""
    email = identity.email or "(email not available)"
    hub = identity.hub_name or "(unnamed)"
    kind = identity.account_type or "unknown type"
    return f"{hub}, portal {identity.hub_id}, user {identity.user_id} {email}, {kind}"


# --- actions --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a key is proven: the account's portal, environment and API base."""

    portal_id: int
    env: Env
    api_base: str | None
    configured: bool = False
    """The config already had ``[accounts.NAME]`` (the add updates it in place)."""

    @property
    def base_url(self) -> str:
        from hubsync.hubspot import check_base_url

        return check_base_url(self.api_base or self.env.default_api_base)


def _target(args: argparse.Namespace, config_path: Path) -> _Target:
    """The command line's portal/env/api_base, each defaulting to the configured account's.

    Rotating a key (`auth add staging`) must prove it where staging syncs, not against
    the public host. Raises UsageError when a new account has no --portal.
    """
    from hubsync.config import load_config
    from hubsync.errors import ConfigError, UsageError

    configured = None
    if config_path.exists():
        with contextlib.suppress(ConfigError):
            configured = load_config(config_path).accounts.get(args.name)
    portal = args.portal if args.portal is not None else (
        configured.portal_id if configured else None)
    if portal is None:
        raise UsageError(f"account {args.name!r} is not in {config_path} yet: pass --portal ID "
                         "(the HubSpot account id the key belongs to)")
    if portal <= 0:
        raise UsageError("--portal must be a positive account id")
    env = Env(args.env) if args.env else (configured.env if configured else Env.PROD)
    api_base = args.api_base if args.api_base is not None else (
        configured.api_base if configured else None)
    return _Target(portal, env, api_base, configured=configured is not None)


async def _key_for_no_store(name: str) -> str:
    """With --no-store the key must already be given to hubsync some other way."""
    from hubsync import credentials
    from hubsync.errors import CredentialError

    try:
        key, _source = await credentials.find_key(name)
    except CredentialError as exc:
        raise CredentialError(
            f"--no-store proves the key hubsync will use, but none was found for {name!r}: "
            f"export {credentials.env_var_name(name)}=<key> (or give the service the "
            f"systemd credential {credentials.credential_name(name)}), then run this again"
        ) from exc
    return key


async def _add(args: argparse.Namespace, config_path: Path) -> int:
    from hubsync import credentials
    from hubsync.config import upsert_account

    name: str = args.name
    target = _target(args, config_path)
    base_url = target.base_url
    if args.watch is not None:
        # Before the key is asked for or stored: a typo must change nothing.
        _check_watch_name(config_path, args.watch)
    if args.no_store:
        key = await _key_for_no_store(name)
        previous = False
    else:
        key = _read_key(name, args.key_stdin)
        previous = await _previous_keyring_source(name)

    identity = await prove_key(base_url, target.portal_id, key)
    if not args.no_store:
        await credentials.store_key(name, key)
    upsert_account(config_path, name, portal_id=target.portal_id, env=target.env,
                   api_base=target.api_base)
    attached = _attach_to_watch(config_path, name, args.watch)
    state_dir = _state_dir(config_path)
    _save_status(state_dir, name, _ok(identity))

    print(f"{_added_verb(target.configured, replaced_key=previous)} account {name!r}: "
          f"{describe_identity(identity)}")
    if args.no_store:
        print(f"key not stored (--no-store): hubsync reads it from "
              f"{credentials.env_var_name(name)} or a systemd credential; config: {config_path}")
    else:
        print(f"key stored in the OS keyring (service 'hubsync', user {name!r}); "
              f"config: {config_path}")
    print(attached)
    _tell_session(state_dir)
    variable = credentials.env_var_name(name)
    if os.environ.get(variable) and not args.no_store:
        print(f"note: {variable} is set and takes precedence over the keyring",
              file=sys.stderr)
    return EX_OK


def _added_verb(configured: bool, *, replaced_key: bool) -> str:
    """The one wording of what `auth add` did: "added" a new [accounts.NAME], "rotated
    the key of" one whose keyring key it replaced, else "updated" it (run again, or
    with --no-store: the key stays where it is, the config entry is rewritten)."""
    if not configured:
        return "added"
    return "rotated the key of" if replaced_key else "updated"


def _tell_session(state_dir: Path) -> None:
    """Make a running watch or daemon re-read config and keys (SIGHUP), and say so."""
    from hubsync.session_client import reload_running

    try:
        signalled = reload_running(state_dir)
    except HubsyncError as exc:
        print(f"note: could not tell the running hubsync to reload: {clause(exc)}; "
              "run `hubsync reload`", file=sys.stderr)
        return
    if signalled is not None:
        print(f"told {signalled.describe()} to reload its config and keys")


def _check_watch_name(config_path: Path, watch: str) -> None:
    """UsageError (exit 64) unless the config file has a [[watch]] named ``watch``."""
    import tomlkit

    from hubsync.commands import check_names

    names: list[str] = []
    if config_path.exists():
        tables = tomlkit.parse(config_path.read_text(encoding="utf-8")).get("watch")
        names = [str(w.get("name")) for w in (tables if isinstance(tables, list) else [])
                 if isinstance(w, dict)]
    check_names("watch", [watch], names, option="--watch")


def _attach_to_watch(config_path: Path, account: str, watch: str | None) -> str:
    """Add ``account`` to a watch's ``accounts`` (``watch``, or the only one); what was done.

    Edits the TOML in place (comments kept) and validates the result before writing.
    Raises UsageError for an unknown ``watch``.
    """
    import tomlkit

    from hubsync.commands import check_names
    from hubsync.config import config_from_bytes, write_atomically
    from hubsync.errors import ConfigError

    document = tomlkit.parse(config_path.read_text(encoding="utf-8"))
    tables = document.get("watch")
    watches = list(tables) if isinstance(tables, list) else []
    names = [str(w.get("name")) for w in watches if isinstance(w, dict)]
    if watch is not None:
        check_names("watch", [watch], names, option="--watch")
    if watch is None and len(names) != 1:
        hint = (f"add {account!r} to a watch's `accounts`, or run again with --watch NAME"
                if names else "add a [[watch]] for your theme folder (see `hubsync init --help`)")
        return f"not added to any watch: {hint}"
    chosen = watch if watch is not None else names[0]
    table = next(w for w in watches if isinstance(w, dict) and w.get("name") == chosen)
    accounts = table.get("accounts")
    if accounts is None:
        table["accounts"] = [account]
    elif account in [str(a) for a in accounts]:
        return f"watch {chosen!r} already pushes to {account!r}"
    else:
        _append_keeping_comment_column(accounts, account)
    text = tomlkit.dumps(document)
    try:
        config_from_bytes(text.encode("utf-8"), config_path)
    except ConfigError:
        # A problem elsewhere in the file (a typo): the key is stored and the account
        # written; leave the watch alone rather than fail the whole command.
        return (f"not added to watch {chosen!r}: the config has problems; run "
                f"`hubsync check`, then add {account!r} to its `accounts`")
    write_atomically(config_path, text)
    return f"watch {chosen!r} now pushes to {account!r} too"


def _append_keeping_comment_column(array: Any, item: str) -> None:
    """Append ``item`` to a tomlkit array; a comment after it on the same line keeps its
    column (`hubsync init` aligns them) instead of being pushed right by the new item,
    down to two spaces from the value when the line has no room left."""
    before = len(array.as_string())
    array.append(item)
    trivia = array.trivia
    if trivia.comment and len(trivia.comment_ws) > 2:
        grown = len(array.as_string()) - before
        trivia.comment_ws = " " * max(2, len(trivia.comment_ws) - grown)


async def _previous_keyring_source(name: str) -> bool:
    from hubsync import credentials

    try:
        return await credentials.key_source_of(name) is credentials.KeySource.KEYRING
    except HubsyncError:
        return False


_STATE_TEXT = {"ok": "key works", "no_key": "no key", "unauthorized": "key refused",
               "offline": "not checked (offline)", "unknown": "not checked yet"}


def _source_text(source: str) -> str:
    return {"none": "no key found", "keyring unavailable": "keyring unavailable"}.get(
        source, f"key from {source}")


def _iso(epoch: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC, like the sync log's ``ts``; None stays None."""
    from hubsync.journal import utc_timestamp

    return None if epoch is None else utc_timestamp(epoch)


async def _list(config_path: Path, *, as_json: bool) -> int:
    from hubsync import credentials
    from hubsync.config import load_config

    config = load_config(config_path)
    statuses = _load_statuses(config.settings.state_dir)
    rows: list[dict[str, Any]] = []
    for name, account in config.accounts.items():
        try:
            source = await credentials.key_source_of(name)
            source_text = str(source) if source else "none"
        except HubsyncError:
            source_text = "keyring unavailable"
        status = statuses.get(name)
        row: dict[str, Any] = {
            "name": name,
            "portal_id": account.portal_id,
            "env": str(account.env),
            "api_base": account.base_url,
            "key_source": source_text,
            "state": str(status.state) if status else "unknown",
            "checked_at": status.checked_at_s if status else None,
            "identity": _identity_json(status.identity) if status else None,
            "error": status.error if status else None,
        }
        if source_text == "none":
            row["state"] = "no_key"
        rows.append(row)
    for row in rows:
        row["checked_at"] = _iso(row["checked_at"])
    if as_json:
        print(json.dumps(rows, indent=2))
        return EX_OK
    if not rows:
        print(f"no accounts in {config_path}; add one with `hubsync auth add NAME --portal ID`")
        return EX_OK
    for row in rows:
        ident = row["identity"]
        who = (f"user {ident['user_id']} {ident['email'] or ''}".rstrip()
               + f" in {ident['hub_name'] or 'portal'}") if ident else "identity not known yet"
        print(f"{row['name']}: portal {row['portal_id']} ({row['env']}), "
              f"{_source_text(row['key_source'])}, {_STATE_TEXT.get(row['state'], row['state'])}"
              f", {who}")
        if row["state"] == "no_key":
            print(f"  what to do: hubsync auth add {row['name']}")
        if row["error"]:
            print(f"  last error: {row['error']}")
    return EX_OK


async def _test(config_path: Path, names: list[str], *, as_json: bool = False) -> int:
    from hubsync.commands import check_names
    from hubsync.config import load_config

    config = load_config(config_path)
    check_names("account", names, config.accounts)
    chosen = names or list(config.accounts)
    if not chosen:
        print(f"no accounts in {config_path}; add one with `hubsync auth add NAME --portal ID`")
        return EX_FAILURE
    results = [await _test_one(config, name) for name in chosen]
    if as_json:
        # One object, as every --json: the verdict, then one entry per account.
        print(json.dumps({"ok": all(r["ok"] for r in results), "accounts": results},
                         indent=2))
    else:
        for result in results:
            if result["ok"]:
                print(f"{result['name']}: ok (key from {result['source']}): "
                      f"{result['described']}")
            else:
                print(f"{result['name']}: FAILED: {result['error']}\n"
                      f"  what to do: {result['advice']}")
    return EX_OK if all(r["ok"] for r in results) else EX_FAILURE


async def _test_one(config: Config, name: str) -> dict[str, Any]:
    """Prove one account's key; a JSON-ready result (never the key)."""
    from hubsync import credentials
    from hubsync.errors import AuthError, CredentialError

    account = config.accounts[name]
    state_dir = config.settings.state_dir
    try:
        key, source = await credentials.find_key(name)
        identity = await prove_key(account.base_url, account.portal_id, key)
    except HubsyncError as exc:
        state = ("unauthorized" if isinstance(exc, AuthError)
                 else "no_key" if isinstance(exc, CredentialError) else "offline")
        advice = {
            "unauthorized": f"create a new key in HubSpot, then run `hubsync auth add {name}`",
            "no_key": f"run `hubsync auth add {name}`",
            "offline": "check the network and api_base, then try again",
        }[state]
        _save_status(state_dir, name, _failed(AuthState(state), str(exc)))
        return {"name": name, "ok": False, "state": state, "source": None,
                "identity": None, "error": str(exc), "advice": advice}
    _save_status(state_dir, name, _ok(identity))
    return {"name": name, "ok": True, "state": "ok", "source": str(source),
            "identity": _identity_json(identity), "error": None,
            "described": describe_identity(identity)}


async def _check_known(config_path: Path, name: str) -> None:
    """UsageError unless ``name`` is configured or still has a key in the keyring."""
    from hubsync import credentials
    from hubsync.commands import check_names
    from hubsync.config import load_config
    from hubsync.errors import ConfigError

    known: list[str] = []
    # A missing file is a ConfigError too: then nothing is configured.
    with contextlib.suppress(ConfigError):
        known = list(load_config(config_path).accounts)
    if name in known:
        return
    with contextlib.suppress(HubsyncError):
        if await credentials.key_source_of(name) is credentials.KeySource.KEYRING:
            return  # an account removed from the config earlier: its key is still there
    check_names("account", [name], known)


async def _remove(config_path: Path, name: str, *, purge: bool) -> int:
    from hubsync import credentials
    from hubsync.config import remove_account

    await _check_known(config_path, name)
    # Config first: a refusal (a watch still uses it) must leave the key in place too.
    if purge:
        remove_account(config_path, name)
    removed = await credentials.delete_key(name)
    _save_status(_state_dir(config_path), name, None)
    print(f"removed the key of {name!r} from the OS keyring" if removed
          else f"no key for {name!r} in the OS keyring")
    if purge:
        print(f"removed [accounts.{name}] from {config_path}")
    try:
        source = await credentials.key_source_of(name)
    except HubsyncError:
        source = None
    if source is not None:
        where = (credentials.env_var_name(name) if source is credentials.KeySource.ENV
                 else f"$CREDENTIALS_DIRECTORY/{credentials.credential_name(name)}")
        print(f"note: a key is still provided by {where}", file=sys.stderr)
    return EX_OK
