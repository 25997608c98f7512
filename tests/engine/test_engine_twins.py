"""The engine in watch mode (and ``push``) on the in-memory twins, driven by a fake clock.

Every timing rule is checked against ``FakeClock`` readings and the twin's request log,
never against wall time: a test moves the clock and waits on ``Rig.quiet`` (every engine
task blocked on the clock, nothing in flight), after which nothing can happen until the
clock moves. See ``twins_helpers`` for the rig.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from pathlib import Path

import pytest

from hubsync.core.brake import DEFAULT_SETTLE_S
from hubsync.engine.commit import STATE_RETRY_S
from hubsync.errors import StateDiskFull
from hubsync.state import AsyncStateStore
from hubsync.testing import DROPPED, MemoryRequest
from tests.engine.twins_helpers import (
    BARRIER_S,
    QUIET_S,
    STEP_S,
    FlakyStore,
    Rig,
    drive,
    make_rig,
    remote,
    sha,
)

BASE_THEME = {"css/base.css": "body { margin: 0 }"}


def attempts(rig: Rig, rel: str) -> list[MemoryRequest]:
    """Every upload request for ``rel``, whatever its answer, oldest first."""
    return [r for r in rig.api.requests if r.op == "upload" and r.remote_path == remote(rel)]


async def test_a_burst_of_saves_settles_into_one_upload_of_the_final_content(
        tmp_path: Path) -> None:
    """Marks on one path within the quiet period restart it; nothing is uploaded until
    the clock passes the quiet period after the last mark; then exactly one upload of
    the final bytes."""
    rig = make_rig(tmp_path, BASE_THEME)
    await rig.start()
    assert len(rig.uploads("css/base.css")) == 1  # the first reconcile
    for i in range(4):
        rig.edit("css/main.css", f"body {{ color: #{i}{i}{i} }}")
        await rig.advance(QUIET_S * 0.8)  # each save comes before the last one settled
    assert rig.uploads("css/main.css") == []
    last_mark = rig.clock.monotonic() - QUIET_S * 0.8
    await rig.advance(last_mark + QUIET_S - rig.clock.monotonic() - STEP_S)
    assert rig.uploads("css/main.css") == []
    await rig.advance(2 * STEP_S)
    uploads = rig.uploads("css/main.css")
    assert len(uploads) == 1
    assert rig.content("css/main.css") == b"body { color: #333 }"
    await rig.finish()
    assert rig.synced()[("sandbox", remote("css/main.css"))] == sha("body { color: #333 }")


async def test_a_file_changed_during_its_upload_is_uploaded_again_with_the_new_content(
        tmp_path: Path) -> None:
    """The twin holds the upload of v1 at a gate; the file is rewritten and settles; on
    release the engine sees its answer is stale and uploads v2 next: two uploads, and the
    base ends with v2's hash."""
    rig = make_rig(tmp_path, BASE_THEME)
    await rig.start()
    gate = rig.api.hold(op="upload", remote_path=remote("css/main.css"))
    rig.edit("css/main.css", "v1 { }")
    await rig.advance(QUIET_S, in_flight=1)
    await gate.reached(1)
    rig.edit("css/main.css", "v2 { }")
    await rig.advance(QUIET_S, in_flight=1)
    assert rig.uploads("css/main.css") == []
    gate.release()
    await rig.quiet()
    uploads = rig.uploads("css/main.css")
    assert len(uploads) == 2
    assert rig.content("css/main.css") == b"v2 { }"
    assert rig.engine is not None
    assert rig.engine.outbox.synced_sha("sandbox", remote("css/main.css")) == sha("v2 { }")
    await rig.finish()
    assert rig.synced()[("sandbox", remote("css/main.css"))] == sha("v2 { }")
    assert rig.pending_rows() == []


