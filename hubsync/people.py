"""The user directory: which email belongs to a HubSpot user id, from facts hubsync has.

HubSpot names a remote file's last writer by user id only (the filemapper metadata's
``updatedById``; ``shared/hubspot-api.md`` "Seeing what the remote holds"), and the key
exchange gives the key's own ``userId`` but no email (the email comes from a best-effort
``GET /oauth/v1/access-tokens/{token}`` about the caller's own token). No call that
hubspot-api.md documents for a personal-access-key token maps *another* user's id to an
email, so this directory makes no request. It is built from what this state folder
already holds:

- each configured account's last key check (``auth_status`` in ``state.db``: the key's
  ``user_id`` and email, ``hubsync auth add``/``auth test``);
- the identity fields of every sync log line (``hub_user_id`` + ``hub_user_email``),
  written by any hubsync user of this state folder, across rotated files: a teammate
  whose account is configured on this machine (a shared workstation) is known by email
  once hubsync worked as them;
- ids seen without an email (``remote_user_id``, a ``hub_user_id`` whose email lookup
  failed) are known as ids only.

When an id has been seen with several emails (a renamed user), the latest wins.

Library side: never imports ``hubsync.commands``. ``Directory.load`` reads files;
``Directory`` itself is pure.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubsync.errors import HubsyncError, UsageError

# Only lines holding a user id are looked at while scanning a log, and those through a
# regex first: the writer puts ``hub_user_email`` right after ``hub_user_id`` (journal's
# SCHEMA_FIELDS order), so a 60 MB log is read in well under a second instead of seconds
# of json.loads. A line where the email is not next to its id is parsed whole.
_USER_MARK = b'_user_id"'
_EMAIL_MARK = b'_user_email"'
_TS = re.compile(rb'"ts":"([^"\\]*)"')
_ID_EMAIL = re.compile(rb'"(hub|remote)_user_id":(\d+)(?:,"(?:hub|remote)_user_email":'
                       rb'("(?:[^"\\]|\\.)*"))?')


def _user_id(value: object) -> int | None:
    """``value`` as a HubSpot user id (a positive int, or digits); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _email(value: object) -> str | None:
    """``value`` lower-cased when it looks like an email (``x@y``); None otherwise."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    local, at, domain = text.partition("@")
    return text if at and local and domain and " " not in text else None


@dataclass(frozen=True, slots=True)
class Person:
    """Every name one ``--user`` argument stands for: HubSpot user ids and lower-cased
    emails (one of each when the directory knows both, one alone otherwise)."""

    ids: frozenset[int]
    emails: frozenset[str]

    def names(self) -> frozenset[str]:
        """The ids as digits and the emails: ``journal.LogFilter.user_names``."""
        return frozenset({str(i) for i in self.ids} | self.emails)


@dataclass(slots=True)
class Directory:
    """HubSpot user id -> email, for every user this state folder has seen.

    ``emails`` holds the known emails (as written, the latest per id); ``ids`` every
    id seen, with or without an email; ``accounts`` the configured account name of each
    key-checked id (for "did you mean" on ``--user bob``).
    """

    emails: dict[int, str] = field(default_factory=dict)
    ids: set[int] = field(default_factory=set)
    accounts: dict[str, int] = field(default_factory=dict)
    _seen_at: dict[int, str] = field(default_factory=dict)

    # -- building -------------------------------------------------------------------

    def learn(self, user_id: object, email: object = None, *, at: str = "") -> None:
        """Record that ``user_id`` was seen, with ``email`` when given. ``at`` (ISO 8601
        UTC, as the sync log writes it) decides between two emails for one id: the later
        wins; an undated email never replaces a dated one."""
        uid = _user_id(user_id)
        if uid is None:
            return
        self.ids.add(uid)
        if not isinstance(email, str) or not email.strip():
            return
        if uid in self.emails and at < self._seen_at.get(uid, ""):
            return
        self.emails[uid] = email.strip()
        self._seen_at[uid] = at

    def learn_entry(self, entry: Mapping[str, Any]) -> None:
        """Learn from one sync log line: the key's user with their email, the remote
        writer (``remote_user_id``, and ``remote_user_email`` where a line has one)."""
        at = str(entry.get("ts") or "")
        self.learn(entry.get("hub_user_id"), entry.get("hub_user_email"), at=at)
        self.learn(entry.get("remote_user_id"), entry.get("remote_user_email"), at=at)

    def merge(self, other: Directory) -> None:
        """Learn everything ``other`` knows (its emails keep their dates)."""
        for uid in other.ids:
            self.learn(uid, other.emails.get(uid), at=other._seen_at.get(uid, ""))
        self.accounts.update(other.accounts)

    @classmethod
    def load(cls, state_dir: Path, log_path: Path | None = None) -> Directory:
        """The directory of ``state_dir``: its ``state.db`` key checks and every line of
        ``log_path`` (default ``<state_dir>/sync.log``) and its rotated files.

        Never raises for a missing, unreadable or foreign file: what cannot be read
        simply adds nobody (the caller then shows ids alone). Creates no file.
        """
        directory = cls()
        directory.read_log(log_path if log_path is not None else state_dir / "sync.log")
        directory.read_state(state_dir)
        return directory

    def read_log(self, log_path: Path) -> None:
        """Learn from every line of ``log_path`` and its rotated files, oldest first."""
        from hubsync.journal import rotated_paths

        for path in rotated_paths(log_path):
            with contextlib.suppress(OSError), path.open("rb") as handle:
                for raw in handle:
                    if _USER_MARK in raw:
                        self._learn_raw(raw)

    def _learn_raw(self, raw: bytes) -> None:
        """Learn from one raw sync log line (see ``_ID_EMAIL``); a torn line adds nobody."""
        if not raw.rstrip().endswith(b"}"):
            return  # cut short by a crash: its fields cannot be trusted
        stamp = _TS.search(raw)
        at = stamp.group(1).decode("ascii", "replace") if stamp else ""
        paired = False
        for match in _ID_EMAIL.finditer(raw):
            email = None
            if match.group(3) is not None:
                with contextlib.suppress(ValueError, UnicodeDecodeError):
                    email = json.loads(match.group(3))
                paired = True
            self.learn(int(match.group(2)), email, at=at)
        if _EMAIL_MARK in raw and not paired:
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                entry = json.loads(raw)
                if isinstance(entry, dict):
                    self.learn_entry(entry)

    def read_state(self, state_dir: Path) -> None:
        """Learn each configured account's key check (``auth_status``), if the state
        database exists (it is never created here)."""
        from hubsync.journal import utc_timestamp
        from hubsync.state import STATE_FILE, StateStore

        if not (state_dir / STATE_FILE).is_file():
            return
        try:
            with StateStore.open(state_dir) as store:
                statuses = store.auth_statuses()
        except (HubsyncError, OSError):
            return
        for account, status in statuses.items():
            who = status.identity
            if who is None:
                continue
            self.learn(who.user_id, who.email, at=utc_timestamp(status.checked_at_s))
            self.accounts[account] = who.user_id

    # -- asking ---------------------------------------------------------------------

    def email_of(self, user_id: object) -> str | None:
        """The email known for ``user_id``, or None."""
        uid = _user_id(user_id)
        return None if uid is None else self.emails.get(uid)

    def ids_of(self, email: str) -> frozenset[int]:
        """Every id known with ``email`` (case-insensitive; usually one)."""
        wanted = email.strip().lower()
        return frozenset(uid for uid, known in self.emails.items() if known.lower() == wanted)

    def name(self, user_id: object) -> str:
        """``bob@example.com (user 7002)`` when the email is known, else ``user 7002``."""
        email = self.email_of(user_id)
        return f"{email} (user {user_id})" if email else f"user {user_id}"

    def resolve(self, given: str, *, option: str = "--user") -> Person:
        """The person ``given`` (a numeric HubSpot user id or an email) stands for.

        An id is always accepted, known or not: HubSpot's ids are facts and a line naming
        it may come later (``log -f``); its email joins it when known. An email must be
        known (UsageError, exit 64, with the closest known name otherwise).
        """
        text = given.strip()
        uid = _user_id(text)
        if uid is not None:
            email = self.emails.get(uid)
            return Person(frozenset({uid}), frozenset({email.lower()} if email else ()))
        email = _email(text)
        ids = self.ids_of(email) if email is not None else frozenset()
        if email is None or not ids:
            raise UsageError(self._unknown(text, option))
        return Person(ids, frozenset({email}))

    def _unknown(self, given: str, option: str) -> str:
        """The usage error for a name this directory does not know, with the closest."""
        close = self._closest(given)
        hint = f"; did you mean {close!r}?" if close else ""
        known = sorted({e.lower() for e in self.emails.values()})
        listing = ", ".join(known) if known else "none"
        return (f"{option} {given!r}: no user of that name{hint} (known emails: {listing}). "
                "Give a HubSpot user id (digits: always accepted) or an email hubsync has "
                "seen: a configured account's key check (`hubsync auth test NAME`) or a "
                "sync log line written as that user (docs/sync-log.md)")

    def _closest(self, given: str) -> str | None:
        """An account name or an email's local part that matches exactly, else difflib's
        closest email (ratio >= 0.6)."""
        lowered = given.lower()
        by_account = self.accounts.get(given)
        if by_account is not None and by_account in self.emails:
            return self.emails[by_account].lower()
        emails = sorted({e.lower() for e in self.emails.values()})
        for email in emails:
            if email.split("@", 1)[0] == lowered:
                return email
        close = difflib.get_close_matches(lowered, emails, n=1)
        return close[0] if close else None


class LazyDirectory:
    """A ``Directory`` loaded on first need, learning from every line it is shown.

    Loading costs a scan of the sync log, so it happens only when a line names a remote
    writer by id alone whom the lines seen so far do not name (``hubsync log -n 20`` of
    pushes never pays it), or when ``get`` is called (``log --user``). Lines seen before
    and after the load are learned too: a session's console knows each account's user
    from its own ``auth_ok`` lines. ``load`` None: only what is seen.
    """

    def __init__(self, load: Callable[[], Directory] | None = None) -> None:
        self._load = load
        self._directory = Directory()

    def get(self) -> Directory:
        """The directory, loaded now if it was not yet."""
        if self._load is not None:
            load, self._load = self._load, None
            seen, self._directory = self._directory, load()
            self._directory.merge(seen)
        return self._directory

    def see(self, entry: Mapping[str, Any]) -> Directory:
        """Learn ``entry``'s identities, load if it names a writer still unknown, and
        return the directory as it now is."""
        self._directory.learn_entry(entry)
        writer = entry.get("remote_user_id")
        if (writer is not None and "remote_user_email" not in entry
                and self._directory.email_of(writer) is None):
            return self.get()
        return self._directory


def with_writer_email(entry: Mapping[str, Any], directory: Directory) -> dict[str, Any]:
    """``entry`` with ``remote_user_email`` added (last) when it names a remote writer
    (``remote_user_id``) whose email ``directory`` knows and the line has none; the
    same fields otherwise. Nothing is renamed or removed (``--json`` stays stable)."""
    out = dict(entry)
    if "remote_user_id" in out and "remote_user_email" not in out:
        email = directory.email_of(out["remote_user_id"])
        if email:
            out["remote_user_email"] = email
    return out


def of_state(state_dir: Path) -> LazyDirectory:
    """The lazily loaded directory of ``state_dir`` (its ``state.db`` and ``sync.log``),
    for a session's console: loaded at the first remote writer it cannot name."""
    return LazyDirectory(lambda: Directory.load(state_dir))
