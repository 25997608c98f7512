"""hubsync.journal and `hubsync log`: the attribution sync log on real files."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hubsync import journal, logs
from hubsync.cli import main
from hubsync.commands.log import parse_since
from hubsync.render import format_entry

TOKEN = "CJSP5qf1KhICAQEYs-gDIIGOBii1hQIyGQAf3xBKmlwHjX7OIpu"


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    logs.forget_secrets()


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _push(j: journal.Journal, seq: int, **extra: Any) -> None:
    j.write("pushed", watch="marketing", account="sandbox", portal_id=123, hub_user_id=42,
            hub_user_email="jane@example.com", path=f"templates/p{seq}.html",
            remote_path=f"marketing-theme/templates/p{seq}.html", mode="publish",
            bytes=1200 + seq, sha256="ab" * 32, attempt=1, duration_ms=40, status=200,
            seq=seq, **extra)


def test_write_adds_time_identity_in_schema_order(tmp_path: Path) -> None:
    """Each write is one JSON line with ts (UTC, ms, Z), local_user and host, schema first."""
    log = tmp_path / "state" / "sync.log"
    with journal.Journal(log) as j:
        _push(j, 1)
    (entry,) = _lines(log)
    assert list(entry)[:2] == ["ts", "event"]
    assert entry["event"] == "pushed"
    assert entry["ts"].endswith("Z")
    assert len(entry["ts"]) == len("2026-11-29T10:00:01.234Z")
    stamp = datetime.fromisoformat(entry["ts"])
    assert abs(stamp - datetime.now(UTC)) < timedelta(minutes=1)
    assert entry["local_user"]
    assert entry["host"]
    keys = list(entry)
    assert keys.index("account") < keys.index("local_user") < keys.index("path") < keys.index("seq")
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_unicode_is_written_raw_and_none_fields_are_left_out(tmp_path: Path) -> None:
    """ensure_ascii=False keeps paths readable; None means "not known", so it is omitted."""
    log = tmp_path / "sync.log"
    with journal.Journal(log) as j:
        j.write("pushed", path="thème/café.html", hub_user_email=None)
    assert "thème/café.html" in log.read_text(encoding="utf-8")
    assert "hub_user_email" not in _lines(log)[0]


def test_secret_fields_are_refused_and_secret_values_masked(tmp_path: Path) -> None:
    """A secret-named field is dropped; a registered key inside an error is masked."""
    logs.register_secret("my-private-key-value-123")
    log = tmp_path / "sync.log"
    with journal.Journal(log) as j:
        j.write("auth_failed", account="sandbox", token=TOKEN, access_token="x" * 40,
                error="key my-private-key-value-123 refused", details={"authorization": TOKEN})
    text = log.read_text(encoding="utf-8")
    assert TOKEN not in text
    assert "my-private-key-value-123" not in text
    entry = _lines(log)[0]
    assert "token" not in entry
    assert "access_token" not in entry
    assert entry["error"] == f"key {logs.REDACTED} refused"


def test_concurrent_writers_produce_only_complete_lines(tmp_path: Path) -> None:
    """8 threads writing while the file rotates: every line parses, none is lost."""
    log = tmp_path / "sync.log"
    j = journal.Journal(log, max_bytes=20_000, backups=50)
    per_thread = 300

    def writer(thread: int) -> None:
        for i in range(per_thread):
            j.write("pushed", account=f"a{thread}", path=f"f{i}.css", seq=thread * 10_000 + i)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    j.close()
    files = journal.rotated_paths(log)
    assert len(files) > 3  # it did rotate
    seen = [e["seq"] for e in journal.iter_entries(log)]
    assert sorted(seen) == sorted(t * 10_000 + i for t in range(8) for i in range(per_thread))
    for file in files:
        assert file.stat().st_size <= 20_000


def test_rotation_keeps_backups_and_readers_see_time_order(tmp_path: Path) -> None:
    """Rotation keeps sync.log.1..N (older dropped); iter_entries reads oldest first."""
    log = tmp_path / "sync.log"
    with journal.Journal(log, max_bytes=2_000, backups=2) as j:
        for seq in range(60):
            _push(j, seq)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sync.log", "sync.log.1", "sync.log.2"]
    seqs = [e["seq"] for e in journal.iter_entries(log)]
    assert seqs == sorted(seqs)
    assert seqs[-1] == 59
    assert seqs[0] > 0  # the oldest file was dropped


def test_tail_reads_across_rotated_files(tmp_path: Path) -> None:
    """tail returns the last n matches oldest first, reaching into rotated files."""
    log = tmp_path / "sync.log"
    with journal.Journal(log, max_bytes=1_500, backups=10) as j:
        for seq in range(40):
            _push(j, seq)
            if seq % 10 == 0:
                j.write("failed", account="staging", path=f"bad{seq}.html", status=400,
                        error="line 3: unclosed {%")
    pushed = journal.LogFilter(events=frozenset({"pushed"}))
    assert [e["seq"] for e in journal.tail(log, 25, pushed)] == list(range(15, 40))
    assert [e["event"] for e in journal.tail(log, 2)] == ["pushed", "pushed"]
    failed = journal.tail(log, 3, journal.LogFilter(failed_only=True))
    assert [e["path"] for e in failed] == ["bad10.html", "bad20.html", "bad30.html"]
    assert journal.tail(log, 0) == []


def test_end_offset_bounds_tail_and_iter_entries(tmp_path: Path) -> None:
    """With end=, readers stop at that offset of the live file, where follow then starts."""
    log = tmp_path / "sync.log"
    with journal.Journal(log) as j:
        _push(j, 1)
        boundary = log.stat().st_size
        _push(j, 2)
    assert [e["seq"] for e in journal.tail(log, 5, end=boundary)] == [1]
    assert [e["seq"] for e in journal.iter_entries(log, end=boundary)] == [1]
    stop = threading.Event()
    followed = journal.follow(log, stop=stop, start_offset=boundary)
    assert next(followed)["seq"] == 2
    stop.set()
    followed.close()


def test_tail_skips_a_torn_last_line(tmp_path: Path) -> None:
    """A line cut short by a crash is ignored, not an error."""
    log = tmp_path / "sync.log"
    with journal.Journal(log) as j:
        _push(j, 1)
    with log.open("ab") as raw:
        raw.write(b'{"ts":"2026-11-29T10:00:00.000Z","event":"pus')
    assert [e["seq"] for e in journal.tail(log, 5)] == [1]
    assert [e["seq"] for e in journal.iter_entries(log)] == [1]


def _read_bytes_so_far() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_log_n_on_a_100_mb_log_reads_only_its_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hubsync log -n 20` on a 100 MB log reads kilobytes, not the file (counted by rchar)."""
    log = tmp_path / "sync.log"
    line = json.dumps({"ts": "2026-11-29T10:00:00.000Z", "event": "pushed", "account": "sandbox",
                       "path": "templates/" + "x" * 150 + ".html", "bytes": 1}) + "\n"
    chunk = line.encode() * 4096
    with log.open("wb") as out:
        while out.tell() < 100 * 2**20:
            out.write(chunk)
    with log.open("ab") as out:
        for seq in range(20):
            out.write((json.dumps({"ts": "2026-11-29T11:00:00.000Z", "event": "failed",
                                   "account": "sandbox", "seq": seq}) + "\n").encode())
    main(["log", "--file", str(log), "--json"])  # warm up imports before counting
    capsys.readouterr()
    before = _read_bytes_so_far()
    assert main(["log", "--file", str(log), "-n", "20", "--json"]) == 0
    read = _read_bytes_so_far() - before
    printed = capsys.readouterr().out.splitlines()
    assert [json.loads(p)["seq"] for p in printed] == list(range(20))
    assert read < 1 * 2**20, f"read {read} bytes of a {log.stat().st_size}-byte log"


