"""Issues 10 and 13 groundwork, over raw HTTP: what the remote says about its files (times,
hash, last writer, folder children, stream dates), changes made "by another user in the
Design Manager" through the control API, and archive extraction with its faults."""

from __future__ import annotations

import asyncio
import io
import time
import zipfile
from typing import Any

import pytest

from hubsync.emulator import Emulator
from tests.emulator.emulator_wire import Reply, Wire, assert_error_shape
from tests.emulator.test_emulator_source_code import SourceCode

PORTAL = 111
DATED = "/cms/source-code/2026-03"
FAMILIES = [DATED, "/cms/v3/source-code"]


@pytest.fixture
async def sc(emulator: Emulator, wire: Wire) -> SourceCode:
    """Source Code API requests as the ``sandbox`` user (portal 111, user 9001)."""
    return SourceCode(wire, await wire.token(emulator.account("sandbox").key))


def zipped(entries: dict[str, bytes]) -> bytes:
    """A zip archive holding ``entries`` (name -> bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def test_meta_gives_times_writer_and_children(
    wire: Wire, emulator: Emulator, sc: SourceCode
) -> None:
    """Filemapper ``meta/`` of a file: epoch-ms times and ``updatedById`` of the last writer
    (no hash); of a folder: its children by name. The Source Code API adds ``hash``,
    which changes with the content."""
    token = sc.token
    assert token is not None
    before = int(time.time() * 1000)
    assert (await wire.upload(token, PORTAL, "t/css/a.css", b"a{}")).status == 200
    file_meta = (await wire.meta(token, PORTAL, "t/css/a.css")).json()
    assert file_meta["folder"] is False
    assert before <= file_meta["createdAt"] <= file_meta["updatedAt"] <= time.time() * 1000
    assert file_meta["updatedById"] == 9001
    assert "hash" not in file_meta
    folder_meta = (await wire.meta(token, PORTAL, "t")).json()
    assert (folder_meta["folder"], folder_meta["children"]) == (True, ["css"])
    first = (await sc.metadata("published", "t/css/a.css")).json()["hash"]
    await wire.upload(token, PORTAL, "t/css/a.css", b"b{}")
    second = (await sc.metadata("published", "t/css/a.css")).json()
    assert first != second["hash"]
    assert second["createdAt"] == file_meta["createdAt"]


async def test_edit_and_delete_as_another_user(
    wire: Wire, emulator: Emulator, sc: SourceCode
) -> None:
    """``PUT /_emulator/files/{portal}/{path}?user_id=`` writes as that user (meta and
    stream show it); ``DELETE`` removes it; both 400/404 on bad input."""
    token = sc.token
    assert token is not None
    await wire.upload(token, PORTAL, "t/a.css", b"mine{}")
    created = emulator.files(PORTAL)["t/a.css"].created_at_ms
    reply = await wire.raw("PUT", f"/_emulator/files/{PORTAL}/t/a.css?user_id=4242",
                           data=b"theirs{}")
    assert reply.status == 200, reply.body
    meta = (await wire.meta(token, PORTAL, "t/a.css")).json()
    assert (meta["updatedById"], meta["createdAt"]) == (4242, created)
    assert (await wire.stream(token, PORTAL, "t/a.css")).body == b"theirs{}"
    assert (await wire.raw("PUT", f"/_emulator/files/{PORTAL}/t/b.css", data=b"x")).status \
        == 400
    assert (await wire.raw("DELETE", f"/_emulator/files/{PORTAL}/t/a.css")).status == 204
    assert (await wire.stream(token, PORTAL, "t/a.css")).status == 404
    assert (await wire.raw("DELETE", f"/_emulator/files/{PORTAL}/t/a.css")).status == 404


async def _extract(sc: SourceCode, family: str, path: str) -> Reply:
    return await sc.wire.raw("POST", f"{family}/extract/async?portalId={PORTAL}",
                             json={"path": path},
                             headers={"Authorization": f"Bearer {sc.token}"})


async def _status(sc: SourceCode, family: str, task_id: str) -> Reply:
    return await sc.wire.raw("GET", f"{family}/extract/async/tasks/{task_id}/status"
                             f"?portalId={PORTAL}",
                             headers={"Authorization": f"Bearer {sc.token}"})


async def _until_done(sc: SourceCode, family: str, task_id: str) -> dict[str, Any]:
    seen: list[str] = []
    for _ in range(200):
        body: dict[str, Any] = (await _status(sc, family, task_id)).json()
        seen.append(body["status"])
        if body["status"] in ("COMPLETE", "CANCELED"):
            body["seen"] = seen
            return body
        await asyncio.sleep(0.02)
    raise AssertionError(f"extraction never finished: {seen[-5:]}")


@pytest.mark.parametrize("family", FAMILIES)
async def test_extract_unpacks_next_to_the_archive(
    emulator: Emulator, sc: SourceCode, family: str
) -> None:
    """A stored zip is extracted relative to its folder after PENDING/PROCESSING; the task
    reports ISO 8601 times; files are written by the requesting user; the POST counted
    as one request against the rate limit."""
    archive = zipped({"css/a.css": b"a{}", "templates/home.html": b"<p>{{ x }}</p>"})
    assert (await sc.put("published", "theme/bundle.zip", archive)).status == 200
    emulator.set_rate_limit(3)
    started = await _extract(sc, family, "theme/bundle.zip")
    assert started.status == 202, started.body
    assert started.headers["X-HubSpot-RateLimit-Remaining"] == "2"
    task_id = started.json()["id"]
    emulator.set_rate_limit(0)  # polling is not what this test counts
    body = await _until_done(sc, family, task_id)
    emulator.set_rate_limit(3)
    # The window holds the POST and this call only: the two stored entries cost nothing.
    assert (await _status(sc, family, task_id)).headers["X-HubSpot-RateLimit-Remaining"] == "1"
    assert body["status"] == "COMPLETE", body
    assert body["seen"][0] == "PENDING"
    assert body["requestedAt"] <= body["startedAt"] <= body["completedAt"]
    assert body["completedAt"].endswith("Z")
    files = emulator.files(PORTAL)
    assert files["theme/css/a.css"].content == b"a{}"
    assert files["theme/templates/home.html"].user_id == 9001


async def test_extract_rejected_entry_fails_the_task(
    emulator: Emulator, sc: SourceCode
) -> None:
    """An entry HubSpot would refuse (an unclosed HubL tag) cancels the task with that
    entry's error, and nothing of the archive is stored."""
    archive = zipped({"ok.css": b"a{}", "bad.html": b"<p>{{ x </p>"})
    await sc.put("published", "t/b.zip", archive)
    body = await _until_done(sc, DATED, (await _extract(sc, DATED, "t/b.zip")).json()["id"])
    assert body["status"] == "CANCELED"
    assert [error["in"] for error in body["errors"]] == ["bad.html"]
    assert "t/ok.css" not in emulator.files(PORTAL)


