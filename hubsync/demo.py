"""``hubsync demo``: the sample theme synced to two emulated accounts, live or scripted.

Everything lives in one folder (``./hubsync-demo`` by default)::

    theme/         a copy of the sample theme shipped in the package: edit it
    remote/        the emulator's copy of each account (<portal>/published/<dest>/...)
    state/         hubsync's state and sync log for the demo (never the user's real one)
    config.toml    rewritten every run: the emulator's port changes

The emulator runs in this process on a free loopback port. Its two users' keys are
made up for this run and reach the engine through this process's own environment
(``HUBSYNC_KEY_<NAME>``, the first place ``hubsync.credentials`` looks), so the OS
keyring is never asked. Each run starts the remote and the state afresh, so the first
reconcile pushes the whole theme, attributed to each account's user.

``--scripted`` then edits the theme by itself the way a developer and their editor do,
waits for every change to reach both accounts, and proves the result: the sha256 of
every file the rules allow equals the emulator's copy, for both accounts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TextIO

from hubsync.config import Config, config_from_bytes, write_atomically
from hubsync.console import Reporter
from hubsync.core.paths import to_remote
from hubsync.credentials import env_var_name
from hubsync.emulator import EmulatedAccount, Emulator, Endpoint
from hubsync.engine import EngineEvent
from hubsync.errors import EX_FAILURE, EX_OK, HubsyncError
from hubsync.journal import LOG_NAME, Entry, iter_entries
from hubsync.lock import LOCK_NAME, InstanceLock
from hubsync.service import SessionKind, run_session

DEFAULT_DIR = Path("hubsync-demo")
MARKER = ".hubsync-demo"
"""Written into the demo folder: only a folder carrying it is ever emptied by a re-run."""
WATCH_NAME = "demo-theme"
DEST = "demo-theme"
DEBOUNCE_MS = 200
STEP_TIMEOUT_S = 20.0
"""A step that has not reached both accounts by then is reported; the proof decides."""
POLL_S = 0.05
PAUSE_S = 0.4
"""Between scripted steps, so a person can follow the console."""
BURST_SAVES = 20
TEAMMATE_ID = 5151
"""The user id of the demo's teammate, who edits a file in the Design Manager."""
TEAMMATE_FILE = "css/main.css"
ATTRIBUTION_EVENTS = frozenset({"pushed", "deleted", "failed", "conflict", "resolved"})


@dataclass(frozen=True, slots=True)
class DemoUser:
    """One emulated HubSpot user and the account (portal) the demo pushes to as them."""

    account: str
    portal_id: int
    user_id: int
    email: str
    hub_name: str


DEMO_USERS = (
    DemoUser("sandbox", 1001, 7001, "ada@example.com", "Demo sandbox"),
    DemoUser("staging", 2002, 7002, "grace@example.com", "Demo staging"),
)


@dataclass(frozen=True, slots=True)
class Workspace:
    """The demo folder and what lives in it."""

    root: Path

    @property
    def theme(self) -> Path:
        return self.root / "theme"

    @property
    def remote(self) -> Path:
        return self.root / "remote"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    def remote_copy(self, user: DemoUser) -> Path:
        """Where the emulator mirrors what ``user``'s account holds of the demo theme."""
        return self.remote / str(user.portal_id) / "published" / DEST


def sample_theme() -> Traversable:
    """The theme shipped inside the package (found the same way in a wheel)."""
    return resources.files("hubsync") / "demo_theme"


def _copy_tree(source: Traversable, target: Path) -> int:
    # Traversable, not as_file(): a directory as_file() needs Python 3.12.
    target.mkdir(parents=True, exist_ok=True)
    copied = 0
    for entry in source.iterdir():
        if entry.is_dir():
            copied += _copy_tree(entry, target / entry.name)
        else:
            (target / entry.name).write_bytes(entry.read_bytes())
            copied += 1
    return copied


def claim(root: Path) -> Workspace:
    """Create the demo folder, or check an existing one is ours.

    A folder that is not empty and was not made by the demo is refused, so
    ``--dir ~`` cannot empty anything.
    """
    if root.exists() and not root.is_dir():
        raise HubsyncError(f"{root} is a file; pass --dir with a new or empty folder")
    if root.is_dir() and any(root.iterdir()) and not (root / MARKER).exists():
        raise HubsyncError(
            f"{root} is not empty and is not a hubsync demo folder; "
            "pass --dir with a new or empty folder"
        )
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("made by `hubsync demo`; safe to delete\n", encoding="utf-8")
    return Workspace(root.absolute())


