"""load_config: the valid shapes, every validation rule with its message, and secrets."""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from pathlib import Path

import pytest

from hubsync.config import (
    Config,
    default_config_path,
    load_config,
    sync_readiness,
)
from hubsync.errors import EX_CONFIG, ConfigError
from hubsync.model import Env, Mode

REPO = Path(__file__).resolve().parents[2]
FAKE_KEY = "pat-na1-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


def write(tmp_path: Path, text: str) -> Path:
    """Write a config (dedented) with a `theme` folder beside it, and return its path."""
    (tmp_path / "theme").mkdir(exist_ok=True)
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    """The problems load_config reports for this config text."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert caught.value.exit_code == EX_CONFIG
    return caught.value.problems


VALID = """\
    [settings]
    debounce_ms = 250
    state_dir = "~/state"

    [accounts.sandbox]
    portal_id = 12345678

    [accounts.staging-2]
    portal_id = 87654321
    env = "qa"
    api_base = "http://127.0.0.1:8080/"
    transport = "source-code"

    [[watch]]
    name = "marketing"
    src = "theme"
    dest = "marketing-theme/"
    accounts = ["sandbox", "staging-2"]
    mode = "draft"
    ignore = ["*.scss"]
"""


def test_valid_config_becomes_frozen_typed_values(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid file gives frozen dataclasses, enums, tuples and a read-only accounts map."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config = load_config(write(tmp_path, VALID))
    assert config.settings.debounce_ms == 250
    assert config.settings.concurrency == 5
    assert config.settings.state_dir == tmp_path / "home" / "state"
    staging = config.accounts["staging-2"]
    assert staging.env is Env.QA
    assert staging.base_url == "http://127.0.0.1:8080"
    assert staging.transport == "source-code"
    assert config.accounts["sandbox"].base_url == "https://api.hubapi.com"
    (watch,) = config.watches
    assert watch.src == tmp_path / "theme"
    assert watch.dest == "marketing-theme"
    assert watch.accounts == ("sandbox", "staging-2")
    assert watch.mode is Mode.DRAFT
    assert watch.ignore == ("*.scss",)
    assert config.watch("marketing") is watch
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.settings.debounce_ms = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.accounts["x"] = staging  # type: ignore[index]
    assert sync_readiness(config) == []


def test_empty_file_is_valid_and_readiness_says_what_is_missing(tmp_path: Path) -> None:
    """No accounts and no watches is a valid config; sync_readiness names both gaps."""
    config = load_config(write(tmp_path, ""))
    assert config.accounts == {}
    assert config.watches == ()
    notes = sync_readiness(config)
    assert notes[0] == "no accounts: run `hubsync auth add NAME --portal ID`"
    assert notes[1].startswith("no [[watch]]")


def test_readiness_names_unused_accounts_and_watches_without_accounts(tmp_path: Path) -> None:
    """An account no watch uses and a watch pushing nowhere are both reported."""
    config = load_config(write(tmp_path, """\
        [accounts.sandbox]
        portal_id = 1
        [accounts.spare]
        portal_id = 2
        [[watch]]
        name = "a"
        src = "theme"
        dest = "a"
        accounts = ["sandbox"]
        [[watch]]
        name = "b"
        src = "theme"
        dest = "b"
        accounts = []
    """))
    notes = sync_readiness(config)
    assert any("'b' pushes to no account" in note for note in notes)
    assert any("account 'spare' is not used" in note for note in notes)
    assert not any("'sandbox'" in note for note in notes)


# (config text, one expected problem). Each is a rule with the exact message users see.
BROKEN: list[tuple[str, str]] = [
    ("[settings]\ndebounce_ms = \"250\"\n",
     "settings.debounce_ms: expected an integer, got a string"),
    ("[settings]\nconcurrency = true\n",
     "settings.concurrency: expected an integer, got a boolean"),
    ("[settings]\ndebounce_ms = 60001\n",
     "settings.debounce_ms: must be between 0 and 60000"),
    ("[settings]\nconcurrency = 0\n", "settings.concurrency: must be between 1 and 20"),
    ("[settings]\nallow_deletes = 1\n",
     "settings.allow_deletes: expected true or false, got an integer"),
    ("[settings]\ndebounce = 3\n", "settings.debounce: unknown key (did you mean 'debounce_ms'?)"),
    ("[setings]\n", "setings: unknown key (did you mean 'settings'?)"),
    ("settings = 3\n", "settings: expected a table, got an integer"),
    ("[accounts.sandbox]\nenv = \"prod\"\n", "accounts.sandbox.portal_id: missing required key"),
    ("[accounts.sandbox]\nportal_id = 0\n",
     "accounts.sandbox.portal_id: must be a positive integer (the portal/Hub ID of the account)"),
    ("[accounts.sandbox]\nportal_id = 1.5\n",
     "accounts.sandbox.portal_id: expected an integer, got a float"),
    ("[accounts.sandbox]\nportal_id = 1\nenv = \"qaa\"\n",
     "accounts.sandbox.env: 'qaa' is not one of 'prod', 'qa' (did you mean 'qa'?)"),
    ("[accounts.sandbox]\nportal_id = 1\nportalid = 2\n",
     "accounts.sandbox.portalid: unknown key (did you mean 'portal_id'?)"),
    ("[accounts.sandbox]\nportal_id = 1\ntransport = \"ftp\"\n",
     "accounts.sandbox.transport: 'ftp' is not one of 'filemapper', 'source-code'"),
    ("[accounts.\"my sandbox\"]\nportal_id = 1\n",
     "accounts.\"my sandbox\": account names are letters, digits, '-' and '_' "
     "(at most 64, starting with a letter or digit)"),
    ("[accounts]\nsandbox = 5\n", "accounts.sandbox: expected a table, got an integer"),
    ("[[watch]]\nname = \"a\"\nsrc = \"theme\"\naccounts = []\n",
     "watch[0].dest: missing required key"),
    ("[watch]\nname = \"a\"\n",
     "watch: expected [[watch]] (an array of tables), got a single [watch] table; "
     "write it as [[watch]]"),
    ("[[watch]]\nname = \"a b\"\nsrc = \"theme\"\ndest = \"d\"\naccounts = []\n",
     "watch[0].name: use letters, digits, '-' and '_' (at most 64, starting with a letter or "
     "digit)"),
    ("[[watch]]\nname = \"a\"\nsrc = \"missing\"\ndest = \"d\"\naccounts = []\n",
     "watch[0].src: folder '{tmp}/missing' does not exist"),
    ("[[watch]]\nname = \"a\"\nsrc = \"config.toml\"\ndest = \"d\"\naccounts = []\n",
     "watch[0].src: '{tmp}/config.toml' is not a folder"),
    ("[[watch]]\nname = \"a\"\nsrc = \"theme\"\ndest = \"/abs\"\naccounts = []\n",
     "watch[0].dest: must be relative to the Design Manager root (no leading '/')"),
    ("[[watch]]\nname = \"a\"\nsrc = \"theme\"\ndest = \"a/../b\"\naccounts = []\n",
     "watch[0].dest: must not contain '..'"),
    ("[[watch]]\nname = \"a\"\nsrc = \"theme\"\ndest = \"a//b\"\naccounts = []\n",
     "watch[0].dest: must be a folder path like 'my-theme' or 'themes/my-theme'"),
    ("[[watch]]\nname = \"a\"\nsrc = \"theme\"\ndest = \"d\"\naccounts = \"x\"\n",
     "watch[0].accounts: expected an array, got a string"),
    ("[[watch]]\nname = \"a\"\nsrc = \"theme\"\ndest = \"d\"\naccounts = []\nignore = [\"\"]\n",
     "watch[0].ignore: patterns must not be empty"),
    ("[[watch]]\nname = \"a\"\nsrc = \"theme\"\ndest = \"d\"\naccounts = []\nmode = \"live\"\n",
     "watch[0].mode: 'live' is not one of 'publish', 'draft'"),
    ("[[watch]]\nname = \"a\"\nsrc = \"theme\"\ndest = \"d\"\naccounts = [\"nobody\"]\n",
     "watch[0].accounts[0]: unknown account 'nobody' (there are no [accounts.NAME] tables; "
     "run `hubsync auth add`)"),
    ("[accounts.s]\nportal_id = 1\n[[watch]]\nname = \"a\"\nsrc = \"theme\"\ndest = \"d\"\n"
     "accounts = [\"s\", \"s\"]\n",
     "watch[0].accounts[1]: account 's' is listed twice"),
    ("[[watch]]\nname = \"a\"\nsrc = \"theme\"\ndest = \"d\"\naccounts = []\nsrc_dir = \"x\"\n",
     "watch[0].src_dir: unknown key (did you mean 'src'?)"),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_each_rule_reports_its_dotted_key_and_message(
    tmp_path: Path, text: str, expected: str
) -> None:
    """Every rule names the dotted key and says what is wrong."""
    problems = problems_of(tmp_path, text)
    assert expected.format(tmp=tmp_path) in problems


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://api.hubapi.com", True),
        ("https://api.hubapi.com/", True),
        ("http://127.0.0.1:8080", True),
        ("http://127.5.6.7", True),
        ("http://[::1]:9000", True),
        ("http://localhost:8080/", True),
        ("http://api.hubapi.com", False),
        ("http://10.0.0.1:8080", False),
        ("ftp://127.0.0.1", False),
        ("https://api.hubapi.com/v3", False),
        ("https://api.hubapi.com?x=1", False),
        ("https://user:pw@api.hubapi.com", False),
        ("https://", False),
        ("https://host:99999", False),
        ("api.hubapi.com", False),
    ],
)
def test_api_base_https_only_except_loopback(tmp_path: Path, url: str, ok: bool) -> None:
    """api_base is scheme://host[:port]; https, or http only on a loopback host."""
    path = write(tmp_path, f'[accounts.a]\nportal_id = 1\napi_base = "{url}"\n')
    if ok:
        assert load_config(path).accounts["a"].api_base == url
    else:
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        (problem,) = caught.value.problems
        assert problem.startswith("accounts.a.api_base: ")
        assert "pw" not in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """One run lists all problems, including cross-watch ones of otherwise broken watches."""
    problems = problems_of(tmp_path, """\
        [settings]
        debounce_ms = "250"
        concurency = 3
        [accounts.staging]
        portal_id = -1
        [accounts.prod]
        portal_id = 2
        [[watch]]
        name = "m"
        src = "nope"
        dest = "site"
        accounts = ["prod", "stagng"]
        [[watch]]
        name = "m"
        src = "theme"
        dest = "site"
        accounts = ["prod"]
        [[watch]]
        name = "n"
        src = "theme"
        dest = "site/sub"
        accounts = ["prod"]
    """)
    assert problems == [
        "settings.concurency: unknown key (did you mean 'concurrency'?)",
        "settings.debounce_ms: expected an integer, got a string",
        "accounts.staging.portal_id: must be a positive integer (the portal/Hub ID of the account)",
        f"watch[0].src: folder '{tmp_path}/nope' does not exist",
        "watch[0].accounts[1]: unknown account 'stagng' (did you mean 'staging'?)",
        "watch[1].name: duplicate watch name 'm' (also watch[0])",
        "watch[1].dest: 'site' in account 'prod' is also the target of watch[0] ('m'); "
        "two watches would overwrite each other's files",
        "watch[2].dest: 'site/sub' in account 'prod' overlaps 'site', the target of watch[0] "
        "('m'); two watches would overwrite each other's files",
        "watch[2].dest: 'site/sub' in account 'prod' overlaps 'site', the target of watch[1] "
        "('m'); two watches would overwrite each other's files",
    ]
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "config.toml")
    rendered = str(caught.value)
    assert rendered.startswith(f"{tmp_path / 'config.toml'}: 9 problems:\n")
    assert len(rendered.splitlines()) == 10