def test_iter_entries_since_skips_old_rotated_files(tmp_path: Path) -> None:
    """since drops older lines; files whose last line is older are not read at all."""
    log = tmp_path / "sync.log"
    old = {"ts": "2020-01-01T00:00:00.000Z", "event": "pushed", "seq": 0}
    new = {"ts": "2030-01-01T00:00:00.000Z", "event": "pushed", "seq": 1}
    (tmp_path / "sync.log.1").write_text(json.dumps(old) + "\n")
    log.write_text(json.dumps(old) + "\n" + json.dumps(new) + "\n")
    since = datetime(2025, 1, 1, tzinfo=UTC)
    assert [e["seq"] for e in journal.iter_entries(log, since=since)] == [1]
    assert [e["seq"] for e in journal.tail(log, 10, journal.LogFilter(since=since))] == [1]


@pytest.mark.parametrize(
    ("log_filter", "expected"),
    [
        (journal.LogFilter(), [0, 1, 2, 3]),
        (journal.LogFilter(accounts=frozenset({"staging"})), [2, 3]),
        (journal.LogFilter(user="42"), [0, 1]),
        (journal.LogFilter(user="JANE@example.com"), [0, 1]),
        (journal.LogFilter(user="bob@example.com"), [2]),
        (journal.LogFilter(path_glob="templates/*"), [0, 2]),
        (journal.LogFilter(path_glob="theme/css/*.css"), [1]),
        (journal.LogFilter(events=frozenset({"failed", "retrying"})), [2, 3]),
        # A retry is not a failure (it is tried again), whatever its error says.
        (journal.LogFilter(failed_only=True), [2]),
        (journal.LogFilter(accounts=frozenset({"sandbox"}), path_glob="*.css"), [1]),
    ],
)
def test_filters(log_filter: journal.LogFilter, expected: list[int]) -> None:
    """Each filter keeps exactly the lines it names (paths match local or remote path)."""
    entries = [
        {"event": "pushed", "account": "sandbox", "hub_user_id": 42,
         "hub_user_email": "jane@example.com", "path": "templates/home.html", "seq": 0},
        {"event": "deleted", "account": "sandbox", "hub_user_id": 42,
         "hub_user_email": "jane@example.com", "path": "css/a.css",
         "remote_path": "theme/css/a.css", "seq": 1},
        {"event": "failed", "account": "staging", "hub_user_id": 7,
         "hub_user_email": "bob@example.com", "path": "templates/x.html", "seq": 2},
        {"event": "retrying", "account": "staging", "error": "HTTP 503", "seq": 3},
    ]
    assert [e["seq"] for e in entries if log_filter.matches(e)] == expected


