"""What a folder of modules imports: the checks behind the import-direction tests.

The product's layers point one way (the add-on and the protocol must run inside Blender's Python, the
calibration library must not need the service), and an import that points the wrong way works on a
developer's machine, where everything is installed, and fails only for the user. Two views catch it:
the source (every ``import`` statement, lazy ones inside functions included) and a fresh interpreter
(what importing the modules really loads, through whatever they import in turn).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_MODULES = {"cython_runtime"}  # registered by any Cython extension (msgpack's, zmq's, numpy's): no package


def python_files(folder: Path) -> list[Path]:
    """Every ``.py`` file under ``folder``; fails when there is none, so a check of nothing cannot pass."""
    files = sorted(folder.rglob("*.py"))
    assert files, f"no Python files under {folder}"
    return files


def imported_roots(path: Path) -> set[str]:
    """Top-level names of the modules ``path`` imports absolutely, anywhere in it (relative imports stay inside)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots - {"__future__"}


def imports_outside(files: Iterable[Path], allowed: set[str]) -> list[str]:
    """``"file imports name"`` for each import of a module neither in ``allowed`` nor in the standard library."""
    return [
        f"{path.relative_to(ROOT)} imports {root}"
        for path in files
        for root in sorted(imported_roots(path))
        if root not in allowed and root not in sys.stdlib_module_names
    ]


def modules_loaded_by(modules: Iterable[str]) -> set[str]:
    """Top-level names, outside the standard library, that importing ``modules`` adds to ``sys.modules``
    of a fresh interpreter (the installed environment's start-up imports are not counted)."""
    probe = (
        "import importlib, json, sys\n"
        "before = set(sys.modules)\n"
        f"for name in {sorted(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in set(sys.modules) - before})))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    return {root for root in loaded if root not in sys.stdlib_module_names | RUNTIME_MODULES and not root.startswith("_")}
