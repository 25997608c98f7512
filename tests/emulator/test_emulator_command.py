"""``hubsync emulator`` as a real subprocess: lines printed, an exchange, SIGTERM -> 0."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

LINE = re.compile(r"^account (\S+) portal=(\d+) user=(\d+) email=(\S+) key=(\S+)$")


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hubsync", "emulator", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def exchange(api_base: str, key: str) -> dict[str, object]:
    request = urllib.request.Request(  # noqa: S310 - loopback URL printed by the emulator
        api_base + "/localdevauth/v1/auth/refresh",
        data=json.dumps({"encodedOAuthRefreshToken": key}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        body = json.loads(response.read())
    assert isinstance(body, dict)
    return body


@pytest.mark.slow
def test_command_prints_accounts_serves_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    """Each --account gets a line with its key, then api_base; the key exchanges; SIGTERM
    ends the process with exit code 0 and files land in --data."""
    process = start("--account", "sandbox:111:9001:jane@example.com",
                    "--account", "staging:222:9002", "--data", str(tmp_path),
                    "--rate-limit", "50")
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().rstrip("\n") for _ in range(3)]
        first, second = LINE.match(lines[0]), LINE.match(lines[1])
        assert first is not None
        assert second is not None
        assert first.groups()[:4] == ("sandbox", "111", "9001", "jane@example.com")
        assert second.groups()[:4] == ("staging", "222", "9002", "staging@example.com")
        api = re.fullmatch(r'api_base = "(http://127\.0\.0\.1:\d+)"', lines[2])
        assert api is not None
        grant = exchange(api.group(1), first.group(5))
        assert (grant["hubId"], grant["userId"]) == (111, 9001)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert first.group(5) not in stderr


@pytest.mark.slow
def test_command_defaults_to_one_demo_account_and_stops_on_sigint() -> None:
    """Without --account there is one demo account; Ctrl-C (SIGINT) also exits 0."""
    process = start("--latency-ms", "1", "--error-rate", "0", "--drop-rate", "0",
                    "--storm-seconds", "0", "--token-ttl", "60", "--rate-window-ms", "1000")
    try:
        assert process.stdout is not None
        first = LINE.match(process.stdout.readline().rstrip("\n"))
        assert first is not None
        assert process.stdout.readline().startswith('api_base = "http://127.0.0.1:')
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert process.returncode == 0


def test_command_refuses_a_non_loopback_host() -> None:
    """--host 0.0.0.0 is a usage error (exit 64, as every usage error): the emulator has
    no real authentication."""
    result = subprocess.run([sys.executable, "-m", "hubsync", "emulator", "--host", "0.0.0.0"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 64
    assert "loopback" in result.stderr


def test_command_help_explains_each_fault_flag() -> None:
    """--help has an example and one line per fault flag."""
    result = subprocess.run([sys.executable, "-m", "hubsync", "emulator", "--help"],
                            capture_output=True, text=True, timeout=30, check=True)
    assert "$ hubsync emulator --account" in result.stdout
    for flag in ("--latency-ms", "--error-rate", "--drop-rate", "--storm-seconds"):
        assert f"{flag} " in result.stdout


@pytest.mark.slow
def test_command_tls_prints_the_ca_and_serves_https() -> None:
    """``--tls``: api_base is https, a ``ca = "..."`` line names a PEM file, and a client
    trusting only that CA completes a key exchange over https; SIGTERM -> 0."""
    import ssl

    process = start("--tls", "--account", "sandbox:111:9001")
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().rstrip("\n") for _ in range(3)]
        account = LINE.match(lines[0])
        assert account is not None
        api = re.fullmatch(r'api_base = "(https://127\.0\.0\.1:\d+)"', lines[1])
        ca = re.fullmatch(r'ca = "(.+)"', lines[2])
        assert api is not None
        assert ca is not None
        context = ssl.create_default_context(cafile=ca.group(1))
        request = urllib.request.Request(  # noqa: S310 - loopback URL printed by the emulator
            api.group(1) + "/api.hubapi.com/localdevauth/v1/auth/refresh",
            data=json.dumps({"encodedOAuthRefreshToken": account.group(5)}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
            assert json.loads(response.read())["hubId"] == 111
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert not Path(ca.group(1)).exists()