def install_theme(workspace: Workspace, *, fresh: bool) -> str:
    """Copy the sample theme in, keeping an existing one unless ``fresh``; says which."""
    theme = workspace.theme
    had_theme = theme.is_dir() and any(theme.iterdir())
    if had_theme and not fresh:
        return f"reusing your edited theme in {shown(theme)}"
    if theme.exists():
        shutil.rmtree(theme)
    count = _copy_tree(sample_theme(), theme)
    verb = "refreshed" if had_theme else "copied"
    return f"{verb} the sample theme ({count} files) into {shown(theme)}"


def prepare(root: Path, *, fresh_theme: bool) -> tuple[Workspace, str]:
    """``claim`` then ``install_theme``: the folder, and what happened to the theme."""
    workspace = claim(root)
    return workspace, install_theme(workspace, fresh=fresh_theme)


def reset_runtime(workspace: Workspace) -> None:
    """Empty the remote copy and the state (keeping the lock file the caller holds)."""
    if workspace.remote.exists():
        shutil.rmtree(workspace.remote)
    if workspace.state.is_dir():
        for entry in workspace.state.iterdir():
            if entry.name == LOCK_NAME:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def config_text(emulator_url: str) -> str:
    """The demo config: both accounts on the emulator, one watch with deletes on."""
    lines = [
        "# Written by `hubsync demo` and rewritten on every run: the emulator's port",
        "# changes. Relative paths are relative to this file.",
        "",
        "[settings]",
        'state_dir = "state"',
        f"debounce_ms = {DEBOUNCE_MS}",
    ]
    for user in DEMO_USERS:
        lines += ["", f"[accounts.{user.account}]", f"portal_id = {user.portal_id}",
                  f'api_base = "{emulator_url}"']
    accounts = ", ".join(f'"{user.account}"' for user in DEMO_USERS)
    lines += ["", "[[watch]]", f'name = "{WATCH_NAME}"', 'src = "theme"', f'dest = "{DEST}"',
              f"accounts = [{accounts}]", "delete_remote = true"]
    return "\n".join(lines) + "\n"


def write_config(workspace: Workspace, emulator_url: str) -> Config:
    """Validate, then atomically write, the demo config; returns it loaded."""
    text = config_text(emulator_url)
    config = config_from_bytes(text.encode(), workspace.config_path)
    write_atomically(workspace.config_path, text)
    return config


def shown(path: Path) -> str:
    """``./x`` for a path under the working directory, else the absolute path."""
    absolute = path.absolute()
    with contextlib.suppress(ValueError):
        return "./" + absolute.relative_to(Path.cwd()).as_posix()
    return str(absolute)


@contextlib.contextmanager
def keys_in_environment(accounts: Mapping[str, EmulatedAccount]) -> Iterator[None]:
    """``HUBSYNC_KEY_<NAME>`` for each account in this process only, restored afterwards."""
    saved = {name: os.environ.get(env_var_name(name)) for name in accounts}
    try:
        for name, account in accounts.items():
            os.environ[env_var_name(name)] = account.key
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(env_var_name(name), None)
            else:
                os.environ[env_var_name(name)] = previous


# --------------------------------------------------------------------------- proof


@dataclass(frozen=True, slots=True)
class AccountProof:
    """How one account's remote copy compares with the local tree."""

    user: DemoUser
    files: int
    missing: tuple[str, ...]
    """Local files the account does not have (remote paths)."""
    extra: tuple[str, ...]
    """Remote files with no local counterpart."""
    different: tuple[str, ...]
    """Remote files whose sha256 differs from the local file's."""

    @property
    def equal(self) -> bool:
        return not (self.missing or self.extra or self.different)


def local_hashes(config: Config) -> dict[str, str]:
    """Remote path -> sha256 of every local file the watch's rules allow (blocking)."""
    from hubsync import localtree

    watch = config.watch(WATCH_NAME)
    rules = localtree.load_rules(watch.src, watch.ignore)
    scanned = localtree.scan(watch.src, rules, {}, now_ns=time.time_ns())
    return {to_remote(watch.dest, rel): f.sha256 for rel, f in scanned.files.items()}


