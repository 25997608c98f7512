"""What the emulated Design Manager refuses: empty files, HubL, JSON, extensions; and the
module meta.json ordering flag."""

from __future__ import annotations

import pytest

from hubsync.emulator import Emulator
from hubsync.emulator.validate import check_hubl
from tests.emulator.emulator_wire import Wire, assert_error_shape


async def test_empty_file_is_refused(emulator: Emulator, wire: Wire) -> None:
    """An empty body gets HubSpot's exact message and is not stored."""
    token = await wire.token(emulator.account("sandbox").key)
    body = assert_error_shape(await wire.upload(token, 111, "t/a.css", b""), 400)
    assert body["message"] == "File source stream cannot be empty"
    assert emulator.files(111) == {}


@pytest.mark.parametrize("opener", ["{%", "{{", "{#"])
async def test_unclosed_hubl_reports_the_opener_line(emulator: Emulator, wire: Wire,
                                                     opener: str) -> None:
    """An unclosed HubL delimiter in a template is a 400 with errorTokens.line = its line."""
    token = await wire.token(emulator.account("sandbox").key)
    template = f"<html>\n{{{{ ok }}}}\n<p>{opener} broken\n</html>\n".encode()
    body = assert_error_shape(await wire.upload(token, 111, "t/templates/a.html", template),
                              400)
    assert body["errors"][0]["errorTokens"]["line"] == [3]
    assert body["errors"][0]["message"]
    assert emulator.files(111) == {}


async def test_htm_templates_are_checked_too(emulator: Emulator, wire: Wire) -> None:
    """``.htm`` is a template extension as well."""
    token = await wire.token(emulator.account("sandbox").key)
    body = assert_error_shape(await wire.upload(token, 111, "t/a.htm", b"{% if x"), 400)
    assert body["errors"][0]["errorTokens"]["line"] == [1]


async def test_css_with_braces_is_not_hubl_checked(emulator: Emulator, wire: Wire) -> None:
    """Only templates are HubL-checked: a CSS or JS file with ``{{`` is stored."""
    token = await wire.token(emulator.account("sandbox").key)
    assert (await wire.upload(token, 111, "t/a.js", b"const t = `{{`;")).status == 200


@pytest.mark.parametrize(
    "template",
    [
        "<style>a{b:{c:1}}}</style>",
        "{% if a %}{{ a }}{% endif %}{# note #}",
        "{% raw %}{{ not parsed {% endraw %}",
        "%} and }} alone are text",
    ],
)
def test_balanced_templates_pass(template: str) -> None:
    """Balanced HubL, stray closers and raw blocks are not errors."""
    assert check_hubl(template) is None


def test_unclosed_raw_block_is_an_error() -> None:
    """``{% raw %}`` without ``{% endraw %}`` is reported at the raw tag's line."""
    problem = check_hubl("a\n{% raw %}\n{{ x")
    assert problem is not None
    assert problem.errors[0].line == 2


@pytest.mark.parametrize("path", ["t/a.exe", "t/script.py", "t/README", "t/a.php"])
async def test_unsupported_extensions_are_refused(emulator: Emulator, wire: Wire,
                                                  path: str) -> None:
    """Files HubSpot's Design Manager does not take get a 400 and are not stored."""
    token = await wire.token(emulator.account("sandbox").key)
    body = assert_error_shape(await wire.upload(token, 111, path, b"data"), 400)
    assert "Unsupported file type" in body["message"]
    assert emulator.files(111) == {}


async def test_extensions_are_case_insensitive(emulator: Emulator, wire: Wire) -> None:
    """``.CSS`` and ``.PNG`` are accepted like their lower-case forms."""
    token = await wire.token(emulator.account("sandbox").key)
    assert (await wire.upload(token, 111, "t/A.CSS", b"a{}")).status == 200
    assert (await wire.upload(token, 111, "t/B.PNG", b"\x89PNG")).status == 200


async def test_invalid_json_is_refused_with_its_line(emulator: Emulator, wire: Wire) -> None:
    """A .json that does not parse is a 400 whose error carries the line."""
    token = await wire.token(emulator.account("sandbox").key)
    body = assert_error_shape(
        await wire.upload(token, 111, "t/fields.json", b'[\n  {"a": 1},\n  {"b": }\n]'), 400)
    assert body["errors"][0]["errorTokens"]["line"] == [3]


async def test_module_file_before_meta_json_is_flagged(emulator: Emulator, wire: Wire) -> None:
    """Inside a *.module folder, a file stored before meta.json is flagged; after it, not."""
    token = await wire.token(emulator.account("sandbox").key)
    await wire.upload(token, 111, "t/modules/early.module/module.html", b"<p>early</p>")
    await wire.upload(token, 111, "t/modules/ok.module/meta.json", b'{"label": "ok"}')
    await wire.upload(token, 111, "t/modules/ok.module/module.html", b"<p>ok</p>")
    await wire.upload(token, 111, "t/templates/page.html", b"<p>page</p>")
    files = emulator.files(111)
    assert files["t/modules/early.module/module.html"].before_meta is True
    assert files["t/modules/ok.module/module.html"].before_meta is False
    assert files["t/modules/ok.module/meta.json"].before_meta is False
    assert files["t/templates/page.html"].before_meta is False
