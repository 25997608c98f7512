"""Engine.push_once against the emulator over HTTP, with real files and real SQLite."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from hubsync.app import build_engine
from hubsync.config import Config
from hubsync.credentials import env_var_name
from hubsync.emulator import Emulator
from hubsync.engine import EngineEvent
from tests.engine.engine_helpers import write_theme

MakeConfig = Callable[..., Config]


def sync_log(config_state: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (config_state / "sync.log").read_text().splitlines()]


THEME = {
    "templates/home.html": "<h1>{{ content.name }}</h1>",
    "css/main.css": "body { color: red }",
    "modules/hero.module/meta.json": '{"label": "Hero"}',
    "modules/hero.module/module.html": "<div>hero</div>",
    "modules/hero.module/fields.json": "[]",
    "theme.json": '{"label": "My theme"}',
    "notes.psd": "binary-ish",
    ".hidden.css": "x",
}


async def test_first_push_uploads_everything_to_both_accounts(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """The first push uploads every pushable file to both accounts, attributed in the log;
    files left out by the rules are reported as skipped, not failures."""
    write_theme(tmp_path / "theme", THEME)
    config = make_config()
    events: list[EngineEvent] = []
    summary = await build_engine(config, on_event=events.append).push_once()
    assert summary.ok, summary
    pushable = {k: v for k, v in THEME.items() if k not in ("notes.psd", ".hidden.css")}
    for portal in (111, 222):
        files = emulator.files(portal)
        assert {p.removeprefix("my-theme/") for p in files} == set(pushable)
        for rel, content in pushable.items():
            assert files[f"my-theme/{rel}"].content == content.encode()
    assert summary.pushed == {"sandbox": 6, "staging": 6}
    assert {rel for _, rel, _ in summary.skipped} >= {"notes.psd"}
    lines = sync_log(config.settings.state_dir)
    pushed = [line for line in lines if line["event"] == "pushed"]
    assert len(pushed) == 12
    first = next(line for line in pushed if line["account"] == "sandbox")
    for key in ("ts", "watch", "portal_id", "hub_user_id", "hub_user_email", "local_user",
                "host", "path", "remote_path", "mode", "bytes", "sha256", "attempt",
                "duration_ms", "status"):
        assert key in first, key
    assert first["hub_user_id"] == 9001
    assert first["hub_user_email"] == "jane@example.com"
    assert any(line["event"] == "reconciled" for line in lines)
    assert any(line["event"] == "auth_ok" for line in lines)


async def test_meta_json_is_acknowledged_before_other_module_files(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """In the emulator's request log, every module file upload comes after its meta.json."""
    write_theme(tmp_path / "theme", THEME)
    await build_engine(make_config(accounts=("sandbox",))).push_once()
    uploads = [r.remote_path or "" for r in emulator.requests
               if r.endpoint == "upload"]
    meta = next(i for i, p in enumerate(uploads) if p.endswith("hero.module/meta.json"))
    others = [i for i, p in enumerate(uploads) if "hero.module/" in p and i != meta]
    assert others
    assert all(i > meta for i in others)