def remote_hashes(emulator: Emulator, portal_id: int) -> dict[str, str]:
    """Remote path -> sha256 of what the emulated account holds under the demo's dest."""
    prefix = DEST + "/"
    return {path: stored.sha256 for path, stored in emulator.files(portal_id).items()
            if path.startswith(prefix)}


def prove(local: Mapping[str, str], emulator: Emulator) -> list[AccountProof]:
    """Compare ``local`` with each demo account's published tree, file by file."""
    proofs = []
    for user in DEMO_USERS:
        remote = remote_hashes(emulator, user.portal_id)
        proofs.append(AccountProof(
            user=user,
            files=len(remote),
            missing=tuple(sorted(set(local) - set(remote))),
            extra=tuple(sorted(set(remote) - set(local))),
            different=tuple(sorted(p for p in set(local) & set(remote)
                                   if local[p] != remote[p])),
        ))
    return proofs


# --------------------------------------------------------------------------- script


@dataclass(frozen=True, slots=True)
class Step:
    """One thing a developer does to the theme, and what should follow."""

    title: str
    act: Callable[[Path], None]
    """Changes the theme folder; runs in a thread (it sleeps between saves)."""
    rejected: str | None = None
    """A path HubSpot must refuse (in every account) instead of storing it."""
    counts_uploads_of: str | None = None
    """A path whose uploads per account are reported after the step (for the burst)."""


def _edit_css(theme: Path) -> None:
    css = theme / "css" / "main.css"
    css.write_text(css.read_text(encoding="utf-8")
                   + "\n/* tightened by the hubsync demo */\n.card { gap: 1.5rem; }\n",
                   encoding="utf-8")


def _burst(theme: Path) -> None:
    script = theme / "js" / "main.js"
    original = script.read_text(encoding="utf-8")
    for save in range(1, BURST_SAVES + 1):
        script.write_text(f"{original}\n// autosave {save} of {BURST_SAVES}\n",
                          encoding="utf-8")
        time.sleep(0.01)


def _atomic_save(theme: Path) -> None:
    # What vim (backupcopy=no), JetBrains and most save-as-you-type tools do: write a
    # temporary file next to the target, then rename it over the target.
    home = theme / "templates" / "home.html"
    text = home.read_text(encoding="utf-8").replace(
        "Ship theme changes without leaving your editor",
        "Every save, in every account, attributed to you")
    temporary = home.with_name(".home.html.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(home)


def _rename(theme: Path) -> None:
    templates = theme / "templates"
    (templates / "blog-post.html").rename(templates / "article.html")


PROMO = "templates/promo.html"
_PROMO_HEAD = """\
<!--
  templateType: page
  label: Spring promotion
  isAvailableForNewContent: true
-->
{% extends "./layouts/base.html" %}

{% block body %}
"""


def _invalid_template(theme: Path) -> None:
    # The `%}` of the `if` is missing, so the block is never opened properly nor closed:
    # HubSpot refuses to store the template (400 with the line of the problem).
    (theme / PROMO).write_text(
        _PROMO_HEAD
        + '  {% if module.show_banner\n  <div class="banner">Spring sale: 20% off</div>\n',
        encoding="utf-8")


def _fixed_template(theme: Path) -> None:
    (theme / PROMO).write_text(
        _PROMO_HEAD
        + '  {% if module.show_banner %}\n  <div class="banner">Spring sale: 20% off</div>\n'
        + "  {% endif %}\n{% endblock body %}\n",
        encoding="utf-8")


def _delete(theme: Path) -> None:
    (theme / PROMO).unlink()


SCRIPT = (
    Step("edit css/main.css", _edit_css),
    Step(f"{BURST_SAVES} saves of js/main.js in 0.2 s (an autosaving editor)", _burst,
         counts_uploads_of="js/main.js"),
    Step("atomic save of templates/home.html (write .home.html.tmp, rename over it)",
         _atomic_save),
    Step("rename templates/blog-post.html -> templates/article.html", _rename),
    Step(f"create {PROMO} with a broken {{% if %}} (HubSpot must refuse it)",
         _invalid_template, rejected=PROMO),
    Step(f"fix {PROMO}", _fixed_template),
    Step(f"delete {PROMO} (the promotion is over)", _delete),
)


@dataclass(slots=True)
class EventTrail:
    """The engine events of this run, for waiting on outcomes the emulator cannot show."""

    events: list[EngineEvent] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, event: EngineEvent) -> None:
        self.events.append(event)
        self.changed.set()

    def failed_accounts(self, rel: str, since: int) -> set[str]:
        return {str(e.fields.get("account")) for e in self.events[since:]
                if e.event == "failed" and e.fields.get("path") == rel}