@pytest.mark.parametrize(
    "entry",
    [
        f'[accounts.sandbox]\nportal_id = 1\npersonal_access_key = "{FAKE_KEY}"\n',
        f'[accounts.sandbox]\nportal_id = 1\ntoken = "{FAKE_KEY}"\n',
        f'[accounts.sandbox]\nportal_id = 1\nApi-Key = "{FAKE_KEY}"\n',
        f'[settings]\nhubspot_secret = "{FAKE_KEY}"\n',
        f'password = "{FAKE_KEY}"\n',
        f'[accounts.sandbox]\nportal_id = 1\nextra = {{ access_token = "{FAKE_KEY}" }}\n',
        f'[accounts.sandbox]\nportal_id = 1\nnote = "{FAKE_KEY}"\n',
        f'[accounts.sandbox]\nportal_id = "{FAKE_KEY}"\n',
        f'[accounts.sandbox]\nportal_id = 1\nenv = "{FAKE_KEY}"\n',
    ],
)
def test_secret_looking_entries_are_rejected_without_echoing_the_value(
    tmp_path: Path, entry: str
) -> None:
    """A key-like entry anywhere is an error that points at the keyring; the value never shows."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, entry))
    rendered = str(caught.value) + repr(caught.value) + repr(caught.value.args)
    assert FAKE_KEY not in rendered
    assert "0f1e2d3c" not in rendered
    if "portal_id = \"" not in entry:
        assert "hubsync auth add" in rendered
        assert "HUBSYNC_KEY_" in rendered


def test_secret_advice_names_the_account_and_its_variable(tmp_path: Path) -> None:
    """Inside [accounts.NAME] the advice names that account's auth command and env variable."""
    problems = problems_of(tmp_path, '[accounts.my-site]\nportal_id = 1\nkey = "x"\n')
    (problem,) = problems
    assert problem.startswith("accounts.my-site.key: keys and tokens never go in the config")
    assert "`hubsync auth add my-site`" in problem
    assert "HUBSYNC_KEY_MY_SITE" in problem
    assert "systemd credential" in problem


