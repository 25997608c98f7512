"""Diagnostics logging: one structlog chain for our events and stdlib records alike.

Where the output goes decides its shape:

- a terminal gets structlog's readable console lines;
- an interactive command without ``-v`` asks for ``human``: one plain line per warning
  or error, ``hubsync: warning: account_offline (account=sandbox, error=...)``, on a
  terminal or not (a person reads a piped stderr too); the journal still wins;
- the systemd journal (stderr *is* the stream named by ``$JOURNAL_STREAM``) gets plain
  ``key=value`` lines, each prefixed with its syslog priority ``<N>`` so
  ``journalctl -p warning`` filters them;
- anything else gets one JSON object per line.

Every record, ours or a library's (aiohttp, watchdog, keyring), passes through
``redact`` last before rendering. It masks values under secret-looking keys, values
that look like bearer tokens or HubSpot keys, and every string registered with
``register_secret`` wherever it appears, tracebacks included. Tracebacks never carry
frame locals: a local named ``token`` would otherwise be printed verbatim.

This is diagnostics only. Who pushed what lives in the sync log (``hubsync.journal``).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import threading
from collections.abc import Mapping
from typing import Any, Literal, TextIO, cast

import structlog
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, Processor, WrappedLogger

LogMode = Literal["auto", "console", "json", "journal", "human"]

REDACTED = "[redacted]"

# Registered secrets shorter than this are not masked: masking "ab" everywhere would
# garble every log line and a 4-character key is not a key anyway.
_MIN_SECRET_LENGTH = 8

# Name parts (split on _ - . and camelCase) that mark a field as secret. Only the LAST
# part counts, so ``access_token`` is secret while ``token_expires_at`` is not.
_SECRET_NAME_PARTS = frozenset(
    {
        "token", "key", "authorization", "password", "passwd", "passphrase", "secret",
        "credential", "credentials", "cookie", "pat", "apikey", "hapikey", "bearer",
        "pwd", "auth_header",
    }
)
# Whole names that are secret whatever their last part says.
_SECRET_NAMES = frozenset({"encodedoauthrefreshtoken", "oauthaccesstoken", "x-api-key"})

_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
# HubSpot private-app / personal access keys: pat-na1-<uuid>.
_HUBSPOT_PAT = re.compile(r"\bpat-[a-z]{2,4}\d*-[0-9a-fA-F-]{20,}\b")
# A long run of base64/base64url characters mixing upper case, lower case and digits is
# a token or key, not prose, a path segment, a uuid or a (lower-case hex) sha256.
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_+=-]{32,}")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NAME_SPLIT = re.compile(r"[_\-.\s]+")

_secrets_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears in any later log line (and in the sync log).

    The credentials and auth code call this for every key and token they hold, so a key
    that ends up inside an exception message or a library's debug line is still hidden.
    """
    global _secrets
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        if value not in _secrets:
            # Longest first, so a secret containing another is masked whole.
            _secrets = tuple(sorted((*_secrets, value), key=len, reverse=True))


def forget_secrets() -> None:
    """Drop every registered secret (tests, and a reload that replaced all keys)."""
    global _secrets
    with _secrets_lock:
        _secrets = ()


@functools.lru_cache(maxsize=1024)
def is_secret_name(name: str) -> bool:
    """Whether a field called ``name`` must never have its value written anywhere.

    Pure, and asked for every field of every sync log line with the same few names:
    cached (a bulk push asked it a dozen times per file)."""
    lowered = name.lower()
    if lowered in _SECRET_NAMES:
        return True
    parts = [p for p in _NAME_SPLIT.split(_CAMEL_BOUNDARY.sub("_", name).lower()) if p]
    return bool(parts) and parts[-1] in _SECRET_NAME_PARTS


def _looks_like_token(match: re.Match[str]) -> str:
    word = match.group(0)
    if (
        any(c.isupper() for c in word)
        and any(c.islower() for c in word)
        and any(c.isdigit() for c in word)
    ):
        return REDACTED
    return word


