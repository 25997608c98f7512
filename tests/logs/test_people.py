"""The user directory (hubsync.people) on real state folders: which email a HubSpot user id
has, learned from key checks and sync log lines; `hubsync log --user` and the names a
remote writer is shown by, on real log files."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from hubsync import journal
from hubsync.cli import main
from hubsync.console import pulled_text, render
from hubsync.engine import EngineEvent
from hubsync.errors import EX_USAGE, UsageError
from hubsync.model import AuthState, Identity
from hubsync.people import Directory, LazyDirectory
from hubsync.render import format_entry
from hubsync.state import AuthStatus, StateStore

ANN, BOB, CARL = 7001, 7002, 7003


def _write(log: Path, *entries: dict[str, Any]) -> None:
    with journal.Journal(log) as j:
        for entry in entries:
            fields = dict(entry)
            j.write(fields.pop("event"), **fields)


def _conflict(writer: int, rel: str = "css/main.css", **extra: Any) -> dict[str, Any]:
    return {"event": "conflict", "account": "ann", "portal_id": 333, "hub_user_id": ANN,
            "hub_user_email": "ann@example.com", "path": rel, "remote_path": f"t/{rel}",
            "kind": "changed", "remote_user_id": writer, **extra}


def test_directory_learns_from_log_lines_and_key_checks(tmp_path: Path) -> None:
    """Every source counts: a pushed line's id and email (written by the journal, field
    order and all), a hand-written line with the email far from its id, a key check in
    state.db (with its account name), a writer id without email; a torn line adds
    nobody; for a renamed user the later email wins, whichever source said it."""
    log = tmp_path / "sync.log"
    _write(log, {"event": "pushed", "account": "ann", "hub_user_id": ANN,
                 "hub_user_email": "ann@old.example.com", "path": "a.css"},
           _conflict(CARL))
    with log.open("a") as out:
        out.write(json.dumps({"hub_user_email": "bob@example.com", "event": "pushed",
                              "ts": "2026-01-01T00:00:00.000Z", "hub_user_id": BOB}) + "\n")
        out.write('{"ts":"2026-01-01T00:00:01.000Z","hub_user_id":9,"hub_user_email":"x@')
    with StateStore.open(tmp_path) as store:
        store.record_auth("annsbox", AuthStatus(AuthState.OK, time.time() + 60, Identity(
            hub_id=444, user_id=ANN, email="ann@example.com")))

    directory = Directory.load(tmp_path)
    assert directory.emails == {ANN: "ann@example.com", BOB: "bob@example.com"}
    assert directory.ids == {ANN, BOB, CARL}
    assert directory.accounts == {"annsbox": ANN}
    assert directory.name(BOB) == "bob@example.com (user 7002)"
    assert directory.name(CARL) == "user 7003"
    assert directory.ids_of("BOB@Example.com") == {BOB}


def test_an_older_key_check_does_not_replace_a_newer_log_email(tmp_path: Path) -> None:
    """The log says Ann is ann@new.example.com after her key check said ann@example.com:
    the newer fact wins."""
    with StateStore.open(tmp_path) as store:
        store.record_auth("ann", AuthStatus(AuthState.OK, 1_000_000_000.0, Identity(
            hub_id=333, user_id=ANN, email="ann@example.com")))
    _write(tmp_path / "sync.log", {"event": "pushed", "hub_user_id": ANN,
                                   "hub_user_email": "ann@new.example.com"})
    assert Directory.load(tmp_path).email_of(ANN) == "ann@new.example.com"


def test_load_creates_nothing_and_survives_a_foreign_state_file(tmp_path: Path) -> None:
    """A folder with no state and no log gives an empty directory and stays empty; a
    state.db that is not a database adds nobody instead of failing."""
    assert Directory.load(tmp_path / "none").ids == set()
    assert not (tmp_path / "none").exists()
    (tmp_path / "state.db").write_text("not a database")
    _write(tmp_path / "sync.log", _conflict(BOB))
    assert Directory.load(tmp_path).ids == {ANN, BOB}


def test_resolve_ids_always_emails_when_known_and_suggests() -> None:
    """An id is accepted known or not (with its email when known); a known email in any
    case; an unknown email, an account name or a bare local part is a usage error (exit
    64) that suggests the right email and lists the known ones."""
    directory = Directory()
    directory.learn(BOB, "Bob@Example.com")
    directory.learn(ANN, "ann@example.com")
    directory.accounts["bobsbox"] = BOB
    assert directory.resolve("7002").names() == {"7002", "bob@example.com"}
    assert directory.resolve("9999").names() == {"9999"}
    assert directory.resolve("BOB@example.COM").names() == {"7002", "bob@example.com"}
    for given, suggested in (("bobsbox", "bob@example.com"), ("bob", "bob@example.com"),
                             ("ann@exmaple.com", "ann@example.com")):
        with pytest.raises(UsageError) as raised:
            directory.resolve(given)
        assert raised.value.exit_code == EX_USAGE
        message = str(raised.value)
        assert f"--user {given!r}: no user of that name; did you mean {suggested!r}?" \
            in message
        assert "known emails: ann@example.com, bob@example.com" in message


@pytest.mark.parametrize("event", ["conflict", "pulled", "adopted"])
def test_filter_finds_the_remote_writer_by_id_and_by_directory_names(event: str) -> None:
    """A line whose remote version Bob wrote matches Bob's id, and his email only through
    the directory's names; the actor (Ann) matches too; Carl does not."""
    entry = {**_conflict(BOB), "event": event}
    assert journal.LogFilter(user=str(BOB)).matches(entry)
    assert not journal.LogFilter(user="bob@example.com").matches(entry)
    assert journal.LogFilter(user="bob@example.com",
                             user_names=frozenset({"bob@example.com", "7002"})).matches(entry)
    assert journal.LogFilter(user="ANN@example.com").matches(entry)
    assert not journal.LogFilter(user=str(CARL)).matches(entry)