async def test_503s_are_retried_at_backoff_times_read_off_the_fake_clock(
        tmp_path: Path) -> None:
    """Three 503s, then success: the attempts are 1, 2 and 4 s apart (exponential backoff
    with the jitter drawn at its top), and nothing is sent before each is due."""
    rig = make_rig(tmp_path, BASE_THEME)
    await rig.start()
    rig.api.fail_next(3, 503, op="upload")
    rig.edit("css/main.css", "a { }")
    await rig.advance(QUIET_S)
    first = attempts(rig, "css/main.css")
    assert [r.status for r in first] == [503]
    t0 = first[0].at
    for gap in (1.0, 2.0, 4.0):
        await rig.advance(gap - STEP_S)
        assert len(attempts(rig, "css/main.css")) == len(first)  # not due yet
        await rig.advance(STEP_S)
        first = attempts(rig, "css/main.css")
    log = attempts(rig, "css/main.css")
    assert [(r.at - t0, r.status) for r in log] == [
        (0.0, 503), (1.0, 503), (3.0, 503), (7.0, 200)]
    assert rig.content("css/main.css") == b"a { }"
    retrying = [e for e in rig.events if e.event == "retrying"]
    assert [e.fields["retry_in_ms"] for e in retrying] == [1000, 2000, 4000]
    await rig.finish()


async def test_an_outage_goes_offline_probes_one_at_a_time_then_sends_everything_due(
        tmp_path: Path) -> None:
    """Connections dropped: the account goes offline and tries one request per second
    (never two at once) while each file's own backoff grows; when the twin answers again
    the probe succeeds and every other file goes out at that same instant, not at its
    backed-off time."""
    rig = make_rig(tmp_path, BASE_THEME)
    await rig.start()
    assert rig.engine is not None
    outage = rig.api.fail_next(1_000_000, DROPPED, op="upload")
    names = [f"css/f{i}.css" for i in range(4)]
    for rel in names:
        rig.edit(rel, f"/* {rel} */")
    await rig.advance(QUIET_S)
    began = rig.clock.time()
    wanted = {remote(rel) for rel in names}

    def tried() -> list[MemoryRequest]:
        # Uploads only: the conflict guard's metadata reads (which the outage does not
        # drop) precede an upload whose earlier attempt left the remote unknown.
        return [r for r in rig.api.requests if r.remote_path in wanted and r.op == "upload"]

    first_round = tried()
    assert len(first_round) == 4
    assert {r.status for r in first_round} == {DROPPED}
    status = rig.account("sandbox")
    assert status.offline
    for _ in range(8):
        before = len(tried())
        await rig.advance(1.0)
        assert len(tried()) - before <= 1  # one probe at a time
    probes = tried()[4:]
    assert len(probes) >= 4
    assert all(b.at - a.at >= 1.0 for a, b in itertools.pairwise(probes))
    backed_off = max(e.due_s for e in rig.engine.outbox.entries("sandbox"))
    outage.remaining = 0  # the server answers again
    await rig.advance(rig.clock.next_deadline() or 0.0)
    back = [r for r in tried() if r.status == 200]
    assert {r.remote_path for r in back} == wanted
    assert len({r.at for r in back}) == 1  # all at the probe's instant
    assert back[0].at < backed_off
    assert back[0].at - began <= 10.0
    status = rig.account("sandbox")
    assert not status.offline
    assert status.pending == 0
    await rig.finish()


async def test_a_paused_account_sends_nothing_while_the_other_goes_on(tmp_path: Path) -> None:
    """``pause("staging")``: a change reaches sandbox only, status says staging is paused
    with the file pending; ``resume`` sends it."""
    rig = make_rig(tmp_path, BASE_THEME, accounts=("sandbox", "staging"))
    engine = await rig.start()
    engine.pause("staging")
    rig.edit("css/main.css", "a { }")
    await rig.advance(QUIET_S)
    await rig.advance(60.0)  # however long it waits
    assert len(rig.uploads("css/main.css", portal=111)) == 1
    assert rig.uploads("css/main.css", portal=222) == []
    staging = rig.account("staging")
    sandbox = rig.account("sandbox")
    assert staging.paused
    assert staging.pending == 1
    assert not sandbox.paused
    assert sandbox.pending == 0
    assert engine.snapshot()["accounts"]["staging"]["paused"] is True
    engine.resume("staging")
    await rig.quiet()
    assert rig.content("css/main.css", "staging") == b"a { }"
    staging = rig.account("staging")
    assert not staging.paused
    assert staging.pending == 0
    await rig.finish()


