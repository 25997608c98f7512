"""The core stays pure: its modules import only I/O-free stdlib modules, pathspec and ours."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hubsync.core

CORE_DIR = Path(hubsync.core.__file__).parent

ALLOWED_STDLIB = frozenset({
    "__future__", "abc", "bisect", "collections", "dataclasses", "enum", "fnmatch",
    "functools", "heapq", "itertools", "math", "operator", "posixpath", "re", "string",
    "typing", "types", "urllib.parse", "base64", "hmac", "json", "ipaddress",
})
ALLOWED_PACKAGES = frozenset({"pathspec"})
ALLOWED_OURS = frozenset({"hubsync.errors", "hubsync.model"})


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.append((node.lineno, "hubsync.core." + (node.module or "")))
            elif node.module is not None:
                found.append((node.lineno, node.module))
    return found


def _allowed(module: str) -> bool:
    top = module.split(".")[0]
    if module in ALLOWED_STDLIB or top in ALLOWED_PACKAGES or module in ALLOWED_OURS:
        return True
    if module == "hubsync.core" or module.startswith("hubsync.core."):
        return True
    # "collections.abc" and the like: a submodule of an allowed stdlib package.
    return any(module.startswith(allowed + ".") for allowed in ALLOWED_STDLIB)


CORE_FILES = sorted(CORE_DIR.glob("*.py"))


def test_core_has_modules() -> None:
    """The purity check really looks at the core's files (not an empty glob)."""
    names = {path.name for path in CORE_FILES}
    assert {"paths.py", "ignore.py", "plan.py", "coalesce.py", "retry.py",
            "ordering.py"} <= names


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_core_module_imports_nothing_impure(path: Path) -> None:
    """No core module imports asyncio, os, time, socket, sqlite3, aiohttp or any adapter."""
    bad = [f"{path.name}:{line}: {module}" for line, module in _imports(path)
           if not _allowed(module)]
    assert bad == []


def test_checker_rejects_impure_imports(tmp_path: Path) -> None:
    """The checker itself flags I/O imports, so a pass above means something."""
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom time import monotonic\nimport asyncio\n"
                      "from hubsync import state\nimport collections.abc\n", encoding="utf-8")
    flagged = [module for _, module in _imports(sample) if not _allowed(module)]
    assert flagged == ["os", "time", "asyncio", "hubsync"]