class Demo:
    """One demo run: the emulator, the engine and the console, in this process."""

    def __init__(self, workspace: Workspace, *, port: int = 0,
                 stream: TextIO | None = None) -> None:
        self.workspace = workspace
        self.port = port
        self.reporter = Reporter(stream)
        self.trail = EventTrail()
        self.emulator = Emulator(data_dir=workspace.remote)
        self.accounts = {
            user.account: self.emulator.add_account(
                user.account, portal_id=user.portal_id, user_id=user.user_id,
                email=user.email, hub_name=user.hub_name)
            for user in DEMO_USERS
        }

    def say(self, text: str = "") -> None:
        self.reporter.say(text)

    def _on_event(self, event: EngineEvent) -> None:
        self.reporter(event)
        self.trail(event)

    async def run(self, *, scripted: bool, theme_note: str) -> int:
        try:
            await self.emulator.start("127.0.0.1", self.port)
        except OSError as exc:
            raise HubsyncError(
                f"the emulator cannot listen on 127.0.0.1:{self.port}: {exc.strerror}; "
                "pick another --port, or leave it out for a free one"
            ) from exc
        try:
            config = write_config(self.workspace, self.emulator.url)
            with keys_in_environment(self.accounts):
                self._introduce(theme_note, scripted=scripted)
                if not scripted:
                    # The same session as `hubsync watch`: `hubsync status`, `pause`
                    # and `flush` work against the demo too. The caller holds the lock.
                    code = await run_session(
                        config.path, kind=SessionKind.WATCH, on_event=self._on_event,
                        on_stopping=lambda: self.say(
                            "stopping: finishing pushes in flight (Ctrl-C again to quit now)"),
                        hold_lock=False)
                    if code == EX_OK:
                        self.say("stopped")
                    return code
                return await self._scripted(config)
        finally:
            await self.emulator.stop()

    def _introduce(self, theme_note: str, *, scripted: bool) -> None:
        ws = self.workspace
        self.say(f"hubsync demo: a HubSpot emulator on {self.emulator.url} with two accounts")
        for user in DEMO_USERS:
            self.say(f"  {user.account:<8} portal {user.portal_id}  {user.hub_name}, "
                     f"pushed to as {user.email} (user {user.user_id})")
        self.say("  keys: made up for this run and given to hubsync in this process only; "
                 "your keyring is not touched")
        self.say(f"theme:   {theme_note}")
        self.say(f"config:  {shown(ws.config_path)}")
        for user in DEMO_USERS:
            self.say(f"remote:  {shown(ws.remote_copy(user))}  ({user.account})")
        if not scripted:
            self.say(f"Edit a file in {shown(ws.theme)} and watch it arrive; in another "
                     "terminal:")
            self.say(f"  hubsync --config {shlex.quote(shown(ws.config_path))} log -f")
        self.say()

    # --- scripted ---------------------------------------------------------------------

    async def _scripted(self, config: Config) -> int:
        stop = asyncio.Event()
        ready = asyncio.Event()
        script = asyncio.create_task(self._play(config, ready), name="hubsync-demo-script")

        def interrupted() -> None:
            self.say("stopping: Ctrl-C")
            script.cancel()

        session = asyncio.create_task(run_session(
            config.path, kind=SessionKind.WATCH, on_event=self._on_event, on_ready=ready.set,
            on_stopping=interrupted, stop=stop, hold_lock=False), name="hubsync-demo-session")
        try:
            # The session ending first means it failed: waiting out the script's step
            # timeouts would only hide that.
            await asyncio.wait({script, session}, return_when=asyncio.FIRST_COMPLETED)
            if not script.done():
                script.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await script
                code = session.result()
                raise HubsyncError(f"the sync session stopped (exit {code}) before the "
                                   "script ended; run again with --debug to see why")
            if script.cancelled():
                self.say("stopped before the end of the script: nothing proven")
                return EX_OK
            return script.result()
        finally:
            stop.set()
            if not session.done():
                await session

    async def _play(self, config: Config, ready: asyncio.Event) -> int:
        await ready.wait()
        self.say(f"── first sync of the whole theme (as {_users()}) ──")
        await self._until_in_sync(config, "the first sync")
        log_path = config.settings.state_dir / LOG_NAME
        first_sync_lines = len(_attribution(log_path))
        for number, step in enumerate(SCRIPT, 1):
            await asyncio.sleep(PAUSE_S)
            self.say()
            self.say(f"── step {number}/{len(SCRIPT)}: {step.title} ──")
            await self._perform(config, step)
        await asyncio.sleep(PAUSE_S)
        await self._teammate(config)
        await asyncio.sleep(PAUSE_S)
        return await self._summary(config, log_path, first_sync_lines)

    async def _perform(self, config: Config, step: Step) -> None:
        events_before = len(self.trail.events)
        uploads_before = self._uploads(step.counts_uploads_of)
        await asyncio.to_thread(step.act, config.watch(WATCH_NAME).src)
        if step.rejected is not None:
            await self._until_rejected(step.rejected, events_before)
        else:
            await self._until_in_sync(config, step.title)
        if step.counts_uploads_of is not None:
            after = await self._logged_uploads(step.counts_uploads_of, uploads_before)
            per_account = ", ".join(
                f"{name} {after[name] - uploads_before[name]}" for name in after)
            self.say(f"   {BURST_SAVES} saves -> uploads per account: {per_account}")

    async def _teammate(self, config: Config) -> None:
        """A teammate's Design Manager edit of a file you are editing too: a conflict in
        each account, nothing overwritten; then `hubsync resolve --keep remote` through
        the session's control socket takes their version into your file."""
        self.say()
        self.say(f"── a teammate (user {TEAMMATE_ID}) edits {TEAMMATE_FILE} in the Design "
                 "Manager while you edit it too ──")
        remote_path = to_remote(DEST, TEAMMATE_FILE)
        theirs = b"/* changed by a teammate in the Design Manager */\nbody { margin: 0 }\n"
        for user in DEMO_USERS:
            self.emulator.edit_as(user.portal_id, remote_path, theirs, user_id=TEAMMATE_ID)
        since = len(self.trail.events)
        local = config.watch(WATCH_NAME).src / TEAMMATE_FILE
        await asyncio.to_thread(local.write_text, "/* your edit */\nbody { margin: 1px }\n")
        await self._until_event("conflict", since)
        self.say("   not overwritten in either account; their version is kept in the state "
                 "folder (`hubsync conflicts` lists it)")
        from hubsync import control

        socket = control.socket_path(config.settings.state_dir)
        self.say(f"── hubsync resolve {TEAMMATE_FILE} --keep remote (for each account) ──")
        for name in self.accounts:
            await control.request(socket, "resolve", account=name, remote_path=remote_path,
                                  keep="remote", wait_s=STEP_TIMEOUT_S)
        await self._until_in_sync(config, "the resolution")
        self.say(f"   your {TEAMMATE_FILE} now holds the teammate's version; nothing was "
                 "uploaded over it")

    async def _until_event(self, event: str, since: int) -> None:
        """Until every account has had ``event`` since the ``since``-th event."""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while {str(e.fields.get("account")) for e in self.trail.events[since:]
               if e.event == event} != set(self.accounts):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.say(f"! no {event} line for every account after {STEP_TIMEOUT_S:g} s")
                return
            self.trail.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.trail.changed.wait(), min(remaining, 1.0))

    async def _logged_uploads(self, rel: str, before: dict[str, int]) -> dict[str, int]:
        """Uploads of ``rel`` per account once the emulator has logged them: it stores a
        file before it logs the request, so "in sync" can be seen a moment earlier."""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        after = self._uploads(rel)
        while (any(after[name] <= before[name] for name in after)
               and time.monotonic() < deadline):
            await asyncio.sleep(POLL_S)
            after = self._uploads(rel)
        return after

    def _uploads(self, rel: str | None) -> dict[str, int]:
        if rel is None:
            return {}
        remote_path = to_remote(DEST, rel)
        counts = dict.fromkeys(self.accounts, 0)
        by_portal = {user.portal_id: user.account for user in DEMO_USERS}
        for request in self.emulator.requests:
            if (request.endpoint is Endpoint.UPLOAD and request.remote_path == remote_path
                    and 200 <= request.status < 300 and request.portal_id in by_portal):
                counts[by_portal[request.portal_id]] += 1
        return counts

    async def _until_in_sync(self, config: Config, what: str) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while time.monotonic() < deadline:
            local = await asyncio.to_thread(local_hashes, config)
            if all(proof.equal for proof in prove(local, self.emulator)):
                return
            await asyncio.sleep(POLL_S)
        self.say(f"! {what}: not in both accounts after {STEP_TIMEOUT_S:g} s")

    async def _until_rejected(self, rel: str, since: int) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while self.trail.failed_accounts(rel, since) != set(self.accounts):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.say(f"! {rel}: HubSpot's refusal did not arrive for every account")
                return
            self.trail.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.trail.changed.wait(), min(remaining, 1.0))

    async def _summary(self, config: Config, log_path: Path, first_sync_lines: int) -> int:
        local = await asyncio.to_thread(local_hashes, config)
        proofs = prove(local, self.emulator)
        self.say()
        self.say(f"── proof: each account's copy equals {shown(config.watch(WATCH_NAME).src)} "
                 "(sha256 of every file the rules allow) ──")
        for proof in proofs:
            self.say(_proof_line(proof, len(local)))
        entries = _attribution(log_path)
        self.say()
        self.say(f"── who pushed what ({shown(log_path)}) ──")
        totals: dict[tuple[str, str], dict[str, int]] = {}
        for entry in entries:
            key = (str(entry.get("account")), _who(entry))
            counts = totals.setdefault(key, dict.fromkeys(sorted(ATTRIBUTION_EVENTS), 0))
            counts[str(entry.get("event"))] += 1
        for (account, who), counts in sorted(totals.items()):
            self.say(f"{account:<8} as {who}: " + ", ".join(
                f"{n} {event}" for event, n in sorted(counts.items(), reverse=True)))
        from hubsync.render import format_entry

        self.say(f"the scripted steps, line by line "
                 f"(the first sync's {first_sync_lines} lines are in the log too):")
        for entry in entries[first_sync_lines:]:
            self.say("  " + format_entry(entry).replace("\n", "\n      "))
        ok = all(proof.equal for proof in proofs)
        self.say()
        self.say("demo finished: both accounts equal the local theme" if ok
                 else "demo finished: the remote copies DIFFER from the local theme")
        return EX_OK if ok else EX_FAILURE


