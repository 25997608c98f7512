"""The control API under ``/_emulator/``: inspect and steer the emulator (loopback only)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, Final

from aiohttp import web

from hubsync.emulator.base import CORRELATION_ID, EmulatorBase, is_loopback
from hubsync.emulator.records import EmulatedAccount, ExtractFaults, Faults
from hubsync.emulator.store import Environment

CONTROL_PREFIX: Final = "/_emulator"


class ControlRoutes(EmulatorBase):
    """Accounts, files, the request log, faults, keys and the rate limit, over HTTP."""

    def _add_control_routes(self, app: web.Application) -> None:
        routes = [
            ("GET", "/", self._c_summary),
            ("GET", "/accounts", self._c_accounts),
            ("POST", "/accounts", self._c_add_account),
            ("GET", "/files/{portal}", self._c_files),
            ("PUT", "/files/{portal}/{path:.+}", self._c_edit_as),
            ("DELETE", "/files/{portal}/{path:.+}", self._c_delete_as),
            ("GET", "/content/{portal}/{environment}/{path:.+}", self._c_content),
            ("GET", "/requests", self._c_requests),
            ("DELETE", "/requests", self._c_clear_requests),
            ("GET", "/faults", self._c_faults),
            ("PUT", "/faults", self._c_set_faults),
            ("DELETE", "/faults", self._c_clear_faults),
            ("POST", "/revoke", self._c_revoke),
            ("POST", "/rotate", self._c_rotate),
            ("POST", "/expire-tokens", self._c_expire),
            ("GET", "/extract-faults", self._c_extract_faults),
            ("PUT", "/extract-faults", self._c_set_extract_faults),
            ("GET", "/rate-limit", self._c_rate_limit),
            ("PUT", "/rate-limit", self._c_set_rate_limit),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, CONTROL_PREFIX + path, self._local_only(handler))

    @staticmethod
    def _local_only(
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not is_loopback(request.remote or ""):
                return control_error(request, 403,
                                      "the control API only answers loopback clients")
            try:
                return await handler(request)
            except (ValueError, TypeError, KeyError, json.JSONDecodeError) as exc:
                return control_error(request, 400, f"{type(exc).__name__}: {exc}")

        return guarded

    @staticmethod
    async def _json_body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        body = await request.json()
        if not isinstance(body, dict):
            raise TypeError("the body must be a JSON object")
        return body

    async def _c_summary(self, request: web.Request) -> web.Response:
        with self._lock:
            portals = sorted({portal for portal, _ in self._trees}
                             | {a.portal_id for a in self._accounts.values()})
        limit, window_ms = self.rate_limit
        return web.json_response({
            "url": self._url,
            "portals": portals,
            "accounts": [public_account(a) for a in self.accounts.values()],
            "faults": self._faults_json(),
            "rate_limit": {"limit": limit, "window_ms": window_ms},
            "requests": len(self.requests),
            "max_in_flight": self.max_in_flight,
        })

    async def _c_accounts(self, request: web.Request) -> web.Response:
        return web.json_response([public_account(a) for a in self.accounts.values()])

    async def _c_add_account(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        account = self.add_account(
            str(body["name"]),
            portal_id=int(body["portal_id"]),
            user_id=int(body["user_id"]),
            email=body.get("email"),
            hub_name=body.get("hub_name"),
            account_type=str(body.get("account_type", "STANDARD")),
        )
        # The key of an emulated account is a throwaway the caller needs to use it.
        return web.json_response({**public_account(account), "key": account.key}, status=201)

    async def _c_files(self, request: web.Request) -> web.Response:
        portal_id = int(request.match_info["portal"])
        environment = Environment(request.query.get("environment", "published"))
        files = {
            path: {
                "sha256": stored.sha256,
                "size": stored.size,
                "user_id": stored.user_id,
                "updated_at_ms": stored.updated_at_ms,
                "created_at_ms": stored.created_at_ms,
                "before_meta": stored.before_meta,
            }
            for path, stored in self.files(portal_id, environment).items()
        }
        return web.json_response({
            "portal_id": portal_id,
            "environment": environment.value,
            "files": files,
            "folders": self.folders(portal_id, environment),
        })

    async def _c_edit_as(self, request: web.Request) -> web.Response:
        """The body becomes the file, written by ``?user_id=`` (required) as in the Design
        Manager; ``?environment=draft`` writes the draft only."""
        if "user_id" not in request.query:
            raise KeyError("user_id: the query must name the user who makes the change")
        environment = Environment(request.query.get("environment", "published"))
        stored = self.edit_as(int(request.match_info["portal"]), request.match_info["path"],
                              await request.read(), user_id=int(request.query["user_id"]),
                              publish=environment is Environment.PUBLISHED)
        return web.json_response({"sha256": stored.sha256, "size": stored.size,
                                  "user_id": stored.user_id,
                                  "created_at_ms": stored.created_at_ms,
                                  "updated_at_ms": stored.updated_at_ms})

    async def _c_delete_as(self, request: web.Request) -> web.Response:
        """Delete a file or folder (recursively) as in the Design Manager; 404 if absent."""
        if not self.delete_as(int(request.match_info["portal"]), request.match_info["path"]):
            return control_error(request, 404, "no such file or folder")
        return web.Response(status=204)

    async def _c_content(self, request: web.Request) -> web.Response:
        files = self.files(int(request.match_info["portal"]),
                           Environment(request.match_info["environment"]))
        stored = files.get(request.match_info["path"])
        if stored is None:
            return control_error(request, 404, "no such file")
        return web.Response(body=stored.content, content_type="application/octet-stream")

    async def _c_requests(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.json_response([
            {**asdict(record), "endpoint": record.endpoint.value}
            for record in self.requests[since:]
        ])

    async def _c_clear_requests(self, request: web.Request) -> web.Response:
        self.clear_requests()
        return web.Response(status=204)

    def _faults_json(self) -> dict[str, Any]:
        return {**asdict(self.faults), "storm_remaining_s": round(self.storm_remaining_s(), 3)}

    async def _c_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self._faults_json())

    async def _c_set_faults(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        unknown = set(body) - set(Faults.__dataclass_fields__)
        if unknown:
            raise KeyError(f"unknown fault settings: {sorted(unknown)}")
        retry_after = body.get("retry_after")
        self.set_faults(
            latency_ms=float(body.get("latency_ms", 0)),
            error_rate=float(body.get("error_rate", 0)),
            drop_rate=float(body.get("drop_rate", 0)),
            storm_seconds=float(body.get("storm_seconds", 0)),
            retry_after=None if retry_after is None else float(retry_after),
        )
        return web.json_response(self._faults_json())

    async def _c_clear_faults(self, request: web.Request) -> web.Response:
        self.set_faults()
        return web.json_response(self._faults_json())

    async def _c_revoke(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        by_name = "account" in body
        key = self.account(str(body["account"])).key if by_name else str(body["key"])
        self.revoke_key(key)
        return web.Response(status=204)

    async def _c_rotate(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        return web.json_response({"key": self.rotate_key(str(body["account"]))})

    async def _c_expire(self, request: web.Request) -> web.Response:
        self.expire_all_tokens()
        return web.Response(status=204)

    def _extract_faults_json(self) -> dict[str, Any]:
        faults = self._extract_faults
        return {"refuse_status": faults.refuse_status,
                "reject_entries": sorted(faults.reject_entries),
                "never_complete": faults.never_complete, "delay_ms": faults.delay_ms}

    async def _c_extract_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self._extract_faults_json())

    async def _c_set_extract_faults(self, request: web.Request) -> web.Response:
        """Replace every extraction fault (``ExtractFaults`` fields; unknown keys: 400)."""
        body = await self._json_body(request)
        unknown = set(body) - {"refuse_status", "reject_entries", "never_complete", "delay_ms"}
        if unknown:
            raise KeyError(f"unknown extract fault settings: {sorted(unknown)}")
        refuse = body.get("refuse_status")
        with self._lock:
            self._extract_faults = ExtractFaults(
                None if refuse is None else int(refuse),
                frozenset(str(entry) for entry in body.get("reject_entries", [])),
                bool(body.get("never_complete", False)),
                float(body.get("delay_ms", 300.0)),
            )
        return web.json_response(self._extract_faults_json())

    async def _c_rate_limit(self, request: web.Request) -> web.Response:
        limit, window_ms = self.rate_limit
        return web.json_response({"limit": limit, "window_ms": window_ms})

    async def _c_set_rate_limit(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        self.set_rate_limit(int(body["limit"]), int(body.get("window_ms", 10_000)))
        return await self._c_rate_limit(request)


def public_account(account: EmulatedAccount) -> dict[str, Any]:
    return {
        "name": account.name,
        "portal_id": account.portal_id,
        "user_id": account.user_id,
        "email": account.email,
        "hub_name": account.hub_name,
        "account_type": account.account_type,
    }


def control_error(request: web.Request, status: int, message: str) -> web.Response:
    body = {
        "status": "error",
        "message": message,
        "correlationId": request[CORRELATION_ID],
        "category": "EMULATOR_CONTROL",
    }
    return web.json_response(body, status=status)

