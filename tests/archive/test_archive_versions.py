"""Files sent by archive carry their remote version (the extraction's window,
core/extracted.py), so the next push's conflict guard reads metadata and downloads
nothing; a teammate's edit made after the extraction is still caught. And files the
archive path hands back to the per-file loop are guarded once, not twice.
Emulator over HTTP, real files, real SQLite."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from hubsync.app import build_engine
from hubsync.config import Config
from hubsync.core.extracted import window_of
from hubsync.emulator import Emulator
from hubsync.engine import guard
from hubsync.engine.bulk import extracted_version
from hubsync.hubspot import ExtractStatus
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

TEAMMATE = 7777
OURS = 9001
"""The emulator's ``sandbox`` key belongs to user 9001 (tests/conftest.py)."""
FILES = 60
"""Above ARCHIVE_MIN_FILES (50)."""
DOWNLOADS = frozenset({"stream", "v3_download"})
READS = frozenset({"meta", "v3_metadata"})
UPLOADS = frozenset({"upload", "v3_upload"})


def unpaced(config: Config) -> Config:
    """``config`` with hubsync's own budget far above what a test sends: a second push of
    a read and an upload per file would otherwise wait out 100 requests / 10 s."""
    return replace(config, settings=replace(config.settings, rate_limit=10_000))


def changed(theme: dict[str, str]) -> dict[str, str]:
    return {rel: text + "/* changed */\n" for rel, text in theme.items()}


def counts(emulator: Emulator, since: int, kinds: frozenset[str]) -> Counter[str]:
    """remote path -> how many requests of ``kinds`` named it, after request ``since``."""
    return Counter(r.remote_path or "" for r in emulator.requests[since:]
                   if str(r.endpoint) in kinds)


async def first_push_by_archive(root: Path, emulator: Emulator, make_config: MakeConfig,
                                transport: str) -> dict[str, str]:
    theme = css_theme(FILES)
    write_files(root, theme)
    summary = await build_engine(unpaced(make_config(transport=transport))).push_once()
    assert summary.ok
    assert Counter(endpoints(emulator))["extract"] == 1
    return theme


@pytest.mark.parametrize(("transport", "second_bulk"), [
    ("filemapper", "auto"), ("filemapper", "files"), ("source-code", "auto")])
async def test_second_push_after_an_archive_push_downloads_nothing(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig, transport: str,
    second_bulk: str,
) -> None:
    """Every file of an archive push is recorded with the extraction's window; the
    second push of all 60 files changed reads each file's metadata once and downloads
    none (before: one download per file), whether it goes by archive again or file by
    file, on either API (the Source Code API's metadata carries a hash too)."""
    root = tmp_path / "theme"
    theme = await first_push_by_archive(root, emulator, make_config, transport)
    config = make_config(transport=transport)
    with StateStore.open(config.settings.state_dir) as store:
        store.bind({"sandbox": config.accounts["sandbox"].target})
        _, base = store.load()
    windows = {row.rel: window_of(row.remote) for row in base}
    assert set(windows) == set(theme)
    assert all(w is not None and w[0] <= w[1] for w in windows.values()), windows
    second = changed(theme)
    write_files(root, second)
    since = len(emulator.requests)

    summary = await build_engine(unpaced(make_config(bulk=second_bulk, transport=transport))
                                 ).push_once()

    assert summary.ok
    assert not summary.conflicts
    assert Counter(endpoints(emulator)[since:])["extract"] == (second_bulk == "auto")
    assert counts(emulator, since, DOWNLOADS) == Counter()
    reads = counts(emulator, since, READS)
    assert {f"my-theme/{rel}" for rel in theme} <= set(reads)
    assert remote_theme(emulator) == {rel: text.encode() for rel, text in second.items()}
    assert_no_archive_left(emulator)


