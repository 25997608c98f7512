"""The archive path's failure modes against the emulator over HTTP: a refused extraction,
a file rejected inside the archive, an extraction that never completes. Each batch still
lands file by file, the archive is deleted, and only account refusals are remembered."""

from __future__ import annotations

import pytest

from hubsync.config import Config
from hubsync.emulator import Emulator
from hubsync.engine import bulk
from hubsync.state import BulkRefusal, StateStore
from tests.archive.conftest import MakeConfig
from tests.archive.helpers import (
    assert_landed,
    assert_no_archive_left,
    assert_requests,
    css_theme,
    log_lines,
    push_files,
    push_landed,
)


def refusals(config: Config) -> dict[str, BulkRefusal]:
    with StateStore.open(config.settings.state_dir) as store:
        store.bind({"sandbox": config.accounts["sandbox"].target})
        return store.bulk_refusals()


def refused_lines(config: Config) -> list[dict[str, object]]:
    return log_lines(config, "archive_refused")


@pytest.mark.parametrize("status", [403, 404])
async def test_refused_extraction_falls_back_and_is_remembered(
    emulator: Emulator, make_config: MakeConfig, status: int
) -> None:
    """``auto``: extract answers 403/404 -> the batch is uploaded file by file, the
    archive is deleted, the refusal is in the state and the sync log; the next run's large
    batch goes straight to files (no archive stored, no extract)."""
    emulator.set_extract_faults(refuse_status=status)
    config = make_config()
    await push_landed(config, emulator, css_theme(60))
    assert_requests(emulator, extract=1, upload=60)
    assert_no_archive_left(emulator)
    remembered = refusals(config)["sandbox"]
    assert str(status) in remembered.reason or "extract" in remembered.reason
    [line] = refused_lines(config)
    assert line["remembered"] is True
    assert line["account"] == "sandbox"
    assert "extract" in str(line["error"])

    emulator.clear_requests()
    assert (await push_files(config, css_theme(60, start=1000))).ok
    assert_requests(emulator, extract=0, v3_upload=0, upload=60)


async def test_bulk_archive_tries_every_batch_and_says_so(
    emulator: Emulator, make_config: MakeConfig
) -> None:
    """``bulk = "archive"``: a refusal is reported (sync log, not remembered) and the
    batch lands file by file; the next run tries the archive again."""
    emulator.set_extract_faults(refuse_status=403)
    config = make_config(bulk="archive")
    assert (await push_files(config, css_theme(60))).ok
    [line] = refused_lines(config)
    assert line["remembered"] is False
    assert line["bulk"] == "archive"
    assert refusals(config) == {}

    emulator.clear_requests()
    emulator.set_extract_faults()
    assert (await push_files(config, css_theme(60, start=1000))).ok
    assert_requests(emulator, extract=1, upload=0)
    assert_no_archive_left(emulator)


async def test_file_rejected_inside_the_archive_fails_alone(
    emulator: Emulator, make_config: MakeConfig
) -> None:
    """A bad JSON file inside the archive: HubSpot cancels the extraction (nothing
    stored), the batch goes file by file, every good file lands and the bad one fails with
    its own message; the account is not remembered as refusing archives."""
    theme = css_theme(60)
    config = make_config()
    summary = await push_files(config, {**theme, "part1/broken.json": '{"label": \n'})
    assert not summary.ok
    assert_landed(emulator, theme)
    failed = log_lines(config, "failed")
    assert [line["path"] for line in failed] == ["part1/broken.json"]
    assert "Invalid JSON" in str(failed[0]["error"])
    [task] = emulator.extract_tasks()
    assert task.status == "CANCELED"
    assert_no_archive_left(emulator)
    assert refusals(config) == {}
    assert refused_lines(config) == []


async def test_extraction_that_never_completes_falls_back_after_the_deadline(
    emulator: Emulator, make_config: MakeConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The task stays PROCESSING: after the deadline the batch goes file by file, the
    archive is deleted, and the timeout is remembered as the account's refusal."""
    monkeypatch.setattr(bulk, "EXTRACT_DEADLINE_S", 1.5)
    emulator.set_extract_faults(never_complete=True)
    config = make_config()
    await push_landed(config, emulator, css_theme(60))
    assert assert_requests(emulator, extract=1, upload=60)["extract_status"] >= 2
    assert_no_archive_left(emulator)
    assert "did not complete" in refusals(config)["sandbox"].reason


async def test_an_archive_that_goes_through_forgets_the_refusal(
    emulator: Emulator, make_config: MakeConfig
) -> None:
    """A refusal remembered by ``auto`` is forgotten once a push with ``bulk = "archive"``
    gets an archive through: the next ``auto`` push uses the archive again."""
    emulator.set_extract_faults(refuse_status=403)
    assert (await push_files(make_config(), css_theme(60))).ok
    assert "sandbox" in refusals(make_config())
    emulator.set_extract_faults()
    assert (await push_files(make_config(bulk="archive"), css_theme(60, start=1000))).ok
    assert refusals(make_config()) == {}
    emulator.clear_requests()
    assert (await push_files(make_config(), css_theme(60, start=2000))).ok
    assert_requests(emulator, extract=1)
