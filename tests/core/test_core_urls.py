"""The API base URL rule shared by the config and the client."""

from __future__ import annotations

import pytest

from hubsync.core.urls import api_base_problem, is_loopback_host


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://api.hubapi.com", None),
        ("https://api.hubapi.com/", None),
        ("http://127.0.0.1:8080", None),
        ("http://127.8.9.10", None),
        ("http://[::1]:9", None),
        ("http://localhost:1", None),
        ("http://api.hubapi.com", "must use https://"),
        ("http://10.0.0.1", "must use https://"),
        ("ftp://x", "must be an https:// URL"),
        ("https://user:pw@api.hubapi.com", "user name or password"),
        ("https://", "must name a host"),
        ("https://api.hubapi.com/v1", "without a path"),
        ("https://api.hubapi.com?x=1", "without a path, query"),
        ("https://api.hubapi.com:99999", "invalid port"),
        ("https://[::1", "not a valid URL"),
    ],
)
def test_api_base_rule(url: str, problem: str | None) -> None:
    """https anywhere, http only on loopback, scheme://host[:port] only; the problem never
    repeats the URL (it may carry credentials)."""
    found = api_base_problem(url)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found
        assert "pw" not in found


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("LOCALHOST", True), ("127.0.0.1", True), ("::1", True),
     ("10.0.0.1", False), ("api.hubapi.com", False), ("0.0.0.0", False)],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    """Only names and addresses that stay on this machine count as loopback."""
    assert is_loopback_host(host) is loopback
