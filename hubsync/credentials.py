"""Where personal access keys come from, and where ``hubsync auth add`` puts them.

For account NAME the first of these that has a key wins:

1. the environment variable ``HUBSYNC_KEY_<NAME>`` (upper-cased, other characters
   than letters and digits become ``_``): for CI and scripts;
2. ``$CREDENTIALS_DIRECTORY/hubsync-<NAME>``: systemd's ``LoadCredential=``;
3. the OS keyring (service ``hubsync``, username NAME) through ``keyring``, with
   whatever backend it selects (``PYTHON_KEYRING_BACKEND`` and keyring's config
   file are honoured).

This is the only module that imports ``keyring`` and the one place its errors become
ours. Every keyring call runs in its own daemon thread with a timeout: a D-Bus call
waiting for an unlock prompt that never comes must give a clear error in seconds and
must not keep the process alive at exit (``asyncio.to_thread`` would do both wrong).
There is no plaintext fallback, and keyrings.alt's file backends are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hubsync.core.keynames import env_var_name as env_var_name  # part of this API
from hubsync.errors import KeyNotFound, KeyringUnavailable, clause

SERVICE = "hubsync"
KEYRING_TIMEOUT_S = 5.0
"""How long one keyring call may take; tests lower it."""

T = TypeVar("T")


class KeySource(enum.StrEnum):
    """Where an account's key was found."""

    ENV = "env"
    """The ``HUBSYNC_KEY_<NAME>`` environment variable."""
    SYSTEMD = "systemd"
    """A systemd credential in ``$CREDENTIALS_DIRECTORY``."""
    KEYRING = "keyring"
    """The OS keyring."""


def credential_name(account: str) -> str:
    """The systemd credential id: ``hubsync-<NAME>``."""
    return f"{SERVICE}-{account}"


def _from_env(account: str) -> str | None:
    value = os.environ.get(env_var_name(account), "").strip()
    return value or None


def _from_systemd(account: str) -> str | None:
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    try:
        value = (Path(directory) / credential_name(account)).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise KeyNotFound(
            f"cannot read systemd credential {credential_name(account)!r} "
            f"in $CREDENTIALS_DIRECTORY: {exc.strerror}"
        ) from exc
    return value.strip() or None


def _not_found(account: str) -> KeyNotFound:
    return KeyNotFound(
        f"no key for account {account!r}: set {env_var_name(account)}, "
        f"or load the systemd credential {credential_name(account)!r} (LoadCredential=), "
        f"or run `hubsync auth add {account}` to store it in the keyring"
    )


def _no_keyring_for(account: str, problem: str) -> str:
    """The keyring's ``problem`` for the key of ``account``: the keyring's own messages can
    only say ``HUBSYNC_KEY_<NAME>``; this one names the account's variable and systemd
    credential, and the ``auth add`` that stores the key once a keyring works."""
    variable, credential = env_var_name(account), credential_name(account)
    named = (problem.replace("HUBSYNC_KEY_<NAME>", variable)
             .replace("systemd credentials", f"the systemd credential {credential!r}")
             .replace("a systemd credential", f"the systemd credential {credential!r}"))
    return (f"{clause(named)} (no key for account {account!r} in {variable} or a systemd "
            f"credential); once a keyring works, `hubsync auth add {account}` stores it")


# --- keyring, always in a daemon thread -------------------------------------------------


BACKEND_CONFIG_FIX = (
    "check PYTHON_KEYRING_BACKEND and keyring's config file "
    "(~/.config/python_keyring/keyringrc.cfg)"
)


def backend_name(backend: object) -> str:
    """The dotted class name of a keyring backend, as PYTHON_KEYRING_BACKEND spells it."""
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _load_backend() -> object:
    import keyring

    try:
        return keyring.get_keyring()
    except Exception as exc:
        # A PYTHON_KEYRING_BACKEND or keyringrc.cfg naming something that does not load.
        raise KeyringUnavailable(
            f"keyring cannot load its backend: {type(exc).__name__}: {exc} -> "
            f"{BACKEND_CONFIG_FIX}"
        ) from exc


def check_backend() -> object:
    """keyring's selected backend, refusing the ones that cannot keep a secret.

    Blocking (selecting a backend may talk to D-Bus): call it in a thread.
    """
    from keyring.backends import chainer, fail

    backend = _load_backend()
    members = list(getattr(backend, "backends", ())) if isinstance(
        backend, chainer.ChainerBackend
    ) else [backend]
    for member in members:
        name = backend_name(member)
        if name.startswith("keyrings.alt."):
            raise KeyringUnavailable(
                f"keyring selected {name}, which keeps keys in a plain file; hubsync refuses "
                "it: run a Secret Service (GNOME Keyring, KeePassXC), uninstall keyrings.alt, "
                "or use HUBSYNC_KEY_<NAME> / systemd credentials"
            )
    if isinstance(backend, fail.Keyring) or (
        isinstance(backend, chainer.ChainerBackend) and not members
    ):
        raise KeyringUnavailable(_no_backend_message())
    return backend


def _no_backend_message() -> str:
    return (
        "no usable OS keyring (keyring found no backend: is a Secret Service such as "
        "GNOME Keyring running and unlocked in this session?); start one, set "
        "PYTHON_KEYRING_BACKEND, or give keys as HUBSYNC_KEY_<NAME> or systemd credentials"
    )


def _translate(exc: Exception) -> KeyringUnavailable:
    from keyring import errors

    if isinstance(exc, errors.NoKeyringError):
        return KeyringUnavailable(_no_backend_message())
    if isinstance(exc, errors.KeyringLocked):
        return KeyringUnavailable(
            "the keyring is locked; unlock it (log in to the desktop, or "
            "`gnome-keyring-daemon --unlock`) and try again"
        )
    # Backends raise their own errors (secretstorage, jeepney, dbus): the class name says
    # enough, and their messages never contain the secret we pass.
    return KeyringUnavailable(f"the OS keyring failed: {type(exc).__name__}: {exc}")


