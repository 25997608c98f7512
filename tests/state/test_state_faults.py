"""The state under a hostile world: a full disk, a second process writing, a process
killed mid-transaction. Real files, real subprocesses, a real tmpfs where permitted."""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubsync.core.effects import Effects
from hubsync.errors import EX_TEMPFAIL, StateDiskFull
from hubsync.model import OpKind, OutboxEntry, SyncedFile, Target
from hubsync.state import STATE_FILE, StateStore

TARGETS = {"sandbox": Target(111, "https://api.hubapi.com")}

# Run by the subprocess tests with the state dir as argv[1]: one bound store, and effects
# of ten base rows of ~700 bytes each.
PRELUDE = """
import json, sys, time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from hubsync.core.effects import Effects
from hubsync.errors import StateError
from hubsync.model import SyncedFile, Target
from hubsync.state import StateStore
state_dir = Path(sys.argv[1])
store = StateStore.open(state_dir)
store.bind({"sandbox": Target(111, "https://api.hubapi.com")})
def batch(tag, i):
    return Effects(synced=[SyncedFile("sandbox", f"theme/{tag}/{i}/{j}", "main", f"{j}",
                                      "x" * 64 + str(j) * 600, 700, 1.0) for j in range(10)])
"""


def run_python(script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, timeout=timeout, check=False)


@contextlib.contextmanager
def started(script: str, state_dir: Path, **pipes: Any) -> Iterator[subprocess.Popen[str]]:
    """``python -c script state_dir`` with stdout piped (and ``pipes``); killed at exit
    if still running."""
    with subprocess.Popen([sys.executable, "-c", script, str(state_dir)],
                          stdout=subprocess.PIPE, text=True, **pipes) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


def integrity(state_dir: Path) -> str:
    db = sqlite3.connect(state_dir / STATE_FILE)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
                           capture_output=True, check=False)
    return probe.returncode == 0


