"""The commands that read the state database without a running session: `hubsync status`
when stopped, and `hubsync auth list` (whose key checks moved from a JSON file into it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hubsync.commands.auth import LEGACY_STATUS_FILE, _load_statuses, _save_status
from hubsync.commands.status import config_targets
from hubsync.config import load_config
from hubsync.core.effects import Effects
from hubsync.model import AuthState, Identity, OpKind, OutboxEntry, OutboxState, SyncedFile
from hubsync.state import STATE_FILE, AuthStatus, CachedStat, StateStore, StatKey

LEGACY_IDENTITY = {"hub_id": 111, "user_id": 9001, "hub_name": "Sandbox",
                   "email": "jane@example.com", "account_type": "STANDARD"}
LEGACY_JSON: dict[str, dict[str, object]] = {
    "sandbox": {"state": "ok", "checked_at": 1700000000.5, "error": None,
                "identity": LEGACY_IDENTITY},
    "broken": {"state": "not-a-state"},
}


def write_config(tmp_path: Path, portal: int = 111) -> tuple[Path, Path, Path]:
    """A config with account `sandbox` on ``portal`` and one watch; (config, state, src)."""
    state, src = tmp_path / "state", tmp_path / "theme"
    src.mkdir(exist_ok=True)
    config = tmp_path / "config.toml"
    config.write_text("\n".join([
        "[settings]", f'state_dir = "{state}"',
        "[accounts.sandbox]", f"portal_id = {portal}", 'api_base = "http://127.0.0.1:9"',
        "[[watch]]", 'name = "theme"', f'src = "{src}"', 'dest = "my-theme"',
        'accounts = ["sandbox"]',
    ]) + "\n")
    return config, state, src


def hubsync(config: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBSYNC_")}
    env.update(XDG_RUNTIME_DIR=str(tmp_path), HUBSYNC_KEY_SANDBOX="test-key-not-used")
    return subprocess.run([sys.executable, "-m", "hubsync", "--config", str(config), *args],
                          env=env, capture_output=True, text=True, timeout=60, check=False)


def test_stopped_status_counts_the_bound_target(tmp_path: Path) -> None:
    """`status --json` with nothing running reports the outbox and stat-cache counts of
    the account's target; re-pointed to another portal, the same name has nothing."""
    config, state, src = write_config(tmp_path)

    def entry(rel: str, op: OpKind, st: OutboxState) -> OutboxEntry:
        return OutboxEntry("sandbox", f"my-theme/{rel}", "theme", rel, op,
                           "abc" if op is OpKind.UPLOAD else None, state=st)
    with StateStore.open(state) as store:
        store.bind(config_targets(load_config(config)))
        store.apply(Effects(
            upsert=[entry("a.css", OpKind.UPLOAD, OutboxState.PENDING),
                    entry("b.css", OpKind.UPLOAD, OutboxState.PARKED),
                    entry("c.css", OpKind.DELETE, OutboxState.HELD),
                    entry("d.css", OpKind.DELETE, OutboxState.HELD)],
            synced=[SyncedFile("sandbox", "my-theme/e.css", "theme", "e.css", "e")]))
        stat = CachedStat(StatKey(1, 2, 3, 4, 5), "abc", 6)
        store.save_stats(src, {"a.css": stat, "e.css": stat})
    done = hubsync(config, tmp_path, "status", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["running"] is False
    (account,) = report["accounts"]
    assert (account["pending"], account["parked"], account["held_deletes"]) == (1, 1, 2)
    assert [w["files"] for w in report["watches"]] == [2]

    moved, _, _ = write_config(tmp_path, portal=222)
    done = hubsync(moved, tmp_path, "status", "--json")
    assert done.returncode == 0, done.stderr
    (account,) = json.loads(done.stdout)["accounts"]
    assert (account["pending"], account["parked"], account["held_deletes"]) == (0, 0, 0)


def test_auth_list_reads_the_old_json_file_then_the_database(tmp_path: Path) -> None:
    """`auth list` shows a hubsync 0.1 auth-status.json without creating a database; the
    next key check imports it into auth_status (skipping an unreadable entry) and removes
    the file, and both accounts' checks are read back from the database."""
    config, state, _ = write_config(tmp_path)
    state.mkdir()
    (state / LEGACY_STATUS_FILE).write_text(json.dumps(LEGACY_JSON))
    done = hubsync(config, tmp_path, "auth", "list", "--json")
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    # `auth list --json` shows times in ISO 8601, as every other command does.
    assert (row["state"], row["checked_at"]) == ("ok", "2023-11-14T22:13:20.500Z")
    assert row["identity"] == LEGACY_IDENTITY
    assert not (state / STATE_FILE).exists()

    _save_status(state, "staging", AuthStatus(AuthState.UNAUTHORIZED, 5.0, None, "refused"))
    assert not (state / LEGACY_STATUS_FILE).exists()
    assert _load_statuses(state) == {
        "sandbox": AuthStatus(AuthState.OK, 1700000000.5, Identity(
            111, 9001, "Sandbox", "STANDARD", "jane@example.com")),
        "staging": AuthStatus(AuthState.UNAUTHORIZED, 5.0, None, "refused"),
    }
    _save_status(state, "staging", None)
    assert list(_load_statuses(state)) == ["sandbox"]
