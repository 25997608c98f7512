"""Papercuts, links into HubSpot, shell completion, --json, and `service status`.

Subprocess tests read what a user would read; the link shapes are checked against the
HubSpot CLI's own (cited in hubsync/render.py).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from hubsync.config import config_from_bytes
from hubsync.emulator import EmulatorThread
from hubsync.render import SYMBOLS, format_entry, links
from tests.support.processes import (
    HUBSYNC,
    HubsyncProcess,
    hubsync_process,
    remote_tree,
    wait_until,
)
from tests.ux.ux_helpers import Project, make_project

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("argv", [
    ("auth", "list"), ("auth", "test"), ("auth", "remove"), ("auth", "add"),
    ("auth", "import"), ("service", "install"), ("service", "uninstall"),
    ("service", "status"), ("pause",), ("resume",), ("flush",), ("reload",),
    ("completion",), ("check",), ("push",), ("watch",),
])
def test_every_command_help_has_a_description_and_an_example(argv: tuple[str, ...]) -> None:
    """`--help` of each of these commands says what it does and shows an example."""
    result = subprocess.run([*HUBSYNC, *argv, "--help"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    usage, _, rest = result.stdout.partition("\n\n")
    assert usage.startswith("usage: hubsync")
    assert "examples:" in rest
    description = rest.split("\n\n")[0]
    assert len(description) > 40, description


def test_main_help_names_the_real_service_verbs() -> None:
    """The main help says `uninstall` (the verb that exists), not `remove`."""
    result = subprocess.run([*HUBSYNC, "--help"], capture_output=True, text=True,
                            timeout=60, check=False)
    line = next(x for x in result.stdout.splitlines() if x.strip().startswith("service "))
    assert "uninstall" in line
    assert "remove" not in line


def test_log_lines_align_and_show_no_python_reprs() -> None:
    """Log lines of different events and account names have their columns at the same
    offsets, values that are lists or dicts read as JSON, and `✗` means only failure."""
    entries = [
        {"ts": "2026-11-29T10:00:00.000Z", "event": "pushed", "account": "sandbox",
         "hub_user_email": "jane@example.com", "path": "a.css", "bytes": 10},
        {"ts": "2026-11-29T10:00:01.000Z", "event": "deleted", "account": "st",
         "hub_user_id": 7, "path": "b.css"},
        {"ts": "2026-11-29T10:00:02.000Z", "event": "failed", "account": "production-eu",
         "hub_user_email": "joe@example.com", "path": "c.html", "error": "bad",
         "details": ["x", {"line": 2}], "flag": True},
    ]
    lines = [format_entry(e) for e in entries]
    for column in ("a.css", "b.css", "c.html"):
        assert column in " ".join(lines)
    assert len({line.index(path) for line, path in
                zip(lines, ("a.css", "b.css", "c.html"), strict=True)}) == 1
    assert 'details=["x", {"line": 2}]' in lines[2]
    assert "flag=true" in lines[2]
    assert "'line'" not in lines[2]
    assert lines[1].split()[2] == SYMBOLS["deleted"] != "✗"
    assert lines[2].split()[2] == "✗"


def _project_with_prod_accounts(tmp_path: Path) -> Path:
    root = tmp_path / "theme"
    root.mkdir()
    (root / "theme.json").write_text("{}")
    other = tmp_path / "assets"
    other.mkdir()
    text = (f'[accounts.sandbox]\nportal_id = 111\n[accounts.qa]\nportal_id = 333\nenv = "qa"\n'
            f'[accounts.local]\nportal_id = 9\napi_base = "http://127.0.0.1:1"\n'
            f'[[watch]]\nname = "theme"\nsrc = "{root}"\ndest = "My Theme"\n'
            f'accounts = ["sandbox", "qa", "local"]\n'
            f'[[watch]]\nname = "assets"\nsrc = "{other}"\ndest = "assets"\n'
            f'accounts = ["sandbox"]\n')
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_links_name_the_theme_preview_and_design_manager_of_each_account(
        tmp_path: Path) -> None:
    """Per account: the Design Manager (`{origin}/design-manager/{portal}`) with the
    folder, and for a theme (theme.json) its preview
    (`{origin}/theme-previewer/{portal}/edit/{theme}`); qa uses app.hubspotqa.com; an
    account on a custom api_base (an emulator) gets none."""
    path = _project_with_prod_accounts(tmp_path)
    config = config_from_bytes(path.read_bytes(), path)
    assert links(config) == [
        "sandbox: Design Manager https://app.hubspot.com/design-manager/111 (folder My Theme)",
        "sandbox: theme preview https://app.hubspot.com/theme-previewer/111/edit/My%20Theme",
        "qa: Design Manager https://app.hubspotqa.com/design-manager/333 (folder My Theme)",
        "qa: theme preview https://app.hubspotqa.com/theme-previewer/333/edit/My%20Theme",
        "sandbox: Design Manager https://app.hubspot.com/design-manager/111 (folder assets)",
    ]
    assert links(config, watches=["assets"], accounts=["qa"]) == []


def test_completion_for_bash_completes_commands_and_options(tmp_path: Path) -> None:
    """The bash script, sourced in a real bash, completes `hubsync pus` to `push` and
    `hubsync push --acc` to `--account`; --install writes it where bash-completion looks."""
    script = subprocess.run([*HUBSYNC, "completion", "bash"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert script.returncode == 0, script.stderr
    (tmp_path / "hubsync.bash").write_text(script.stdout)
    probe = (f"source {tmp_path / 'hubsync.bash'}\n"
             "fn=$(complete -p hubsync | sed -E 's/.*-F ([^ ]+).*/\\1/')\n"
             "COMP_WORDS=(hubsync pus); COMP_CWORD=1; COMP_LINE='hubsync pus'; "
             "COMP_POINT=${#COMP_LINE}; $fn hubsync pus hubsync; echo \"${COMPREPLY[*]}\"\n"
             "COMP_WORDS=(hubsync push --acc); COMP_CWORD=2; COMP_LINE='hubsync push --acc'; "
             "COMP_POINT=${#COMP_LINE}; $fn hubsync --acc push; echo \"${COMPREPLY[*]}\"\n")
    result = subprocess.run(["bash", "-c", probe], capture_output=True, text=True,
                            timeout=60, check=False)
    first, second = result.stdout.splitlines()[-2:]
    assert first.split() == ["push"]
    assert "--account" in second.split()

    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "PATH": "/usr/bin:/bin"}
    installed = subprocess.run([*HUBSYNC, "completion", "bash", "--install"], env=env,
                               capture_output=True, text=True, timeout=60, check=False)
    target = tmp_path / "data" / "bash-completion" / "completions" / "hubsync"
    assert installed.returncode == 0, installed.stderr
    assert f"wrote {target}" in installed.stdout
    assert target.read_text() == script.stdout


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_completion_for_zsh_and_fish_knows_every_command(shell: str, tmp_path: Path) -> None:
    """The zsh and fish scripts name every command; when the shell is installed, it
    parses the script without error."""
    result = subprocess.run([*HUBSYNC, "completion", shell], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    for command in ("push", "watch", "auth", "reload", "completion", "service"):
        assert command in result.stdout
    binary = shutil.which(shell)
    if binary is not None:
        script = tmp_path / f"hubsync.{shell}"
        script.write_text(result.stdout)
        check = subprocess.run([binary, "-n", str(script)], capture_output=True, text=True,
                               timeout=60, check=False)
        assert check.returncode == 0, check.stderr


def test_check_json_reports_valid_and_invalid_configs(tmp_path: Path) -> None:
    """`check --json`: ok with the names and notes, or ok=false with every problem and
    exit 78."""
    path = _project_with_prod_accounts(tmp_path)
    good = subprocess.run([*HUBSYNC, "--config", str(path), "check", "--json"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert good.returncode == 0
    report = json.loads(good.stdout)
    assert report["ok"] is True
    assert report["watches"] == ["theme", "assets"]
    path.write_text(path.read_text().replace("portal_id = 111", "portal_id = -1"))
    bad = subprocess.run([*HUBSYNC, "--config", str(path), "check", "--json"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 78
    assert json.loads(bad.stdout)["ok"] is False
    assert any("portal_id" in p for p in json.loads(bad.stdout)["problems"])


def test_push_account_mode_and_json(tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`push --account sandbox --mode draft --json`: only sandbox gets the files, in the
    draft buffer and not live; the summary is one JSON object."""
    emu = emulator_thread
    project = make_project(tmp_path, emu)
    result = project.run("push", "--account", "sandbox", "--mode", "draft", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["accounts"] == {"sandbox": {"pushed": 4, "deleted": 0, "held_deletes": 0}}
    drafts = {p for p in emu.files(111, "draft") if p.startswith("my-theme/")}
    assert "my-theme/theme.json" in drafts
    assert remote_tree(emu, 111, "my-theme") == {}
    assert remote_tree(emu, 222, "my-theme") == {}
    assert emu.files(222, "draft") == {}


def _watch(project: Project, tmp_path: Path) -> AbstractContextManager[HubsyncProcess]:
    return hubsync_process(["--config", str(project.config), "watch"], project.env(),
                           tmp_path / "watch.out", stop_signal=signal.SIGINT)


def test_control_commands_print_json_and_service_status_names_the_holder(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """Against a running foreground watch: `pause --json`/`resume --json`/`flush --json`
    print the session's answer as JSON; `resume` says what it did; `service status`
    says a foreground `hubsync watch` holds the state dir, not that a service runs."""
    emu = emulator_thread
    project = make_project(tmp_path, emu)
    with _watch(project, tmp_path) as watch:
        watch.wait_for_output("watching")
        paused = project.run("pause", "staging", "--json")
        assert paused.returncode == 0, paused.stderr
        states = {a["name"]: a["paused"] for a in json.loads(paused.stdout)["accounts"]}
        assert states == {"sandbox": False, "staging": True}

        resumed = project.run("resume", "staging")
        assert resumed.stdout.strip() == "resumed staging; no account is paused now"

        flushed = project.run("flush", "--json", "--timeout", "30")
        assert flushed.returncode == 0, flushed.stderr
        assert {a["name"]: a["pending"] for a in json.loads(flushed.stdout)["accounts"]} == {
            "sandbox": 0, "staging": 0}

        status = project.run("service", "status")
        assert status.returncode == 0, status.stderr
        assert (f"is held by a foreground `hubsync watch` (PID {watch.pid}); it is not "
                "hubsync.service") in status.stdout
        assert "running, PID" not in status.stdout
        wait_until(lambda: "theme.json" in remote_tree(emu, 222, "my-theme"), what="push")


def test_watch_account_and_mode_hold_across_a_reload(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """`watch --account sandbox --mode draft`: sandbox gets each file in its draft buffer,
    staging gets nothing, and after `hubsync reload` a new file still follows the same
    selection (flush is the barrier before each "nothing happened" check)."""
    emu = emulator_thread
    project = make_project(tmp_path, emu)
    with hubsync_process(["--config", str(project.config), "watch", "--account", "sandbox",
                          "--mode", "draft", "-v"], project.env(), tmp_path / "watch.out",
                         stop_signal=signal.SIGINT) as watch:
        watch.wait_for_output("watching")
        assert project.run("flush", "--timeout", "30").returncode == 0
        assert "my-theme/theme.json" in emu.files(111, "draft")
        assert remote_tree(emu, 111, "my-theme") == {}
        assert emu.files(222, "draft") == {}

        assert project.run("reload").returncode == 0
        watch.wait_for_output("config_reloaded")
        (project.root / "css" / "new.css").write_text("/* new */")
        wait_until(lambda: "my-theme/css/new.css" in emu.files(111, "draft"),
                   what="the new file in sandbox's draft")
        assert project.run("flush", "--timeout", "30").returncode == 0
        assert emu.files(222, "draft") == {}
        assert remote_tree(emu, 111, "my-theme") == {}


def test_status_and_service_status_name_a_foreground_push(
        tmp_path: Path, emulator_thread: EmulatorThread) -> None:
    """While a slow `hubsync push` holds the state dir (the emulator answers after 2 s),
    `service status` and `status` say a foreground `hubsync push` holds it: not that a
    service is running, and not a guess."""
    from hubsync.lock import lock_holder

    emu = emulator_thread
    project = make_project(tmp_path, emu, accounts=("sandbox",))
    emu.set_faults(latency_ms=2000)
    with hubsync_process(["--config", str(project.config), "push"], project.env(),
                         tmp_path / "push.out", stop_signal=signal.SIGINT) as push:
        wait_until(lambda: lock_holder(project.state) == push.pid, what="push holds the lock")
        service = project.run("service", "status")
        assert (f"is held by a foreground `hubsync push` (PID {push.pid}); it is not "
                "hubsync.service") in service.stdout
        status = project.run("status")
        assert (f"not answering: a foreground `hubsync push` (PID {push.pid}) holds "
                f"{project.state} but takes no commands") in status.stdout
        emu.set_faults(latency_ms=0)
        assert push.process.wait(60) == 0
