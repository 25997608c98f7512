"""The archive path of ``Engine.push_once`` against the emulator over HTTP, real files and
real SQLite: a large batch goes as one archive, and falls back file by file on refusal."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from pathlib import Path

import pytest

from hubsync.app import build_engine
from hubsync.emulator import Emulator
from hubsync.engine import bulk
from hubsync.model import Mode
from hubsync.state import StateStore
from tests.archive.conftest import MakeConfig
from tests.archive.helpers import (
    assert_no_archive_left,
    css_theme,
    endpoints,
    remote_theme,
    sync_log,
    write_files,
)

ATTRIBUTION = ("hub_user_id", "hub_user_email", "local_user", "host", "bytes", "sha256",
               "path", "remote_path", "portal_id")


async def test_large_first_push_goes_as_one_archive(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """120 files: one archive stored, one extraction, a few status polls and folder
    listings, the archive deleted; the remote tree equals the local one byte for byte,
    and the sync log has one attributed ``pushed`` line per file, ``via: archive``."""
    theme = css_theme(120)
    write_files(tmp_path / "theme", theme)
    config = make_config()
    summary = await build_engine(config).push_once()
    assert summary.ok, summary
    assert remote_theme(emulator) == {rel: text.encode() for rel, text in theme.items()}
    seen = Counter(endpoints(emulator))
    assert seen["extract"] == 1
    assert seen["upload"] == 0
    assert seen["v3_upload"] == 1
    assert seen["v3_delete"] == 1
    assert seen["delete"] == 0
    assert sum(seen.values()) - seen["auth"] - seen["email"] < 20, seen
    assert_no_archive_left(emulator)
    pushed = [line for line in sync_log(config.settings.state_dir)
              if line["event"] == "pushed"]
    assert Counter(line["path"] for line in pushed) == Counter(theme.keys())
    for line in pushed:
        assert line["via"] == "archive"
        for key in ATTRIBUTION:
            assert line.get(key) is not None, (key, line)
    assert pushed[0]["hub_user_id"] == 9001
    assert summary.pushed == {"sandbox": 120}


async def test_archive_push_writes_the_base_like_per_file_uploads(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """After an archive push the state's base holds every file with its sha256, so the
    next push sends nothing, and a change to one file sends that file alone."""
    theme = css_theme(60)
    write_files(tmp_path / "theme", theme)
    config = make_config()
    assert (await build_engine(config).push_once()).ok
    with StateStore.open(config.settings.state_dir) as store:
        store.bind({"sandbox": config.accounts["sandbox"].target})
        _, base = store.load()
    assert {row.rel for row in base} == set(theme)
    assert all(len(row.sha256) == 64 for row in base)
    emulator.clear_requests()
    (tmp_path / "theme" / "part0/f0000.css").write_text("changed")
    summary = await build_engine(config).push_once()
    assert summary.ok
    assert summary.pushed == {"sandbox": 1}
    assert Counter(endpoints(emulator))["upload"] == 1
    assert "extract" not in endpoints(emulator)


async def test_below_the_threshold_files_go_one_by_one(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """A batch under ``ARCHIVE_MIN_FILES`` uploads file by file: no archive, no extract."""
    theme = css_theme(bulk.ARCHIVE_MIN_FILES - 1)
    write_files(tmp_path / "theme", theme)
    assert (await build_engine(make_config()).push_once()).ok
    seen = Counter(endpoints(emulator))
    assert seen["upload"] == len(theme)
    assert seen["extract"] == 0
    assert seen["v3_upload"] == 0


async def test_bulk_files_never_extracts(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """``bulk = "files"``: a large first push is one upload per file, no archive."""
    theme = css_theme(100)
    write_files(tmp_path / "theme", theme)
    assert (await build_engine(make_config(bulk="files")).push_once()).ok
    seen = Counter(endpoints(emulator))
    assert seen["upload"] == 100
    assert seen["extract"] == 0
    assert seen["v3_upload"] == 0
    assert remote_theme(emulator) == {rel: text.encode() for rel, text in theme.items()}


async def test_draft_watch_never_extracts(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """Extraction writes live files, so a ``draft`` watch uploads file by file."""
    write_files(tmp_path / "theme", css_theme(60))
    assert (await build_engine(make_config(mode=Mode.DRAFT)).push_once()).ok
    seen = Counter(endpoints(emulator))
    assert seen["upload"] == 60
    assert seen["extract"] == 0


async def test_source_code_transport_archives_too(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """With ``transport = "source-code"`` the same batch goes as one archive."""
    theme = css_theme(60)
    write_files(tmp_path / "theme", theme)
    assert (await build_engine(make_config(transport="source-code")).push_once()).ok
    seen = Counter(endpoints(emulator))
    assert seen["extract"] == 1
    assert seen["v3_upload"] == 1
    assert remote_theme(emulator) == {rel: text.encode() for rel, text in theme.items()}
    assert_no_archive_left(emulator)


@pytest.mark.parametrize("modules", [2, 12])
async def test_new_modules_meta_json_is_stored_before_their_files(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig, modules: int
) -> None:
    """New modules' meta.json files are stored (one by one for a few, as an archive of
    their own for many) before the archive holding the modules' other files: the
    emulator marks no module file as written before its meta.json."""
    theme = css_theme(60)
    for m in range(modules):
        theme[f"modules/m{m}.module/meta.json"] = f'{{"label": "Module {m}"}}'
        theme[f"modules/m{m}.module/module.html"] = f"<div>module {m}</div>"
        theme[f"modules/m{m}.module/fields.json"] = "[]"
    write_files(tmp_path / "theme", theme)
    assert (await build_engine(make_config()).push_once()).ok
    stored = emulator.files(111)
    assert {p.removeprefix("my-theme/") for p in stored} == set(theme)
    early = [p for p, f in stored.items() if f.before_meta]
    assert early == []
    seen = Counter(endpoints(emulator))
    if modules < bulk.META_ARCHIVE_MIN:
        assert seen["upload"] == modules
        assert seen["extract"] == 1
    else:
        assert seen["upload"] == 0
        assert seen["extract"] == 2
    assert_no_archive_left(emulator)


async def test_exactly_the_threshold_goes_as_an_archive(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """A batch of exactly ``ARCHIVE_MIN_FILES`` uploads goes as one archive."""
    write_files(tmp_path / "theme", css_theme(bulk.ARCHIVE_MIN_FILES))
    assert (await build_engine(make_config()).push_once()).ok
    seen = Counter(endpoints(emulator))
    assert seen["extract"] == 1
    assert seen["upload"] == 0


async def test_file_changed_during_the_extraction_is_sent_again(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """A file edited while HubSpot extracts the archive: the look after the extraction
    sees new content, so the archived version is not recorded as synced and the new
    content is uploaded on its own; the remote ends with the new content."""
    emulator.set_extract_faults(delay_ms=1500)
    theme = css_theme(60)
    write_files(tmp_path / "theme", theme)
    edited = tmp_path / "theme" / "part2" / "f0002.css"

    async def edit_during_extraction() -> None:
        # The emulator announces no task; its list is polled (waiting FOR it, not a
        # sleep proving that something did not happen).
        while not emulator.extract_tasks():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        edited.write_text("/* edited while extracting */\n")

    editor = asyncio.create_task(edit_during_extraction())
    config = make_config()
    summary = await build_engine(config).push_once()
    await editor
    assert summary.ok, summary
    assert remote_theme(emulator)["part2/f0002.css"] == b"/* edited while extracting */\n"
    lines = [line for line in sync_log(config.settings.state_dir)
             if line["event"] == "pushed" and line["path"] == "part2/f0002.css"]
    assert len(lines) == 1
    assert "via" not in lines[0]
    assert lines[0]["sha256"] == hashlib.sha256(edited.read_bytes()).hexdigest()
    others = [line for line in sync_log(config.settings.state_dir)
              if line["event"] == "pushed" and line.get("via") == "archive"]
    assert len(others) == 59


async def test_changed_theme_goes_as_an_archive_over_the_files_there(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """A branch switch that changes 60 synced files: one archive replaces them; a few
    metadata reads check that the extraction overwrote files that were there."""
    theme = css_theme(60)
    write_files(tmp_path / "theme", theme)
    config = make_config()
    assert (await build_engine(config).push_once()).ok
    emulator.clear_requests()
    switched = {rel: text.replace("body", "main") for rel, text in theme.items()}
    write_files(tmp_path / "theme", switched)
    summary = await build_engine(config).push_once()
    assert summary.ok
    assert summary.pushed == {"sandbox": 60}
    assert remote_theme(emulator) == {rel: text.encode() for rel, text in switched.items()}
    seen = Counter(endpoints(emulator))
    assert seen["extract"] == 1
    assert seen["upload"] == 0
    # The conflict guard reads each synced file before (engine/guard.py); after the
    # extraction: one listing per folder and the overwrite sample.
    assert seen["meta"] == len(switched) + 4 + bulk.OVERWRITE_SAMPLE
    assert_no_archive_left(emulator)