@pytest.mark.parametrize("transport", ["filemapper", "source-code"])
async def test_the_guard_still_catches_edits_made_after_the_archive_push(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig, transport: str
) -> None:
    """Between an archive push and the next push, a teammate edits one file and the key's
    own user edits another in the Design Manager (same writer id: only the time tells).
    Both are conflicts that keep the remote bytes (downloaded once each, for the kept
    copy); the other 58 files are pushed without a download."""
    root = tmp_path / "theme"
    theme = await first_push_by_archive(root, emulator, make_config, transport)
    bobs, own = "part1/f0001.css", "part2/f0002.css"
    emulator.edit_as(111, f"my-theme/{bobs}", b"/* Bob's edit */\n", user_id=TEAMMATE)
    emulator.edit_as(111, f"my-theme/{own}", b"/* my Design Manager edit */\n",
                     user_id=OURS)
    second = changed(theme)
    write_files(root, second)
    since = len(emulator.requests)
    config = unpaced(make_config(transport=transport))

    summary = await build_engine(config).push_once()

    assert sorted(c.rel for c in summary.conflicts) == sorted([bobs, own])
    assert counts(emulator, since, DOWNLOADS) == Counter(
        {f"my-theme/{bobs}": 1, f"my-theme/{own}": 1})
    remote = remote_theme(emulator)
    assert remote[bobs] == b"/* Bob's edit */\n"
    assert remote[own] == b"/* my Design Manager edit */\n"
    others = {rel: text.encode() for rel, text in second.items() if rel not in (bobs, own)}
    assert {rel: remote[rel] for rel in others} == others
    events = Counter((line["event"], line.get("path"))
                     for line in sync_log(config.settings.state_dir))
    assert events[("conflict", bobs)] == 1
    assert events[("conflict", own)] == 1
    assert events[("pushed", bobs)] == 1
    assert events[("pushed", own)] == 1


@pytest.mark.parametrize("fault", ["refused", "rejected entry"])
async def test_a_released_file_is_guarded_once(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig, fault: str
) -> None:
    """A second push whose archive fails after the guard vetted its files (HubSpot
    refuses the extraction, or refuses one file inside the archive): every file goes
    file by file on the archive's verdict, so each is read exactly once (before: twice)
    and uploaded once."""
    root = tmp_path / "theme"
    theme = await first_push_by_archive(root, emulator, make_config, "filemapper")
    if fault == "refused":
        emulator.set_extract_faults(refuse_status=403)
    else:
        emulator.set_extract_faults(reject_entries=("part0/f0000.css",))
    second = changed(theme)
    write_files(root, second)
    since = len(emulator.requests)

    summary = await build_engine(unpaced(make_config())).push_once()

    assert summary.ok
    expected = Counter({f"my-theme/{rel}": 1 for rel in theme})
    assert counts(emulator, since, READS) == expected
    assert counts(emulator, since, frozenset({"upload"})) == expected
    assert counts(emulator, since, DOWNLOADS) == Counter()
    assert Counter(endpoints(emulator)[since:])["extract"] == 1
    assert remote_theme(emulator) == {rel: text.encode() for rel, text in second.items()}
    assert_no_archive_left(emulator)


async def test_a_stale_verdict_is_read_again(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The archive's verdict stands only for ``CLEARANCE_TTL_S``: with it at 0, every file
    handed back is guarded again by the per-file loop (two reads each): a verdict never
    outlives its freshness."""
    root = tmp_path / "theme"
    theme = await first_push_by_archive(root, emulator, make_config, "filemapper")
    monkeypatch.setattr(guard, "CLEARANCE_TTL_S", 0.0)
    emulator.set_extract_faults(refuse_status=403)
    write_files(root, changed(theme))
    since = len(emulator.requests)

    assert (await build_engine(unpaced(make_config())).push_once()).ok

    assert counts(emulator, since, READS) == Counter(
        {f"my-theme/{rel}": 2 for rel in theme})


def test_the_recorded_window_comes_from_the_tasks_times() -> None:
    """From ``startedAt`` (else ``requestedAt``) to ``completedAt``; no version when the
    task's answer lacks the times, they do not parse, or they run backwards."""
    def status(requested: str | None, started: str | None, completed: str | None
               ) -> ExtractStatus:
        return ExtractStatus("t", "COMPLETE", requested, started, completed)

    a, b, c = "2026-11-30T08:00:00.100Z", "2026-11-30T08:00:00.200Z", "2026-11-30T08:00:01.300Z"
    ms = 1_796_025_600_000  # 2026-11-30T08:00:00Z
    version = extracted_version(status(a, b, c), OURS)
    assert version is not None
    assert window_of(version) == (ms + 200, ms + 1_300)
    assert version.writer_user_id == OURS
    assert window_of(extracted_version(status(a, None, c), None)) == (ms + 100, ms + 1_300)
    assert extracted_version(status(a, b, None), OURS) is None
    assert extracted_version(status(None, None, c), OURS) is None
    assert extracted_version(status(a, "soon", c), OURS) is not None  # requestedAt then
    assert extracted_version(status(a, b, "later"), OURS) is None
    assert extracted_version(status(a, c, b), OURS) is None