async def test_apply_config_takes_new_settings_and_reconciles(tmp_path: Path) -> None:
    """A file changed without a watcher event is found by the reconcile that
    ``apply_config`` starts, and the new ``max_deletes`` is the brake's limit."""
    rig = make_rig(tmp_path, BASE_THEME)
    engine = await rig.start()
    rig.edit("css/base.css", "body { margin: 1px }", emit=False)
    await rig.advance(QUIET_S)
    assert len(rig.uploads("css/base.css")) == 1  # unseen so far
    new = replace(rig.config, settings=replace(rig.config.settings, max_deletes=3))
    await engine.apply_config(new)
    await rig.quiet()
    assert len(rig.uploads("css/base.css")) == 2
    assert rig.content("css/base.css") == b"body { margin: 1px }"
    assert engine.outbox.policy.max_deletes == 3
    await rig.finish()


async def test_reload_keys_unblocks_an_account_whose_key_was_rotated(tmp_path: Path) -> None:
    """The key in the lookup is refused: the account is blocked (auth not ok) and its
    files stay pending while the other account is served; the user puts the new key in
    place; ``reload_keys`` unblocks it and the pending work goes at once."""
    rig = make_rig(tmp_path, BASE_THEME, accounts=("sandbox", "staging"),
                   keys={"sandbox": "key-sandbox", "staging": "old-staging-key"})
    rig.api.revoke("key-staging")
    engine = await rig.start()
    await rig.advance(30.0)
    staging = rig.account("staging")
    assert staging.blocked
    assert staging.auth != "ok"
    assert staging.pending == 1
    assert staging.last_error
    assert "old-staging-key" not in str(engine.snapshot())
    assert rig.content("css/base.css", "sandbox") is not None
    assert rig.content("css/base.css", "staging") is None
    new_key = rig.api.add_user(222, 9003, key="new-staging-key")
    rig.keys.keys["staging"] = new_key
    await engine.reload_keys()
    await rig.quiet()
    staging = rig.account("staging")
    assert not staging.blocked
    assert staging.auth == "ok"
    assert staging.pending == 0
    assert rig.content("css/base.css", "staging") == b"body { margin: 0 }"
    await rig.finish()
    assert "new-staging-key" not in (rig.state_dir / "sync.log").read_text()


async def test_flush_returns_once_idle_and_nothing_more_is_requested(tmp_path: Path) -> None:
    """After a change, ``flush()`` settles it at once (no quiet period), returns when it
    is pushed, and then the engine asks HubSpot nothing more, even across the reconcile
    timer and auth rechecks; a dead watcher shows as ``watcher_alive=False``."""
    rig = make_rig(tmp_path, BASE_THEME)
    engine = await rig.start()
    rig.edit("css/main.css", "a { }")
    async with asyncio.timeout(BARRIER_S):
        await engine.flush()
    assert rig.content("css/main.css") == b"a { }"
    requests = len(rig.api.requests)
    await rig.quiet()
    for _ in range(4):
        await rig.advance(100.0)  # past the reconcile timer (300 s) and auth rechecks
    assert len(rig.api.requests) == requests
    assert engine.status().watches[0].watcher_alive is True
    rig.watchers[rig.root].die()
    assert engine.status().watches[0].watcher_alive is False
    assert engine.snapshot()["watches"]["theme"]["watcher_alive"] is False
    await rig.finish()