def redact_text(text: str) -> str:
    """``text`` with registered secrets, bearer credentials and token-like words masked."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _HUBSPOT_PAT.sub(REDACTED, text)
    return _TOKEN_LIKE.sub(_looks_like_token, text)


def redact_value(value: Any) -> Any:
    """``value`` with every string inside it (dicts, lists, tuples) passed through ``redact_text``.

    Dict entries under secret-looking keys are replaced whole. Other objects are
    rendered with ``repr`` first when they could hide a secret in their text.
    """
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and is_secret_name(k) else redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    rendered = repr(value)
    redacted = redact_text(rendered)
    return value if redacted == rendered else redacted


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secrets in every field of ``event_dict``."""
    cleaned: EventDict = {}
    for key, value in event_dict.items():
        if key.startswith("_"):
            cleaned[key] = value  # structlog/stdlib internals (_record), never rendered
        elif is_secret_name(key):
            cleaned[key] = REDACTED
        else:
            cleaned[key] = redact_value(value)
    return cleaned


# RFC 5424 severities, as journald reads them from a "<N>" line prefix.
_SYSLOG_PRIORITY = {
    "critical": 2,
    "exception": 3,
    "error": 3,
    "warning": 4,
    "warn": 4,
    "info": 6,
    "debug": 7,
    "notset": 7,
}


