"""``MemoryApi``: a :class:`hubsync.ports.RemoteApi` in memory, with HubSpot's semantics as
the emulator (:mod:`hubsync.emulator`) has them, scriptable faults, and a request log.

The same contract suite (``tests/contract/``) runs against this twin and against
:class:`hubsync.hubspot.HubSpotClient` talking to the emulator over HTTP: what a test
learns from the twin holds for the real client.

Semantics (emulator docstring and ``hubspot-api.md``):

- ``exchange_key``: a key registered with :meth:`MemoryApi.add_user` gives a token valid
  ``token_ttl_s`` seconds on the clock, and the key's identity (hub id, user id). An
  unknown or revoked key raises :class:`~hubsync.errors.KeyRejected` (HubSpot's 401).
- ``upload``/``delete`` check the token first: unknown -> ``Forbidden`` (401
  ``INVALID_AUTHENTICATION``), expired -> ``TokenExpired``, another portal's token ->
  ``Forbidden`` (403), no portal bound -> ``ValidationFailed`` (the missing ``portalId``).
- ``upload`` reads ``local_file`` once, before anything is sent, as the real client does
  (an ``OSError`` escapes unchanged); the emulator's checks decide what is refused
  (extension, empty file, unclosed HubL, bad JSON: ``ValidationFailed``; over 64 MiB:
  ``HubSpotError`` 413). ``publish=True`` writes the published tree and the draft,
  ``False`` the draft only. Parent folders are created implicitly and outlive their
  last file.
- ``delete`` removes a file, or a folder and everything under it, from both trees;
  ``NotFound`` when neither has the path.
- Faults are checked before authentication, in this order: a held gate (:meth:`hold`),
  then scripted failures (:meth:`fail_next`, :meth:`fail_path`).
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from hubsync.emulator.server import DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_SCOPES
from hubsync.emulator.store import (
    Environment,
    RemoteTree,
    StoredFile,
    module_meta_path,
    normalize_path,
)
from hubsync.emulator.validate import check_upload
from hubsync.errors import (
    ErrorDetail,
    Forbidden,
    HubSpotError,
    KeyRejected,
    NotFound,
    RateLimited,
    TokenExpired,
    TransientError,
    ValidationFailed,
)
from hubsync.hubspot import REFUSED_PREFIX, ApiResult
from hubsync.model import AccessToken, Identity, RateLimitInfo, RemoteMeta, TokenGrant
from hubsync.ports import Clock, SystemClock

Op = Literal["exchange", "upload", "delete", "meta", "download"]

REJECTED_KEY_MESSAGE = (
    "The personal access key is invalid or has been revoked. Generate a new personal "
    "access key in HubSpot (Settings > Integrations > Private Apps > Personal access key)."
)
"""What HubSpot (and the emulator) answer for an unknown or revoked key."""
DROPPED = 0
"""A fault status meaning: the connection drops with no answer (nothing is applied)."""


@dataclass(frozen=True, slots=True)
class MemoryRequest:
    """One call as the twin saw it. ``token`` is the token used (its value never shows in
    ``repr``); ``at`` is the clock's ``time()`` when the call was answered; ``status`` is
    the HTTP status HubSpot would have sent (0: connection dropped)."""

    op: Op
    method: str
    remote_path: str | None
    token: AccessToken | None
    at: float
    status: int
    portal_id: int | None = None
    user_id: int | None = None


@dataclass(slots=True)
class Fault:
    """A scripted failure: requests matching ``op`` and ``remote_path`` (None: any) fail
    with ``status`` while ``remaining`` (None: forever) is above zero."""

    status: int
    remaining: int | None
    op: Op | None = None
    remote_path: str | None = None
    retry_after: float | None = None
    error: Callable[[], Exception] | None = None
    """Raise ``error()`` instead of an HTTP answer (:meth:`MemoryApi.raise_for`)."""

    def matches(self, op: Op, remote_path: str | None) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.op is not None and self.op != op:
            return False
        return self.remote_path is None or self.remote_path == remote_path


@dataclass(slots=True)
class Gate:
    """Holds matching requests until the test releases it: a barrier, not a delay.

    ``await gate.reached(n)`` returns once ``n`` requests are held (or went through);
    ``gate.release()`` lets every held request and all later ones through.
    """

    op: Op | None
    remote_path: str | None
    event: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: int = 0
    _arrival: asyncio.Event = field(default_factory=asyncio.Event)

    def matches(self, op: Op, remote_path: str | None) -> bool:
        return ((self.op is None or self.op == op)
                and (self.remote_path is None or self.remote_path == remote_path))

    def release(self) -> None:
        """Let held and later requests through."""
        self.event.set()

    async def reached(self, n: int = 1) -> None:
        """Return once ``n`` requests have arrived at the gate."""
        while self.arrived < n:
            self._arrival.clear()
            await self._arrival.wait()

    async def pass_through(self) -> None:
        self.arrived += 1
        self._arrival.set()
        await self.event.wait()


@dataclass(frozen=True, slots=True)
class _User:
    key: str = field(repr=False)
    identity: Identity


@dataclass(frozen=True, slots=True)
class _Token:
    user: _User
    expires_at: float


@dataclass(slots=True)
class _World:
    """What every portal-bound view of one twin shares."""

    clock: Clock
    token_ttl_s: float
    users: list[_User] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    tokens: dict[str, _Token] = field(default_factory=dict)
    trees: dict[tuple[int, Environment], RemoteTree] = field(default_factory=dict)
    requests: list[MemoryRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)


class MemoryApi:
    """One account's HubSpot file API in memory, bound to ``portal_id``.

    ``clock`` decides token expiry and request times (pass a
    :class:`hubsync.testing.FakeClock`); ``bind(other_portal)`` gives a view of the same
    HubSpot (keys, tokens, stores, faults, log) bound to another portal.
    """

    def __init__(self, portal_id: int | None = 111, *, clock: Clock | None = None,
                 token_ttl_s: float = 1800.0,
                 max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> None:
        self.portal_id = portal_id
        self.max_upload_bytes = max_upload_bytes
        self._world = _World(clock=clock or SystemClock(), token_ttl_s=token_ttl_s)
        self.closed = 0
        """How many times ``close()`` was called (the twin stays usable, like the client)."""

    def bind(self, portal_id: int | None) -> MemoryApi:
        """A view of the same HubSpot bound to ``portal_id`` (another account's client)."""
        view = MemoryApi.__new__(MemoryApi)
        view.portal_id = portal_id
        view.max_upload_bytes = self.max_upload_bytes
        view._world = self._world
        view.closed = 0
        return view

    @property
    def clock(self) -> Clock:
        return self._world.clock

    # --- setting up the world ------------------------------------------------------------

    def add_user(self, hub_id: int, user_id: int, *, key: str | None = None,
                 hub_name: str = "", account_type: str = "STANDARD") -> str:
        """Register a user of portal ``hub_id`` and return their personal access key
        (``key`` or a new random one). ValueError if the key is already registered."""
        key = key if key is not None else "pak-" + secrets.token_urlsafe(24)
        if any(u.key == key for u in self._world.users):
            raise ValueError("that key is already registered")
        identity = Identity(hub_id=int(hub_id), user_id=int(user_id),
                            hub_name=hub_name or f"Portal {hub_id}", account_type=account_type,
                            scope_groups=DEFAULT_SCOPES)
        self._world.users.append(_User(key, identity))
        return key

    def revoke(self, key: str) -> None:
        """The key fails the exchange from now on; tokens already issued live on until
        they expire (as HubSpot's do)."""
        self._world.revoked.add(key)

    def expire_all_tokens(self) -> None:
        """Every token issued so far is expired from now on (``TokenExpired``)."""
        now = self._world.clock.time()
        for value, token in self._world.tokens.items():
            self._world.tokens[value] = replace(token, expires_at=min(token.expires_at, now))

    # --- scripted faults -----------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, *, op: Op | None = None,
                  retry_after: float | None = None) -> Fault:
        """The next ``n`` requests (of ``op``; None: any) fail with ``status``: 5xx and
        0 (dropped) raise ``TransientError``, 429 ``RateLimited`` carrying ``retry_after``,
        401/403 ``Forbidden`` (the exchange: ``KeyRejected``), 400 ``ValidationFailed``,
        404 ``NotFound``."""
        fault = Fault(status, n, op=op, retry_after=retry_after)
        self._world.faults.append(fault)
        return fault

    def fail_path(self, remote_path: str, status: int = 500, *, times: int | None = None,
                  retry_after: float | None = None) -> Fault:
        """Requests for ``remote_path`` fail with ``status`` (``times`` times; None:
        until :meth:`clear_faults`)."""
        fault = Fault(status, times, remote_path=remote_path, retry_after=retry_after)
        self._world.faults.append(fault)
        return fault

    def raise_for(self, remote_path: str, error: Callable[[], Exception], *,
                  times: int | None = None) -> Fault:
        """Requests for ``remote_path`` raise ``error()`` (``times`` times; None: until
        :meth:`clear_faults`): not an answer of HubSpot's but a bug, or a library refusing
        its input, which the caller meets as an exception it does not know. Nothing is
        recorded in :attr:`requests` (no request left)."""
        fault = Fault(DROPPED, times, remote_path=remote_path, error=error)
        self._world.faults.append(fault)
        return fault

    def hold(self, *, op: Op | None = None, remote_path: str | None = None) -> Gate:
        """Hold matching requests (after the upload's file is read) until
        ``gate.release()``; ``await gate.reached(n)`` waits until ``n`` are held."""
        gate = Gate(op, remote_path)
        self._world.gates.append(gate)
        return gate

    def clear_faults(self) -> None:
        """Drop every fault; release and drop every gate."""
        self._world.faults.clear()
        for gate in self._world.gates:
            gate.release()
        self._world.gates.clear()

    # --- inspecting ----------------------------------------------------------------------

    @property
    def requests(self) -> list[MemoryRequest]:
        """Every request so far, oldest first (a copy)."""
        return list(self._world.requests)

    def requests_of(self, op: Op, remote_path: str | None = None) -> list[MemoryRequest]:
        """The requests of ``op`` (for ``remote_path``, if given) that were answered 2xx."""
        return [r for r in self._world.requests if r.op == op and 200 <= r.status < 300
                and (remote_path is None or r.remote_path == remote_path)]

    def files(self, environment: str | Environment = Environment.PUBLISHED,
              portal_id: int | None = None) -> dict[str, StoredFile]:
        """remote path -> stored file (bytes, sha256, writer's user id) of the bound
        portal (or ``portal_id``), sorted by path."""
        tree = self._world.trees.get((self._portal(portal_id), Environment(environment)))
        return dict(sorted(tree.files.items())) if tree else {}

    def folders(self, environment: str | Environment = Environment.PUBLISHED,
                portal_id: int | None = None) -> list[str]:
        """The folders of the bound portal (or ``portal_id``), sorted."""
        tree = self._world.trees.get((self._portal(portal_id), Environment(environment)))
        return sorted(tree.folders) if tree else []

    def read(self, remote_path: str, environment: str | Environment = Environment.PUBLISHED
             ) -> bytes:
        """The stored bytes at ``remote_path``; KeyError when there is no such file."""
        return self.files(environment)[remote_path].content

    def _portal(self, portal_id: int | None) -> int:
        chosen = portal_id if portal_id is not None else self.portal_id
        if chosen is None:
            raise ValueError("this MemoryApi is bound to no portal: pass portal_id")
        return chosen

    # --- the RemoteApi protocol ----------------------------------------------------------

    async def exchange_key(self, key: str) -> TokenGrant:
        """Personal access key -> token and identity; ``KeyRejected`` for an unknown or
        revoked key, ``TransientError``/``RateLimited`` for a scripted fault."""
        try:
            await self._admit("exchange", None)
        except HubSpotError as exc:
            self._record("exchange", "POST", None, None, exc.status or DROPPED)
            if isinstance(exc, TransientError | TokenExpired):
                raise
            raise KeyRejected(f"{REFUSED_PREFIX}{exc.message}", status=exc.status,
                              correlation_id=exc.correlation_id) from None
        user = next((u for u in self._world.users if u.key == key), None)
        if user is None or key in self._world.revoked:
            self._record("exchange", "POST", None, None, 401)
            raise KeyRejected(f"{REFUSED_PREFIX}{REJECTED_KEY_MESSAGE}", status=401,
                              correlation_id=_correlation_id())
        value = "memtok-" + secrets.token_urlsafe(24)
        token = AccessToken(value=value,
                            expires_at=self._world.clock.time() + self._world.token_ttl_s)
        self._world.tokens[value] = _Token(user, token.expires_at)
        self._record("exchange", "POST", None, token, 200, user)
        return TokenGrant(token=token, identity=user.identity)

    async def fetch_email(self, token: AccessToken) -> str | None:
        """The email of the token's user, as registered (None for an unknown token)."""
        held = self._world.tokens.get(token.value)
        return held.user.identity.email if held is not None else None

    async def upload(self, token: AccessToken, remote_path: str, local_file: Path, *,
                     publish: bool) -> ApiResult:
        """Store the bytes of ``local_file`` at ``remote_path`` (see the module docstring)."""
        what = f"upload {remote_path}"
        content = await asyncio.to_thread(local_file.read_bytes)
        user, path = await self._authorized("upload", "POST", remote_path, token, what)
        if len(content) > self.max_upload_bytes:
            raise self._refuse("upload", "POST", path, token, user, HubSpotError(
                f"{what}: File larger than {self.max_upload_bytes} bytes", status=413,
                category="VALIDATION_ERROR", correlation_id=_correlation_id()))
        problem = check_upload(path, content)
        if problem is not None:
            details = tuple(ErrorDetail(e.message, e.line) for e in problem.errors)
            raise self._refuse("upload", "POST", path, token, user, ValidationFailed(
                f"{what}: {problem.message}", status=400, category="VALIDATION_ERROR",
                correlation_id=_correlation_id(), details=details))
        self._store(user, path, content, publish=publish)
        result = self._ok("upload", "POST", path, token, user, 200)
        # The emulator's filemapper upload answers the file's metadata; so does this twin.
        return replace(result, meta=self._node_meta(user, path, Environment.PUBLISHED
                                                    if publish else Environment.DRAFT))

    async def metadata(self, token: AccessToken, remote_path: str, *,
                       publish: bool = True) -> RemoteMeta | None:
        """What the tree holds at ``remote_path`` (published, or the draft), as the
        filemapper ``meta/`` answer says it (no ``hash``); None when nothing is there."""
        what = f"meta {remote_path}"
        user, path = await self._authorized("meta", "GET", remote_path, token, what,
                                            allow_root=True)
        environment = Environment.PUBLISHED if publish else Environment.DRAFT
        meta = self._node_meta(user, path, environment)
        self._record("meta", "GET", path, token, 200 if meta else 404, user)
        return meta

    async def download(self, token: AccessToken, remote_path: str, *,
                       publish: bool = True) -> bytes:
        """The stored bytes (published, or the draft); ``NotFound`` when absent."""
        what = f"download {remote_path}"
        user, path = await self._authorized("download", "GET", remote_path, token, what)
        environment = Environment.PUBLISHED if publish else Environment.DRAFT
        tree = self._world.trees.get((user.identity.hub_id, environment))
        stored = tree.files.get(path) if tree is not None else None
        if stored is None:
            raise self._refuse("download", "GET", path, token, user, NotFound(
                f"{what}: Path not found: {path}", status=404, category="OBJECT_NOT_FOUND",
                correlation_id=_correlation_id()))
        self._record("download", "GET", path, token, 200, user)
        return stored.content

    def _node_meta(self, user: _User, path: str, environment: Environment
                   ) -> RemoteMeta | None:
        tree = self._world.trees.get((user.identity.hub_id, environment))
        node = tree.node(path) if tree is not None else None
        if node is None:
            return None
        return RemoteMeta(path=node.path, folder=node.folder, created_at_ms=node.created_at_ms,
                          updated_at_ms=node.updated_at_ms, children=node.children,
                          writer_user_id=node.writer_user_id)

    async def delete(self, token: AccessToken, remote_path: str) -> ApiResult:
        """Delete a file, or a folder recursively, from both trees; ``NotFound`` if absent."""
        what = f"delete {remote_path}"
        user, path = await self._authorized("delete", "DELETE", remote_path, token, what)
        portal = user.identity.hub_id
        removed = [env for env in Environment
                   if (tree := self._world.trees.get((portal, env))) is not None
                   and tree.delete(path)]
        if not removed:
            raise self._refuse("delete", "DELETE", path, token, user, NotFound(
                f"{what}: Path not found: {path}", status=404, category="OBJECT_NOT_FOUND",
                correlation_id=_correlation_id()))
        return self._ok("delete", "DELETE", path, token, user, 204)

    async def close(self) -> None:
        """Nothing to release; counted in :attr:`closed`."""
        self.closed += 1

    # --- internals -----------------------------------------------------------------------

    async def _authorized(self, op: Op, method: str, remote_path: str, token: AccessToken,
                          what: str, *, allow_root: bool = False) -> tuple[_User, str]:
        """The faults, then the token and path checks of an authenticated call."""
        try:
            await self._admit(op, remote_path)
        except HubSpotError as exc:
            self._record(op, method, remote_path, token, exc.status or DROPPED)
            exc.args = (f"{what}: {exc.message}",)
            raise
        held = self._world.tokens.get(token.value)
        refusal = self._token_problem(held, what)
        if refusal is not None:
            self._record(op, method, remote_path, token, refusal.status or 0,
                         held.user if held else None)
            raise refusal
        assert held is not None
        path = normalize_path(remote_path)
        if path is None or (not path and not allow_root):
            raise self._refuse(op, method, remote_path, token, held.user, ValidationFailed(
                f"{what}: Invalid remote path {remote_path!r}", status=400,
                category="VALIDATION_ERROR", correlation_id=_correlation_id()))
        return held.user, path

    def _token_problem(self, held: _Token | None, what: str) -> HubSpotError | None:
        cid = _correlation_id()
        if held is None:
            return Forbidden(f"{what}: Authentication credentials not found.", status=401,
                             category="INVALID_AUTHENTICATION", correlation_id=cid)
        now = self._world.clock.time()
        if held.expires_at <= now:
            minutes = int(max(0.0, now - held.expires_at) // 60)
            return TokenExpired(
                f"{what}: The OAuth token used to make this call expired {minutes} "
                "minute(s) ago.", status=401, category="EXPIRED_AUTHENTICATION",
                correlation_id=cid)
        if self.portal_id is None:
            return ValidationFailed(f"{what}: Missing required query parameter portalId",
                                    status=400, category="VALIDATION_ERROR",
                                    correlation_id=cid)
        if self.portal_id != held.user.identity.hub_id:
            return Forbidden(
                f"{what}: The access token belongs to portal {held.user.identity.hub_id} and "
                f"cannot act on portal {self.portal_id}", status=403, category="FORBIDDEN",
                correlation_id=cid)
        return None

    async def _admit(self, op: Op, remote_path: str | None) -> None:
        """Wait at every matching gate, then raise the first matching scripted fault."""
        for gate in list(self._world.gates):
            if gate.matches(op, remote_path):
                await gate.pass_through()
        for fault in self._world.faults:
            if fault.matches(op, remote_path):
                if fault.remaining is not None:
                    fault.remaining -= 1
                raise fault.error() if fault.error is not None else _fault_error(fault)

    def _store(self, user: _User, path: str, content: bytes, *, publish: bool) -> None:
        now_ms = int(self._world.clock.time() * 1000)
        portal = user.identity.hub_id
        meta = module_meta_path(path)
        targets = list(Environment) if publish else [Environment.DRAFT]
        for env in targets:
            tree = self._world.trees.setdefault((portal, env), RemoteTree())
            previous = tree.files.get(path)
            tree.put(path, StoredFile.build(
                content, user_id=user.identity.user_id, now_ms=now_ms,
                before_meta=meta not in (None, path) and meta not in tree.files,
                created_at_ms=previous.created_at_ms if previous else now_ms))

    def _record(self, op: Op, method: str, remote_path: str | None,
                token: AccessToken | None, status: int, user: _User | None = None) -> None:
        self._world.requests.append(MemoryRequest(
            op=op, method=method, remote_path=remote_path, token=token,
            at=self._world.clock.time(), status=status,
            portal_id=user.identity.hub_id if user else self.portal_id,
            user_id=user.identity.user_id if user else None))

    def _refuse(self, op: Op, method: str, path: str, token: AccessToken, user: _User,
                error: HubSpotError) -> HubSpotError:
        self._record(op, method, path, token, error.status or 0, user)
        return error

    def _ok(self, op: Op, method: str, path: str, token: AccessToken, user: _User,
            status: int) -> ApiResult:
        self._record(op, method, path, token, status, user)
        return ApiResult(status=status, duration_ms=0.0, correlation_id=_correlation_id(),
                         rate_limit=RateLimitInfo())


def _correlation_id() -> str:
    return str(uuid.uuid4())


_FAULT_ERRORS: dict[int, tuple[type[HubSpotError], str, str]] = {
    400: (ValidationFailed, "Bad request (scripted fault)", "VALIDATION_ERROR"),
    401: (Forbidden, "Authentication credentials not found.", "INVALID_AUTHENTICATION"),
    403: (Forbidden, "Forbidden (scripted fault)", "FORBIDDEN"),
    404: (NotFound, "Not found (scripted fault)", "OBJECT_NOT_FOUND"),
}


def _fault_error(fault: Fault) -> HubSpotError:
    """The error the real client raises for a response with the fault's status."""
    cid = _correlation_id()
    status = fault.status
    if status == DROPPED:
        return TransientError("network error: Server disconnected")
    if status == 429:
        return RateLimited("You have reached your ten_secondly_rolling limit.",
                           retry_after=fault.retry_after, policy="TEN_SECONDLY_ROLLING",
                           status=429, category="RATE_LIMITS", correlation_id=cid)
    if status == 408 or status >= 500:
        return TransientError("Internal error (emulated fault)", status=status,
                              category="INTERNAL_ERROR", correlation_id=cid)
    kind, message, category = _FAULT_ERRORS.get(
        status, (HubSpotError, f"HTTP {status}", "ERROR"))
    return kind(message, status=status, category=category, correlation_id=cid)


__all__ = ["DROPPED", "Fault", "Gate", "MemoryApi", "MemoryRequest", "Op"]