async def test_deletes_settling_in_several_rounds_are_held_as_one_batch(
        tmp_path: Path) -> None:
    """Three rounds of three deletes, each settled by the watcher but less than
    ``delete_settle_s`` apart: no round goes out alone (each would pass the brake), the
    nine are judged together once quiet, and held with ONE ``held`` event."""
    theme = {f"css/f{i:02}.css": f"/* {i} */" for i in range(12)}
    rig = make_rig(tmp_path, theme, max_deletes=5)
    engine = await rig.start()
    assert len(rig.uploads()) == 12
    gap = 1.0
    for round_ in range(3):
        for i in range(3):
            rig.remove(f"css/f{round_ * 3 + i:02}.css")
        await rig.advance(QUIET_S)  # this round settles: its deletes are queued
        await rig.advance(gap)  # less than delete_settle_s: the batch stays open
    await rig.advance(DEFAULT_SETTLE_S - gap - STEP_S)
    assert [e for e in rig.events if e.event == "held"] == []
    assert rig.api.requests_of("delete") == []
    await rig.advance(2 * STEP_S)  # the batch has been quiet for delete_settle_s
    held = [e for e in rig.events if e.event == "held"]
    assert len(held) == 1
    assert held[0].fields["deletes"] == 9
    assert "more than 5 files" in held[0].fields["reason"]
    await rig.advance(600.0)
    assert rig.api.requests_of("delete") == []
    assert rig.account().held_deletes == 9
    assert engine.release_deletes("sandbox") == 9
    await rig.quiet()
    assert len(rig.api.requests_of("delete")) == 9
    assert len(rig.api.files(portal_id=111)) == 3
    await rig.finish()


async def test_an_unexpected_error_is_retried_a_few_times_then_parked_and_push_ends(
        tmp_path: Path) -> None:
    """The twin raises ValueError for one path: ``push_once`` retries it with backoff a
    bounded number of times, parks it with the error, pushes the rest, ends (it does not
    hang on the fake clock), and lists it as a failure."""
    rig = make_rig(tmp_path, {**BASE_THEME, "css/bad.css": "x { }"})
    rig.api.raise_for(remote("css/bad.css"), lambda: ValueError("header value refused"))
    engine = rig.build()
    work = asyncio.create_task(engine.push_once())
    passed = await drive(rig, work, tasks_on_clock=2)
    summary = work.result()
    assert not summary.ok
    assert [(f.path, f.account) for f in summary.failures] == [("css/bad.css", "sandbox")]
    assert "ValueError: header value refused" in summary.failures[0].error
    assert summary.pushed == {"sandbox": 1}
    tries = [line for line in rig.sync_log() if line.get("path") == "css/bad.css"]
    assert [line["event"] for line in tries] == ["retrying"] * 4 + ["failed"]
    assert tries[-1]["attempt"] == 5
    assert passed == 1.0 + 2.0 + 4.0 + 8.0  # push's backoff, capped at 8 s
    assert rig.pending_rows() == [("sandbox", remote("css/bad.css"), "parked")]


async def test_a_full_disk_stops_sending_until_the_state_can_be_written_again(
        tmp_path: Path) -> None:
    """State writes fail with StateDiskFull: status says so, nothing more is sent while
    they fail, and once the disk has room the queued effects are written and the waiting
    change goes out: nothing is lost."""
    rig = make_rig(tmp_path, BASE_THEME, store_class=FlakyStore)
    engine = await rig.start()
    store = rig.store
    assert isinstance(store, FlakyStore)
    store.full = True
    rig.edit("css/a.css", "a { }")
    await rig.advance(QUIET_S)
    assert store.refused >= 1
    assert rig.uploads("css/a.css") == []  # its row could not be written: not sent
    assert "disk is full" in (engine.status().state_error or "")
    assert engine.snapshot()["state_error"] == engine.status().state_error
    rig.edit("css/b.css", "b { }")
    await rig.advance(QUIET_S)
    await rig.advance(STATE_RETRY_S * 3)  # writes still fail, retried every 5 s
    assert rig.uploads("css/b.css") == []
    assert rig.account().pending >= 1
    store.full = False
    await rig.advance(STATE_RETRY_S)
    assert engine.status().state_error is None
    assert rig.content("css/b.css") == b"b { }"
    assert rig.content("css/a.css") == b"a { }"
    await rig.finish()
    synced = rig.synced()
    assert synced[("sandbox", remote("css/a.css"))] == sha("a { }")
    assert synced[("sandbox", remote("css/b.css"))] == sha("b { }")
    assert rig.pending_rows() == []
    pushed = {line["path"] for line in rig.sync_log() if line["event"] == "pushed"}
    assert pushed >= {"css/a.css", "css/b.css"}


