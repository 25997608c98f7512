"""The rule for an account's API base URL, shared by the config and the HTTP client.

A key sent over plain HTTP to another host is leaked, so only https is allowed, and
plain http only on a loopback address (the emulator). Problems never repeat the URL:
a pasted URL can carry credentials.
"""

from __future__ import annotations

import ipaddress
import urllib.parse


def is_loopback_host(host: str) -> bool:
    """``localhost``, or an address in 127.0.0.0/8 or ``::1``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_base_problem(url: str) -> str | None:
    """Why ``url`` cannot be an API base (scheme://host[:port] only), or None if it can."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        return "is not a valid URL"
    try:
        parts.port  # noqa: B018 - the property validates the port and raises on a bad one
    except ValueError:
        return "has an invalid port"
    if parts.scheme not in ("https", "http"):
        return "must be an https:// URL (http:// only for a loopback address)"
    if parts.username is not None or parts.password is not None:
        return ("must not contain a user name or password; keys go in the keyring "
                "(`hubsync auth add NAME`)")
    host = parts.hostname
    if not host:
        return "must name a host, e.g. https://api.hubapi.com"
    if parts.path not in ("", "/") or parts.query or parts.fragment or url.endswith(("?", "#")):
        return "must be scheme://host[:port] only, without a path, query or fragment"
    if parts.scheme == "http" and not is_loopback_host(host):
        return ("must use https:// (plain http:// is allowed only for 127.0.0.0/8, "
                "::1 and localhost)")
    return None
