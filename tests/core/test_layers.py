"""Library modules never import the command line: ``hubsync.commands`` and ``hubsync.cli``.

Everything in ``hubsync/`` except ``cli.py``, ``__main__.py`` and ``commands/`` is
library code that the CLI, the demo and the tests build on; an import
the other way makes hidden cycles
(``commands.doctor`` -> ``doctor`` -> ``commands.service``) and lets presentation leak
into the engine. See docs/architecture.md and the engine review, section 3.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hubsync

PACKAGE_DIR = Path(hubsync.__file__).parent
FORBIDDEN = ("hubsync.commands", "hubsync.cli")
# The command line itself: `python -m hubsync` (__main__.py) is its entry point.
CLI_LAYER = frozenset({"commands", "cli.py", "__main__.py"})

# (module file relative to hubsync/, imported module): the known exceptions.
ALLOWED: frozenset[tuple[str, str]] = frozenset()
"""Empty since the engine redesign removed the last one (demo.py -> commands.watch)."""


def _library_files() -> list[Path]:
    return sorted(path for path in PACKAGE_DIR.rglob("*.py")
                  if path.relative_to(PACKAGE_DIR).parts[0] not in CLI_LAYER)


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    """Every module ``path`` imports, relative imports resolved against ``package``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from hubsync import cli` names the module in the alias, not in `module`.
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return found


def violations(path: Path) -> list[str]:
    """``file:line: module`` for each forbidden import in ``path`` not in ``ALLOWED``."""
    rel = path.relative_to(PACKAGE_DIR).as_posix() if path.is_relative_to(PACKAGE_DIR) \
        else path.name
    package = "hubsync." + ".".join(Path(rel).parent.parts) if Path(rel).parent.parts \
        else "hubsync"
    bad = []
    for line, module in _imports(path, package):
        hit = next((f for f in FORBIDDEN if module == f or module.startswith(f + ".")), None)
        if hit is None:
            continue
        # `from hubsync.commands.watch import _watch` also yields "...watch._watch".
        if any(rel == allowed_file and (module == allowed or module.startswith(allowed + "."))
               for allowed_file, allowed in ALLOWED):
            continue
        bad.append(f"{rel}:{line}: {module}")
    return bad


LIBRARY_FILES = _library_files()


def test_library_files_found() -> None:
    """The check really looks at the library (not an empty glob), and skips the CLI."""
    names = {path.relative_to(PACKAGE_DIR).as_posix() for path in LIBRARY_FILES}
    assert {"engine/session.py", "doctor.py", "demo.py", "render.py", "systemd.py",
            "app.py", "core/plan.py"} <= names
    assert "cli.py" not in names
    assert not any(name.startswith("commands/") for name in names)


@pytest.mark.parametrize("path", LIBRARY_FILES,
                         ids=lambda p: p.relative_to(PACKAGE_DIR).as_posix())
def test_library_module_does_not_import_the_cli(path: Path) -> None:
    """No library module imports hubsync.commands or hubsync.cli (bar the allow-list)."""
    assert violations(path) == []


def test_checker_flags_planted_violations(tmp_path: Path) -> None:
    """The checker itself flags each way of importing the CLI, so a pass means something."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "from hubsync.commands.log import format_entry\n"
        "from hubsync import cli\n"
        "import hubsync.commands.service\n"
        "def f():\n"
        "    from hubsync.commands import push\n"
        "from hubsync.render import format_entry\n",
        encoding="utf-8")
    flagged = [v.split(": ", 1)[1] for v in violations(sample)]
    assert flagged == ["hubsync.commands.log", "hubsync.commands.log.format_entry",
                       "hubsync.cli", "hubsync.commands.service", "hubsync.commands",
                       "hubsync.commands.push"]


def test_the_demo_no_longer_imports_the_watch_command() -> None:
    """The one exception there was (demo.py -> commands.watch._watch) is gone."""
    demo = PACKAGE_DIR / "demo.py"
    assert not any(module.startswith("hubsync.commands")
                   for _, module in _imports(demo, "hubsync"))


COMMAND_FILES = sorted((PACKAGE_DIR / "commands").glob("*.py"))


def private_sibling_imports(path: Path) -> list[str]:
    """``file:line: module.name`` for each private name imported from another command."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bad: list[str] = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.ImportFrom) and node.module
                and node.module.startswith("hubsync.commands.")):
            bad.extend(f"{path.name}:{node.lineno}: {node.module}.{alias.name}"
                       for alias in node.names if alias.name.startswith("_"))
    return bad


@pytest.mark.parametrize("path", COMMAND_FILES, ids=lambda p: p.name)
def test_commands_do_not_reach_into_each_others_privates(path: Path) -> None:
    """A command never imports another command's private helper (the old
    `commands.watch` -> `commands.push._print_plan`): shared code lives in a library
    module (render, session_client, systemd) or in ``hubsync.commands`` itself."""
    assert private_sibling_imports(path) == []


def test_private_import_checker_flags_a_planted_one(tmp_path: Path) -> None:
    """The checker flags `from hubsync.commands.push import _print_plan`."""
    sample = tmp_path / "watch.py"
    sample.write_text("from hubsync.commands.push import _print_plan, configure\n",
                      encoding="utf-8")
    assert private_sibling_imports(sample) == [
        "watch.py:1: hubsync.commands.push._print_plan"]