def _follow_in_thread(
    log: Path, found: list[dict[str, Any]], stop: threading.Event, want: int
) -> threading.Thread:
    def run() -> None:
        for entry in journal.follow(log, stop=stop, from_start=True, poll_interval=0.01):
            found.append(entry)
            if len(found) >= want:
                stop.set()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_follow_survives_rotation(tmp_path: Path) -> None:
    """A follower sees every line, in order, while a writer thread rotates the file."""
    log = tmp_path / "sync.log"
    total = 120
    found: list[dict[str, Any]] = []
    stop = threading.Event()
    j = journal.Journal(log, max_bytes=3_000, backups=3)
    _push(j, 0)
    follower = _follow_in_thread(log, found, stop, total)

    def writer() -> None:
        for seq in range(1, total):
            _push(j, seq)
            time.sleep(0.005)

    writing = threading.Thread(target=writer)
    writing.start()
    writing.join()
    j.close()
    stop.wait(30)
    stop.set()
    follower.join(10)
    assert len(journal.rotated_paths(log)) == 4  # rotated well past what backups keep
    assert [e["seq"] for e in found] == list(range(total))


def test_follow_reopens_a_truncated_file_and_waits_for_a_missing_one(tmp_path: Path) -> None:
    """follow waits for the file to appear, and starts over when it is truncated."""
    log = tmp_path / "sync.log"
    found: list[dict[str, Any]] = []
    stop = threading.Event()
    follower = _follow_in_thread(log, found, stop, 3)
    time.sleep(0.05)
    log.write_text('{"event":"a"}\n{"event":"b"}\n')
    deadline = time.monotonic() + 10
    while len(found) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    log.write_text('{"event":"c"}\n')  # truncate and rewrite: shorter than before
    follower.join(10)
    stop.set()
    assert [e["event"] for e in found] == ["a", "b", "c"]


def test_follow_holds_back_an_incomplete_line(tmp_path: Path) -> None:
    """A half-written line is yielded only once its newline arrives."""
    log = tmp_path / "sync.log"
    log.write_text("")
    found: list[dict[str, Any]] = []
    stop = threading.Event()
    follower = _follow_in_thread(log, found, stop, 1)
    with log.open("a") as out:
        out.write('{"event":"pus')
        out.flush()
        time.sleep(0.1)
        assert found == []
        out.write('hed"}\n')
    follower.join(10)
    stop.set()
    assert found == [{"event": "pushed"}]


