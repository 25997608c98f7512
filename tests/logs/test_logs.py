"""hubsync.logs: rendering per mode, journald detection, and redaction everywhere."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from hubsync import logs

SECRET = "pat-na1-0f4c2a9e-1b7d-4e3a-9c55-7d2f8e6a1b90"
REGISTERED = "rt-Zq9Lm2Xv8Pw4Kd7Hs1Nc"  # short, not token-shaped: only registration hides it
BEARER = "CJSP5qf1KhICAQEYs-gDIIGOBii1hQIyGQAf3xBKmlwHjX7OIpu"
MODES = ("json", "console", "journal", "human")


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "hubsync"]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    logs.forget_secrets()
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()


def _configure(mode: logs.LogMode, *, debug: bool = False) -> io.StringIO:
    stream = io.StringIO()
    logs.configure(debug=debug, mode=mode, stream=stream)
    return stream


def _fail_with_secret_local() -> None:
    token = SECRET  # a frame local: dict tracebacks would print it with show_locals
    authorization = f"Bearer {BEARER}"
    raise RuntimeError(f"exchange failed for {REGISTERED} ({len(token)}, {len(authorization)})")


def _emit_everything() -> None:
    """Our events, a traceback and a stdlib (foreign) record, each carrying secrets."""
    log = logs.get_logger("hubsync.test")
    log.info("key_loaded", account="sandbox", personal_access_key=SECRET,
             headers={"Authorization": f"Bearer {BEARER}"}, note=f"using {SECRET}")
    log.warning("token_refreshed", oauthAccessToken=BEARER, detail=f"got {REGISTERED}")
    try:
        _fail_with_secret_local()
    except RuntimeError:
        log.exception("exchange_failed", account="sandbox")
    logging.getLogger("aiohttp.client").error(
        "request failed: Authorization: Bearer %s key=%s", BEARER, REGISTERED
    )


@pytest.mark.parametrize("mode", MODES)
def test_no_secret_reaches_the_output_in_any_mode(mode: logs.LogMode) -> None:
    """Keys by field name, bearer values, registered secrets, traceback locals and
    foreign records are all masked, in every output mode."""
    logs.register_secret(REGISTERED)
    stream = _configure(mode)
    _emit_everything()
    output = stream.getvalue()
    assert "key_loaded" in output
    assert "exchange_failed" in output
    assert "request failed" in output  # the foreign record was rendered
    assert "RuntimeError" in output  # the traceback was rendered
    for secret in (SECRET, REGISTERED, BEARER):
        assert secret not in output, f"{mode} leaked {secret[:8]}..."
    assert logs.REDACTED in output


def test_json_mode_has_utc_iso_timestamps_levels_and_no_frame_locals() -> None:
    """JSON lines carry an ISO UTC timestamp and level; tracebacks list frames without locals."""
    stream = _configure("json")
    structlog.contextvars.bind_contextvars(account="acme")
    _emit_everything()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["level"] for line in lines] == ["info", "warning", "error", "error"]
    assert all(line["timestamp"].endswith("Z") and "T" in line["timestamp"] for line in lines)
    # contextvars reach the foreign (aiohttp) record too
    assert lines[3]["logger"] == "aiohttp.client"
    assert lines[3]["account"] == "acme"
    frames = lines[2]["exception"][0]["frames"]
    assert frames
    assert all("locals" not in frame for frame in frames)


def test_journal_mode_prefixes_every_line_with_its_priority() -> None:
    """journald reads <N> per line: info is 6, warning 4, errors and their traceback lines 3."""
    stream = _configure("journal")
    _emit_everything()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("<6>key_loaded ")
    assert lines[1].startswith("<4>token_refreshed ")
    assert lines[2].startswith("<3>exchange_failed ")
    assert all(line[:3] in {"<6>", "<4>", "<3>"} for line in lines)
    traceback_lines = [line for line in lines if "Traceback" in line or "RuntimeError" in line]
    assert traceback_lines
    assert all(line.startswith("<3>") for line in traceback_lines)


def test_console_mode_is_readable_and_shows_no_locals() -> None:
    """The console renderer prints event, level and keys, and a traceback without locals."""
    stream = _configure("console")
    _emit_everything()
    output = stream.getvalue()
    assert "key_loaded" in output
    assert "account=sandbox" in output
    assert "Traceback (most recent call last)" in output
    assert SECRET not in output
    assert "locals" not in output.lower()


def test_debug_flag_controls_debug_records() -> None:
    """Debug events are dropped unless configure(debug=True)."""
    quiet = _configure("json")
    logs.get_logger("t").debug("hidden_detail")
    assert "hidden_detail" not in quiet.getvalue()
    loud = _configure("json", debug=True)
    logs.get_logger("t").debug("shown_detail")
    assert "shown_detail" in loud.getvalue()


def test_reconfigure_replaces_the_handler() -> None:
    """A second configure() does not duplicate output into the first stream."""
    first = _configure("json")
    second = _configure("json")
    logs.get_logger("t").info("once")
    assert "once" not in first.getvalue()
    assert second.getvalue().count("once") == 1


def test_auto_mode_detects_the_journal_by_device_and_inode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """auto picks journal only when JOURNAL_STREAM names this very stream, else JSON."""
    target = tmp_path / "stderr.txt"
    with target.open("w") as stream:
        status = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{status.st_dev}:{status.st_ino}")
        assert logs.journal_attached(stream)
        logs.configure(mode="auto", stream=stream)
        logs.get_logger("t").warning("to_journal")
        monkeypatch.setenv("JOURNAL_STREAM", f"{status.st_dev}:{status.st_ino + 1}")
        assert not logs.journal_attached(stream)
        logs.configure(mode="auto", stream=stream)
        logs.get_logger("t").warning("to_json")
    first, second = target.read_text().splitlines()
    assert first.startswith("<4>to_journal")
    assert json.loads(second)["event"] == "to_json"


def test_journal_stream_set_for_another_stream_is_not_the_journal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An inherited JOURNAL_STREAM with garbage or a non-file stream is not the journal."""
    monkeypatch.setenv("JOURNAL_STREAM", "not:numbers")
    assert not logs.journal_attached(io.StringIO())
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")
    assert not logs.journal_attached(io.StringIO())


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("token", True), ("access_token", True), ("personal_access_key", True),
        ("Authorization", True), ("password", True), ("client_secret", True),
        ("oauthAccessToken", True), ("encodedOAuthRefreshToken", True), ("api-key", True),
        ("token_expires_at", False), ("key_source", False), ("account", False),
        ("sha256", False), ("hub_user_id", False), ("path", False),
    ],
)
def test_secret_field_names(name: str, secret: bool) -> None:
    """Only names whose last part is secret-like are secret (token_expires_at is not)."""
    assert logs.is_secret_name(name) is secret


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"key {SECRET} refused", True),
        (f"Authorization: Bearer {BEARER}", True),
        (BEARER, True),
        ("sha256 " + "ab12" * 16, False),  # lower-case hex is a hash, not a token
        ("correlation 0f4c2a9e-1b7d-4e3a-9c55-7d2f8e6a1b90", False),
        ("templates/partials/HeaderNavigation2024.html", False),
        ("uploaded marketing-theme/modules/hero.module/meta.json", False),
    ],
)
def test_value_redaction_masks_tokens_but_keeps_hashes_ids_and_paths(
    text: str, masked: bool
) -> None:
    """Token-shaped values are masked; hashes, uuids and paths stay readable."""
    assert (logs.REDACTED in logs.redact_text(text)) is masked


def test_registered_secret_is_masked_inside_longer_text_and_short_ones_are_ignored() -> None:
    """register_secret masks the value anywhere; trivially short values are not registered."""
    logs.register_secret(REGISTERED)
    logs.register_secret("abc")
    assert logs.redact_text(f"x{REGISTERED}y") == f"x{logs.REDACTED}y"
    assert logs.redact_text("abc") == "abc"
