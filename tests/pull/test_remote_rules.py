"""The pure rules shared by pull and two-way watch, and the poller's budget."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hubsync.core.ignore import IgnoreRules
from hubsync.engine.poller import POLL_SHARE, ShareLimiter
from hubsync.model import RateLimitInfo, RemoteMeta, RemoteVersion, SyncedFile
from hubsync.ratelimit import Pacer
from hubsync.remote import Local, Verdict, decide, left_out_reason, write_atomically

BASE_SHA = "a" * 64
LOCAL_SHA = "b" * 64
REMOTE_SHA = "c" * 64


def _meta(updated: int = 2, digest: str | None = None) -> RemoteMeta:
    return RemoteMeta(path="t/x.css", folder=False, created_at_ms=1, updated_at_ms=updated,
                      hash=digest)


def _base(updated: int | None = 1, digest: str | None = None) -> SyncedFile:
    remote = RemoteVersion(updated, digest) if updated is not None or digest else None
    return SyncedFile(account="a", remote_path="t/x.css", watch="w", rel="x.css",
                      sha256=BASE_SHA, remote=remote)


@pytest.mark.parametrize(("local", "base", "meta", "remote_sha", "verdict"), [
    # unchanged on both sides: nothing, without a download
    (BASE_SHA, _base(2), _meta(2), None, Verdict.CURRENT),
    # the Source Code API's hash decides over updatedAt
    (BASE_SHA, _base(1, "h1"), _meta(9, "h1"), None, Verdict.CURRENT),
    (BASE_SHA, _base(2, "h1"), _meta(2, "h2"), REMOTE_SHA, Verdict.WRITE),
    # changed remotely, unchanged locally: comes down
    (BASE_SHA, _base(1), _meta(2), REMOTE_SHA, Verdict.WRITE),
    # the base's remote version unknown (a filemapper push): judged by content
    (BASE_SHA, _base(None), _meta(2), BASE_SHA, Verdict.ADOPT),
    (BASE_SHA, _base(None), _meta(2), REMOTE_SHA, Verdict.WRITE),
    # changed on both sides: local work, never overwritten
    (LOCAL_SHA, _base(1), _meta(2), REMOTE_SHA, Verdict.LOCAL_CHANGE),
    # deleted locally since the sync: local work too
    (None, _base(1), _meta(2), REMOTE_SHA, Verdict.LOCAL_CHANGE),
    # never synced: written when absent, adopted when equal, refused when different
    (None, None, _meta(2), REMOTE_SHA, Verdict.WRITE),
    (REMOTE_SHA, None, _meta(2), REMOTE_SHA, Verdict.ADOPT),
    (LOCAL_SHA, None, _meta(2), REMOTE_SHA, Verdict.LOCAL_CHANGE),
    # both sides made the same change
    (REMOTE_SHA, _base(1), _meta(2), REMOTE_SHA, Verdict.ADOPT),
])
def test_decide(local: str | None, base: SyncedFile | None, meta: RemoteMeta,
                remote_sha: str | None, verdict: Verdict) -> None:
    """Each (local, base, remote) case gets the verdict the docs table gives."""
    assert decide(Local(local), base, meta, remote_sha) is verdict


def test_never_a_write_over_local_work() -> None:
    """Whatever the versions, a local file that differs from both the base and the remote
    is never WRITE or ADOPT."""
    for base in (None, _base(1), _base(None), _base(2, "h")):
        for meta in (_meta(1), _meta(2), _meta(2, "h"), _meta(3, "g")):
            assert decide(Local(LOCAL_SHA), base, meta, REMOTE_SHA) is Verdict.LOCAL_CHANGE


def test_left_out_reason_follows_the_push_rules() -> None:
    """Ignored folders on the way, ignore patterns and unsyncable extensions are left out."""
    rules = IgnoreRules.build("drafts/\n*.scss\n")
    assert left_out_reason("drafts/a/b.html", rules) == ".hsignore"
    assert left_out_reason("css/x.scss", rules) == ".hsignore"
    assert left_out_reason("node_modules/x.js", rules) == "default ignore"
    assert left_out_reason("notes.py", rules) == "extension HubSpot does not sync"
    assert left_out_reason("css/main.css", rules) is None


def test_write_atomically_keeps_the_mode_and_leaves_no_temp(tmp_path: Path) -> None:
    """A replaced file keeps its mode; parents are created; no temp file is left."""
    target = tmp_path / "a" / "b.css"
    write_atomically(tmp_path, "a/b.css", b"one")
    target.chmod(0o640)
    write_atomically(tmp_path, "a/b.css", b"two")
    assert target.read_bytes() == b"two"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["b.css"]


async def test_poller_reads_use_a_tenth_of_the_learned_limit() -> None:
    """The poller's reads are spaced window / (10 % x limit) apart, with the limit the
    pacer learned from HubSpot's headers: 11 reads at 1,000 per second take >= 0.1 s."""
    pacer = Pacer(limit=100, window_s=10.0)
    limiter = ShareLimiter(pacer)
    assert limiter.spacing_s() == pytest.approx(10.0 / (POLL_SHARE * 100))
    pacer.learn(RateLimitInfo(max=1000, interval_ms=1000))
    assert limiter.spacing_s() == pytest.approx(0.01)
    started = time.monotonic()
    for _ in range(11):
        await limiter.acquire()
    assert time.monotonic() - started >= 10 * limiter.spacing_s() - 0.005
