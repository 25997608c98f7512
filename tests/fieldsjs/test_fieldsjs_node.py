"""Running node on one fields.js (``hubsync.fieldsjs``): the rule of which files are
sources, the timeout, and what a file that never answers gets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubsync.errors import FieldsConversionFailed
from hubsync.fieldsjs import child_env, is_source, run_node, sources_of, target_of
from tests.support.processes import wait_until


def test_sources_are_fields_files_at_the_root_or_inside_a_module() -> None:
    """As ``hs`` (``isConvertableFieldJs``): fields.js/.mjs/.cjs at the watch root or at
    any depth inside a ``*.module`` folder; anywhere else it is an ordinary file."""
    assert is_source("fields.js")
    assert is_source("modules/hero.module/fields.mjs")
    assert is_source("hero.module/sub/fields.cjs")
    assert not is_source("js/fields.js")
    assert not is_source("hero.module/fields.ts")
    assert not is_source("hero.module/myfields.js")
    assert target_of("hero.module/fields.cjs") == "hero.module/fields.json"
    assert target_of("js/fields.js") == "js/fields.js"
    assert sources_of("hero.module/fields.json") == (
        "hero.module/fields.js", "hero.module/fields.mjs", "hero.module/fields.cjs")
    assert sources_of("fields.json") == ("fields.js", "fields.mjs", "fields.cjs")
    assert sources_of("css/fields.json") == ()


def test_child_environment_keeps_no_hubsync_variable() -> None:
    """The child gets PATH, HOME, locale and node's own variables; never HUBSYNC_* (the
    keys) nor anything else of the parent's."""
    env = child_env({"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "NODE_PATH": "/n",
                     "HUBSYNC_KEY_SANDBOX": "pat-na1-secret", "HUBSYNC_CONFIG": "/c",
                     "AWS_SECRET_ACCESS_KEY": "x", "CREDENTIALS_DIRECTORY": "/run/c"})
    assert env == {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "NODE_PATH": "/n"}


def test_a_fields_js_that_runs_too_long_is_stopped_with_what_it_started(
    tmp_path: Path
) -> None:
    """Past the timeout node and the processes it started are killed, and the failure
    says the file did not finish."""
    module = tmp_path / "slow.module"
    module.mkdir()
    pid_file = tmp_path / "child.pid"
    (module / "fields.js").write_text(
        "const { spawn } = require('child_process');\n"
        "const child = spawn('sleep', ['300'], { stdio: 'ignore' });\n"
        f"require('fs').writeFileSync({str(pid_file)!r}, String(child.pid));\n"
        "module.exports = () => new Promise(() => setInterval(() => {}, 1000));\n")
    with pytest.raises(FieldsConversionFailed) as failed:
        run_node(module / "fields.js", rel="slow.module/fields.js", options="",
                 workdir=tmp_path, timeout_s=1.5)
    assert str(failed.value).startswith("slow.module/fields.js: node did not finish within 1.5 s")
    pid = int(pid_file.read_text())

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A zombie until its parent (node, killed too) is reaped by init.
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"

    wait_until(gone, timeout=10, what="the sleep started by fields.js to be killed")
    assert not list(tmp_path.glob("convert-*.json"))


def test_a_promise_that_never_settles_is_a_clear_failure(tmp_path: Path) -> None:
    """A function whose Promise never settles (node exits with nothing left to do):
    a failure saying so, not an empty fields.json."""
    (tmp_path / "fields.js").write_text("module.exports = () => new Promise(() => {});\n")
    with pytest.raises(FieldsConversionFailed, match="Promise never settled"):
        run_node(tmp_path / "fields.js", rel="fields.js", options="", workdir=tmp_path)


def test_console_output_of_the_file_does_not_reach_fields_json(tmp_path: Path) -> None:
    """What fields.js prints with console.log is not part of the output."""
    (tmp_path / "fields.js").write_text(
        "console.log('building fields');\nmodule.exports = () => [];\n")
    assert run_node(tmp_path / "fields.js", rel="fields.js", options="",
                    workdir=tmp_path) == b"[]"


def test_a_timer_left_running_does_not_hold_node_once_the_fields_are_out(
    tmp_path: Path
) -> None:
    """A fields.js that leaves an interval running still converts at once: node ends
    when the output is written, not at the timeout."""
    (tmp_path / "fields.js").write_text(
        "setInterval(() => {}, 1000);\nmodule.exports = async () => [{ name: 'a' }];\n")
    assert run_node(tmp_path / "fields.js", rel="fields.js", options="", workdir=tmp_path,
                    timeout_s=5) == b'[\n  {\n    "name": "a"\n  }\n]'
