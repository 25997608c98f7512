"""Trial 1, items 3 and 4: open conflicts are shown wherever hubsync tells its state:
`status` and `status --json` with nothing running (from the state), a running watch's
`status` headline, and the watch's own header; a save that hits a conflict prints a `≠`
line naming the file and `hubsync resolve`. Ann and Bob as subprocesses on one portal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubsync.emulator import EmulatorThread
from tests.support.processes import wait_until
from tests.teams.teams_helpers import make_user

pytestmark = pytest.mark.slow

THEME = {"css/main.css": "body { color: black }", "templates/home.html": "<h1>home</h1>",
         "theme.json": '{"label": "Field"}'}


def test_conflicts_show_in_status_and_the_watch_header(tmp_path: Path,
                                                       team: EmulatorThread) -> None:
    """Bob changes css/main.css after both synced; Ann's watch gets her save of it as a
    `changed` conflict (a `≠` line with the path and `hubsync resolve`). Stopped, her
    `status` lists it (text and JSON); her next watch says in its header that one
    conflict is open, and `status` of that running watch counts it; a save of the held
    file in that watch says it was not sent (console and sync log)."""
    ann = make_user(tmp_path, team, "ann", THEME)
    bob = make_user(tmp_path, team, "bob", THEME)
    assert ann.run("push").returncode == 0
    assert bob.run("push").returncode == 0
    (bob.root / "css/main.css").write_text("body { color: blue } /* bob */")
    assert bob.run("push").returncode == 0

    with ann.watching(tmp_path / "first.out") as session:
        (ann.root / "css/main.css").write_text("body { color: red } /* ann */")
        wait_until(lambda: bool(ann.log("conflict")), what="Ann's conflict")
        session.wait_for_output("hubsync resolve css/main.css --keep local|remote")
    assert "≠ css/main.css -> ann" in session.output()

    stopped = ann.run("status")
    assert stopped.returncode == 0, stopped.stderr
    assert "1 conflict open" in stopped.stdout
    assert "ann: css/main.css: changed: changed remotely since hubsync last synced it" \
        in stopped.stdout
    as_json = json.loads(ann.run("status", "--json").stdout)
    assert [c["path"] for c in as_json["conflicts"]] == ["css/main.css"]

    with ann.watching(tmp_path / "second.out") as session:
        running = ann.run("status")
        assert "1 conflict open" in running.stdout.splitlines()[1]
        assert "ann: css/main.css: changed" in running.stdout
        # A later save of the held file says it was not sent, and how to decide.
        (ann.root / "css/main.css").write_text("body { color: green } /* ann again */")
        session.wait_for_output("css/main.css skipped: not sent: in conflict")
    assert "watching theme; 1 conflict open, not sent until resolved" in session.output()
    assert [line["path"] for line in ann.log("skipped")] == ["css/main.css"]
