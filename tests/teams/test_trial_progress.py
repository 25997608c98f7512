"""Trial 1, item 11: a push says how it went. An archive push says the files went as one
archive (no absurd files/s); a push that adopts files counts them; a paced push's bar
gives the pacer's remaining time, not rich's guess from the last burst. Subprocesses
against the emulator; the bars are read on a pseudo terminal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.support.processes import HUBSYNC, keys_env
from tests.teams.teams_helpers import User, make_user
from tests.ux.ux_helpers import run_in_pty

pytestmark = pytest.mark.slow

CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def theme(files: int) -> dict[str, str]:
    return {"theme.json": '{"label": "Field"}',
            **{f"css/f{i:03}.css": f"/* {i} */ body {{}}" for i in range(files)}}


def with_settings(user: User, *, bulk: str, extra: str = "") -> None:
    """``user``'s config with ``bulk`` and more ``[settings]`` lines."""
    text = user.config.read_text().replace('bulk = "files"', f'bulk = "{bulk}"')
    user.config.write_text(text.replace("[settings]\n", f"[settings]\n{extra}", 1))


def pty_push(user: User, emu: EmulatorThread) -> tuple[int, str]:
    env = {**keys_env(emu), "COLUMNS": "120", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    code, out = run_in_pty([*HUBSYNC, "--config", str(user.config), "push"], env,
                           timeout=120)
    return code, CSI.sub("", out).replace("\r\n", "\n").replace("\r", "\n")


def test_an_archive_push_says_so(tmp_path: Path, team: EmulatorThread) -> None:
    """61 files with `bulk = "auto"` go as one archive: the summary says "in one archive"
    (and --json counts them), and the bar shows no files/s rate from the burst of
    `pushed` events that end an archive."""
    ann = make_user(tmp_path, team, "ann", theme(60))
    with_settings(ann, bulk="auto")
    code, out = pty_push(ann, team)
    assert code == 0, out
    assert re.search(r"^ann: 61 pushed \([^)]+\) in one archive, 0 deleted", out, re.M), out
    rates = [float(r) for r in re.findall(r"(\d+\.\d) files/s", out)]
    assert all(rate < 1000 for rate in rates), rates

    (ann.root / "css/f000.css").write_text("/* changed */")
    doc = json.loads(ann.run("push", "--json").stdout)
    assert doc["archived"] == {"ann": 0}


def test_a_push_that_adopts_files_counts_them(tmp_path: Path, team: EmulatorThread) -> None:
    """Bob's first push of the theme Ann pushed, with one file of his own: 31 to push,
    1 pushed, and the 30 already there are counted in the summary (and --json)."""
    ann = make_user(tmp_path, team, "ann", theme(29))
    assert ann.run("push").returncode == 0
    bob = make_user(tmp_path, team, "bob", {**theme(29), "css/bob.css": "/* bob */"})
    pushed = bob.run("push")
    assert pushed.returncode == 0, pushed.stderr
    assert "bob: 1 pushed (9 B), 0 deleted, 30 already there (adopted, not uploaded)" \
        in pushed.stdout, pushed.stdout
    (bob.root / "css/bob.css").unlink()
    (bob.root / "css/new.css").write_text("/* new */")
    doc = json.loads(bob.run("push", "--json").stdout)
    assert doc["adopted"] == {"bob": 0}


def test_a_paced_bar_gives_the_pacers_remaining_time(tmp_path: Path,
                                                     team: EmulatorThread) -> None:
    """120 files file by file under 40 requests / 5 s: while the bar says `(paced)`, its
    remaining time is at least what the pacer needs for the files left (at most 40 per
    5 s, so 1/8 s per file), never rich's seconds from the last burst."""
    ann = make_user(tmp_path, team, "ann", theme(119))
    with_settings(ann, bulk="files", extra="rate_limit = 40\nrate_window_ms = 5000\n")
    code, out = pty_push(ann, team)
    assert code == 0, out
    paced = re.findall(r"ann \(paced\) [━╸╺ ]+ +(\d+)/120 \d:\d\d:\d\d left "
                       r"(\d):(\d\d):(\d\d)", out)
    assert paced, out[-3000:]
    for done, hours, minutes, seconds in paced:
        left = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
        needed = (120 - int(done)) * 5 / 40
        assert left >= needed * 0.5 - 1, (done, left, needed)
