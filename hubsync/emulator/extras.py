"""The calls the ``hs`` CLI makes around its commands, answered as HubSpot would for a CMS
developer (facts from ``hs-on-loopback.md``; the answers' shapes are assumptions where
HubSpot's are not documented).

- ``GET /firealarm/v4/alarm/hubspot-cli/{accountId}`` (Bearer, ``portalId``): ``[]``, no
  outage notices. Not counted against the rate limit (it is not a public API).
- ``POST /local/dev/tools/proxy/v1/usage`` and the filemapper usage paths
  (``cms-cli-usage``, ``vscode-extension-usage``, each also with ``/authenticated``): 200
  with an empty body, no auth needed; nothing is recorded beyond the request log.
- ``GET /sandbox-hubs/v1/self`` and ``GET /integrators/test-portals/v2/self`` (Bearer):
  for an account of that type ``{"type": ..., "parentHubId"?}`` / ``{"id": portal}``;
  404 for any other account type, as a standard portal is neither.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from hubsync.emulator.base import EmulatorBase
from hubsync.emulator.records import Endpoint, Exchange

FIREALARM_PREFIX: Final = "/firealarm/v4/alarm/hubspot-cli/"
USAGE_PATHS: Final = frozenset({
    "/local/dev/tools/proxy/v1/usage",
    "/content/filemapper/v1/cms-cli-usage",
    "/content/filemapper/v1/cms-cli-usage/authenticated",
    "/content/filemapper/v1/vscode-extension-usage",
    "/content/filemapper/v1/vscode-extension-usage/authenticated",
})
SANDBOX_SELF: Final = "/sandbox-hubs/v1/self"
TEST_PORTAL_SELF: Final = "/integrators/test-portals/v2/self"
SANDBOX_TYPES: Final = {"DEVELOPMENT_SANDBOX": "DEVELOPER", "STANDARD_SANDBOX": "STANDARD"}


class HsExtrasRoutes(EmulatorBase):
    """Fire alarms, usage tracking, and the account-type probes of ``hs``."""

    def extras_endpoint(self, raw: str, method: str) -> tuple[Endpoint, str] | None:
        """Which extra ``raw`` (prefix already stripped) is, and the method it takes."""
        if raw.startswith(FIREALARM_PREFIX) and "/" not in raw[len(FIREALARM_PREFIX):]:
            return Endpoint.FIREALARM, "GET"
        if raw in USAGE_PATHS:
            return Endpoint.USAGE, "POST"
        if raw in (SANDBOX_SELF, TEST_PORTAL_SELF):
            return Endpoint.ACCOUNT_SELF, "GET"
        return None

    async def _extra(self, request: web.Request, exchange: Exchange, raw: str) -> web.Response:
        if exchange.endpoint is Endpoint.USAGE:
            # Usage events are fire-and-forget for hs: an empty 200 is what it expects.
            return web.Response(status=200)
        token = self._authenticate(request, exchange)
        if isinstance(token, web.Response):
            return token
        account = token.account
        if exchange.endpoint is Endpoint.FIREALARM:
            return web.json_response([])
        if raw == SANDBOX_SELF and account.account_type in SANDBOX_TYPES:
            return web.json_response({"type": SANDBOX_TYPES[account.account_type]})
        if raw == TEST_PORTAL_SELF and account.account_type == "DEVELOPER_TEST":
            return web.json_response({"id": account.portal_id})
        return self._error(exchange, 404, f"Portal {account.portal_id} is not of that type",
                           "OBJECT_NOT_FOUND")
