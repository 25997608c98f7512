"""``settings.max_concurrency``: its default, its range, and the clear error when it is
below ``concurrency``."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubsync.config import DEFAULT_MAX_CONCURRENCY, load_config
from hubsync.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_default_and_explicit(tmp_path: Path) -> None:
    """Absent: 20 (above the default concurrency 5). Set: taken as given, even equal to
    concurrency (the rule off)."""
    assert DEFAULT_MAX_CONCURRENCY == 20
    assert load_config(write(tmp_path, "")).settings.max_concurrency == 20
    config = load_config(write(tmp_path, "[settings]\nconcurrency = 8\nmax_concurrency = 8\n"))
    assert (config.settings.concurrency, config.settings.max_concurrency) == (8, 8)


@pytest.mark.parametrize(("text", "problem"), [
    ("[settings]\nmax_concurrency = 0\n", "settings.max_concurrency: must be between 1 and 64"),
    ("[settings]\nmax_concurrency = 65\n",
     "settings.max_concurrency: must be between 1 and 64"),
    ("[settings]\nmax_concurrency = \"10\"\n",
     "settings.max_concurrency: expected an integer, got a string"),
    ("[settings]\nmax_concurrency = 3\n",
     "settings.max_concurrency: 3 is below settings.concurrency (5); set it to at least 5 "
     "(equal keeps the number of uploads in flight fixed)"),
    ("[settings]\nconcurrency = 12\nmax_concurrency = 10\n",
     "settings.max_concurrency: 10 is below settings.concurrency (12); set it to at "
     "least 12"),
])
def test_bad_values_name_the_key_and_the_fix(tmp_path: Path, text: str, problem: str) -> None:
    """Each bad value is one problem naming the dotted key, the file and what to do."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert problem in message
    assert str(path) in message
