"""Desktop notifications against a REAL notification server on a private session bus:
a ``dbus-daemon`` of the test's own, a jeepney server owning
``org.freedesktop.Notifications`` on it (``tests/live/notification_server.py``), and a
``hubsync watch`` subprocess with that ``DBUS_SESSION_BUS_ADDRESS``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import write_config
from tests.support.processes import (
    HUBSYNC,
    hubsync_process,
    keys_env,
    wait_until,
    write_files,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@dataclass
class NotificationServer:
    """The private bus's address and what the server recorded."""

    address: str
    record: Path

    def notifications(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]


@pytest.fixture
def private_bus(tmp_path: Path) -> Iterator[str]:
    """A session ``dbus-daemon`` of this test alone; its address."""
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert daemon.stdout is not None
        address = daemon.stdout.readline().strip()
        assert address.startswith("unix:"), address
        yield address
    finally:
        daemon.terminate()
        daemon.wait(10)
        if daemon.stdout is not None:
            daemon.stdout.close()


@pytest.fixture
def notification_server(tmp_path: Path, private_bus: str) -> Iterator[NotificationServer]:
    """The recording notification server, running and owning its name."""
    record = tmp_path / "notifications.jsonl"
    server = subprocess.Popen([sys.executable, "-m", "tests.live.notification_server",
                               private_bus, str(record)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready"
        yield NotificationServer(private_bus, record)
    finally:
        server.terminate()
        server.wait(10)
        if server.stdout is not None:
            server.stdout.close()


def _config(tmp_path: Path, emu: EmulatorThread, root: Path) -> Path:
    return write_config(tmp_path / "config.toml", emu, root, tmp_path / "state",
                        accounts=("sandbox",), extra_settings='notifications = "desktop"')


def _flush(config: Path, env: dict[str, str]) -> None:
    subprocess.run([*HUBSYNC, "--config", str(config), "flush"], env=env, timeout=90,
                   capture_output=True, check=False)


def test_one_notification_per_problem_none_for_retries(
    tmp_path: Path, emulator_thread: EmulatorThread,
    notification_server: NotificationServer,
) -> None:
    """A broken template gives exactly one notification naming the file and HubSpot's
    message; saving it broken again gives none (same problem, not resolved); 5xx
    retries give none; a second broken file gives its own one."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}"})
    config = _config(tmp_path, emu, root)
    env = {**keys_env(emu), "DBUS_SESSION_BUS_ADDRESS": notification_server.address}
    out = tmp_path / "out.txt"
    with hubsync_process(["--config", str(config), "watch"], env, out,
                         stop_signal=signal.SIGINT) as session:
        session.wait_for_output("watching")
        write_files(root, {"templates/bad.html": "<p>{{ unclosed</p>"})
        wait_until(lambda: len(notification_server.notifications()) == 1,
                   what="the first notification")
        first = notification_server.notifications()[0]
        assert first["app_name"] == "hubsync"
        assert "templates/bad.html" in first["summary"]
        assert "sandbox" in first["summary"]
        assert "theme/templates/bad.html" in first["body"]
        failed = json.loads(next(line for line in (tmp_path / "state" / "sync.log")
                                 .read_text().splitlines() if '"failed"' in line))
        # HubSpot's own message and its line detail, as the sync log has them.
        assert failed["error"].splitlines()[0] == "Template contains errors"
        assert "Template contains errors" in first["body"]
        assert "line 1: Unclosed" in first["body"]

        # Same problem again: no second notification.
        (root / "templates" / "bad.html").write_text("<p>{{ still unclosed</p>")
        wait_until(lambda: session.output().count("✗ templates/bad.html -> sandbox") == 2,
                   what="the second refusal")

        # Retries: the server answers 503 for a while, then recovers.
        emu.set_faults(error_rate=1.0)
        write_files(root, {"css/retry.css": "a {}"})
        session.wait_for_output("css/retry.css -> sandbox: HTTP 5")
        emu.set_faults()
        _flush(config, env)
        session.wait_for_output("↑ css/retry.css -> sandbox")

        # A new problem: its notification is the second one. One sender sends in order,
        # so a notification for the repeat or the retries would have come before it.
        write_files(root, {"templates/other.html": "<p>{{ other</p>"})
        wait_until(lambda: len(notification_server.notifications()) >= 2,
                   what="the second problem's notification")
        _flush(config, env)
    notes = notification_server.notifications()
    assert [n["summary"] for n in notes] == [
        "hubsync: templates/bad.html was refused by sandbox",
        "hubsync: templates/other.html was refused by sandbox",
    ]
    assert "retry" not in json.dumps(notes)


def test_a_missing_bus_never_stops_syncing(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """With notifications on and no bus at the address, problems are still reported on
    the console and in the sync log, good files are still pushed, and the failure to
    notify is logged once, not per problem."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}"})
    config = _config(tmp_path, emu, root)
    env = {**keys_env(emu),
           "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"}
    out = tmp_path / "out.txt"
    with hubsync_process(["--config", str(config), "watch"], env, out,
                         stop_signal=signal.SIGINT) as session:
        session.wait_for_output("watching")
        write_files(root, {"templates/a.html": "{{ a", "templates/b.html": "{{ b"})
        session.wait_for_output("✗ templates/a.html -> sandbox")
        session.wait_for_output("✗ templates/b.html -> sandbox")
        write_files(root, {"css/good.css": "b {}"})
        session.wait_for_output("↑ css/good.css -> sandbox")
        _flush(config, env)
    assert session.process.returncode == 0
    assert session.output().count("desktop_notification_failed") == 1