def _users() -> str:
    return " and ".join(f"{u.email.split('@', 1)[0]} -> {u.account}" for u in DEMO_USERS)


def _who(entry: Entry) -> str:
    email = entry.get("hub_user_email")
    user_id = entry.get("hub_user_id")
    return f"{email} (user {user_id})" if email else f"user {user_id}"


def _attribution(log_path: Path) -> list[Entry]:
    return [entry for entry in iter_entries(log_path)
            if entry.get("event") in ATTRIBUTION_EVENTS]


def _proof_line(proof: AccountProof, local_files: int) -> str:
    user = proof.user
    where = f"{user.account} (portal {user.portal_id}, {user.email})"
    if proof.equal:
        return (f"✓ {where}: remote == local, {proof.files} of {local_files} files, "
                "every sha256 equal")
    problems = [f"missing {p}" for p in proof.missing]
    problems += [f"extra {p}" for p in proof.extra]
    problems += [f"different {p}" for p in proof.different]
    shown_problems = "; ".join(problems[:10]) + (" ..." if len(problems) > 10 else "")
    return f"✗ {where}: remote != local: {shown_problems}"


def run_demo(root: Path, *, scripted: bool, port: int = 0, stream: TextIO | None = None) -> int:
    """Prepare the folder, then run the live (or scripted) demo; the exit code.

    Raises ``AlreadyRunning`` when another demo uses the same folder.
    """
    workspace = claim(root)
    # Lock before touching the theme: a second demo on this folder must not refresh it
    # under the first one's feet.
    with InstanceLock(workspace.state):
        theme_note = install_theme(workspace, fresh=scripted)
        reset_runtime(workspace)
        demo = Demo(workspace, port=port, stream=stream)
        return asyncio.run(demo.run(scripted=scripted, theme_note=theme_note))
