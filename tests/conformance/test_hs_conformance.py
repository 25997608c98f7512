"""HubSpot's ``hs`` CLI 8.14.0 against ``hubsync emulator --tls``: each command exits 0 and the
emulator's tree equals what ``hs`` sent (for ``fetch``: the local tree equals the
emulator's). The proof that the emulator answers as HubSpot does (issue 12)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import hubsync
from hubsync.emulator import Endpoint
from tests.conformance.conftest import PORTAL, SignedIn
from tests.conformance.hs_cli import (
    copy_theme,
    local_tree,
    remote_tree,
    uploadable,
    wait_for,
)

DEMO_THEME = Path(hubsync.__file__).parent / "demo_theme"
pytestmark = pytest.mark.slow


def seed(signed_in: SignedIn, folder: str) -> dict[str, bytes]:
    """The demo theme's uploadable files stored under ``folder`` directly (as if by another
    user), without spending an ``hs`` run on it; relative path -> bytes."""
    files = uploadable(DEMO_THEME)
    for rel, content in files.items():
        signed_in.emulator.edit_as(PORTAL, f"{folder}/{rel}", content, user_id=77)
    return files


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """``result`` after checking that ``hs`` exited 0 (its output in the failure)."""
    assert result.returncode == 0, \
        f"hs exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def test_account_auth_with_a_personal_access_key(signed_in: SignedIn) -> None:
    """``hs account auth --personal-access-key`` exits 0 and writes the account's config
    (portal, auth type) from the emulator's key exchange; nothing left the machine."""
    ok(signed_in.auth)
    # Plain lines of hs's YAML (no YAML parser among the test dependencies).
    lines = {line.strip().removeprefix("- ") for line in
             (signed_in.hs.home / ".hscli" / "config.yml").read_text().splitlines()}
    assert {f"defaultAccount: {PORTAL}", f"accountId: {PORTAL}", "env: prod",
            "authType: personalaccesskey", "name: sandbox"} <= lines
    assert signed_in.hs.denied() == []


def test_upload_folder(signed_in: SignedIn, tmp_path: Path) -> None:
    """``hs cms upload <folder>``: the emulator holds exactly the files hs uploads, byte for
    byte; every module's meta.json was stored before its other files; hs's extra calls
    (firealarm) were answered."""
    theme = copy_theme(DEMO_THEME, tmp_path / "theme")
    emulator = signed_in.emulator
    since = len(emulator.requests)
    ok(signed_in.hs.run("cms", "upload", "theme", "conf-folder", cwd=tmp_path))
    assert remote_tree(emulator, PORTAL, "conf-folder") == uploadable(theme)
    stored = emulator.files(PORTAL)
    assert not [p for p in stored if p.startswith("conf-folder/") and stored[p].before_meta]
    seen = {record.endpoint for record in emulator.requests[since:]}
    assert Endpoint.FIREALARM in seen
    assert all(record.status < 400 for record in emulator.requests[since:])


def test_upload_one_file(signed_in: SignedIn, tmp_path: Path) -> None:
    """``hs cms upload <file> <dest>`` publishes that one file, named as asked."""
    theme = copy_theme(DEMO_THEME, tmp_path / "theme")
    ok(signed_in.hs.run("cms", "upload", "theme/css/main.css", "conf-one/css/site.css",
                        cwd=tmp_path))
    assert remote_tree(signed_in.emulator, PORTAL, "conf-one") == {
        "css/site.css": (theme / "css" / "main.css").read_bytes()}


def test_upload_draft(signed_in: SignedIn, tmp_path: Path) -> None:
    """``hs cms upload <file> -m draft`` writes the draft only: published is unchanged."""
    copy_theme(DEMO_THEME, tmp_path / "theme")
    target = tmp_path / "theme" / "css" / "main.css"
    ok(signed_in.hs.run("cms", "upload", "theme/css/main.css", "conf-draft/main.css",
                        cwd=tmp_path))
    target.write_text("/* draft */ body { color: red; }\n")
    ok(signed_in.hs.run("cms", "upload", "theme/css/main.css", "conf-draft/main.css",
                        "-m", "draft", cwd=tmp_path))
    emulator = signed_in.emulator
    assert remote_tree(emulator, PORTAL, "conf-draft", "draft") == {
        "main.css": target.read_bytes()}
    assert remote_tree(emulator, PORTAL, "conf-draft") != {"main.css": target.read_bytes()}


