"""The /_emulator/ inspection and control API, driven over HTTP."""

from __future__ import annotations

import hashlib

from hubsync.emulator import Emulator
from tests.emulator.emulator_wire import Wire, assert_error_shape


async def test_tree_listing_per_portal_and_environment(emulator: Emulator, wire: Wire) -> None:
    """GET files/{portal} lists sha256, size, writer, updatedAt and before_meta per file."""
    token = await wire.token(emulator.account("sandbox").key)
    await wire.upload(token, 111, "t/modules/m.module/module.css", b"a{}")
    await wire.upload(token, 111, "t/draft.css", b"b{}", buffer=True)
    published = (await wire.raw("GET", "/_emulator/files/111")).json()
    assert published["environment"] == "published"
    entry = published["files"]["t/modules/m.module/module.css"]
    assert entry["sha256"] == hashlib.sha256(b"a{}").hexdigest()
    assert (entry["size"], entry["user_id"], entry["before_meta"]) == (3, 9001, True)
    assert entry["updated_at_ms"] > 0
    assert "t/draft.css" not in published["files"]
    draft = (await wire.raw("GET", "/_emulator/files/111?environment=draft")).json()
    assert set(draft["files"]) == {"t/modules/m.module/module.css", "t/draft.css"}
    assert (await wire.raw("GET", "/_emulator/files/222")).json()["files"] == {}
    content = await wire.raw("GET", "/_emulator/content/111/draft/t/draft.css")
    assert content.body == b"b{}"


async def test_request_log_over_http(emulator: Emulator, wire: Wire) -> None:
    """GET requests shows each API call with endpoint, path, portal, status and user."""
    token = await wire.token(emulator.account("sandbox").key)
    await wire.upload(token, 111, "t/a.css", b"a{}")
    await wire.delete(token, 111, "t/missing.css")
    log = (await wire.raw("GET", "/_emulator/requests")).json()
    assert [(r["endpoint"], r["status"]) for r in log] == [
        ("auth", 200), ("upload", 200), ("delete", 404)]
    assert log[1]["remote_path"] == "t/a.css"
    assert (log[1]["portal_id"], log[1]["user_id"], log[1]["method"]) == (111, 9001, "POST")
    assert len((await wire.raw("GET", "/_emulator/requests?since=2")).json()) == 1
    assert (await wire.raw("DELETE", "/_emulator/requests")).status == 204
    assert emulator.requests == []


async def test_faults_set_and_cleared_over_http(emulator: Emulator, wire: Wire) -> None:
    """PUT faults replaces the settings and takes effect; DELETE clears them."""
    token = await wire.token(emulator.account("sandbox").key)
    reply = await wire.raw("PUT", "/_emulator/faults",
                           json={"storm_seconds": 30, "retry_after": 3})
    assert reply.json()["storm_remaining_s"] > 29
    assert (await wire.meta(token, 111, "")).headers["Retry-After"] == "3"
    assert (await wire.raw("DELETE", "/_emulator/faults")).json()["storm_seconds"] == 0
    assert (await wire.meta(token, 111, "")).status == 200
    bad = await wire.raw("PUT", "/_emulator/faults", json={"error_rate": 2})
    assert_error_shape(bad, 400)
    unknown = await wire.raw("PUT", "/_emulator/faults", json={"explode": True})
    assert_error_shape(unknown, 400)
    await wire.raw("PUT", "/_emulator/faults", json={"error_rate": 1})
    assert emulator.faults.error_rate == 1.0
    assert (await wire.meta(token, 111, "")).status >= 500


async def test_revoke_rotate_expire_over_http(emulator: Emulator, wire: Wire) -> None:
    """revoke (by account or key), rotate and expire-tokens act like the Python API."""
    sandbox_key = emulator.account("sandbox").key
    token = await wire.token(sandbox_key)
    assert (await wire.raw("POST", "/_emulator/revoke", json={"account": "sandbox"})).status \
        == 204
    assert (await wire.exchange(sandbox_key)).status == 401
    staging_key = emulator.account("staging").key
    await wire.raw("POST", "/_emulator/revoke", json={"key": staging_key})
    assert (await wire.exchange(staging_key)).status == 401
    rotated = (await wire.raw("POST", "/_emulator/rotate", json={"account": "sandbox"})).json()
    assert (await wire.exchange(rotated["key"])).status == 200
    assert (await wire.raw("POST", "/_emulator/expire-tokens")).status == 204
    assert_error_shape(await wire.meta(token, 111, ""), 401, "EXPIRED_AUTHENTICATION")


async def test_add_account_and_rate_limit_over_http(emulator: Emulator, wire: Wire) -> None:
    """POST accounts returns the new key, which exchanges; PUT rate-limit applies at once."""
    reply = await wire.raw("POST", "/_emulator/accounts", json={
        "name": "qa", "portal_id": 333, "user_id": 9333, "email": "qa@example.com"})
    assert reply.status == 201
    grant = (await wire.exchange(reply.json()["key"])).json()
    assert (grant["hubId"], grant["userId"]) == (333, 9333)
    listed = (await wire.raw("GET", "/_emulator/accounts")).json()
    assert {a["name"] for a in listed} == {"sandbox", "staging", "qa"}
    assert all("key" not in a for a in listed)
    duplicate = await wire.raw("POST", "/_emulator/accounts",
                               json={"name": "qa", "portal_id": 1, "user_id": 2})
    assert_error_shape(duplicate, 400)
    limits = await wire.raw("PUT", "/_emulator/rate-limit", json={"limit": 7, "window_ms": 2000})
    assert limits.json() == {"limit": 7, "window_ms": 2000}
    assert emulator.rate_limit == (7, 2000)
    summary = (await wire.raw("GET", "/_emulator/")).json()
    assert summary["portals"] == [111, 222, 333]
    assert summary["rate_limit"] == {"limit": 7, "window_ms": 2000}


async def test_unknown_api_paths_and_methods(wire: Wire) -> None:
    """Paths outside the contract get a 404 and wrong methods a 405, both as HubSpot errors."""
    assert_error_shape(await wire.raw("GET", "/crm/v3/objects/contacts"), 404)
    assert_error_shape(await wire.raw("GET", "/localdevauth/v1/auth/refresh"), 405)
    assert_error_shape(await wire.raw("GET", "/content/filemapper/v1/upload/a.css"), 405)
    assert_error_shape(await wire.raw("GET", "/content/filemapper/v1/rename/a.css"), 404)
