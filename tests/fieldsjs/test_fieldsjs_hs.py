"""hubsync's fields.json is byte for byte what HubSpot's own ``hs cms upload
--convert-fields`` stores (the real ``hs`` against the emulator, as tests/conformance)."""

from __future__ import annotations

from pathlib import Path

from hubsync.app import build_engine
from hubsync.emulator import Emulator
from tests.conformance.conftest import PORTAL, SignedIn, hs_executable, signed_in
from tests.engine.engine_helpers import write_theme
from tests.fieldsjs.conftest import MakeConfig
from tests.fieldsjs.test_fieldsjs_push import CARD_FIELDS_JS, HERO_FIELDS_JS
from tests.support.processes import remote_tree

__all__ = ["hs_executable", "signed_in"]  # fixtures of the conformance suite, used here

THEME = {
    "theme.json": '{"label": "Fields theme"}',
    "fields.js": "module.exports = () => [{ name: 'colors', type: 'group', children: [] }];\n",
    "modules/hero.module/meta.json": '{"label": "Hero"}',
    "modules/hero.module/module.html": "<h1>{{ module.title }}</h1>",
    "modules/hero.module/fields.js": HERO_FIELDS_JS,
    "modules/card.module/meta.json": '{"label": "Card"}',
    "modules/card.module/fields.js": CARD_FIELDS_JS,
}


async def test_fields_json_is_what_hs_convert_fields_uploads(
    tmp_path: Path, signed_in: SignedIn, emulator: Emulator, make_config: MakeConfig
) -> None:
    """The same theme through ``hs cms upload --convert-fields`` and through
    ``hubsync push``: every fields.json identical, and neither uploads a fields.js."""
    hs_dir = tmp_path / "hs"
    write_theme(hs_dir / "theme", THEME)
    result = signed_in.hs.run("cms", "upload", "theme", "conf-fields", "--convert-fields",
                              cwd=hs_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    by_hs = remote_tree(signed_in.emulator, PORTAL, "conf-fields")

    write_theme(tmp_path / "theme", THEME)
    summary = await build_engine(make_config(accounts=("sandbox",))).push_once()
    assert summary.ok, summary
    by_hubsync = {path.removeprefix("my-theme/"): f.content
                  for path, f in emulator.files(111).items()}

    fields = {"fields.json", "modules/hero.module/fields.json",
              "modules/card.module/fields.json"}
    assert fields <= set(by_hs)
    for rel in sorted(fields):
        assert by_hubsync[rel] == by_hs[rel], rel
    assert set(by_hubsync) == set(by_hs)
    assert not [rel for rel in by_hs if rel.endswith("fields.js")]
