"""Add, list, test, or remove the personal access key of an account.

Each account authenticates with its own HubSpot personal access key, so HubSpot and
hubsync's sync log attribute every push to the right user. Keys are kept in the OS
keyring (or given as HUBSYNC_KEY_<NAME> / a systemd credential), never in the config.

  hubsync auth add sandbox --portal 12345678          prompt for the key (hidden)
  pass show hubspot/sandbox | hubsync auth add sandbox --portal 12345678 --key-stdin
  hubsync auth add local --portal 111 --api-base http://127.0.0.1:8080 --key-stdin
  hubsync auth list [--json]                          where each key comes from, who it is
  hubsync auth test [sandbox staging]                 exchange each key now
  hubsync auth remove sandbox [--purge]               forget the key (--purge: the account too)

Running `auth add` again for an account replaces (rotates) its key.
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
from typing import Any

from hubsync.errors import EX_FAILURE, EX_OK, HubsyncError
from hubsync.model import Env, Identity

MASK_CHARACTERS = frozenset("•●·*∙⋅◦")
STATUS_FILE = "auth-status.json"


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """``auth add|list|test|remove``."""
    actions = parser.add_subparsers(dest="auth_action", metavar="ACTION", required=True)

    add = actions.add_parser(
        "add", help="store an account's key (after proving it works) and add the account",
        description="Prove a personal access key works, store it in the keyring, and add "
                    "or update [accounts.NAME] in the config. Re-running rotates the key.",
    )
    add.add_argument("name", metavar="NAME", help="account name, e.g. sandbox")
    add.add_argument("--portal", type=int, required=True, metavar="ID",
                     help="the HubSpot account (portal / hub) id the key must belong to")
    add.add_argument("--env", choices=[e.value for e in Env], default=Env.PROD.value,
                     help="HubSpot environment (default: prod)")
    add.add_argument("--api-base", metavar="URL",
                     help="API base URL override (https only; http for loopback emulators)")
    add.add_argument("--key-stdin", action="store_true",
                     help="read the key from standard input instead of a hidden prompt")

    listing = actions.add_parser("list", help="each account, where its key comes from, who it is")
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    test = actions.add_parser("test", help="exchange each account's key now")
    test.add_argument("names", nargs="*", metavar="NAME", help="accounts (default: all)")

    remove = actions.add_parser("remove", help="delete an account's key from the keyring")
    remove.add_argument("name", metavar="NAME")
    remove.add_argument("--purge", action="store_true",
                        help="also remove [accounts.NAME] from the config")


def run(args: argparse.Namespace) -> int:
    from hubsync.commands import config_path as named_config

    config_path = named_config(args)
    action = args.auth_action
    if action == "add":
        return asyncio.run(_add(args, config_path))
    if action == "list":
        return asyncio.run(_list(config_path, as_json=args.json))
    if action == "test":
        return asyncio.run(_test(config_path, args.names))
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


@dataclass(frozen=True, slots=True)
class _Status:
    """The outcome of the last `auth add`/`auth test` of an account: never the key."""

    state: str
    checked_at: float
    identity: Identity | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        ident = self.identity
        return {
            "state": self.state,
            "checked_at": self.checked_at,
            "error": self.error,
            "identity": None if ident is None else {
                "hub_id": ident.hub_id, "user_id": ident.user_id, "hub_name": ident.hub_name,
                "email": ident.email, "account_type": ident.account_type,
            },
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Status:
        raw = data.get("identity")
        identity = None
        if isinstance(raw, dict):
            identity = Identity(
                hub_id=int(raw["hub_id"]), user_id=int(raw["user_id"]),
                hub_name=str(raw.get("hub_name") or ""), email=raw.get("email"),
                account_type=str(raw.get("account_type") or ""),
            )
        return cls(state=str(data.get("state", "unknown")),
                   checked_at=float(data.get("checked_at", 0.0)),
                   identity=identity, error=data.get("error"))


def _state_dir(config_path: Path) -> Path:
    from hubsync.config import default_state_dir, load_config

    try:
        return load_config(config_path).settings.state_dir
    except HubsyncError:
        return default_state_dir()


def _load_statuses(state_dir: Path) -> dict[str, _Status]:
    try:
        data = json.loads((state_dir / STATUS_FILE).read_text(encoding="utf-8"))
        return {name: _Status.from_json(value) for name, value in data.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _save_status(state_dir: Path, name: str, status: _Status | None) -> None:
    from hubsync.config import write_atomically

    statuses = _load_statuses(state_dir)
    if status is None:
        statuses.pop(name, None)
    else:
        statuses[name] = status
    text = json.dumps({n: s.to_json() for n, s in sorted(statuses.items())}, indent=2)
    # Only a cache for `auth list`: failing to write it must not fail the command.
    with contextlib.suppress(OSError):
        write_atomically(state_dir / STATUS_FILE, text + "\n")


# --- proving a key --------------------------------------------------------------------------


async def _prove(base_url: str, portal_id: int, key: str) -> Identity:
    """Exchange ``key``; the identity it authenticates as, checked against ``portal_id``."""
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


def _describe(identity: Identity) -> str:
    email = identity.email or "(email not available)"
    hub = identity.hub_name or "(unnamed)"
    kind = identity.account_type or "unknown type"
    return f"{hub}, portal {identity.hub_id}, user {identity.user_id} {email}, {kind}"


# --- actions --------------------------------------------------------------------------------


async def _add(args: argparse.Namespace, config_path: Path) -> int:
    from hubsync import credentials
    from hubsync.config import upsert_account
    from hubsync.errors import ConfigError
    from hubsync.hubspot import check_base_url

    name: str = args.name
    env = Env(args.env)
    api_base: str | None = args.api_base
    base_url = check_base_url(api_base or env.default_api_base)
    if args.portal <= 0:
        raise ConfigError(None, "--portal must be a positive account id")
    key = _read_key(name, args.key_stdin)
    previous = await _previous_keyring_source(name)

    identity = await _prove(base_url, args.portal, key)
    await credentials.store_key(name, key)
    upsert_account(config_path, name, portal_id=args.portal, env=env, api_base=api_base)
    _save_status(_state_dir(config_path), name, _Status("ok", time.time(), identity))

    verb = "rotated the key of" if previous else "added"
    print(f"{verb} account {name!r}: {_describe(identity)}")
    print(f"key stored in the OS keyring (service 'hubsync', user {name!r}); "
          f"config: {config_path}")
    variable = credentials.env_var_name(name)
    if os.environ.get(variable):
        print(f"note: {variable} is set and takes precedence over the keyring",
              file=sys.stderr)
    return EX_OK


async def _previous_keyring_source(name: str) -> bool:
    from hubsync import credentials

    try:
        return await credentials.key_source_of(name) is credentials.KeySource.KEYRING
    except HubsyncError:
        return False


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
            "state": status.state if status else "unknown",
            "checked_at": status.checked_at if status else None,
            "identity": status.to_json()["identity"] if status else None,
            "error": status.error if status else None,
        }
        if source_text == "none":
            row["state"] = "no_key"
        rows.append(row)
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
        print(f"{row['name']}: portal {row['portal_id']} ({row['env']}), key from "
              f"{row['key_source']}, {row['state']}, {who}")
        if row["error"]:
            print(f"  last error: {row['error']}")
    return EX_OK


async def _test(config_path: Path, names: list[str]) -> int:
    from hubsync import credentials
    from hubsync.config import load_config
    from hubsync.errors import AuthError, ConfigError, CredentialError

    config = load_config(config_path)
    unknown = [n for n in names if n not in config.accounts]
    if unknown:
        raise ConfigError(config_path, f"no account named {', '.join(map(repr, unknown))}; "
                                       f"known: {', '.join(config.accounts) or 'none'}")
    chosen = names or list(config.accounts)
    if not chosen:
        print(f"no accounts in {config_path}; add one with `hubsync auth add NAME --portal ID`")
        return EX_FAILURE
    state_dir = config.settings.state_dir
    failed = 0
    for name in chosen:
        account = config.accounts[name]
        try:
            key, source = await credentials.find_key(name)
            identity = await _prove(account.base_url, account.portal_id, key)
        except HubsyncError as exc:
            failed += 1
            state = ("unauthorized" if isinstance(exc, AuthError)
                     else "no_key" if isinstance(exc, CredentialError) else "offline")
            advice = {
                "unauthorized": f"create a new key in HubSpot, then run "
                                f"`hubsync auth add {name} --portal {account.portal_id}`",
                "no_key": f"run `hubsync auth add {name} --portal {account.portal_id}`",
                "offline": "check the network and api_base, then try again",
            }[state]
            print(f"{name}: FAILED: {exc}\n  what to do: {advice}")
            _save_status(state_dir, name, _Status(state, time.time(), None, str(exc)))
            continue
        print(f"{name}: ok (key from {source}): {_describe(identity)}")
        _save_status(state_dir, name, _Status("ok", time.time(), identity))
    return EX_FAILURE if failed else EX_OK


async def _remove(config_path: Path, name: str, *, purge: bool) -> int:
    from hubsync import credentials
    from hubsync.config import remove_account

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
