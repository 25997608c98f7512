"""The emulator's aiohttp server: one listening socket, routing, faults and the middleware.

``Emulator`` combines the route families (``auth``, ``filemapper``, ``source_code``,
``extras``, ``control``) over the shared state of ``base.EmulatorBase``. See the package
docstring for the contract choices.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Final, Self
from urllib.parse import unquote

from aiohttp import web

from hubsync.emulator.auth import AuthRoutes
from hubsync.emulator.base import (
    CORRELATION_ID,
    DEFAULT_MAX_UPLOAD_BYTES,
    is_loopback,
    policy_name,
)
from hubsync.emulator.control import CONTROL_PREFIX, ControlRoutes
from hubsync.emulator.extract import ExtractRoutes
from hubsync.emulator.extras import HsExtrasRoutes
from hubsync.emulator.filemapper import FilemapperRoutes
from hubsync.emulator.records import (
    DEFAULT_SCOPES,
    Dropped,
    EmulatedAccount,
    Endpoint,
    Exchange,
    Faults,
    RequestRecord,
)
from hubsync.emulator.source_code import (
    SOURCE_CODE_VERSIONS,
    SourceCodeRoutes,
)
from hubsync.emulator.tls import make_tls

FILEMAPPER_PREFIX: Final = "/content/filemapper/v1/"
SOURCE_CODE_V3_PREFIX: Final = "/cms/v3/source-code/"
SOURCE_CODE_DATED_PREFIX: Final = "/cms/source-code/"
AUTH_PATH: Final = "/localdevauth/v1/auth/refresh"
TOKEN_INFO_PREFIX: Final = "/oauth/v1/access-tokens/"  # noqa: S105 - a URL path
HOST_PREFIXES: Final = ("/api.hubapi.com", "/api.hubapiqa.com")
"""What ``hs`` puts before every path under ``HUBAPI_DOMAIN_OVERRIDE`` (hs-on-loopback.md)."""

_Handler = Callable[[], Awaitable[web.StreamResponse]]

__all__ = [
    "CONTROL_PREFIX",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "DEFAULT_SCOPES",
    "EmulatedAccount",
    "Emulator",
    "Endpoint",
    "Faults",
    "RequestRecord",
    "is_loopback",
    "policy_name",
]


def strip_host_prefix(raw: str) -> str:
    """``raw`` without a leading ``/api.hubapi.com`` or ``/api.hubapiqa.com`` segment."""
    for prefix in HOST_PREFIXES:
        if raw == prefix or raw.startswith(prefix + "/"):
            return raw[len(prefix):] or "/"
    return raw


class Emulator(AuthRoutes, FilemapperRoutes, SourceCodeRoutes, ExtractRoutes, HsExtrasRoutes,
               ControlRoutes):
    """A HubSpot-compatible server: key exchange, filemapper, Source Code API, ``hs`` extras.

    Construct, add accounts, then ``await start()`` (or ``async with``); ``url`` is the
    base URL to configure as an account's API base. With ``tls=True`` it serves https
    and ``ca_path`` is the PEM of the throwaway CA to trust.
    """

    # ----------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (0 picks a free port). Only loopback hosts are allowed."""
        if not is_loopback(host):
            raise ValueError(f"the emulator only listens on loopback addresses, not {host!r}")
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        app = web.Application(
            client_max_size=self.max_upload_bytes + 1024 * 1024,
            middlewares=[self._correlation_middleware],
        )
        self._add_control_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._api)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        tls = await asyncio.to_thread(make_tls) if self.tls else None
        site = web.TCPSite(runner, host, port, ssl_context=tls.context if tls else None)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            if tls is not None:
                tls.remove()
            raise
        bound_port = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        self._url = f"{'https' if tls else 'http'}://{shown}:{bound_port}"
        self._tls = tls
        self._runner = runner
        if self.data_dir is not None:
            self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emulator-mirror")

    async def stop(self) -> None:
        """Stop listening and close every connection; remove the throwaway CA file.
        Stored state stays readable."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        await self.cancel_extractions()
        disk, self._disk = self._disk, None
        if disk is not None:
            await asyncio.to_thread(disk.shutdown, wait=True)
        tls, self._tls = self._tls, None
        if tls is not None:
            tls.remove()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` with ``tls``) once started."""
        if self._url is None:
            raise RuntimeError("the emulator is not started; await start() first")
        return self._url

    @property
    def ca_path(self) -> Path | None:
        """The PEM file of the CA to trust while a ``tls`` emulator runs, else None."""
        return self._tls.ca_path if self._tls is not None else None

    # ----------------------------------------------------------------- plumbing

    @web.middleware
    async def _correlation_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Every answer carries ``X-HubSpot-Correlation-Id``: errors aiohttp raises too."""
        correlation_id = str(uuid.uuid4())
        request[CORRELATION_ID] = correlation_id
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers["X-HubSpot-Correlation-Id"] = correlation_id
            raise
        response.headers["X-HubSpot-Correlation-Id"] = correlation_id
        return response

    async def _api(self, request: web.Request) -> web.StreamResponse:
        self._enter_request()
        try:
            return await self._api_counted(request)
        finally:
            self._leave_request()

    async def _api_counted(self, request: web.Request) -> web.StreamResponse:
        exchange = Exchange(correlation_id=request[CORRELATION_ID])
        try:
            response = await self._api_inner(request, exchange)
        except Dropped:
            self._log(exchange, request.method, 0)
            raise web.HTTPInternalServerError() from None  # never sent: the transport is closed
        except ConnectionResetError:
            # The client hung up mid-request (a killed hs, a cancelled upload): nothing to
            # answer and nothing stored; logged with status 0 like a dropped connection.
            self._log(exchange, request.method, 0)
            raise web.HTTPBadRequest() from None  # never sent: the client is gone
        except web.HTTPException as exc:
            # aiohttp refuses an over-long body itself; log and answer in HubSpot's shape.
            self._log(exchange, request.method, exc.status)
            return self._error(exchange, exc.status, exc.reason, "VALIDATION_ERROR")
        self._rate_headers(exchange, response)
        self._log(exchange, request.method, response.status)
        return response

    async def _api_inner(self, request: web.Request, exchange: Exchange) -> web.StreamResponse:
        route = self._route(request, exchange)
        with self._lock:
            faults = self._faults
            storm = self._storm_until > time.monotonic()
            drop = faults.drop_rate > 0 and self._rng.random() < faults.drop_rate
            fail = faults.error_rate > 0 and self._rng.random() < faults.error_rate
            fail_status = self._rng.choice((500, 502, 503, 504)) if fail else 0
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if drop:
            if request.transport is not None:
                request.transport.close()
            raise Dropped
        if storm:
            return self._too_many(exchange, faults.retry_after)
        if fail:
            return self._error(exchange, fail_status, "Internal error (emulated fault)",
                               "INTERNAL_ERROR")
        response = await route()
        if response.status < 300:
            await self._withhold(exchange.endpoint)
        return response

    # ----------------------------------------------------------------- routing

    def _route(self, request: web.Request, exchange: Exchange) -> _Handler:
        """Pick the handler from the raw (still percent-encoded) path."""
        raw = strip_host_prefix(request.rel_url.raw_path)
        for family in (self._route_auth, self._route_extras, self._route_filemapper,
                       self._route_source_code):
            handler = family(request, exchange, raw)
            if handler is not None:
                return handler
        return self._answer(exchange, 404, f"No API endpoint at {raw}", "OBJECT_NOT_FOUND")

    def _answer(self, exchange: Exchange, status: int, message: str, category: str) -> _Handler:
        response = self._error(exchange, status, message, category)

        async def answer() -> web.StreamResponse:
            return response

        return answer

    def _wrong_method(self, exchange: Exchange, method: str, raw: str) -> _Handler:
        return self._answer(exchange, 405, f"{method} is not allowed on {raw}",
                            "VALIDATION_ERROR")

    def _route_auth(self, request: web.Request, exchange: Exchange, raw: str) -> _Handler | None:
        method = request.method
        if raw == AUTH_PATH:
            exchange.endpoint = Endpoint.AUTH
            if method != "POST":
                return self._wrong_method(exchange, method, raw)
            return lambda: self._auth_refresh(request, exchange)
        if raw.startswith(TOKEN_INFO_PREFIX) and "/" not in raw[len(TOKEN_INFO_PREFIX):]:
            exchange.endpoint = Endpoint.EMAIL
            if method != "GET":
                return self._wrong_method(exchange, method, raw)
            token = unquote(raw[len(TOKEN_INFO_PREFIX):])
            return lambda: self._token_info(exchange, token)
        return None

    def _route_extras(
        self, request: web.Request, exchange: Exchange, raw: str
    ) -> _Handler | None:
        found = self.extras_endpoint(raw, request.method)
        if found is None:
            return None
        exchange.endpoint, wanted = found
        if request.method != wanted:
            return self._wrong_method(exchange, request.method, raw)
        return lambda: self._extra(request, exchange, raw)

    def _route_filemapper(
        self, request: web.Request, exchange: Exchange, raw: str
    ) -> _Handler | None:
        if not raw.startswith(FILEMAPPER_PREFIX):
            return None
        operation, _, tail = raw[len(FILEMAPPER_PREFIX):].partition("/")
        handlers: dict[str, tuple[Endpoint, str, bool]] = {
            "upload": (Endpoint.UPLOAD, "POST", True),
            "delete": (Endpoint.DELETE, "DELETE", True),
            "stream": (Endpoint.STREAM, "GET", True),
            "meta": (Endpoint.META, "GET", False),
        }
        if operation not in handlers:
            return self._answer(exchange, 404, f"No API endpoint at {raw}", "OBJECT_NOT_FOUND")
        endpoint, wanted_method, one_segment = handlers[operation]
        exchange.endpoint = endpoint
        if request.method != wanted_method:
            return self._wrong_method(exchange, request.method, raw)
        if one_segment and "/" in tail:
            # The contract sends the whole path as ONE segment (`/` as %2F).
            return self._answer(
                exchange, 404, f"No {operation} endpoint at {raw}: encode the remote path as "
                "one segment (every '/' as %2F)", "OBJECT_NOT_FOUND")
        decoded = "/".join(unquote(segment) for segment in tail.split("/"))
        exchange.remote_path = decoded.strip("/")
        return lambda: self._filemapper(request, exchange, endpoint, decoded)

    def _route_source_code(
        self, request: web.Request, exchange: Exchange, raw: str
    ) -> _Handler | None:
        if raw.startswith(SOURCE_CODE_V3_PREFIX):
            base = SOURCE_CODE_V3_PREFIX.rstrip("/")
            rest = raw[len(SOURCE_CODE_V3_PREFIX):]
        elif raw.startswith(SOURCE_CODE_DATED_PREFIX):
            version, _, rest = raw[len(SOURCE_CODE_DATED_PREFIX):].partition("/")
            base = SOURCE_CODE_DATED_PREFIX + version
            if version not in SOURCE_CODE_VERSIONS:
                return self._answer(
                    exchange, 404, f"Unknown Source Code API version {unquote(version)!r}: "
                    f"use one of {', '.join(sorted(SOURCE_CODE_VERSIONS))}", "OBJECT_NOT_FOUND")
        else:
            return None
        if rest == "extract/async" or rest.startswith("extract/async/"):
            return self.extract_handler(request, exchange, rest, base)
        return self.source_code_handler(request, exchange, rest)