async def test_restart_with_nothing_changed_uploads_nothing(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """A second push with no change sends no upload; an edit sends exactly that file."""
    write_theme(tmp_path / "theme", THEME)
    await build_engine(make_config()).push_once()
    emulator.clear_requests()
    summary = await build_engine(make_config()).push_once()
    assert summary.ok
    assert not [r for r in emulator.requests if r.endpoint == "upload"]
    (tmp_path / "theme" / "css" / "main.css").write_text("body { color: blue }")
    summary = await build_engine(make_config()).push_once()
    assert summary.pushed == {"sandbox": 1, "staging": 1}
    assert emulator.files(111)["my-theme/css/main.css"].content == b"body { color: blue }"


async def test_invalid_template_fails_with_line_numbers_and_is_not_retried(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """A HubL error is reported with its line and parked: a second push does not resend it."""
    write_theme(tmp_path / "theme", {"templates/bad.html": "ok\n{{ broken\n"})
    events: list[EngineEvent] = []
    summary = await build_engine(make_config(accounts=("sandbox",)),
                                 on_event=events.append).push_once()
    assert not summary.ok
    assert summary.failures
    assert "line 2" in summary.failures[0].error
    emulator.clear_requests()
    summary = await build_engine(make_config(accounts=("sandbox",))).push_once()
    assert not [r for r in emulator.requests if r.endpoint == "upload"]


async def test_safety_brake_holds_mass_deletes_until_allowed(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """Deleting 30 files holds the deletes (uploads go on); --allow-deletes lets them through."""
    root = tmp_path / "theme"
    write_theme(root, {f"css/f{i}.css": f"a{i}" for i in range(30)} | {"keep.css": "k"})
    await build_engine(make_config(accounts=("sandbox",))).push_once()
    for i in range(30):
        (root / "css" / f"f{i}.css").unlink()
    (root / "keep.css").write_text("k2")
    summary = await build_engine(make_config(accounts=("sandbox",))).push_once()
    assert not summary.ok
    # One delete per synced file: a folder delete would also remove what others put there.
    assert summary.held_deletes["sandbox"] == 30
    assert summary.held_reasons
    files = emulator.files(111)
    assert "my-theme/css/f0.css" in files
    assert files["my-theme/keep.css"].content == b"k2"
    summary = await build_engine(make_config(accounts=("sandbox",)), allow_deletes=True).push_once()
    assert summary.ok, summary
    assert set(emulator.files(111)) == {"my-theme/keep.css"}


async def test_429_storm_pauses_the_account_and_resumes_paced(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """A 429 storm starting mid-push: the account waits for Retry-After, every file still
    arrives, the retries are logged with status 429, and the other account is unaffected."""
    write_theme(tmp_path / "theme", {f"css/s{i}.css": f"s{i}" for i in range(20)})

    def storm_on_first_push(event: EngineEvent) -> None:
        if event.event == "pushed" and not emulator.storm_remaining_s() and not storms:
            storms.append(1)
            emulator.set_faults(storm_seconds=1.0, retry_after=1)

    storms: list[int] = []
    config = make_config(accounts=("sandbox",))
    summary = await build_engine(config, on_event=storm_on_first_push).push_once()
    assert summary.ok, summary
    assert len(emulator.files(111)) == 20
    retrying = [line for line in sync_log(config.settings.state_dir)
                if line["event"] == "retrying"]
    assert retrying
    assert {line["status"] for line in retrying} == {429}
    assert all(int(str(line["retry_in_ms"])) >= 900 for line in retrying)


async def test_learned_rate_limit_keeps_requests_under_the_emulator_limit(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """With the emulator limited to 10 requests per second, the pacer learns the limit from
    the X-HubSpot-RateLimit headers: 40 uploads arrive, with few 429s (a 1 s window
    leaves a margin of one request, so scheduling jitter on a busy machine may cost one
    or two) against the dozens an unpaced client gets."""
    emulator.set_rate_limit(10, 1000)
    write_theme(tmp_path / "theme", {f"css/r{i}.css": f"r{i}" for i in range(40)})
    summary = await build_engine(make_config(accounts=("sandbox",))).push_once()
    assert summary.ok, summary
    assert len(emulator.files(111)) == 40
    too_many = [r for r in emulator.requests if r.status == 429]
    assert len(too_many) <= 5


async def test_dry_run_plans_per_account_and_changes_nothing(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """--dry-run returns each account's plan and sends nothing, writes no sync log."""
    write_theme(tmp_path / "theme", THEME)
    config = make_config()
    summary = await build_engine(config, dry_run=True).push_once()
    assert set(summary.plans) == {("theme", "sandbox"), ("theme", "staging")}
    assert len(summary.plans[("theme", "sandbox")].uploads) == 6
    assert summary.plans[("theme", "sandbox")].uploads[0].endswith("meta.json")
    assert not emulator.files(111)
    assert not [r for r in emulator.requests if r.endpoint == "upload"]
    assert not (config.settings.state_dir / "sync.log").exists()


async def test_a_re_pointed_account_pushes_the_whole_theme_to_its_new_portal(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Push as `sandbox` to portal 111, then point `sandbox` at portal 222 (with that
    portal's key): the next push uploads the whole theme to 222 and says it is the first
    sync there, instead of "everything is in sync" with 222 left empty."""
    write_theme(tmp_path / "theme", THEME)
    first = await build_engine(make_config(accounts=("sandbox",))).push_once()
    assert first.ok, first
    assert len(emulator.files(111)) == 6
    assert not emulator.files(222)

    monkeypatch.setenv(env_var_name("sandbox"), emulator.accounts["staging"].key)
    base = make_config(accounts=("sandbox",))
    moved = replace(base, accounts={**base.accounts,
                                    "sandbox": replace(base.accounts["sandbox"], portal_id=222)})
    events: list[EngineEvent] = []
    second = await build_engine(moved, on_event=events.append).push_once()
    assert second.ok, second
    assert second.pushed == {"sandbox": 6}
    assert set(emulator.files(222)) == set(emulator.files(111))
    reconciled = [e.fields for e in events if e.event == "reconciled"]
    assert reconciled[0]["portal_id"] == 222
    assert "first sync" in str(reconciled[0].get("note", ""))
