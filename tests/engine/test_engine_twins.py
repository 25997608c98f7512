"""The engine in watch mode (and ``push``) on the in-memory twins, driven by a fake clock.

Every timing rule is checked against ``FakeClock`` readings and the twin's request log,
never against wall time: a test moves the clock and waits on ``Rig.quiet`` (every engine
task blocked on the clock, nothing in flight), after which nothing can happen until the
clock moves. See ``twins_helpers`` for the rig.
"""

from __future__ import annotations

from pathlib import Path

from tests.engine.twins_helpers import (
    QUIET_S,
    STEP_S,
    make_rig,
    remote,
    sha,
)

BASE_THEME = {"css/base.css": "body { margin: 0 }"}


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
