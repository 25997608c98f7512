"""The key exchange and the token lookup, as HubSpot answers them (hubspot-api.md §1)."""

from __future__ import annotations

import json
from typing import Final

from aiohttp import web

from hubsync.emulator.base import EmulatorBase, new_token, now_ms
from hubsync.emulator.records import Exchange, Token

REJECTED_KEY_MESSAGE: Final = (
    "The personal access key is invalid or has been revoked. Generate a new personal "
    "access key in HubSpot (Settings > Integrations > Private Apps > Personal access key)."
)


class AuthRoutes(EmulatorBase):
    """``POST /localdevauth/v1/auth/refresh`` and ``GET /oauth/v1/access-tokens/{token}``."""

    async def _auth_refresh(self, request: web.Request, exchange: Exchange) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        key = body.get("encodedOAuthRefreshToken") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key:
            return self._error(exchange, 400,
                               "Request body must be JSON with encodedOAuthRefreshToken",
                               "VALIDATION_ERROR")
        with self._lock:
            account = next((a for a in self._accounts.values() if a.key == key), None)
            if account is None or key in self._revoked:
                return self._error(exchange, 401, REJECTED_KEY_MESSAGE, "INVALID_AUTHENTICATION",
                                   subCategory="INVALID_PERSONAL_ACCESS_KEY")
            exchange.portal_id, exchange.user_id = account.portal_id, account.user_id
            value = new_token()
            expires = now_ms() + int(self.token_ttl_s * 1000)
            self._tokens[value] = Token(account, expires)
        return web.json_response({
            "oauthAccessToken": value,
            "expiresAtMillis": expires,
            "hubId": account.portal_id,
            "userId": account.user_id,
            "hubName": account.hub_name,
            "scopeGroups": list(account.scope_groups),
            "enabledFeatures": {"cms-developer-mode": 1},
            "accountType": account.account_type,
            "encodedOAuthRefreshToken": key,
        })

    async def _token_info(self, exchange: Exchange, value: str) -> web.Response:
        with self._lock:
            token = self._tokens.get(value)
        if token is None:
            return self._error(exchange, 404, "Token not found", "OBJECT_NOT_FOUND")
        account = token.account
        exchange.portal_id, exchange.user_id = account.portal_id, account.user_id
        now = now_ms()
        if token.expires_at_ms <= now:
            return self._expired(exchange, token, now)
        if (limited := self._admit(exchange, account.portal_id)) is not None:
            return limited
        return web.json_response({
            "token": value,
            "user": account.email,
            "user_id": account.user_id,
            "hub_id": account.portal_id,
            "hub_domain": f"{account.name}-{account.portal_id}.hubspot.emulator",
            "scopes": list(account.scope_groups),
            "expires_in": (token.expires_at_ms - now) // 1000,
            "token_type": "access",
        })