def test_watch_with_remove(signed_in: SignedIn, tmp_path: Path) -> None:
    """``hs cms watch --remove --initial-upload``: the first upload, an edit, a new module
    (meta.json, module.html, fields.json) and two deletes all reach the emulator, whose
    tree ends equal to the local folder's uploadable files."""
    theme = copy_theme(DEMO_THEME, tmp_path / "theme")
    emulator = signed_in.emulator
    hs = signed_in.hs

    def matches() -> bool:
        return remote_tree(emulator, PORTAL, "conf-watch") == uploadable(theme)

    def why() -> str:
        remote, local = remote_tree(emulator, PORTAL, "conf-watch"), uploadable(theme)
        return (f"remote-only {sorted(set(remote) - set(local))}, local-only "
                f"{sorted(set(local) - set(remote))}, differing "
                f"{sorted(p for p in remote if p in local and remote[p] != local[p])}; hs:\n"
                + (tmp_path / "watch.out").read_text(errors="replace"))

    with hs.background("cms", "watch", "theme", "conf-watch", "--remove", "--initial-upload",
                       cwd=tmp_path, out=tmp_path / "watch.out") as process:
        wait_for(matches, 60, why)
        (theme / "css" / "main.css").write_text("body { margin: 0; }\n")
        wait_for(matches, 30, why)
        module = theme / "modules" / "quote.module"
        module.mkdir()
        (module / "meta.json").write_text(json.dumps({"label": "Quote", "host_template_types":
                                                      ["PAGE"], "is_available_for_new_content":
                                                      True}))
        (module / "fields.json").write_text("[]")
        (module / "module.html").write_text("<blockquote>{{ module.text }}</blockquote>\n")
        wait_for(matches, 30, why)
        (theme / "js" / "main.js").unlink()
        (theme / "templates" / "partials" / "footer.html").unlink()
        wait_for(matches, 30, why)
        assert process.poll() is None, why()
    assert hs.denied() == []


def test_fetch(signed_in: SignedIn, tmp_path: Path) -> None:
    """``hs cms fetch <remote> <local>`` writes exactly the emulator's files, byte for byte,
    with their modification time from the stream's epoch-ms ``modification-date``."""
    seed(signed_in, "conf-fetch")
    ok(signed_in.hs.run("cms", "fetch", "conf-fetch", "fetched", cwd=tmp_path))
    remote = remote_tree(signed_in.emulator, PORTAL, "conf-fetch")
    assert local_tree(tmp_path / "fetched") == remote
    stored = signed_in.emulator.files(PORTAL)["conf-fetch/css/main.css"]
    mtime_s = (tmp_path / "fetched" / "css" / "main.css").stat().st_mtime
    assert abs(mtime_s - stored.updated_at_ms / 1000) < 2


def test_list(signed_in: SignedIn, tmp_path: Path) -> None:
    """``hs cms list <folder>`` prints the folder's children as the emulator holds them."""
    seed(signed_in, "conf-list")
    listed = ok(signed_in.hs.run("cms", "list", "conf-list", cwd=tmp_path)).stdout.split()
    expected = sorted({path.split("/", 1)[0] for path in
                       remote_tree(signed_in.emulator, PORTAL, "conf-list")})
    assert sorted(name for name in listed if name in expected) == expected
    assert len([name for name in listed if name in expected]) == len(expected)


def test_delete(signed_in: SignedIn, tmp_path: Path) -> None:
    """``hs cms delete`` of one file and of a whole folder removes exactly those."""
    files = seed(signed_in, "conf-delete")
    ok(signed_in.hs.run("cms", "delete", "conf-delete/theme.json", cwd=tmp_path))
    ok(signed_in.hs.run("cms", "delete", "conf-delete/modules", cwd=tmp_path))
    expected = {path: content for path, content in files.items()
                if path != "theme.json" and not path.startswith("modules/")}
    assert remote_tree(signed_in.emulator, PORTAL, "conf-delete") == expected


def test_preload_refuses_connections_off_the_machine(signed_in: SignedIn,
                                                      tmp_path: Path) -> None:
    """Under the suite's node options a connect to a non-loopback address and a DNS
    lookup of a public name both fail with the preload's refusal; loopback still works."""
    script = (
        "const net=require('net');const dns=require('dns');"
        "const s=net.connect(443,'203.0.113.7');s.on('error',e=>console.log('A',e.message));"
        "dns.lookup('example.com',e=>console.log('B',e&&e.code));"
        "const l=net.createServer(c=>c.end()).listen(0,'127.0.0.1',()=>{"
        "net.connect(l.address().port,'127.0.0.1').on('connect',()=>{console.log('C ok');"
        "l.close();process.exit(0)})});"
    )
    result = subprocess.run(["node", "-e", script], env=signed_in.hs.env(), cwd=tmp_path,
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    assert "A hubsync conformance: connect to 203.0.113.7 refused" in result.stdout
    assert "B ENOTFOUND" in result.stdout
    assert "C ok" in result.stdout
