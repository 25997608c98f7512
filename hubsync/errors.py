"""The one error tree of hubsync.

Every failure that crosses a module boundary is one of these. Outside libraries'
errors (aiohttp, keyring, sqlite3, tomllib) are translated at exactly one seam each
and re-raised ``from`` the original, so callers decide by class, never by message.

    HubsyncError                    exit 1 unless a subclass says otherwise
    ├── ConfigError                 exit 78 (EX_CONFIG): the config file is wrong
    ├── CredentialError             exit 78: no key, or nowhere to keep one
    │   ├── KeyNotFound             no key for an account in any source
    │   └── KeyringUnavailable      keyring has no usable backend, is locked, or hangs
    ├── AuthError                   the key itself was refused, or is for another portal
    │   ├── KeyRejected             HubSpot refused the key (revoked, invalid, user gone)
    │   └── PortalMismatch          the key belongs to another portal than configured
    ├── HubSpotError                a HubSpot API call failed (status, message, correlation id)
    │   ├── TransientError          worth retrying later: 5xx, timeouts, resets, offline
    │   │   └── RateLimited         429; carries the server's Retry-After when it sent one
    │   ├── ValidationFailed        400: HubL or JSON rejected; permanent for that content
    │   ├── TokenExpired            401 EXPIRED_AUTHENTICATION: refresh once, retry once
    │   ├── Forbidden               401/403 otherwise: the user lacks a permission
    │   └── NotFound                404
    ├── StateError                  exit 75: the state database cannot be opened or written
    │   └── StateDiskFull           the disk of the state directory is full
    ├── UsageError                  exit 64: an unknown watch or account name
    ├── FieldsConversionFailed      a fields.js could not be run with node (per file)
    ├── AlreadyRunning              another hubsync holds the lock for this state dir
    └── ControlError                no daemon answers on the control socket

This module imports nothing of ours, so anything may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EX_OK = 0
EX_FAILURE = 1
EX_USAGE = 64
EX_TEMPFAIL = 75
EX_CONFIG = 78


def clause(message: object) -> str:
    """``message`` ready to go on inside another sentence (``f"...: {clause(m)}; run ..."``):
    trailing spaces and a final ``.``, ``;`` or ``:`` removed, an ellipsis kept.

    HubSpot's messages end with a period ("... Personal access key)."), so quoting one
    before our own advice printed ``).;``; every message built around a message that is
    not ours goes through here.
    """
    text = str(message).rstrip()
    if text.endswith(("...", "…")):
        return text
    return text.rstrip(".;:").rstrip()


class HubsyncError(Exception):
    """Base of every error hubsync raises on purpose.

    ``str(error)`` is one line a user can act on; it never contains a key or token.
    """

    exit_code: int = EX_FAILURE


class ConfigError(HubsyncError):
    """The configuration file is missing, unreadable, or invalid.

    ``problems`` holds every problem found, each starting with its dotted key.
    """

    exit_code = EX_CONFIG

    def __init__(self, path: Path | str | None, problems: list[str] | str) -> None:
        self.path = Path(path) if path is not None else None
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        where = f"{self.path}: " if self.path is not None else ""
        if len(self.problems) == 1:
            return f"{where}{self.problems[0]}"
        lines = [f"{where}{len(self.problems)} problems:"]
        lines.extend(f"  {p}" for p in self.problems)
        return "\n".join(lines)


class CredentialError(HubsyncError):
    """A personal access key cannot be found or stored."""

    exit_code = EX_CONFIG


class KeyNotFound(CredentialError):
    """No key for an account in the environment, systemd credentials, or the keyring."""


class KeyringUnavailable(CredentialError):
    """The OS keyring cannot be used (no backend, locked collection, D-Bus hang)."""

    exit_code = EX_TEMPFAIL


class AuthError(HubsyncError):
    """HubSpot refused a personal access key, or it belongs to another portal."""

    exit_code = EX_CONFIG


class KeyRejected(AuthError):
    """The token exchange failed with 4xx: the key is invalid, revoked, or its user is gone."""

    def __init__(self, message: str, *, status: int | None = None,
                 correlation_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.correlation_id = correlation_id


class PortalMismatch(AuthError):
    """The key authenticated against a different portal (hubId) than the one configured."""


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One entry of HubSpot's ``errors[]``: a message and, for templates, its line."""

    message: str
    line: int | None = None


class HubSpotError(HubsyncError):
    """A HubSpot API request failed.

    Built only by ``hubsync.hubspot`` (the client) from the response; never from a
    request, so it cannot carry an ``Authorization`` header or a key.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        category: str | None = None,
        correlation_id: str | None = None,
        details: tuple[ErrorDetail, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.category = category
        self.correlation_id = correlation_id
        self.details = details

    def describe(self) -> str:
        """The message and one ``line N: msg`` per detail, as the ``hs`` CLI prints them."""
        lines = [self.message]
        for detail in self.details:
            prefix = f"line {detail.line}: " if detail.line is not None else ""
            lines.append(f"- {prefix}{detail.message}")
        return "\n".join(lines)


class TransientError(HubSpotError):
    """Worth retrying later: 5xx, 408, timeouts, connection resets, offline."""

    exit_code = EX_TEMPFAIL


class RateLimited(TransientError):
    """HTTP 429. ``retry_after`` is the server's Retry-After in seconds, if it sent one."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 policy: str | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after
        self.policy = policy


class ValidationFailed(HubSpotError):
    """HTTP 400: HubSpot rejected the content. Permanent until the file changes."""


class FieldsConversionFailed(HubsyncError):
    """A ``fields.js`` could not be converted to ``fields.json`` (``hubsync.fieldsjs``):
    node is missing or too old, the file threw or broke the contract, or ran too long.
    The message names the file and carries node's own words. Permanent for that content:
    retried when the file changes."""


class TokenExpired(HubSpotError):
    """HTTP 401 with category EXPIRED_AUTHENTICATION."""


class Forbidden(HubSpotError):
    """HTTP 401 (not expiry) or 403, e.g. MISSING_SCOPES or a wrong portal."""


class NotFound(HubSpotError):
    """HTTP 404."""


class StateError(HubsyncError):
    """The state database cannot be opened, migrated or written.

    Exit 75 (EX_TEMPFAIL) from every command: it is a condition of the machine (a full
    disk, a locked or unwritable file) that goes away, not a mistake in the config."""

    exit_code = EX_TEMPFAIL


class StateDiskFull(StateError):
    """The disk holding the state directory is full: nothing more can be recorded, so
    nothing more is sent until there is room again."""


class UsageError(HubsyncError):
    """A name or argument on the command line that does not exist (exit 64)."""

    exit_code = EX_USAGE


class AlreadyRunning(HubsyncError):
    """Another hubsync process holds the lock on this state directory."""

    def __init__(self, pid: int | None, lock_path: Path) -> None:
        who = f"PID {pid}" if pid else "another process"
        super().__init__(
            f"hubsync is already running ({who}) for this state directory "
            f"(lock {lock_path}); stop it first or use `hubsync status`"
        )
        self.pid = pid
        self.lock_path = lock_path


class ControlError(HubsyncError):
    """The control socket of a running hubsync cannot be reached or answered badly."""


def cause_of(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """What a TaskGroup's exception group stands for: the first of our errors among its
    leaves (it says what to do next), else its first leaf. "unhandled errors in a
    TaskGroup" tells a user nothing."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop(0)
        if isinstance(exc, BaseExceptionGroup):
            pending[0:0] = list(exc.exceptions)
        else:
            leaves.append(exc)
    return next((exc for exc in leaves if isinstance(exc, HubsyncError)), leaves[0])

