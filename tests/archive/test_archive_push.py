"""The archive path of ``Engine.push_once`` against the emulator over HTTP, real files and
real SQLite: a large batch goes as one archive, and falls back file by file on refusal."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter

import pytest

from hubsync.emulator import Emulator
from hubsync.engine import bulk
from hubsync.model import Mode
from hubsync.state import StateStore
from tests.archive.conftest import MakeConfig
from tests.archive.helpers import (
    assert_no_archive_left,
    assert_requests,
    css_theme,
    endpoints,
    log_lines,
    push_files,
    push_landed,
    remote_theme,
)

ATTRIBUTION = ("hub_user_id", "hub_user_email", "local_user", "host", "bytes", "sha256",
               "path", "remote_path", "portal_id")


async def test_large_first_push_goes_as_one_archive(
    emulator: Emulator, make_config: MakeConfig
) -> None:
    """120 files: one archive stored, one extraction, a few status polls and folder
    listings, the archive deleted; the remote tree equals the local one byte for byte,
    and the sync log has one attributed ``pushed`` line per file, ``via: archive``."""
    theme = css_theme(120)
    config = make_config()
    summary = await push_landed(config, emulator, theme)
    requests = assert_requests(emulator, extract=1, upload=0, v3_upload=1, v3_delete=1,
                               delete=0)
    assert sum(requests.values()) - requests["auth"] - requests["email"] < 20, requests
    assert_no_archive_left(emulator)
    pushed = log_lines(config, "pushed")
    assert Counter(line["path"] for line in pushed) == Counter(theme.keys())
    for line in pushed:
        assert line["via"] == "archive"
        for key in ATTRIBUTION:
            assert line.get(key) is not None, (key, line)
    assert pushed[0]["hub_user_id"] == 9001
    assert summary.pushed == {"sandbox": 120}


async def test_archive_push_writes_the_base_like_per_file_uploads(
    emulator: Emulator, make_config: MakeConfig
) -> None:
    """After an archive push the state's base holds every file with its sha256, so the
    next push sends nothing, and a change to one file sends that file alone."""
    theme = css_theme(60)
    config = make_config()
    assert (await push_files(config, theme)).ok
    with StateStore.open(config.settings.state_dir) as store:
        store.bind({"sandbox": config.accounts["sandbox"].target})
        _, base = store.load()
    assert {row.rel for row in base} == set(theme)
    assert all(len(row.sha256) == 64 for row in base)
    emulator.clear_requests()
    summary = await push_files(config, {"part0/f0000.css": "changed"})
    assert summary.ok
    assert summary.pushed == {"sandbox": 1}
    assert_requests(emulator, upload=1)
    assert "extract" not in endpoints(emulator)


async def test_below_the_threshold_files_go_one_by_one(
    emulator: Emulator, make_config: MakeConfig
) -> None:
    """A batch under ``ARCHIVE_MIN_FILES`` uploads file by file: no archive, no extract."""
    theme = css_theme(bulk.ARCHIVE_MIN_FILES - 1)
    assert (await push_files(make_config(), theme)).ok
    assert_requests(emulator, upload=len(theme), extract=0, v3_upload=0)


async def test_bulk_files_never_extracts(
    emulator: Emulator, make_config: MakeConfig
) -> None:
    """``bulk = "files"``: a large first push is one upload per file, no archive."""
    await push_landed(make_config(bulk="files"), emulator, css_theme(100))
    assert_requests(emulator, upload=100, extract=0, v3_upload=0)


async def test_draft_watch_never_extracts(
    emulator: Emulator, make_config: MakeConfig
) -> None:
    """Extraction writes live files, so a ``draft`` watch uploads file by file."""
    assert (await push_files(make_config(mode=Mode.DRAFT), css_theme(60))).ok
    assert_requests(emulator, upload=60, extract=0)


async def test_source_code_transport_archives_too(
    emulator: Emulator, make_config: MakeConfig
) -> None:
    """With ``transport = "source-code"`` the same batch goes as one archive."""
    await push_landed(make_config(transport="source-code"), emulator, css_theme(60))
    assert_requests(emulator, extract=1, v3_upload=1)
    assert_no_archive_left(emulator)


@pytest.mark.parametrize("modules", [2, 12])
async def test_new_modules_meta_json_is_stored_before_their_files(
    emulator: Emulator, make_config: MakeConfig, modules: int
) -> None:
    """New modules' meta.json files are stored (one by one for a few, as an archive of
    their own for many) before the archive holding the modules' other files: the
    emulator marks no module file as written before its meta.json."""
    theme = css_theme(60)
    for m in range(modules):
        theme[f"modules/m{m}.module/meta.json"] = f'{{"label": "Module {m}"}}'
        theme[f"modules/m{m}.module/module.html"] = f"<div>module {m}</div>"
        theme[f"modules/m{m}.module/fields.json"] = "[]"
    assert (await push_files(make_config(), theme)).ok
    stored = emulator.files(111)
    assert {p.removeprefix("my-theme/") for p in stored} == set(theme)
    early = [p for p, f in stored.items() if f.before_meta]
    assert early == []
    if modules < bulk.META_ARCHIVE_MIN:
        assert_requests(emulator, upload=modules, extract=1)
    else:
        assert_requests(emulator, upload=0, extract=2)
    assert_no_archive_left(emulator)


async def test_exactly_the_threshold_goes_as_an_archive(
    emulator: Emulator, make_config: MakeConfig
) -> None:
    """A batch of exactly ``ARCHIVE_MIN_FILES`` uploads goes as one archive."""
    assert (await push_files(make_config(), css_theme(bulk.ARCHIVE_MIN_FILES))).ok
    assert_requests(emulator, extract=1, upload=0)


async def test_file_changed_during_the_extraction_is_sent_again(
    emulator: Emulator, make_config: MakeConfig
) -> None:
    """A file edited while HubSpot extracts the archive: the look after the extraction
    sees new content, so the archived version is not recorded as synced and the new
    content is uploaded on its own; the remote ends with the new content."""
    emulator.set_extract_faults(delay_ms=1500)
    config = make_config()
    edited = config.watches[0].src / "part2" / "f0002.css"

    async def edit_during_extraction() -> None:
        # The emulator announces no task; its list is polled (waiting FOR it, not a
        # sleep proving that something did not happen).
        while not emulator.extract_tasks():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        edited.write_text("/* edited while extracting */\n")

    editor = asyncio.create_task(edit_during_extraction())
    summary = await push_files(config, css_theme(60))
    await editor
    assert summary.ok, summary
    assert remote_theme(emulator)["part2/f0002.css"] == b"/* edited while extracting */\n"
    pushed = log_lines(config, "pushed")
    lines = [line for line in pushed if line["path"] == "part2/f0002.css"]
    assert len(lines) == 1
    assert "via" not in lines[0]
    assert lines[0]["sha256"] == hashlib.sha256(edited.read_bytes()).hexdigest()
    others = [line for line in pushed if line.get("via") == "archive"]
    assert len(others) == 59


async def test_changed_theme_goes_as_an_archive_over_the_files_there(
    emulator: Emulator, make_config: MakeConfig
) -> None:
    """A branch switch that changes 60 synced files: one archive replaces them; a few
    metadata reads check that the extraction overwrote files that were there."""
    theme = css_theme(60)
    config = make_config()
    assert (await push_files(config, theme)).ok
    emulator.clear_requests()
    switched = {rel: text.replace("body", "main") for rel, text in theme.items()}
    summary = await push_landed(config, emulator, switched)
    assert summary.pushed == {"sandbox": 60}
    requests = assert_requests(emulator, extract=1, upload=0)
    # The conflict guard reads each synced file before (engine/guard.py); after the
    # extraction: one listing per folder and the overwrite sample.
    assert requests["meta"] == len(switched) + 4 + bulk.OVERWRITE_SAMPLE
    assert_no_archive_left(emulator)
