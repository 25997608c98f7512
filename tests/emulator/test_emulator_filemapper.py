"""Upload, delete, meta and stream of the filemapper API, and the on-disk mirror."""

from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp

from hubsync.emulator import Emulator
from tests.emulator.emulator_wire import Wire, assert_error_shape

HOME = "marketing-theme/templates/home.html"


async def sandbox_token(emulator: Emulator, wire: Wire) -> str:
    return await wire.token(emulator.account("sandbox").key)


async def test_publish_stores_published_and_draft(emulator: Emulator, wire: Wire) -> None:
    """buffer=false publishes and the draft equals it, attributed to the uploading user."""
    token = await sandbox_token(emulator, wire)
    content = b"<h1>{{ content.title }}</h1>\n"
    reply = await wire.upload(token, 111, HOME, content)
    assert 200 <= reply.status < 300
    for environment in ("published", "draft"):
        stored = emulator.files(111, environment)[HOME]
        assert stored.content == content
        assert stored.sha256 == hashlib.sha256(content).hexdigest()
        assert stored.size == len(content)
        assert stored.user_id == 9001
        assert stored.updated_at_ms > 0
        assert stored.before_meta is False
    assert emulator.files(222) == {}


async def test_buffer_true_writes_only_the_draft(emulator: Emulator, wire: Wire) -> None:
    """buffer=true leaves the published tree alone; meta/stream read it with buffer=true."""
    token = await sandbox_token(emulator, wire)
    await wire.upload(token, 111, HOME, b"v1")
    assert (await wire.upload(token, 111, HOME, b"draft", buffer=True)).status == 200
    assert emulator.files(111, "draft")[HOME].content == b"draft"
    assert emulator.files(111, "published")[HOME].content == b"v1"
    assert (await wire.stream(token, 111, HOME)).body == b"v1"
    assert (await wire.stream(token, 111, HOME, buffer=True)).body == b"draft"
    await wire.upload(token, 111, "t/only-draft.css", b"a{}", buffer=True)
    assert (await wire.meta(token, 111, "t/only-draft.css")).status == 404
    assert (await wire.meta(token, 111, "t/only-draft.css", buffer=True)).status == 200


async def test_overwrite_records_the_last_writer(emulator: Emulator, wire: Wire) -> None:
    """Two users of one portal: the file records who wrote it last; createdAt is kept."""
    colleague = emulator.add_account("colleague", portal_id=111, user_id=9003)
    first = await sandbox_token(emulator, wire)
    second = await wire.token(colleague.key)
    await wire.upload(first, 111, HOME, b"one")
    created = emulator.files(111)[HOME].created_at_ms
    await wire.upload(second, 111, HOME, b"two")
    stored = emulator.files(111)[HOME]
    assert (stored.content, stored.user_id, stored.created_at_ms) == (b"two", 9003, created)
    meta = (await wire.meta(first, 111, HOME)).json()
    assert meta["createdAt"] == created
    assert meta["updatedAt"] == stored.updated_at_ms


async def test_meta_of_file_folder_and_root(emulator: Emulator, wire: Wire) -> None:
    """meta gives {name, path, folder, children, createdAt, updatedAt}; segments encoded."""
    token = await sandbox_token(emulator, wire)
    await wire.upload(token, 111, HOME, b"<p>home</p>")
    await wire.upload(token, 111, "marketing-theme/css/my styles.css", b"a{}")
    folder = (await wire.meta(token, 111, "marketing-theme")).json()
    assert folder["name"] == "marketing-theme"
    assert folder["path"] == "marketing-theme"
    assert folder["folder"] is True
    assert folder["children"] == ["css", "templates"]
    assert isinstance(folder["createdAt"], int)
    assert isinstance(folder["updatedAt"], int)
    spaced = (await wire.meta(token, 111, "marketing-theme/css/my styles.css")).json()
    assert (spaced["name"], spaced["folder"], spaced["children"]) == ("my styles.css", False, [])
    root = await wire.raw("GET", "/content/filemapper/v1/meta?portalId=111",
                          headers={"Authorization": f"Bearer {token}"})
    assert root.json()["children"] == ["marketing-theme"]
    assert_error_shape(await wire.meta(token, 111, "marketing-theme/nope"), 404)


async def test_stream_returns_bytes_and_content_disposition(emulator: Emulator,
                                                            wire: Wire) -> None:
    """stream gives the raw bytes and a Content-Disposition with filename and dates."""
    token = await sandbox_token(emulator, wire)
    content = bytes(range(256)) * 4
    await wire.upload(token, 111, "theme/images/logo.png", content)
    reply = await wire.stream(token, 111, "theme/images/logo.png")
    assert reply.status == 200
    assert reply.body == content
    disposition = reply.headers["Content-Disposition"]
    assert 'filename="logo.png"' in disposition
    assert "creation-date=" in disposition
    assert "modification-date=" in disposition
    assert_error_shape(await wire.stream(token, 111, "theme/images/none.png"), 404)