async def in_daemon_thread(work: Callable[[], T], what: str, timeout_s: float | None) -> T:
    """Run ``work`` in a fresh daemon thread; KeyringUnavailable after the timeout."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(setter: Callable[[], None]) -> None:
        if not future.done():
            setter()

    def worker() -> None:
        try:
            result = work()
        except BaseException as exc:  # handed to the awaiting coroutine, whatever it is
            outcome: Callable[[], None] = functools.partial(future.set_exception, exc)
        else:
            outcome = functools.partial(future.set_result, result)
        # The loop may have closed while this thread was stuck in D-Bus.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(deliver, outcome)

    limit = KEYRING_TIMEOUT_S if timeout_s is None else timeout_s
    threading.Thread(target=worker, name=f"hubsync-keyring-{what}", daemon=True).start()
    try:
        return await asyncio.wait_for(future, limit)
    except TimeoutError:
        raise KeyringUnavailable(
            f"the OS keyring did not answer within {limit:g} s ({what}); it may be locked "
            "and waiting for an unlock prompt: unlock it, or give the key as "
            "HUBSYNC_KEY_<NAME> or a systemd credential"
        ) from None


def _keyring_call(work: Callable[[object], T]) -> Callable[[], T]:
    def run() -> T:
        backend = check_backend()
        try:
            return work(backend)
        except KeyringUnavailable:
            raise
        except Exception as exc:
            raise _translate(exc) from exc

    return run


async def _keyring_get(account: str, timeout_s: float | None) -> str | None:
    def get(backend: object) -> str | None:
        value = backend.get_password(SERVICE, account)  # type: ignore[attr-defined]
        return value if isinstance(value, str) and value.strip() else None

    return await in_daemon_thread(_keyring_call(get), "read", timeout_s)


def _describe_backend() -> tuple[str, str | None]:
    from keyring.backends import fail

    loaded = _load_backend()
    name = backend_name(loaded)
    try:
        backend = check_backend()
    except KeyringUnavailable as exc:
        if name.startswith("keyrings.alt."):
            return name, "keeps keys in a plain file, so hubsync refuses it"
        if isinstance(loaded, fail.Keyring):
            return name, ("no usable OS keyring (no Secret Service such as GNOME Keyring is "
                          "running and unlocked)")
        return name, str(exc)
    members = list(getattr(backend, "backends", ()))
    if members:
        name += " (" + ", ".join(backend_name(m) for m in members) + ")"
    if name.startswith("keyring.backends.null."):
        return name, "keyring is disabled: the null backend keeps nothing"
    return name, None


async def describe_keyring(*, timeout_s: float | None = None) -> tuple[str, str | None]:
    """The selected keyring backend's name, and why it cannot keep keys (None if it can).

    KeyringUnavailable when keyring cannot load a backend at all or does not answer.
    """
    return await in_daemon_thread(_describe_backend, "inspect", timeout_s)


# --- public API -----------------------------------------------------------------------


async def find_key(account: str, *, timeout_s: float | None = None) -> tuple[str, KeySource]:
    """The key of ``account`` and where it came from.

    Raises KeyNotFound naming every way to provide one, or KeyringUnavailable when the
    keyring had to be asked and could not answer.
    """
    value = _from_env(account)
    if value is not None:
        return value, KeySource.ENV
    value = await asyncio.to_thread(_from_systemd, account)
    if value is not None:
        return value, KeySource.SYSTEMD
    try:
        stored = await _keyring_get(account, timeout_s)
    except KeyringUnavailable as exc:
        raise KeyringUnavailable(_no_keyring_for(account, str(exc))) from exc
    if stored is not None:
        return stored.strip(), KeySource.KEYRING
    raise _not_found(account)


async def key_source_of(account: str, *, timeout_s: float | None = None) -> KeySource | None:
    """Where ``account``'s key would come from, or None; never returns the key itself."""
    try:
        _, source = await find_key(account, timeout_s=timeout_s)
    except KeyNotFound:
        return None
    return source


async def keyring_has_key(account: str, *, timeout_s: float | None = None) -> bool:
    """Whether the OS keyring itself holds a key for ``account``, whatever the
    environment says; never returns the key. Raises KeyringUnavailable when the keyring
    cannot answer (within ``timeout_s`` seconds)."""
    return await _keyring_get(account, timeout_s) is not None


async def store_key(account: str, key: str, *, timeout_s: float | None = None) -> None:
    """Put ``key`` in the OS keyring, replacing any previous one, and read it back.

    The read-back catches backends that accept and drop secrets (``null``).
    """

    def store(backend: object) -> bool:
        backend.set_password(SERVICE, account, key)  # type: ignore[attr-defined]
        return bool(backend.get_password(SERVICE, account) == key)  # type: ignore[attr-defined]

    if not await in_daemon_thread(_keyring_call(store), "store", timeout_s):
        raise KeyringUnavailable(
            "the OS keyring accepted the key but did not keep it (is keyring disabled, "
            "PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring?); use a real backend"
        )


async def delete_key(account: str, *, timeout_s: float | None = None) -> bool:
    """Remove ``account``'s key from the keyring; False when there was none."""

    def delete(backend: object) -> bool:
        if backend.get_password(SERVICE, account) is None:  # type: ignore[attr-defined]
            return False
        backend.delete_password(SERVICE, account)  # type: ignore[attr-defined]
        return True

    return await in_daemon_thread(_keyring_call(delete), "delete", timeout_s)