FILL_DISK = PRELUDE + """
done = 0
try:
    for i in range(100000):
        store.apply(batch("fill", i))
        done += 1
except StateError as exc:
    error = exc
filler = state_dir.parent / "filler"
kept = store.counts()["sandbox"].synced
filler.unlink()  # space is back
store.apply(batch("after", 0))
store.close()
print(json.dumps({"kind": type(error).__name__, "message": str(error),
                  "exit_code": error.exit_code, "done": done, "kept": kept}))
"""


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="needs `unshare -rm` to mount a tmpfs")
def test_a_full_disk_is_state_disk_full(tmp_path: Path) -> None:
    """On a real full disk (a 512 KiB tmpfs, mostly taken by a filler file) apply raises
    StateDiskFull saying "disk full" and naming the state dir, with exit code 75; every
    apply before it is intact, none is half-written, and writes work again once space is
    freed (the disk is real: ENOSPC from the kernel, SQLITE_FULL from SQLite)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    where = shlex.quote(str(mount))
    shell = (f"mount -t tmpfs -o size=512k tmpfs {where} && "
             f"head -c 300000 /dev/zero > {where}/filler && "
             f"exec {shlex.quote(sys.executable)} -c \"$0\" {where}/state")
    # The tmpfs exists only in the child's mount namespace: all checks run in there.
    check = FILL_DISK + textwrap.dedent("""
        import sqlite3
        db = sqlite3.connect(state_dir / "state.db")
        print(db.execute("PRAGMA integrity_check").fetchone()[0])
    """)
    result = subprocess.run(["unshare", "-rm", "sh", "-c", shell, check],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    report_line, integrity_line = result.stdout.splitlines()
    report = json.loads(report_line)
    assert report["kind"] == "StateDiskFull"
    assert report["message"].startswith("disk full: ")
    assert f"{mount}/state" in report["message"]
    assert report["exit_code"] == EX_TEMPFAIL
    assert report["done"] >= 1
    assert report["kept"] == 10 * report["done"]
    assert integrity_line == "ok"


def test_sqlite_full_from_a_page_limit_is_disk_full_and_atomic(tmp_path: Path) -> None:
    """SQLITE_FULL however it arises (here ``PRAGMA max_page_count``, portable) is
    StateDiskFull, the failed apply leaves nothing behind, and a later apply works once
    there is room."""
    store = StateStore.open(tmp_path)
    try:
        store.bind(TARGETS)
        store.apply(Effects(synced=[SyncedFile("sandbox", "theme/kept", "main", "kept", "k")]))
        pages = int(store._db.execute("PRAGMA page_count").fetchone()[0])
        store._db.execute(f"PRAGMA max_page_count = {pages + 2}")
        big = Effects(
            upsert=[OutboxEntry("sandbox", "theme/new", "main", "new", OpKind.UPLOAD, "n")],
            synced=[SyncedFile("sandbox", f"theme/{i}", "main", str(i), "x" * 2000)
                    for i in range(100)])
        with pytest.raises(StateDiskFull, match=f"disk full: .*{tmp_path}"):
            store.apply(big)
        entries, base = store.load()
        assert entries == []
        assert [r.rel for r in base] == ["kept"]
        store._db.execute("PRAGMA max_page_count = 1073741823")
        store.apply(big)
        assert store.counts()["sandbox"].synced == 101
    finally:
        store.close()
    assert integrity(tmp_path) == "ok"


HOLD_LOCK = PRELUDE + """
with store._transaction("hold the write lock") as db:
    db.execute("INSERT INTO auth_status (account, state, checked_at_s) "
               "VALUES ('holder', 'ok', 1)")
    print("locked", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""

WRITE_AFTER = PRELUDE + """
print("applying", flush=True)
began = time.monotonic()
store.apply(batch("second", 0))
print(json.dumps({"waited_s": time.monotonic() - began}), flush=True)
"""


def test_a_second_process_waits_for_the_write_lock(tmp_path: Path) -> None:
    """While one process holds a write transaction, another's apply waits on the busy
    timeout (it does not fail), then commits after it; both writes are there and the
    file is intact."""
    StateStore.open(tmp_path).close()
    with StateStore.open(tmp_path) as setup:
        setup.bind(TARGETS)  # the target row exists, so the writers' bind only reads
    with contextlib.ExitStack() as stack:
        holder = stack.enter_context(started(HOLD_LOCK, tmp_path, stdin=subprocess.PIPE))
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "locked"
        writer = stack.enter_context(started(WRITE_AFTER, tmp_path, stderr=subprocess.PIPE))
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "applying"
        time.sleep(0.5)  # the lock is held this long after the writer began its apply
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        out, err = writer.communicate(timeout=30)
        assert writer.returncode == 0, err
        assert json.loads(out)["waited_s"] >= 0.4
    with StateStore.open(tmp_path) as store:
        store.bind(TARGETS)
        assert store.counts()["sandbox"].synced == 10
        assert list(store.auth_statuses()) == ["holder"]
    assert integrity(tmp_path) == "ok"


CONCURRENT = PRELUDE + """
for i in range(100):
    store.apply(batch(sys.argv[2], i))
store.close()
"""


def test_two_writing_processes_lose_nothing(tmp_path: Path) -> None:
    """Two processes applying 100 transactions each at the same time: every row of both
    is there and the database passes its integrity check."""
    with StateStore.open(tmp_path) as setup:
        setup.bind(TARGETS)
    processes = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(tmp_path), tag],
                                  stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    with StateStore.open(tmp_path) as store:
        store.bind(TARGETS)
        assert store.counts()["sandbox"].synced == 2 * 100 * 10
    assert integrity(tmp_path) == "ok"


KILLED_BODY = """
store.apply(batch("kept", 0))
with store._transaction("test") as db:
    db.execute("DELETE FROM synced")
    print("mid-transaction", flush=True)
    time.sleep(60)
"""
KILLED = PRELUDE + KILLED_BODY


def test_killed_mid_transaction_leaves_last_commit(tmp_path: Path) -> None:
    """SIGKILL of a process mid-transaction loses only that transaction."""
    with subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path)],
                          stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "mid-transaction"
        finally:
            child.kill()
    with StateStore.open(tmp_path) as reopened:
        reopened.bind(TARGETS)
        assert reopened.counts()["sandbox"].synced == 10
    assert integrity(tmp_path) == "ok"