def _journal_renderer(_logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
    """``<N>event key=value ...``; every traceback line carries the prefix too.

    journald stores each line of a stream as its own entry, so a traceback line
    without the prefix would be logged at the default priority (info).
    """
    level = str(event_dict.pop("level", method)).lower()
    prefix = f"<{_SYSLOG_PRIORITY.get(level, 6)}>"
    event_dict.pop("timestamp", None)  # journald stamps every entry itself
    exception = event_dict.pop("exception", None)
    event = str(event_dict.pop("event", ""))
    pairs = " ".join(f"{k}={_logfmt(v)}" for k, v in event_dict.items())
    lines = [f"{prefix}{event} {pairs}".rstrip()]
    if exception:
        lines.extend(f"{prefix}{line}" for line in str(exception).splitlines())
    return "\n".join(lines)


def _logfmt(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    if text and not any(c in text for c in ' "=\n\t'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_HUMAN_HIDDEN = frozenset({"timestamp", "logger", "level", "event", "exception"})
_LEVEL_COLOUR = {"warning": "\x1b[33m", "error": "\x1b[31m", "critical": "\x1b[31m"}


def _human_renderer(colour: bool) -> Processor:
    """``hubsync: LEVEL: event (key=value, ...)``, then the traceback if any; the level
    word coloured on a terminal without ``NO_COLOR``."""

    def render(_logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
        level = str(event_dict.get("level", method)).lower()
        shown = f"{_LEVEL_COLOUR[level]}{level}\x1b[0m" if colour and level in \
            _LEVEL_COLOUR else level
        pairs = ", ".join(f"{k}={_logfmt(v)}" for k, v in event_dict.items()
                          if k not in _HUMAN_HIDDEN and v is not None)
        line = f"hubsync: {shown}: {event_dict.get('event', '')}"
        if pairs:
            line += f" ({pairs})"
        exception = event_dict.get("exception")
        return f"{line}\n{exception}".rstrip() if exception else line

    return render


SAID_BY_THE_COMMAND = frozenset({"auth_failed"})
"""Diagnostics that every interactive command already reports in its own words (the
console's ``✗ staging: ...`` line, ``auth test``'s verdict, the error funnel): in the
``human`` mode they would only say it twice. ``-v`` and the daemon keep them."""


def _said_by_the_command(record: logging.LogRecord) -> bool:
    message = record.msg
    return not (isinstance(message, Mapping) and message.get("event") in SAID_BY_THE_COMMAND)


def _drop_internals(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    for key in [k for k in event_dict if k.startswith("_")]:
        del event_dict[key]
    return event_dict


def journal_attached(stream: TextIO) -> bool:
    """Whether ``stream`` is the journal stream systemd connected us to.

    ``$JOURNAL_STREAM`` alone is not enough (systemd.exec(5)): a child whose stderr
    was redirected inherits the variable. It must name the device and inode of the
    file descriptor itself.
    """
    expected = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = expected.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        status = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (status.st_dev, status.st_ino) == (int(device), int(inode))


def _resolve_mode(mode: LogMode,
                  stream: TextIO) -> Literal["console", "json", "journal", "human"]:
    if mode == "console" or mode == "json" or mode == "journal":
        return mode
    if journal_attached(stream):
        return "journal"
    if mode == "human":
        return "human"
    isatty = getattr(stream, "isatty", None)
    return "console" if isatty is not None and isatty() else "json"


def _renderer_chain(resolved: str, stream: TextIO) -> list[Processor]:
    """Exception formatting, then redaction, then rendering: redaction must see the text."""
    if resolved == "json":
        exceptions: Processor = structlog.processors.ExceptionRenderer(
            ExceptionDictTransformer(show_locals=False)
        )
        renderer: Processor = structlog.processors.JSONRenderer(ensure_ascii=False)
    else:
        # A plain traceback string (no locals) that `redact` can scan; ConsoleRenderer
        # prints an "exception" string as it is instead of formatting exc_info itself.
        exceptions = structlog.processors.format_exc_info
        isatty = getattr(stream, "isatty", None)
        # NO_COLOR (no-color.org): structlog's console renderer does not read it.
        colour = bool(isatty and isatty()) and not os.environ.get("NO_COLOR")
        if resolved == "journal":
            renderer = _journal_renderer
        elif resolved == "human":
            renderer = _human_renderer(colour)
        else:
            renderer = structlog.dev.ConsoleRenderer(
                colors=colour, exception_formatter=structlog.dev.plain_traceback)
    return [_drop_internals, exceptions, redact, renderer]


class _CurrentStderr:
    """A stream that writes to whatever ``sys.stderr`` is at the moment of writing."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()

    def fileno(self) -> int:
        return sys.stderr.fileno()


_SHARED_CHAIN: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]

_HANDLER_NAME = "hubsync"


def configure(
    *,
    debug: bool = False,
    mode: LogMode = "auto",
    stream: TextIO | None = None,
    level: int | None = None,
) -> None:
    """Route structlog and stdlib logging to ``stream`` (stderr) in the shape ``mode`` asks.

    ``mode="auto"`` picks the journal format when stderr is the journal, the console
    format on a TTY, and JSON lines otherwise; ``mode="human"`` the journal format when
    stderr is the journal, else plain ``hubsync: warning: ...`` lines. ``level`` is the
    lowest stdlib level written (default: DEBUG with ``debug``, else INFO; interactive commands pass
    WARNING so diagnostics stay off the human console). Safe to call again: the previous
    handler is replaced, and loggers cached by structlog keep working because the
    mode lives in the handler's formatter, not in the structlog chain.
    """
    # The default follows sys.stderr as it is at each write, not as it was now: while
    # rich shows a progress bar it swaps sys.stderr for a proxy that prints each line
    # above the bar, so diagnostics (-v) never land in the middle of it.
    # cast: the proxy has every method logging and the renderers use (write, flush,
    # isatty, fileno), not the whole TextIO interface.
    target = stream if stream is not None else cast(TextIO, _CurrentStderr())
    resolved = _resolve_mode(mode, target)
    if level is None:
        level = logging.DEBUG if debug else logging.INFO

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED_CHAIN,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    handler = logging.StreamHandler(target)
    handler.set_name(_HANDLER_NAME)
    if resolved == "human":
        handler.addFilter(_said_by_the_command)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED_CHAIN,
            processors=_renderer_chain(resolved, target),
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()  # a StreamHandler never closes its stream
    root.addHandler(handler)
    root.setLevel(level)
    # watchdog logs every inotify detail at DEBUG; aiohttp's access log is for servers.
    logging.getLogger("watchdog").setLevel(logging.DEBUG if debug else logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structlog logger named ``name`` (usually ``__name__``)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
