"""Every command that reports takes --json and prints ONE JSON object on stdout, with
times as ISO 8601 UTC strings: run each as a real subprocess (against the emulator, and
against a running `hubsync watch` for the session's commands) and parse what it printed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubsync.emulator import EmulatorThread
from tests.e2e.e2e_helpers import run_hubsync, watch_session, write_config
from tests.support.processes import write_files

pytestmark = pytest.mark.slow

_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_TIME_KEYS = frozenset({"ts", "last_push", "last_reconcile", "started_at", "checked_at",
                        "token_expires_at", "last_push_at"})


def _times(value: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted key, value) of a time field anywhere in ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _TIME_KEYS:
                yield f"{where}.{key}", item
            yield from _times(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _times(item, f"{where}[{index}]")


def _one_object(config: Path, emu: EmulatorThread, *args: str,
                codes: tuple[int, ...] = (0,)) -> dict[str, Any]:
    result = run_hubsync(config, emu, *args, "--json")
    assert result.returncode in codes, (args, result.returncode, result.stderr)
    parsed = json.loads(result.stdout)  # the whole of stdout: one JSON value
    assert isinstance(parsed, dict), (args, result.stdout[:200])
    for key, value in _times(parsed):
        assert value is None or (isinstance(value, str) and _ISO.fullmatch(value)), (
            args, key, value)
    return parsed


def test_every_reporting_command_prints_one_json_object(
    tmp_path: Path, emulator_thread: EmulatorThread
) -> None:
    """check, push, push --dry-run, auth test, status and deletes with nothing running;
    then status, pause, resume, flush, deletes (show, release) and reload against a
    running watch: each prints exactly one JSON object with ISO 8601 times."""
    emu = emulator_thread
    root = tmp_path / "theme"
    write_files(root, {"css/main.css": "body {}", "templates/home.html": "<p>hi</p>"})
    config = write_config(tmp_path / "config.toml", emu, root, tmp_path / "state")

    assert _one_object(config, emu, "check")["ok"] is True
    assert _one_object(config, emu, "push", "--dry-run")["plans"]
    assert _one_object(config, emu, "push")["ok"] is True
    tested = _one_object(config, emu, "auth", "test")
    assert tested["ok"] is True
    assert [a["name"] for a in tested["accounts"]] == ["sandbox", "staging"]
    assert _one_object(config, emu, "status")["running"] is False
    assert _one_object(config, emu, "deletes")["running"] is False

    with watch_session(config, emu, tmp_path / "out.txt") as session:
        write_files(root, {"css/new.css": "a {}"})
        session.wait_for_output("↑ css/new.css -> sandbox")
        flushed = _one_object(config, emu, "flush", "--timeout", "30")
        assert flushed["timed_out"] is False
        assert flushed["pending"] == 0
        status = _one_object(config, emu, "status")
        assert status["running"] is True
        assert status["accounts"][0]["last_push"] is not None
        paused = _one_object(config, emu, "pause", "staging")
        assert {a["name"]: a["paused"] for a in paused["accounts"]} == {
            "sandbox": False, "staging": True}
        assert not any(a["paused"] for a in _one_object(config, emu, "resume")["accounts"])
        held = _one_object(config, emu, "deletes")
        assert held == {"running": True, "accounts": [
            {"name": "sandbox", "held_deletes": 0}, {"name": "staging", "held_deletes": 0}]}
        assert _one_object(config, emu, "deletes", "release") == {
            "running": True, "action": "release", "deletes": 0}
        reloaded = _one_object(config, emu, "reload")
        assert reloaded["reloaded"] is True
        assert reloaded["command"] == "watch"
