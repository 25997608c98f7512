"""The systemd units and `hubsync service`: verified by systemd-analyze, offline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hubsync import systemd as service

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "systemd" / "hubsync.service"
TEMPLATE = REPO / "systemd" / "hubsync@.service"


@pytest.fixture
def analyze() -> str:
    """systemd-analyze, which CI must have: missing it fails there and skips elsewhere."""
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("HUBSYNC_TEST_SECRET_SERVICE") == "1":
            pytest.fail("systemd-analyze is missing; install the Debian `systemd` package")
        pytest.skip("systemd-analyze is not installed (Debian package `systemd`)")
    return found


def _verify(analyze: str, unit: Path, tmp_path: Path, *, user: bool) -> str:
    """All output of `systemd-analyze [--user] verify` (it exits 0 on typos: output is failure)."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    home = tmp_path / "verify-home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "SYSTEMD_LOG_COLOR": "0",
    }
    argv = [analyze, *(["--user"] if user else []), "verify", str(unit)]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=60, check=False)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 and not output:
        output = f"exit status {result.returncode}"
    return output


def _copy(unit: Path, directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    target.write_text(unit.read_text(encoding="utf-8"), encoding="utf-8")
    return target


@pytest.mark.parametrize("user", [False, True], ids=["system", "user"])
@pytest.mark.parametrize(("shipped", "name"), [(SHIPPED, "hubsync.service"),
                                               (TEMPLATE, "hubsync@work.service")])
def test_shipped_units_verify_without_any_output(
    analyze: str, tmp_path: Path, shipped: Path, name: str, user: bool
) -> None:
    """The shipped unit and an instance of the template pass verify with no output at all."""
    unit = _copy(shipped, tmp_path / "units", name)
    assert _verify(analyze, unit, tmp_path, user=user) == ""


def test_verify_check_catches_a_typo(analyze: str, tmp_path: Path) -> None:
    """verify exits 0 on `Type=notfy` but prints a warning: our check must see it."""
    unit = _copy(SHIPPED, tmp_path / "units", "hubsync.service")
    unit.write_text(unit.read_text().replace("Type=notify", "Type=notfy"))
    assert "notfy" in _verify(analyze, unit, tmp_path, user=True)


def test_shipped_unit_is_the_template_rendered_with_env() -> None:
    """systemd/hubsync.service is exactly what `service install` renders, with /usr/bin/env."""
    rendered = service.render_unit(service.SHIPPED_EXEC_START, header=service.SHIPPED_HEADER)
    assert SHIPPED.read_text(encoding="utf-8") == rendered


@pytest.mark.parametrize("unit", [SHIPPED, TEMPLATE])
def test_units_have_the_required_settings(unit: Path) -> None:
    """Type=notify, reload by SIGHUP, no restart loop on exit 78, and no network-online."""
    lines = {line.strip() for line in unit.read_text().splitlines()}
    for required in (
        "Type=notify", "NotifyAccess=main", "ExecReload=kill -HUP $MAINPID",
        "Restart=on-failure", "RestartPreventExitStatus=78", "UMask=0077",
        "Environment=PYTHONUNBUFFERED=1", "WantedBy=default.target", "NoNewPrivileges=yes",
    ):
        assert required in lines
    assert any(line.startswith("WatchdogSec=") for line in lines)
    assert any(line.startswith("TimeoutStopSec=") for line in lines)
    assert any(line.startswith("#LoadCredential=") for line in lines)
    assert any(line.startswith("ExecStart=/usr/bin/env hubsync ") for line in lines)
    assert not any("network-online" in line for line in lines if not line.startswith("#"))


def _hubsync(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "HUBSYNC_"))}
    env["HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "hubsync", *args], capture_output=True,
                          text=True, env=env, timeout=60, check=False)


@pytest.mark.parametrize("config_dir", ["conf", "my 100% conf"], ids=["plain", "space-percent"])
def test_service_install_writes_a_unit_that_verifies(
    analyze: str, tmp_path: Path, config_dir: str
) -> None:
    """`service install` into a temp HOME writes this installation's absolute ExecStart,
    which verifies cleanly in system and user mode (quoting included), and says what to
    run since no user systemd is reachable here; uninstall removes it."""
    home = tmp_path / "home"
    config = home / config_dir / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("")
    installed = _hubsync(home, "--config", str(config), "service", "install")
    assert installed.returncode == 0, installed.stderr
    unit = home / ".config" / "systemd" / "user" / "hubsync.service"
    text = unit.read_text()
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert exec_start == "ExecStart=" + service.installed_exec_start(config)
    assert exec_start.startswith(f"ExecStart={sys.executable} -m hubsync --config ")
    assert service.INSTALLED_MARKER in text
    for user in (False, True):
        assert _verify(analyze, unit, tmp_path, user=user) == ""
    if not Path("/run/systemd/system").is_dir():
        assert "systemctl --user daemon-reload" in installed.stdout
        assert "systemctl --user enable --now hubsync.service" in installed.stdout
    assert "loginctl enable-linger" in installed.stdout or Path("/var/lib/systemd/linger").is_dir()
    if "loginctl enable-linger" in installed.stdout:
        # As the docs write it, for whoever pastes it: never a bare uid.
        assert 'loginctl enable-linger "$USER"' in installed.stdout

    status = _hubsync(home, "--config", str(config), "service", "status")
    assert status.returncode == 0, status.stderr
    assert str(unit) in status.stdout
    assert "not running" in status.stdout

    removed = _hubsync(home, "--config", str(config), "service", "uninstall")
    assert removed.returncode == 0, removed.stderr
    assert not unit.exists()


def test_service_install_refuses_a_foreign_unit_and_a_bad_config(tmp_path: Path) -> None:
    """An existing unit hubsync did not write is kept; a broken config is refused (exit 78)."""
    home = tmp_path / "home"
    config = home / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[settings]\ndebounce_ms = 'soon'\n")
    bad = _hubsync(home, "--config", str(config), "service", "install")
    assert bad.returncode == 78
    assert "debounce_ms" in bad.stderr
    config.write_text("")
    unit = home / ".config" / "systemd" / "user" / "hubsync.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/bin/true\n")
    refused = _hubsync(home, "--config", str(config), "service", "install")
    assert refused.returncode == 1
    assert "--force" in refused.stderr
    assert unit.read_text() == "[Service]\nExecStart=/bin/true\n"


@pytest.mark.parametrize(
    ("argument", "quoted"),
    [
        ("/usr/bin/python3", "/usr/bin/python3"),
        ("/home/a b/c.toml", '"/home/a b/c.toml"'),
        ("/x/100%/$HOME", "/x/100%%/$$HOME"),
        ('/x/"q"', '"/x/\\"q\\""'),
    ],
)
def test_systemd_quote(argument: str, quoted: str) -> None:
    """ExecStart arguments escape specifiers (%), variables ($) and quote whitespace."""
    assert service.systemd_quote(argument) == quoted


@pytest.mark.skipif(Path("/run/systemd/system").is_dir(), reason="this machine runs systemd")
def test_probe_reports_no_systemd_cleanly() -> None:
    """Without systemd as PID 1 the probe says so, without running systemctl."""
    probe = service.probe_user_systemd()
    assert not probe.reachable
    assert "PID 1" in probe.reason
