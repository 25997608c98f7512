"""upsert_account / remove_account: edits in place, keep comments, replace atomically."""

from __future__ import annotations

import stat
import textwrap
from pathlib import Path

import pytest

from hubsync.config import load_config, remove_account, upsert_account
from hubsync.errors import ConfigError
from hubsync.model import Env

COMMENTED = """\
    # My hubsync config -- top comment
    [settings]
    debounce_ms = 500  # slower editor

    # the sandbox portal
    [accounts.sandbox]
    portal_id = 111  # sandbox id
    api_base = "http://127.0.0.1:9000"

    [accounts.spare]
    portal_id = 222

    # the theme
    [[watch]]
    name = "site"
    src = "theme"
    dest = "site"
    accounts = ["sandbox"]  # only the sandbox
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """A commented config with two accounts and a watch using one of them."""
    (tmp_path / "theme").mkdir()
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(COMMENTED), encoding="utf-8")
    path.chmod(0o640)
    return path


def test_upsert_creates_a_private_file_with_a_header(tmp_path: Path) -> None:
    """A missing file is created 0600 (and its folder), with a header, and it validates."""
    path = tmp_path / "new" / "config.toml"
    upsert_account(path, "sandbox", portal_id=42, env=Env.QA, api_base=None)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# hubsync configuration.")
    account = load_config(path).accounts["sandbox"]
    assert (account.portal_id, account.env, account.api_base) == (42, Env.QA, None)


def test_upsert_adds_an_account_keeping_comments_and_mode(config_path: Path) -> None:
    """A new account is appended; every comment, other key and the file mode survive."""
    before = config_path.read_text(encoding="utf-8")
    upsert_account(config_path, "staging", portal_id=333, env=Env.PROD,
                   api_base="https://api.hubapi.com")
    after = config_path.read_text(encoding="utf-8")
    for line in before.splitlines():
        assert line in after
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o640
    config = load_config(config_path)
    assert set(config.accounts) == {"sandbox", "spare", "staging"}
    assert config.accounts["staging"].portal_id == 333
    assert config.settings.debounce_ms == 500
    assert list(config_path.parent.glob(".*tmp")) == []


def test_upsert_updates_in_place_and_drops_a_removed_override(config_path: Path) -> None:
    """Updating an account changes its values where they are and keeps its comments."""
    upsert_account(config_path, "sandbox", portal_id=999, env=Env.QA, api_base=None)
    text = config_path.read_text(encoding="utf-8")
    assert "# the sandbox portal" in text
    assert "# sandbox id" in text
    assert "api_base" not in text
    assert text.index("[accounts.sandbox]") < text.index("[accounts.spare]")
    account = load_config(config_path).accounts["sandbox"]
    assert (account.portal_id, account.env) == (999, Env.QA)


def test_upsert_refuses_bad_values_without_touching_the_file(config_path: Path) -> None:
    """Invalid name, portal id or URL: ConfigError listing each, and the file is unchanged."""
    before = config_path.read_bytes()
    with pytest.raises(ConfigError) as caught:
        upsert_account(config_path, "bad name", portal_id=0, env=Env.PROD,
                       api_base="http://example.com")
    assert len(caught.value.problems) == 3
    assert caught.value.problems[2].startswith('accounts."bad name".api_base: must use https')
    assert config_path.read_bytes() == before


def test_remove_keeps_everything_else(config_path: Path) -> None:
    """Removing an unused account leaves comments and the other tables as written."""
    remove_account(config_path, "spare")
    text = config_path.read_text(encoding="utf-8")
    assert "spare" not in text
    assert "# My hubsync config -- top comment" in text
    assert "# the sandbox portal" in text
    assert "accounts = [\"sandbox\"]  # only the sandbox" in text
    assert set(load_config(config_path).accounts) == {"sandbox"}


def test_remove_refuses_an_account_a_watch_uses(config_path: Path) -> None:
    """An account still listed by a watch is not removed; the error names the watch."""
    before = config_path.read_bytes()
    with pytest.raises(ConfigError) as caught:
        remove_account(config_path, "sandbox")
    assert "still used by watch[0] ('site')" in str(caught.value)
    assert config_path.read_bytes() == before


def test_remove_of_an_unknown_account_suggests_a_name(config_path: Path) -> None:
    """Removing a name that is not there is a ConfigError with a did-you-mean."""
    with pytest.raises(ConfigError, match=r"no such account \(did you mean 'spare'\?\)"):
        remove_account(config_path, "spar")


def test_removing_the_last_account_drops_the_accounts_table(tmp_path: Path) -> None:
    """After the last account goes the file still validates, with no accounts."""
    path = tmp_path / "config.toml"
    upsert_account(path, "only", portal_id=1, env=Env.PROD, api_base=None)
    remove_account(path, "only")
    assert "accounts" not in path.read_text(encoding="utf-8")
    assert load_config(path).accounts == {}


def test_new_account_goes_to_the_end_leaving_the_watch_comment_in_place(
    config_path: Path,
) -> None:
    """A new account is appended after everything, so '# the theme' still leads [[watch]]."""
    upsert_account(config_path, "staging", portal_id=3, env=Env.PROD, api_base=None)
    text = config_path.read_text(encoding="utf-8")
    assert "# the theme\n[[watch]]" in text
    assert text.endswith('\n\n[accounts.staging]\nportal_id = 3\nenv = "prod"\n')
    remove_account(config_path, "staging")
    assert "staging" not in config_path.read_text(encoding="utf-8")


def test_upsert_into_an_inline_accounts_table(tmp_path: Path) -> None:
    """`accounts = { ... }` written inline is extended inline, and still validates."""
    path = tmp_path / "config.toml"
    path.write_text("accounts = { a = { portal_id = 1 } }\n", encoding="utf-8")
    upsert_account(path, "b", portal_id=2, env=Env.PROD, api_base=None)
    assert path.read_text(encoding="utf-8").count("\n") == 1
    assert set(load_config(path).accounts) == {"a", "b"}
