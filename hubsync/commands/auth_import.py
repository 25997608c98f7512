"""``hubsync auth import``: take over the accounts of a HubSpot CLI (``hs``) set-up.

The HubSpot CLI keeps its accounts in ``~/.hscli/config.yml`` (the global config of
recent versions) or in a ``hubspot.config.yml`` found from the current folder up
(older versions). Both hold a list of accounts, each with a name, an id, an
environment, an auth type and, for ``personalaccesskey`` accounts, the key itself.
Field names (``accounts``/``accountId`` now, ``portals``/``portalId`` before) are those
of the ``CLIAccount`` and ``CLIAccount_DEPRECATED`` types in HubSpot/hubspot-local-dev-lib
(``types/Accounts.ts``).

Each key is proven (the same exchange as ``auth add``), stored in the keyring, and its
account written to the hubsync config without any key. The hs file is never changed.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hubsync.errors import EX_FAILURE, EX_OK, ConfigError, HubsyncError
from hubsync.model import Env

HS_GLOBAL_CONFIG = Path("~/.hscli/config.yml")
HS_LOCAL_CONFIG = "hubspot.config.yml"
_PERSONAL_ACCESS_KEY = "personalaccesskey"


@dataclass(frozen=True, slots=True)
class HsAccount:
    """One account of an hs config. ``key`` is None when it uses another auth type."""

    hs_name: str
    name: str
    portal_id: int
    env: Env
    auth_type: str
    key: str | None

    def __repr__(self) -> str:  # never show the key, even in a traceback
        return f"HsAccount({self.hs_name!r}, portal {self.portal_id}, {self.auth_type})"


def default_hs_config(cwd: Path) -> Path | None:
    """``hubspot.config.yml`` in ``cwd`` or a parent (as hs finds it), else the global one."""
    for folder in (cwd, *cwd.parents):
        candidate = folder / HS_LOCAL_CONFIG
        if candidate.is_file():
            return candidate
    global_config = HS_GLOBAL_CONFIG.expanduser()
    return global_config if global_config.is_file() else None


def hubsync_name(hs_name: str) -> str:
    """An hs account name as a hubsync account name: ``My Portal`` -> ``my-portal``."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", hs_name.strip()).strip("-_").lower()
    return name[:64] or "account"


def _one(raw: Mapping[str, Any], where: str) -> HsAccount:
    portal = raw.get("accountId", raw.get("portalId"))
    if isinstance(portal, str) and portal.isdigit():
        portal = int(portal)
    if not isinstance(portal, int) or isinstance(portal, bool) or portal <= 0:
        raise ConfigError(None, f"{where}: no accountId (or portalId) number")
    hs_name = str(raw.get("name") or portal)
    auth_type = str(raw.get("authType") or "").lower()
    key = raw.get("personalAccessKey")
    usable = auth_type in ("", _PERSONAL_ACCESS_KEY) and isinstance(key, str) and key.strip()
    return HsAccount(hs_name=hs_name, name=hubsync_name(hs_name), portal_id=portal,
                     env=Env.QA if str(raw.get("env", "")).lower() == "qa" else Env.PROD,
                     auth_type=auth_type or _PERSONAL_ACCESS_KEY,
                     key=str(key).strip() if usable else None)


def parse_hs_config(text: str, path: Path) -> list[HsAccount]:
    """The accounts of an hs config's YAML text.

    Raises ConfigError (naming ``path``) for YAML that does not parse or an account
    without an id. The key values never appear in an error.
    """
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(path, f"not valid YAML{where}; is this an hs config?") from None
    if not isinstance(data, dict):
        raise ConfigError(path, "not an hs config (expected `accounts:` or `portals:`)")
    raw_accounts = data.get("accounts", data.get("portals"))
    if not isinstance(raw_accounts, list):
        raise ConfigError(path, "no `accounts:` (or `portals:`) list; is this an hs config?")
    accounts: list[HsAccount] = []
    for i, raw in enumerate(raw_accounts):
        if not isinstance(raw, dict):
            continue
        account = _one(raw, f"accounts[{i}]")
        if any(a.name == account.name for a in accounts):
            # "DEV Portal" and "dev-portal" both become dev-portal: keep both, apart.
            account = replace(account, name=f"{account.name}-{account.portal_id}")
        accounts.append(account)
    return accounts


def _select(accounts: list[HsAccount], wanted: Iterable[str]) -> list[HsAccount]:
    from hubsync.commands import check_names

    wanted = list(wanted)
    if not wanted:
        return accounts
    check_names("hs account", wanted, [a.hs_name for a in accounts], option="--account")
    return [a for a in accounts if a.hs_name in wanted]


async def _import_one(account: HsAccount, config_path: Path, api_base: str | None) -> str:
    """Prove, store and configure one account; the line to print. Raises HubsyncError."""
    from hubsync import credentials
    from hubsync.commands.auth import describe_identity, prove_key
    from hubsync.config import upsert_account
    from hubsync.hubspot import check_base_url

    assert account.key is not None
    base_url = check_base_url(api_base or account.env.default_api_base)
    identity = await prove_key(base_url, account.portal_id, account.key)
    await credentials.store_key(account.name, account.key)
    upsert_account(config_path, account.name, portal_id=account.portal_id, env=account.env,
                   api_base=api_base)
    return f"imported {account.hs_name!r} as {account.name!r}: {describe_identity(identity)}"


def import_accounts(args: argparse.Namespace, config_path: Path) -> int:
    """``hubsync auth import [FILE] [--account NAME] [--api-base URL]``; the exit status."""
    import asyncio

    source: Path | None = args.file.expanduser() if args.file is not None else \
        default_hs_config(Path.cwd())
    if source is None:
        raise ConfigError(None, f"no {HS_LOCAL_CONFIG} here or above, and no "
                                f"{HS_GLOBAL_CONFIG}: pass the hs config file as FILE")
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, f"cannot read it: {exc.strerror}") from None
    accounts = _select(parse_hs_config(text, source), args.accounts)
    failed = asyncio.run(_import_all(accounts, config_path, args.api_base))
    imported = sum(1 for a in accounts if a.key is not None) - failed
    print(f"{imported} account{'s' if imported != 1 else ''} imported from {source} into "
          f"{config_path}; the keys are in the OS keyring, none in the config")
    if imported:
        print("next: list the accounts in a [[watch]]'s `accounts`, then `hubsync push`")
    return EX_FAILURE if failed else EX_OK


async def _import_all(accounts: list[HsAccount], config_path: Path,
                      api_base: str | None) -> int:
    """Import each account in turn, printing a line each; how many failed."""
    failed = 0
    for account in accounts:
        if account.key is None:
            print(f"skipped {account.hs_name!r}: it uses {account.auth_type} auth, not a "
                  f"personal access key; run `hubsync auth add {account.name} "
                  f"--portal {account.portal_id}`")
            continue
        try:
            print(await _import_one(account, config_path, api_base))
        except HubsyncError as exc:
            failed += 1
            print(f"{account.hs_name!r}: FAILED: {exc}")
    return failed
