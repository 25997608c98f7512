"""The conflict guard under both outcomes of an undocumented fact: whether a filemapper
upload's answer carries the stored file's metadata (hubspot-api.md §3: "the body is not
relied on"). With an empty answer, hubsync learns the version it wrote by one metadata
read, and a teammate's later change is still caught. Emulator over HTTP, real files and
SQLite."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from hubsync.app import build_engine
from hubsync.config import Account, Config, Settings, Watch
from hubsync.credentials import env_var_name
from hubsync.emulator import Emulator

BOB = 7002


def _config(tmp_path: Path, emulator: Emulator) -> Config:
    return Config(
        path=tmp_path / "config.toml",
        settings=Settings(state_dir=tmp_path / "state", debounce_ms=50),
        accounts={"sandbox": Account("sandbox", 111, api_base=emulator.url,
                                     bulk="files")},
        watches=(Watch(name="theme", src=tmp_path / "theme", dest="my-theme",
                       accounts=("sandbox",)),),
    )


@pytest.mark.parametrize("answer_meta", [True, False], ids=["answer-meta", "answer-empty"])
async def test_a_teammates_change_is_caught_whatever_the_upload_answers(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, answer_meta: bool
) -> None:
    """Push, a teammate edits the file remotely, a local edit, push again: the second push
    keeps the teammate's bytes and records a conflict. With an empty upload answer, the
    first push read the file's metadata once after writing it; with metadata in the
    answer, it read nothing more."""
    monkeypatch.setenv(env_var_name("sandbox"), emulator.accounts["sandbox"].key)
    emulator.set_upload_answer(meta=answer_meta)
    theme = tmp_path / "theme"
    theme.mkdir()
    (theme / "main.css").write_text("body { color: red }\n")
    config = _config(tmp_path, emulator)

    first = await build_engine(config).push_once()
    assert first.ok, first
    reads_after_write = Counter((str(r.endpoint), r.remote_path)
                                for r in emulator.requests)[("meta", "my-theme/main.css")]
    assert reads_after_write == (0 if answer_meta else 1)

    emulator.edit_as(111, "my-theme/main.css", b"body { color: blue } /* Bob */\n",
                     user_id=BOB)
    (theme / "main.css").write_text("body { color: green }\n")
    second = await build_engine(config).push_once()

    stored = emulator.files(111)["my-theme/main.css"].content
    assert stored == b"body { color: blue } /* Bob */\n"
    assert [(c.rel, str(c.kind)) for c in second.conflicts] == [("main.css", "changed")]