async def test_stopping_while_the_state_cannot_be_written_ends_without_waiting_for_room(
        tmp_path: Path) -> None:
    """A stop while state writes fail ends the session at once (it does not retry the
    write forever, nor wait for the drain timeout); what could not be recorded is found
    again by the next session's reconcile and pushed then."""
    rig = make_rig(tmp_path, BASE_THEME, store_class=FlakyStore)
    await rig.start(drain_timeout_s=BARRIER_S * 10)  # a hang fails the barrier below
    store = rig.store
    assert isinstance(store, FlakyStore)
    store.full = True
    rig.edit("css/b.css", "b { }")
    await rig.advance(QUIET_S)
    assert store.refused >= 1
    await rig.finish()
    assert ("sandbox", remote("css/b.css")) not in rig.synced()
    rig.stop = asyncio.Event()
    rig.store_class = AsyncStateStore
    await rig.start()
    assert rig.content("css/b.css") == b"b { }"
    await rig.finish()
    assert rig.synced()[("sandbox", remote("css/b.css"))] == sha("b { }")


async def test_push_once_raises_state_disk_full_and_sends_nothing_unrecorded(
        tmp_path: Path) -> None:
    """In ``push`` the first failed state write ends the session with StateDiskFull, and
    nothing was sent whose row could not be recorded (``push_once``'s docstring)."""
    rig = make_rig(tmp_path, BASE_THEME, store_class=FlakyStore)
    engine = rig.build()

    async def opened_full(state_dir: Path) -> AsyncStateStore:
        store = await FlakyStore.open(state_dir)
        assert isinstance(store, FlakyStore)
        store.full = True
        rig.store = store
        return store

    engine.adapters = replace(engine.adapters, open_state=opened_full)
    with pytest.raises(StateDiskFull, match="disk is full"):
        async with asyncio.timeout(BARRIER_S):
            await engine.push_once()
    assert rig.uploads() == []


async def test_an_unexpected_error_in_watch_mode_is_parked_and_the_account_goes_on(
        tmp_path: Path) -> None:
    """While watching, a path whose request raises ValueError is tried five times (1, 2,
    4, 8 s apart), then parked with the error (status counts it) and never tried again,
    while another file of the same account still goes out."""
    rig = make_rig(tmp_path, BASE_THEME)
    await rig.start()
    rig.api.raise_for(remote("css/bad.css"), lambda: ValueError("header value refused"))
    rig.edit("css/bad.css", "x { }")
    await rig.advance(QUIET_S)
    for gap in (1.0, 2.0, 4.0, 8.0):
        await rig.advance(gap)
    tries = [e for e in rig.events if e.fields.get("path") == "css/bad.css"]
    assert [e.event for e in tries] == ["retrying"] * 4 + ["failed"]
    assert rig.account().parked == 1
    assert "ValueError" in (rig.account().last_error or "")
    await rig.advance(600.0)
    assert len([e for e in rig.events if e.fields.get("path") == "css/bad.css"]) == 5
    rig.edit("css/good.css", "y { }")
    await rig.advance(QUIET_S)
    assert rig.content("css/good.css") == b"y { }"
    await rig.finish()
    assert rig.pending_rows() == [("sandbox", remote("css/bad.css"), "parked")]