def _log_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["log", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_log_json_adds_the_writers_email_and_keeps_other_lines_byte_for_byte(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`log --user bob@example.com --json` keeps Bob's push and the conflict he caused
    (not Ann's push); the conflict line gets `remote_user_email` at its end, and the
    lines are otherwise the written ones byte for byte; a writer nobody knows gets no
    email. The human line shows Bob's email in the user column."""
    log = tmp_path / "sync.log"
    _write(log, {"event": "pushed", "account": "ann", "hub_user_id": ANN,
                 "hub_user_email": "ann@example.com", "path": "a.css"},
           {"event": "pushed", "account": "bobsbox", "hub_user_id": BOB,
            "hub_user_email": "bob@example.com", "path": "b.css"},
           _conflict(BOB), _conflict(CARL, "c.css"))
    written = log.read_text(encoding="utf-8").splitlines()

    code, out, _ = _log_cli(["--file", str(log), "--user", "bob@example.com", "--json",
                             "-n", "0"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == written[1]
    assert lines[1] == written[2][:-1] + ',"remote_user_email":"bob@example.com"}'
    assert len(lines) == 2

    code, out, _ = _log_cli(["--file", str(log), "--json", "-n", "0"], capsys)
    assert out.splitlines()[3] == written[3]  # Carl: nobody knows his email

    code, out, _ = _log_cli(["--file", str(log), "--event", "conflict"], capsys)
    bobs, carls = out.splitlines()
    assert "bob@example.com" in bobs
    assert "user 7003" in carls


def test_log_user_unknown_email_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An email no line and no key check names: exit 64, the closest known email, and
    the way forward (an id, or a key check); an unseen id is fine (nothing printed)."""
    log = tmp_path / "sync.log"
    _write(log, {"event": "pushed", "hub_user_id": ANN, "hub_user_email": "ann@example.com"})
    code, out, err = _log_cli(["--file", str(log), "--user", "ann@exampel.com"], capsys)
    assert code == EX_USAGE
    assert out == ""
    assert "did you mean 'ann@example.com'?" in err
    assert "hubsync auth test NAME" in err
    code, out, err = _log_cli(["--file", str(log), "--user", "4242"], capsys)
    assert (code, out, err) == (0, "", "")


def test_log_does_not_scan_for_names_it_does_not_need(tmp_path: Path) -> None:
    """The lazy directory loads only for a writer no line shown so far names: a line
    with a known writer, or none, does not load it; a loaded one learns from each line
    it is shown (`log -f`)."""
    loads: list[int] = []

    def load() -> Directory:
        loads.append(1)
        found = Directory()
        found.learn(CARL, "carl@example.com")
        return found

    names = LazyDirectory(load)
    names.see({"event": "pushed", "hub_user_id": BOB, "hub_user_email": "bob@example.com"})
    names.see(_conflict(BOB))
    assert loads == []
    assert names.see(_conflict(CARL)).email_of(CARL) == "carl@example.com"
    assert names.see({"event": "auth_ok", "hub_user_id": 8, "hub_user_email": "d@x.io"}) \
        .email_of(8) == "d@x.io"
    assert names.get().email_of(BOB) == "bob@example.com"  # seen before the load: kept
    assert loads == [1]


def test_console_and_log_name_a_known_writer_by_email() -> None:
    """The console's conflict line says "by bob@example.com (user 7002)" with a directory
    that knows him and "by user 7002" without; a pulled line "written by
    bob@example.com (user 7002)", "written by you (user 7001)" for the key's own user,
    the account after the writer."""
    directory = Directory()
    directory.learn(BOB, "bob@example.com")
    conflict = EngineEvent("conflict", _conflict(BOB, remote_updated_at="2026-11-29T10:00Z"))
    assert "css/main.css -> ann: changed by bob@example.com (user 7002) at " in (
        render(conflict, directory) or "")
    assert "changed by user 7002 at " in (render(conflict) or "")
    pulled = {"hub_user_id": ANN, "remote_user_id": BOB, "path": "a.css", "account": "ann"}
    assert pulled_text(pulled, directory) == \
        "a.css: written by bob@example.com (user 7002); pulled via account ann"
    assert pulled_text(pulled) == "a.css: written by user 7002; pulled via account ann"
    assert pulled_text({**pulled, "remote_user_id": ANN}, directory) == \
        "a.css: written by you (user 7001); pulled via account ann"
    assert "bob@example.com" in format_entry(_conflict(BOB), people=directory)
    assert "user 7002" in format_entry(_conflict(BOB))
