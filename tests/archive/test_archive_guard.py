"""The archive path keeps the conflict guard: extraction overwrites whatever is at a
path, so a file a teammate put there must never go into the archive (issue 10 with
issue 13). Emulator over HTTP, real files, real SQLite."""

from __future__ import annotations

from collections import Counter

from hubsync.emulator import Emulator
from tests.archive.conftest import MakeConfig
from tests.archive.helpers import (
    assert_no_archive_left,
    assert_requests,
    css_theme,
    push_files,
    remote_theme,
    sync_log,
)

TEAMMATE = 7777


async def test_first_push_by_archive_leaves_a_teammates_files_alone(
    emulator: Emulator, make_config: MakeConfig
) -> None:
    """A first push of 120 files to a folder where a teammate already stored two of
    them: the one with equal content is adopted, the one that differs is a conflict and
    keeps the teammate's bytes remotely (a copy in the state dir), a remote-only file
    stays, and the other 118 go by one archive."""
    theme = css_theme(120)
    same, different = "part0/f0000.css", "part1/f0001.css"
    emulator.edit_as(111, f"my-theme/{same}", theme[same].encode(), user_id=TEAMMATE)
    emulator.edit_as(111, f"my-theme/{different}", b"/* Bob's version */\n", user_id=TEAMMATE)
    emulator.edit_as(111, "my-theme/part2/bobs-only.css", b"/* only remote */\n",
                     user_id=TEAMMATE)
    config = make_config()

    summary = await push_files(config, theme)

    remote = remote_theme(emulator)
    assert remote[different] == b"/* Bob's version */\n"
    assert remote["part2/bobs-only.css"] == b"/* only remote */\n"
    expected = {rel: text.encode() for rel, text in theme.items() if rel != different}
    assert {rel: remote[rel] for rel in expected} == expected
    assert_requests(emulator, extract=1)
    assert_no_archive_left(emulator)
    events = Counter((line["event"], line.get("path"))
                     for line in sync_log(config.settings.state_dir))
    assert events[("conflict", different)] == 1
    assert events[("pushed", different)] == 0
    assert events[("adopted", same)] == 1
    assert events[("pushed", same)] == 0
    assert [c.rel for c in summary.conflicts] == [different]
    kept = config.settings.state_dir / "conflicts" / "sandbox" / "my-theme" / different
    assert kept.read_bytes() == b"/* Bob's version */\n"