@pytest.mark.parametrize("status", [403, 404])
async def test_extract_refusal_knob(emulator: Emulator, sc: SourceCode, status: int) -> None:
    """``refuse_status`` makes every extraction answer 403 (MISSING_SCOPES) or 404."""
    await sc.put("published", "t/b.zip", zipped({"a.css": b"a{}"}))
    reply = await sc.wire.raw("PUT", "/_emulator/extract-faults",
                              json={"refuse_status": status})
    assert reply.status == 200
    assert_error_shape(await _extract(sc, DATED, "t/b.zip"), status)


async def test_extract_reject_and_never_complete_knobs(
    emulator: Emulator, sc: SourceCode
) -> None:
    """``reject_entries`` refuses a named entry (task CANCELED); ``never_complete`` leaves
    a task PROCESSING with nothing stored."""
    await sc.put("published", "t/b.zip", zipped({"a.css": b"a{}", "b.css": b"b{}"}))
    emulator.set_extract_faults(reject_entries=("b.css",), delay_ms=10)
    body = await _until_done(sc, DATED, (await _extract(sc, DATED, "t/b.zip")).json()["id"])
    assert (body["status"], [e["in"] for e in body["errors"]]) == ("CANCELED", ["b.css"])
    emulator.set_extract_faults(never_complete=True, delay_ms=10)
    task_id = (await _extract(sc, DATED, "t/b.zip")).json()["id"]
    for _ in range(100):
        if (await _status(sc, DATED, task_id)).json()["status"] == "PROCESSING":
            break
        await asyncio.sleep(0.02)
    assert (await _status(sc, DATED, task_id)).json()["status"] == "PROCESSING"
    assert "t/a.css" not in emulator.files(PORTAL)


async def test_extract_bad_requests(emulator: Emulator, sc: SourceCode) -> None:
    """A missing archive -> 404, a non-zip -> 400, no body -> 400, an unknown task -> 404,
    a GET on the start path -> 405."""
    await sc.put("published", "t/a.css", b"a{}")
    assert_error_shape(await _extract(sc, DATED, "t/none.zip"), 404)
    assert_error_shape(await _extract(sc, DATED, "t/a.css"), 400)
    no_body = await sc.wire.raw("POST", f"{DATED}/extract/async?portalId={PORTAL}",
                                headers={"Authorization": f"Bearer {sc.token}"})
    assert_error_shape(no_body, 400)
    assert_error_shape(await _status(sc, DATED, "no-such-task"), 404)
    wrong = await sc.wire.raw("GET", f"{DATED}/extract/async?portalId={PORTAL}",
                              headers={"Authorization": f"Bearer {sc.token}"})
    assert_error_shape(wrong, 405)
