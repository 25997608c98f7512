"""fields.js modules and themes pushed by ``Engine.push_once`` against the emulator over
HTTP, with the real node, real files and real SQLite."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from hubsync.app import build_engine
from hubsync.emulator import Emulator
from hubsync.engine import EngineEvent
from tests.engine.engine_helpers import write_theme
from tests.fieldsjs.conftest import MakeConfig
from tests.support.processes import file_deletes

HERO_FIELDS_JS = """\
module.exports = () => [
  { name: 'title', label: 'Überschrift', type: 'text', default: 'Hello' },
  { name: 'count', label: 'Count', type: 'number', default: 3 },
];
"""

# Async, with nested arrays, a Promise element and an object with toJSON(): each as the
# hs contract says (flattened, awaited, toJSON called).
CARD_FIELDS_JS = """\
class Field {
  constructor(name) { this.name = name; }
  toJSON() { return { name: this.name, type: 'text', label: this.name.toUpperCase() }; }
}
module.exports = async (options) => {
  await new Promise((resolve) => setTimeout(resolve, 10));
  return [new Field('a'), [Promise.resolve({ name: 'b', type: 'boolean', options }),
          [new Field('c')]]];
};
"""

THEME_FIELDS_MJS = """\
export default () => [{ name: 'colors', type: 'group', children: [] }];
"""

CARD_EXPECTED = [
    {"name": "a", "type": "text", "label": "A"},
    {"name": "b", "type": "boolean", "options": ""},
    {"name": "c", "type": "text", "label": "C"},
]


def node_json(fields: object) -> bytes:
    """What ``JSON.stringify(fields, null, 2)`` writes, for plain data."""
    return json.dumps(fields, indent=2, ensure_ascii=False).encode()


def node_stringify(path: Path) -> bytes:
    """The bytes node itself writes for a synchronous CommonJS fields.js, computed
    independently of hubsync: ``JSON.stringify(require(path)(''), null, 2)``."""
    script = "process.stdout.write(JSON.stringify(require(process.argv[1])(''), null, 2))"
    return subprocess.run(["node", "-e", script, str(path)], capture_output=True,
                          check=True).stdout


def remote(emulator: Emulator, portal: int) -> dict[str, bytes]:
    return {path.removeprefix("my-theme/"): f.content
            for path, f in emulator.files(portal).items()}


def uploads(emulator: Emulator, rel: str) -> int:
    return sum(1 for r in emulator.requests if r.endpoint == "upload"
               and r.remote_path == f"my-theme/{rel}" and 200 <= r.status < 300)


def base_theme() -> dict[str, str]:
    return {
        "theme.json": '{"label": "My theme"}',
        "fields.mjs": THEME_FIELDS_MJS,
        "modules/hero.module/meta.json": '{"label": "Hero"}',
        "modules/hero.module/module.html": "<h1>{{ module.title }}</h1>",
        "modules/hero.module/fields.js": HERO_FIELDS_JS,
        "modules/card.module/meta.json": '{"label": "Card"}',
        "modules/card.module/fields.js": CARD_FIELDS_JS,
    }


async def test_module_and_theme_fields_js_are_uploaded_as_nodes_output(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """A sync CommonJS module, an async module (nested arrays, Promises, toJSON) and an
    ES-module theme ``fields.mjs`` each arrive as ``fields.json`` holding exactly the bytes
    node's ``JSON.stringify(fields, null, 2)`` gives; no fields.js is uploaded."""
    root = tmp_path / "theme"
    write_theme(root, base_theme())
    events: list[EngineEvent] = []
    summary = await build_engine(make_config(), on_event=events.append).push_once()
    assert summary.ok, summary
    hero = node_stringify(root / "modules/hero.module/fields.js")
    assert "Überschrift".encode() in hero
    assert not hero.endswith(b"\n")
    for portal in (111, 222):
        files = remote(emulator, portal)
        assert files["modules/hero.module/fields.json"] == hero
        assert files["modules/card.module/fields.json"] == node_json(CARD_EXPECTED)
        assert files["fields.json"] == node_json(
            [{"name": "colors", "type": "group", "children": []}])
        assert not [rel for rel in files if rel.rsplit("/", 1)[-1].startswith("fields.")
                    and not rel.endswith("fields.json")]
        assert files["modules/hero.module/meta.json"] == b'{"label": "Hero"}'
    pushed = {e.fields["path"] for e in events if e.event == "pushed"}
    assert "modules/card.module/fields.json" in pushed
    assert not any(e.event == "skipped" and "fields" in str(e.fields.get("path"))
                   for e in events)


