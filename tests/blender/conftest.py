"""Blender tests run the add-on inside the real ``bpy`` module, one fresh Blender process per module.

``import bpy`` happens once per process and leaves Blender's state behind (installed extensions,
handlers, preferences), and Blender must learn where its user folder is before that import. So the
tests that need Blender live in ``tests/blender/inside/``, named ``bpy_*.py`` so that the main pytest
run never imports them, and :mod:`test_in_blender` runs each in a child pytest whose Blender has its
own temporary user folder and installs the extension zip built here. To run one of them directly
(it builds the zip itself when TPC_ADDON_ZIP is not set):

    PYTHONPATH=tests/blender/inside:tests/blender:. .venv/bin/python -m pytest -p blender_session \
        -o python_files='bpy_*.py' tests/blender/inside/bpy_export.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def build_addon(out: Path, platforms: str = "linux-x64") -> Path:
    """Build the extension zip with scripts/build_addon.py (wheels for ``platforms`` only)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_addon.py"), "--platforms", platforms, "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, f"build_addon.py failed:\n{result.stderr}"
    return Path(result.stdout.strip())


@pytest.fixture(scope="session")
def addon_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_addon(tmp_path_factory.mktemp("addon-dist"))