async def test_delete_file_then_missing_is_404(emulator: Emulator, wire: Wire) -> None:
    """Deleting a file removes it from both trees; deleting it again is a 404."""
    token = await sandbox_token(emulator, wire)
    await wire.upload(token, 111, HOME, b"x")
    reply = await wire.delete(token, 111, HOME)
    assert 200 <= reply.status < 300
    assert HOME not in emulator.files(111)
    assert HOME not in emulator.files(111, "draft")
    assert "marketing-theme/templates" in emulator.folders(111)  # folders outlive files
    assert_error_shape(await wire.delete(token, 111, HOME), 404)


async def test_delete_folder_is_recursive(emulator: Emulator, wire: Wire) -> None:
    """Deleting a folder removes every file and folder under it, and nothing else."""
    token = await sandbox_token(emulator, wire)
    for path in ("t/modules/a.module/meta.json", "t/modules/a.module/module.html",
                 "t/modules/b.module/meta.json", "t/css/main.css"):
        await wire.upload(token, 111, path, b"{}" if path.endswith(".json") else b"x")
    assert (await wire.delete(token, 111, "t/modules")).status == 204
    assert list(emulator.files(111)) == ["t/css/main.css"]
    assert emulator.folders(111) == ["t", "t/css"]


async def test_unencoded_slashes_are_not_an_endpoint(emulator: Emulator, wire: Wire) -> None:
    """upload/delete/stream take ONE %2F-encoded segment; raw slashes get a 404."""
    token = await sandbox_token(emulator, wire)
    headers = {"Authorization": f"Bearer {token}"}
    form = aiohttp.FormData()
    form.add_field("file", b"a{}", filename="a.css")
    reply = await wire.raw("POST", "/content/filemapper/v1/upload/t/a.css?portalId=111"
                           "&buffer=false&environmentId=1", data=form, headers=headers)
    assert_error_shape(reply, 404)
    assert emulator.files(111) == {}


async def test_upload_needs_a_part_named_file(emulator: Emulator, wire: Wire) -> None:
    """A multipart body without a part named ``file``, or no multipart at all, is a 400."""
    token = await sandbox_token(emulator, wire)
    assert_error_shape(await wire.upload(token, 111, "t/a.css", b"a{}", part_name="data"), 400)
    reply = await wire.raw("POST", "/content/filemapper/v1/upload/t%2Fa.css?portalId=111",
                           data=b"a{}", headers={"Authorization": f"Bearer {token}"})
    assert_error_shape(reply, 400)
    assert emulator.files(111) == {}


async def test_large_upload_well_over_one_mib(emulator: Emulator, wire: Wire) -> None:
    """A 5 MiB asset is accepted and stored intact (client_max_size is raised)."""
    token = await sandbox_token(emulator, wire)
    content = hashlib.sha256(b"seed").digest() * (5 * 1024 * 1024 // 32)
    assert (await wire.upload(token, 111, "t/fonts/big.woff2", content)).status == 200
    assert emulator.files(111)["t/fonts/big.woff2"].sha256 == hashlib.sha256(content).hexdigest()


async def test_invalid_paths_are_refused(emulator: Emulator, wire: Wire) -> None:
    """``..`` segments and empty paths cannot be stored."""
    token = await sandbox_token(emulator, wire)
    assert_error_shape(await wire.upload(token, 111, "t/../../etc/x.css", b"a{}"), 400)
    assert_error_shape(await wire.delete(token, 111, "/"), 400)
    assert emulator.files(111) == {}


async def test_data_dir_mirrors_and_reloads_the_tree(tmp_path: Path) -> None:
    """With data_dir, files appear at <dir>/<portal>/<env>/<path>, leave on delete, and a
    new emulator on the same dir starts with them."""
    emu = Emulator(rate_limit=0, data_dir=tmp_path)
    key = emu.add_account("sandbox", portal_id=111, user_id=9001).key
    async with emu, aiohttp.ClientSession() as session:
        wire = Wire(session, emu.url)
        token = await wire.token(key)
        await wire.upload(token, 111, HOME, b"<p>hi</p>")
        await wire.upload(token, 111, "t/gone.css", b"a{}", buffer=True)
        await wire.delete(token, 111, "t")
    assert (tmp_path / "111" / "published" / HOME).read_bytes() == b"<p>hi</p>"
    assert (tmp_path / "111" / "draft" / HOME).read_bytes() == b"<p>hi</p>"
    assert not (tmp_path / "111" / "draft" / "t").exists()
    reloaded = Emulator(rate_limit=0, data_dir=tmp_path)
    assert reloaded.files(111)[HOME].content == b"<p>hi</p>"