async def test_local_fields_json_beside_fields_js_is_reported_and_not_uploaded(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """A stale ``fields.json`` next to ``fields.js``: the conversion is uploaded in its
    place and the local file is reported as skipped, saying why (hs would ask)."""
    root = tmp_path / "theme"
    write_theme(root, {**base_theme(), "modules/hero.module/fields.json": '[{"stale": 1}]'})
    summary = await build_engine(make_config()).push_once()
    assert summary.ok, summary
    assert remote(emulator, 111)["modules/hero.module/fields.json"] == node_stringify(
        root / "modules/hero.module/fields.js")
    reasons = {path: reason for _, path, reason in summary.skipped}
    assert "fields.js beside it is converted" in reasons["modules/hero.module/fields.json"]


async def test_a_changed_fields_js_is_converted_and_uploaded_again_once(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """Editing fields.js uploads the new output; a push with nothing changed uploads
    nothing (the output is cached by the source's stat key, node is not needed)."""
    root = tmp_path / "theme"
    write_theme(root, base_theme())
    config = make_config()
    assert (await build_engine(config).push_once()).ok
    source = root / "modules/hero.module/fields.js"
    source.write_text("module.exports = () => [{ name: 'title', type: 'text' }];\n")
    summary = await build_engine(config).push_once()
    assert summary.ok, summary
    assert summary.pushed == {"sandbox": 1, "staging": 1}
    assert remote(emulator, 222)["modules/hero.module/fields.json"] == node_json(
        [{"name": "title", "type": "text"}])
    assert uploads(emulator, "modules/hero.module/fields.json") == 4
    again = await build_engine(config).push_once()
    assert again.ok, again
    assert again.pushed == {"sandbox": 0, "staging": 0}
    assert uploads(emulator, "modules/hero.module/fields.json") == 4


async def test_a_throwing_fields_js_fails_with_nodes_message_and_keeps_the_remote(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """A fields.js that throws: a failure naming the file with node's message, nothing
    uploaded or deleted for it, everything else pushed; fixed, it is pushed."""
    root = tmp_path / "theme"
    write_theme(root, base_theme())
    config = make_config()
    assert (await build_engine(config).push_once()).ok
    before = remote(emulator, 111)["modules/hero.module/fields.json"]
    source = root / "modules/hero.module/fields.js"
    source.write_text("throw new Error(\"field 'title' has no label\");\n")
    (root / "modules/hero.module/module.html").write_text("<h2>{{ module.title }}</h2>")
    events: list[EngineEvent] = []
    summary = await build_engine(config, on_event=events.append).push_once()
    assert not summary.ok
    [failure] = [f for f in summary.failures if f.account == "sandbox"]
    assert failure.path == "modules/hero.module/fields.json"
    assert failure.error.startswith("modules/hero.module/fields.js: ")
    assert "Error: field 'title' has no label" in failure.error
    failed = [e for e in events if e.event == "failed"]
    assert {e.fields["account"] for e in failed} == {"sandbox", "staging"}
    assert "converted again when the file changes" in failed[0].fields["note"]
    assert remote(emulator, 111)["modules/hero.module/fields.json"] == before
    assert remote(emulator, 111)["modules/hero.module/module.html"] == (
        b"<h2>{{ module.title }}</h2>")
    assert not file_deletes(emulator)

    source.write_text("module.exports = () => [];\n")
    fixed = await build_engine(config).push_once()
    assert fixed.ok, fixed
    assert remote(emulator, 222)["modules/hero.module/fields.json"] == b"[]"


async def test_contract_breaches_fail_with_what_to_change(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """Exporting no function, returning no array, or two fields files in one folder are
    failures that say what to change (hs's rules)."""
    root = tmp_path / "theme"
    write_theme(root, {
        "a.module/meta.json": "{}", "a.module/fields.js": "module.exports = [1];\n",
        "b.module/meta.json": "{}", "b.module/fields.js": "module.exports = () => 'x';\n",
        "c.module/meta.json": "{}", "c.module/fields.js": "module.exports = () => [];\n",
        "c.module/fields.cjs": "module.exports = () => [];\n",
    })
    summary = await build_engine(make_config()).push_once()
    errors = {f.path: f.error for f in summary.failures if f.account == "sandbox"}
    assert "must export a function" in errors["a.module/fields.json"]
    assert "must return an array of fields" in errors["b.module/fields.json"]
    assert "not string" in errors["b.module/fields.json"]
    assert "several fields files in one folder (fields.js, fields.cjs)" in (
        errors["c.module/fields.json"])
    assert not [p for p in remote(emulator, 111) if p.endswith("fields.json")]


async def test_node_gets_the_module_folder_and_no_hubsync_variable(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """node runs with the module folder as cwd and without any HUBSYNC_* variable (the
    account keys are in the environment of this test); ``field_options`` reach the
    function joined with commas, as ``hs --field-options``."""
    root = tmp_path / "theme"
    write_theme(root, {
        "spy.module/meta.json": "{}",
        "spy.module/fields.js": (
            "module.exports = (options) => [{ cwd: process.cwd(), options,\n"
            "  env: Object.keys(process.env).filter((k) => /HUBSYNC|KEY/.test(k)) }];\n"),
    })
    assert any(name.startswith("HUBSYNC_KEY_") for name in os.environ)
    summary = await build_engine(make_config(field_options=("dark", "compact"))).push_once()
    assert summary.ok, summary
    [spy] = json.loads(remote(emulator, 111)["spy.module/fields.json"])
    assert spy == {"cwd": str((root / "spy.module").resolve()), "options": "dark,compact",
                   "env": []}


async def test_without_node_each_fields_js_fails_saying_how_to_get_node(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PATH without node: every fields.js is a failure naming the file, the node version
    needed, how to install it and how to turn conversion off; the rest is pushed."""
    root = tmp_path / "theme"
    write_theme(root, base_theme())
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    summary = await build_engine(make_config()).push_once()
    errors = {f.path: f.error for f in summary.failures if f.account == "staging"}
    assert set(errors) == {"fields.json", "modules/hero.module/fields.json",
                           "modules/card.module/fields.json"}
    message = errors["modules/hero.module/fields.json"]
    assert message.startswith("modules/hero.module/fields.js: ")
    for words in ("Node.js 18 or newer", "`node` is not on PATH", "https://nodejs.org/",
                  "apt install nodejs", "convert_fields = false", "'theme'"):
        assert words in message, (words, message)
    files = remote(emulator, 222)
    assert "modules/hero.module/meta.json" in files
    assert not [p for p in files if p.rsplit("/", 1)[-1].startswith("fields.")]


async def test_convert_fields_off_uploads_fields_js_as_hs_does_without_the_flag(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """``convert_fields = false``: fields.js is an ordinary JavaScript file (``hs``
    without ``--convert-fields``) and a local fields.json is uploaded as it is."""
    root = tmp_path / "theme"
    write_theme(root, {**base_theme(), "modules/hero.module/fields.json": "[]"})
    summary = await build_engine(make_config(convert_fields=False)).push_once()
    assert summary.ok, summary
    files = remote(emulator, 111)
    assert files["modules/hero.module/fields.js"] == HERO_FIELDS_JS.encode()
    assert files["modules/hero.module/fields.json"] == b"[]"
    assert "modules/card.module/fields.json" not in files


async def test_deleting_fields_js_deletes_the_remote_fields_json(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """fields.js removed: its remote fields.json follows the normal delete rules
    (``delete_remote``); a local fields.json left behind is then uploaded instead."""
    root = tmp_path / "theme"
    write_theme(root, base_theme())
    config = make_config()
    assert (await build_engine(config).push_once()).ok
    (root / "modules/card.module/fields.js").unlink()
    (root / "modules/hero.module/fields.js").rename(root / "modules/hero.module/fields.json")
    (root / "modules/hero.module/fields.json").write_text('[{"name": "x"}]')
    summary = await build_engine(config).push_once()
    assert summary.ok, summary
    files = remote(emulator, 111)
    assert "modules/card.module/fields.json" not in files
    assert files["modules/hero.module/fields.json"] == b'[{"name": "x"}]'
    assert summary.deleted == {"sandbox": 1, "staging": 1}


async def test_a_new_session_converts_again_what_an_account_still_needs(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """The stat cache of an earlier session knows the output's hash, not its bytes: a
    new session that owes fields.json to an account (here one just added) runs node
    again and uploads exactly its output; the account already synced gets nothing."""
    root = tmp_path / "theme"
    write_theme(root, base_theme())
    assert (await build_engine(make_config(accounts=("sandbox",))).push_once()).ok
    summary = await build_engine(make_config()).push_once()
    assert summary.ok, summary
    assert summary.pushed["sandbox"] == 0
    assert remote(emulator, 222)["modules/card.module/fields.json"] == node_json(
        CARD_EXPECTED)
    assert uploads(emulator, "modules/card.module/fields.json") == 2


async def test_without_node_nothing_is_owed_until_node_is_there(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fields.js changed while node is missing: a failure each push, nothing uploaded
    or deleted, and once node is back the next push converts and uploads it, without
    another save."""
    root = tmp_path / "theme"
    write_theme(root, base_theme())
    config = make_config()
    assert (await build_engine(config).push_once()).ok
    source = root / "modules/card.module/fields.js"
    source.write_text("module.exports = () => [{ name: 'z' }];\n")
    path = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    for _ in range(2):
        blocked = await build_engine(config).push_once()
        assert {(f.account, f.path) for f in blocked.failures} >= {
            ("sandbox", "modules/card.module/fields.json"),
            ("staging", "modules/card.module/fields.json")}
        assert blocked.left_pending == 0
    assert remote(emulator, 222)["modules/card.module/fields.json"] == node_json(
        CARD_EXPECTED)
    monkeypatch.setenv("PATH", path)
    summary = await build_engine(config).push_once()
    assert summary.ok, summary
    assert remote(emulator, 222)["modules/card.module/fields.json"] == node_json(
        [{"name": "z"}])
    assert not file_deletes(emulator)


async def test_the_archive_path_carries_nodes_output(
    tmp_path: Path, emulator: Emulator, make_config: MakeConfig
) -> None:
    """A first push large enough for the archive path (engine/bulk.py) puts each
    converted fields.json in the archive, byte for byte node's output, and no fields.js."""
    root = tmp_path / "theme"
    many = {f"css/f{i:03}.css": f"/* {i} */ body {{ margin: {i}px }}" for i in range(60)}
    write_theme(root, {**base_theme(), **many})
    config = make_config()
    config = replace(config, accounts={
        name: replace(account, bulk="archive") for name, account in config.accounts.items()})
    events: list[EngineEvent] = []
    summary = await build_engine(config, on_event=events.append).push_once()
    assert summary.ok, summary
    archived = {e.fields["path"] for e in events
                if e.event == "pushed" and e.fields.get("via") == "archive"}
    assert "modules/card.module/fields.json" in archived
    for portal in (111, 222):
        files = remote(emulator, portal)
        assert files["modules/card.module/fields.json"] == node_json(CARD_EXPECTED)
        assert "modules/card.module/fields.js" not in files