async def test_refused_keys_and_held_deletes_are_told_once_until_resolved(
    notification_server: NotificationServer,
) -> None:
    """In process, over the same real bus: a refused key is told once however often it is
    refused, again only after it worked in between; held deletes once per account until
    released; a retry never. Refused keys are urgent (urgency 2)."""
    from hubsync.desktop import DesktopNotifier
    from hubsync.model import EngineEvent

    notifier = DesktopNotifier(notification_server.address)
    refused = EngineEvent("auth_failed", {"account": "staging", "error": "401: key revoked"})
    held = EngineEvent("held", {"account": "sandbox", "reason": "25 deletes > max_deletes 20"})
    retry = EngineEvent("retrying", {"account": "sandbox", "path": "a.css", "status": 503})
    for event in (refused, refused, retry, held, held,
                  EngineEvent("auth_ok", {"account": "staging"}), refused,
                  EngineEvent("released", {"account": "sandbox", "deletes": 25}), held):
        notifier(event)
        await notifier.idle()  # one at a time: several waiting at once are one summary
    await notifier.aclose()
    notes = notification_server.notifications()
    assert [n["summary"] for n in notes] == [
        "hubsync: the key of staging stopped working",
        "hubsync: deletes held for sandbox",
        "hubsync: the key of staging stopped working",
        "hubsync: deletes held for sandbox",
    ]
    assert notes[0]["hints"]["urgency"] == 2
    assert "401: key revoked" in notes[0]["body"]
    assert "hubsync deletes" in notes[1]["body"]
    assert notifier.sent == 4


async def test_a_burst_of_problems_is_one_summary(
    notification_server: NotificationServer,
) -> None:
    """Ten templates refused at once (a checkout): one notification saying how many,
    naming the first ones; a refusal because the key was refused (401) is left to the
    key's own notice."""
    from hubsync.desktop import DesktopNotifier
    from hubsync.model import EngineEvent

    notifier = DesktopNotifier(notification_server.address)
    for index in range(10):
        notifier(EngineEvent("failed", {"watch": "theme", "account": "sandbox",
                                        "path": f"t/{index}.html", "status": 400,
                                        "error": "Template contains errors"}))
    notifier(EngineEvent("failed", {"watch": "theme", "account": "staging",
                                    "path": "t/0.html", "status": 401, "error": "expired"}))
    await notifier.idle()
    await notifier.aclose()
    (note,) = notification_server.notifications()
    assert note["summary"] == "hubsync: 10 problems"
    assert "t/0.html was refused by sandbox" in note["body"]
    assert "and 5 more" in note["body"]
    assert "staging" not in note["body"]


async def test_a_conflict_is_told_once_until_resolved(
    notification_server: NotificationServer,
) -> None:
    """A conflict (a teammate's change the guard would not overwrite) is told once with
    the guard's advice, not again while unresolved, and again after `resolve`."""
    from hubsync.desktop import DesktopNotifier
    from hubsync.model import EngineEvent

    notifier = DesktopNotifier(notification_server.address)
    conflict = EngineEvent("conflict", {
        "watch": "theme", "account": "staging", "path": "templates/home.html",
        "kind": "changed", "note": "changed remotely since hubsync last synced it; not "
        "overwritten. See `hubsync conflicts`"})
    resolved = EngineEvent("resolved", {"watch": "theme", "account": "staging",
                                        "path": "templates/home.html", "keep": "local"})
    for event in (conflict, conflict, resolved, conflict):
        notifier(event)
        await notifier.idle()
    await notifier.aclose()
    notes = notification_server.notifications()
    assert [n["summary"] for n in notes] == [
        "hubsync: templates/home.html conflicts in staging"] * 2
    assert "hubsync conflicts" in notes[0]["body"]
    assert "theme/templates/home.html" in notes[0]["body"]
