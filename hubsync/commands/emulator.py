"""Run the HubSpot-compatible emulator on loopback until Ctrl-C or SIGTERM.

It answers the key exchange and the Design Manager file API like HubSpot, with
rate limiting and optional faults, so hubsync can be tried and tested offline. It
prints one line per account, including that account's key (a throwaway the emulator
made up, which you need to configure the account), then the API base to put in the
config:

    $ hubsync emulator --account sandbox:111:9001:jane@example.com --latency-ms 50
    account sandbox portal=111 user=9001 email=jane@example.com key=CiR...
    api_base = "http://127.0.0.1:40123"

With `--tls` it serves https with a throwaway CA made at start and prints the CA's
path (`ca = ...`), for HubSpot's `hs` CLI, which only speaks https:

    $ hubsync emulator --tls
    ...
    api_base = "https://127.0.0.1:40123"
    ca = "/tmp/hubsync-emulator-tls-x1y2/ca.pem"
    $ NODE_EXTRA_CA_CERTS=/tmp/.../ca.pem HUBAPI_DOMAIN_OVERRIDE=127.0.0.1:40123/api.hubapi hs ...

Inspect what was pushed at http://127.0.0.1:PORT/_emulator/files/111 and change
faults at run time with `PUT /_emulator/faults` (see hubsync.emulator).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from dataclasses import dataclass
from pathlib import Path

DEMO_ACCOUNT = "demo:123456:1001:demo@example.com"


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """One ``--account NAME:PORTAL_ID:USER_ID[:EMAIL]``."""

    name: str
    portal_id: int
    user_id: int
    email: str | None


def parse_account(text: str) -> AccountSpec:
    """Parse ``NAME:PORTAL_ID:USER_ID[:EMAIL]`` (argparse type)."""
    parts = text.split(":", 3)
    if len(parts) < 3 or not parts[0] or not parts[1].isdigit() or not parts[2].isdigit():
        raise argparse.ArgumentTypeError(
            f"expected NAME:PORTAL_ID:USER_ID[:EMAIL] with numeric ids, not {text!r}"
        )
    email = parts[3] if len(parts) == 4 and parts[3] else None
    return AccountSpec(parts[0], int(parts[1]), int(parts[2]), email)


def loopback_host(text: str) -> str:
    """Accept only a loopback address (argparse type): the emulator has no real auth."""
    from hubsync.emulator import is_loopback

    if not is_loopback(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a loopback address; the emulator only listens on 127.0.0.1, "
            "::1 or localhost"
        )
    return text


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, not {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, not {text}")
    return value


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """Listening address, accounts, limits and faults."""
    parser.add_argument("--host", type=loopback_host, default="127.0.0.1",
                        help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0,
                        help="port to listen on (default: a free one, printed at start)")
    parser.add_argument("--tls", action="store_true",
                        help="serve https with a throwaway CA made at start; its path is "
                             "printed (trust it with NODE_EXTRA_CA_CERTS or SSL_CERT_FILE)")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="mirror the remote trees to DIR/<portal>/<env>/ (and load them)")
    parser.add_argument("--account", type=parse_account, action="append", default=[],
                        metavar="NAME:PORTAL_ID:USER_ID[:EMAIL]",
                        help=f"an account to create (repeatable; default {DEMO_ACCOUNT})")
    parser.add_argument("--token-ttl", type=_non_negative, default=1800.0, metavar="S",
                        help="lifetime of access tokens in seconds (default 1800)")
    parser.add_argument("--rate-limit", type=int, default=100, metavar="N",
                        help="API calls allowed per portal per window; 0 = unlimited (default 100)")
    parser.add_argument("--rate-window-ms", type=int, default=10_000, metavar="W",
                        help="rolling rate-limit window in ms (default 10000)")
    parser.add_argument("--latency-ms", type=_non_negative, default=0.0, metavar="MS",
                        help="fault: delay every API response by MS milliseconds")
    parser.add_argument("--error-rate", type=_fraction, default=0.0, metavar="F",
                        help="fault: answer this fraction of API calls with a 5xx")
    parser.add_argument("--drop-rate", type=_fraction, default=0.0, metavar="F",
                        help="fault: close this fraction of connections without answering")
    parser.add_argument("--storm-seconds", type=_non_negative, default=0.0, metavar="S",
                        help="fault: answer every API call 429 for the first S seconds")
    parser.add_argument("--storm-retry-after", type=_non_negative, metavar="S",
                        help="fault: send Retry-After: S on the storm's 429s (default: none)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the fault dice, for reproducible runs (default 0)")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM, then exit 0."""
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from hubsync.emulator import Emulator

    emulator = Emulator(
        token_ttl_s=args.token_ttl,
        rate_limit=args.rate_limit,
        rate_window_ms=args.rate_window_ms,
        data_dir=args.data,
        seed=args.seed,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        storm_seconds=args.storm_seconds,
        retry_after=args.storm_retry_after,
        tls=args.tls,
    )
    specs: list[AccountSpec] = args.account or [parse_account(DEMO_ACCOUNT)]
    names = [spec.name for spec in specs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        from hubsync.errors import UsageError

        raise UsageError(f"--account names must differ: {', '.join(twice)} given twice")
    for spec in specs:
        emulator.add_account(spec.name, portal_id=spec.portal_id, user_id=spec.user_id,
                             email=spec.email)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Both signals end the session normally: Ctrl-C is how a user stops a foreground tool.
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await emulator.start(args.host, args.port)
        try:
            for account in emulator.accounts.values():
                # The key is the emulator's own throwaway, printed because the user needs it.
                print(f"account {account.name} portal={account.portal_id} "
                      f"user={account.user_id} email={account.email} key={account.key}",
                      flush=True)
            print(f'api_base = "{emulator.url}"', flush=True)
            if emulator.ca_path is not None:
                print(f'ca = "{emulator.ca_path}"', flush=True)
            await stop.wait()
        finally:
            await emulator.stop()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0