def test_json_output_round_trips_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hubsync log --json` prints exactly the lines the writer wrote."""
    log = tmp_path / "sync.log"
    with journal.Journal(log) as j:
        for seq in range(5):
            _push(j, seq, note="ünïcode ✓", ratio=0.1)
    assert main(["log", "--file", str(log), "--json", "-n", "0"]) == 0
    assert capsys.readouterr().out == log.read_text(encoding="utf-8")


def test_cli_filters_and_plain_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a TTY the human lines carry no colour codes; filters apply to the CLI."""
    log = tmp_path / "sync.log"
    with journal.Journal(log) as j:
        _push(j, 1)
        j.write("failed", account="staging", hub_user_id=7, path="templates/bad.html",
                status=400, error="line 3: unclosed {%", correlation_id="c0ffee")
    assert main(["log", "--file", str(log), "--failed"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out
    assert len(out.splitlines()) == 1
    assert "failed" in out
    assert "staging" in out
    assert "templates/bad.html" in out
    assert "line 3: unclosed {%" in out
    assert "c0ffee" in out
    assert main(["log", "--file", str(log), "--account", "sandbox", "--event", "pushed,held"]) == 0
    assert "templates/p1.html" in capsys.readouterr().out


def test_format_entry_colour_and_details() -> None:
    """The compact line shows account, user, path, size and time; colour only when asked."""
    entry = {"ts": "2026-11-29T10:00:01.234Z", "event": "pushed", "account": "sandbox",
             "hub_user_email": "jane@example.com", "path": "templates/home.html",
             "bytes": 2048, "duration_ms": 42}
    plain = format_entry(entry)
    for part in ("pushed", "sandbox", "jane@example.com", "templates/home.html", "2.0 KB",
                 "42 ms"):
        assert part in plain
    assert "\x1b[" in format_entry(entry, color=True)


def test_parse_since() -> None:
    """--since takes durations and ISO times; naive times are local time."""
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now=now) == now - timedelta(hours=2)
    assert parse_since("30m", now=now) == now - timedelta(minutes=30)
    assert parse_since("1d", now=now) == now - timedelta(days=1)
    assert parse_since("2026-11-29T10:00+00:00") == datetime(2026, 11, 29, 10, tzinfo=UTC)
    local = parse_since("2026-11-29T10:00")
    assert local.tzinfo is not None
    assert local == datetime(2026, 11, 29, 10, 0).astimezone()


def test_log_without_a_file_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With no sync log yet, `hubsync log` says where it looked and exits 0."""
    assert main(["log", "--file", str(tmp_path / "sync.log")]) == 0
    assert "no sync log yet" in capsys.readouterr().err


def test_log_reads_state_dir_from_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --file, the log comes from [settings] state_dir of --config."""
    state = tmp_path / "state"
    config = tmp_path / "config.toml"
    config.write_text(f'[settings]\nstate_dir = "{state}"\n')
    with journal.Journal(state / "sync.log") as j:
        _push(j, 7)
    assert main(["--config", str(config), "log", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["seq"] == 7


def test_log_follow_command_across_rotation(tmp_path: Path) -> None:
    """`hubsync log -f --json` as a process prints new lines across a rotation; Ctrl-C exits 0."""
    log = tmp_path / "sync.log"
    j = journal.Journal(log, max_bytes=4_000, backups=5)
    _push(j, 0)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hubsync", "log", "-f", "--json", "--file", str(log)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()

    def read_lines() -> None:
        for line in proc.stdout or ():
            lines.put(line)

    reader = threading.Thread(target=read_lines)
    reader.start()
    try:
        assert json.loads(lines.get(timeout=30))["seq"] == 0  # the tail part
        for seq in range(1, 16):
            _push(j, seq)
            time.sleep(0.02)
        j.close()
        assert len(journal.rotated_paths(log)) == 2
        seqs = [json.loads(lines.get(timeout=30))["seq"] for _ in range(15)]
        assert seqs == list(range(1, 16))
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(10)
        reader.join(10)
        proc.stdout.close()
    assert code == 0


def test_write_never_raises_on_names_that_are_not_utf8(tmp_path: Path) -> None:
    """A path with surrogate escapes or a newline is written escaped, one valid JSON line."""
    log = tmp_path / "sync.log"
    with journal.Journal(log) as j:
        j.write("skipped", watch="theme", path="css/bad\udcff.css",
                error="cannot read /t/bad\udcff.css", extra={"k\udcfe": ["a\udcfd"]})
        j.write("skipped", watch="theme", path="a\nb.css")
    first, second = _lines(log)
    assert first["path"] == "css/bad\\xff.css"
    assert first["error"] == "cannot read /t/bad\\xff.css"
    assert first["extra"] == {"k\\xfe": ["a\\xfd"]}
    assert second["path"] == "a\nb.css"  # JSON escapes it; the line stays one line
    assert len(log.read_bytes().splitlines()) == 2
