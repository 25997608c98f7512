"""The archive path's failure modes against the emulator over HTTP: a refused extraction,
a file rejected inside the archive, an extraction that never completes. Each batch still
lands file by file, the archive is deleted, and only account refusals are remembered."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from hubsync.app import build_engine
from hubsync.config import Config
from hubsync.emulator import Emulator
from hubsync.engine import bulk
from hubsync.state import BulkRefusal, StateStore
from tests.archive.conftest import MakeConfig
from tests.archive.helpers import (
    assert_no_archive_left,
    css_theme,
    endpoints,
    remote_theme,
    sync_log,
    write_files,
)


def refusals(config: Config) -> dict[str, BulkRefusal]:
    with StateStore.open(config.settings.state_dir) as store:
        store.bind({"sandbox": config.accounts["sandbox"].target})
        return store.bulk_refusals()


def refused_lines(config: Config) -> list[dict[str, object]]:
    return [line for line in sync_log(config.settings.state_dir)
            if line["event"] == "archive_refused"]


@pytest.mark.parametrize("status", [403, 404])
async def test_refused_extraction_falls_back_and_is_remembered(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig, status: int
) -> None:
    """``auto``: extract answers 403/404 -> the batch is uploaded file by file, the
    archive is deleted, the refusal is in the state and the sync log; the next run's large
    batch goes straight to files (no archive stored, no extract)."""
    emulator.set_extract_faults(refuse_status=status)
    theme = css_theme(60)
    write_files(tmp_path / "theme", theme)
    config = make_config()
    summary = await build_engine(config).push_once()
    assert summary.ok, summary
    assert remote_theme(emulator) == {rel: text.encode() for rel, text in theme.items()}
    seen = Counter(endpoints(emulator))
    assert seen["extract"] == 1
    assert seen["upload"] == 60
    assert_no_archive_left(emulator)
    remembered = refusals(config)["sandbox"]
    assert str(status) in remembered.reason or "extract" in remembered.reason
    [line] = refused_lines(config)
    assert line["remembered"] is True
    assert line["account"] == "sandbox"
    assert "extract" in str(line["error"])

    emulator.clear_requests()
    more = css_theme(60, start=1000)
    write_files(tmp_path / "theme", more)
    assert (await build_engine(config).push_once()).ok
    seen = Counter(endpoints(emulator))
    assert seen["extract"] == 0
    assert seen["v3_upload"] == 0
    assert seen["upload"] == 60


async def test_bulk_archive_tries_every_batch_and_says_so(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """``bulk = "archive"``: a refusal is reported (sync log, not remembered) and the
    batch lands file by file; the next run tries the archive again."""
    emulator.set_extract_faults(refuse_status=403)
    write_files(tmp_path / "theme", css_theme(60))
    config = make_config(bulk="archive")
    assert (await build_engine(config).push_once()).ok
    [line] = refused_lines(config)
    assert line["remembered"] is False
    assert line["bulk"] == "archive"
    assert refusals(config) == {}

    emulator.clear_requests()
    emulator.set_extract_faults()
    more = css_theme(60, start=1000)
    write_files(tmp_path / "theme", more)
    assert (await build_engine(config).push_once()).ok
    seen = Counter(endpoints(emulator))
    assert seen["extract"] == 1
    assert seen["upload"] == 0
    assert_no_archive_left(emulator)


async def test_file_rejected_inside_the_archive_fails_alone(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """A bad JSON file inside the archive: HubSpot cancels the extraction (nothing
    stored), the batch goes file by file, every good file lands and the bad one fails with
    its own message; the account is not remembered as refusing archives."""
    theme = css_theme(60)
    write_files(tmp_path / "theme", theme)
    (tmp_path / "theme" / "part1" / "broken.json").write_text('{"label": \n')
    config = make_config()
    summary = await build_engine(config).push_once()
    assert not summary.ok
    assert remote_theme(emulator) == {rel: text.encode() for rel, text in theme.items()}
    failed = [line for line in sync_log(config.settings.state_dir)
              if line["event"] == "failed"]
    assert [line["path"] for line in failed] == ["part1/broken.json"]
    assert "Invalid JSON" in str(failed[0]["error"])
    [task] = emulator.extract_tasks()
    assert task.status == "CANCELED"
    assert_no_archive_left(emulator)
    assert refusals(config) == {}
    assert refused_lines(config) == []


async def test_extraction_that_never_completes_falls_back_after_the_deadline(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The task stays PROCESSING: after the deadline the batch goes file by file, the
    archive is deleted, and the timeout is remembered as the account's refusal."""
    monkeypatch.setattr(bulk, "EXTRACT_DEADLINE_S", 1.5)
    emulator.set_extract_faults(never_complete=True)
    theme = css_theme(60)
    write_files(tmp_path / "theme", theme)
    config = make_config()
    assert (await build_engine(config).push_once()).ok
    assert remote_theme(emulator) == {rel: text.encode() for rel, text in theme.items()}
    seen = Counter(endpoints(emulator))
    assert seen["extract"] == 1
    assert seen["extract_status"] >= 2
    assert seen["upload"] == 60
    assert_no_archive_left(emulator)
    assert "did not complete" in refusals(config)["sandbox"].reason


async def test_an_archive_that_goes_through_forgets_the_refusal(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """A refusal remembered by ``auto`` is forgotten once a push with ``bulk = "archive"``
    gets an archive through: the next ``auto`` push uses the archive again."""
    emulator.set_extract_faults(refuse_status=403)
    write_files(tmp_path / "theme", css_theme(60))
    assert (await build_engine(make_config()).push_once()).ok
    assert "sandbox" in refusals(make_config())
    emulator.set_extract_faults()
    write_files(tmp_path / "theme", css_theme(60, start=1000))
    assert (await build_engine(make_config(bulk="archive")).push_once()).ok
    assert refusals(make_config()) == {}
    emulator.clear_requests()
    write_files(tmp_path / "theme", css_theme(60, start=2000))
    assert (await build_engine(make_config()).push_once()).ok
    assert Counter(endpoints(emulator))["extract"] == 1