def test_missing_file_says_to_run_init(tmp_path: Path) -> None:
    """A config file that does not exist is a ConfigError pointing at `hubsync init`."""
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml")
    assert "run `hubsync init`" in str(caught.value)
    assert str(tmp_path / "nope.toml") in str(caught.value)


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    """A TOML syntax error names the file, the line and the column."""
    path = write(tmp_path, "[settings]\ndebounce_ms = 3\nconcurrency 4\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid TOML: ")
    assert "(at line 3, column 13)" in message


def test_default_path_follows_hubsync_config_then_xdg(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """HUBSYNC_CONFIG wins over XDG_CONFIG_HOME; load_config() with no path uses them."""
    monkeypatch.delenv("HUBSYNC_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_config_path() == tmp_path / "xdg" / "hubsync" / "config.toml"
    path = write(tmp_path, "[settings]\ndebounce_ms = 7\n")
    monkeypatch.setenv("HUBSYNC_CONFIG", str(path))
    config = load_config()
    assert isinstance(config, Config)
    assert config.path == path
    assert config.settings.debounce_ms == 7


def test_example_config_is_valid(tmp_path: Path) -> None:
    """config.example.toml loads once its `src` points at an existing folder."""
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    assert 'src = "~/themes/marketing"' in text
    shutil.copytree(REPO / "hubsync" / "demo_theme", tmp_path / "theme")
    path = tmp_path / "config.toml"
    path.write_text(text.replace('"~/themes/marketing"', '"theme"'), encoding="utf-8")
    config = load_config(path)
    assert set(config.accounts) == {"sandbox", "staging"}
    assert config.watches[0].src == tmp_path / "theme"
    assert config.settings.max_deletes == 20


# --- edge cases: a byte-order mark, portal IDs beyond what HubSpot issues -------------------


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """A config saved by an editor that writes a UTF-8 BOM loads like the same text without."""
    text = '[accounts.sandbox]\nportal_id = 123\n\n[settings]\ndebounce_ms = 300\n'
    plain = load_config(write(tmp_path, text))
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    with_bom = load_config(path)
    assert with_bom.accounts == plain.accounts
    assert with_bom.settings.debounce_ms == 300


def test_byte_order_mark_keeps_error_positions(tmp_path: Path) -> None:
    """A TOML error after a BOM still names the file, its line and column."""
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf[accounts.sandbox]\nportal_id = = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: invalid TOML")
    assert "line 2" in str(caught.value)


@pytest.mark.parametrize("portal_id", ["12345678901234567890123", "2147483648"])
def test_portal_id_beyond_32_bits_names_file_and_key(tmp_path: Path, portal_id: str) -> None:
    """A portal ID HubSpot cannot have (over 2**31 - 1) is refused, naming file and key."""
    path = write(tmp_path, f"[accounts.sandbox]\nportal_id = {portal_id}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: accounts.sandbox.portal_id: must be at most 2147483647")


def test_largest_portal_id_is_accepted(tmp_path: Path) -> None:
    """2**31 - 1, the largest int32 HubSpot's account API can return, is a valid portal ID."""
    config = load_config(write(tmp_path, "[accounts.sandbox]\nportal_id = 2147483647\n"))
    assert config.accounts["sandbox"].portal_id == 2**31 - 1


def test_upsert_account_refuses_a_portal_id_beyond_32_bits(tmp_path: Path) -> None:
    """`auth add --portal` writes no portal ID that load_config would then refuse."""
    from hubsync.config import upsert_account

    path = tmp_path / "config.toml"
    with pytest.raises(ConfigError) as caught:
        upsert_account(path, "sandbox", portal_id=2**31, env=Env.PROD, api_base=None)
    assert "accounts.sandbox.portal_id: must be at most 2147483647" in str(caught.value)
    assert not path.exists()


def test_upsert_account_keeps_a_file_that_starts_with_a_bom(tmp_path: Path) -> None:
    """Adding an account to a BOM-prefixed config works and keeps what was there."""
    from hubsync.config import upsert_account

    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf# mine\n[accounts.sandbox]\nportal_id = 1\n")
    upsert_account(path, "staging", portal_id=2, env=Env.PROD, api_base=None)
    config = load_config(path)
    assert {name: a.portal_id for name, a in config.accounts.items()} == {
        "sandbox": 1, "staging": 2}
    assert "# mine" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("dest", "said"),
    [
        ("themes/x%2Fy", "watch[0].dest: name contains a %XX sequence"),
        ("themes/a\\u0009b", "watch[0].dest: name contains a control character"),
        ("d" * 256, "watch[0].dest: name is longer than 255 bytes"),
    ],
)
def test_dest_follows_the_name_rules(tmp_path: Path, dest: str, said: str) -> None:
    """A watch's dest obeys the same name rules as local paths: it starts every remote path."""
    problems = problems_of(tmp_path, f'[[watch]]\nname = "a"\nsrc = "theme"\n'
                                     f'dest = "{dest}"\naccounts = []\n')
    assert any(problem.startswith(said) for problem in problems), problems
