"""Runs each module of tests/blender/inside/ in its own Blender process (see conftest.py for why)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSIDE = Path(__file__).parent / "inside"
MODULES = sorted(path.name for path in INSIDE.glob("bpy_*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("module", MODULES)
def test_in_blender(module: str, addon_zip: Path, tmp_path: Path) -> None:
    user_folder = tmp_path / "blender-user"
    user_folder.mkdir()
    environment = {
        **os.environ,
        "BLENDER_USER_RESOURCES": str(user_folder),
        "TPC_ADDON_ZIP": str(addon_zip),
        "PYTHONPATH": os.pathsep.join([str(INSIDE), str(INSIDE.parent), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "blender_session", "-p", "no:cacheprovider",
        "-o", "python_files=bpy_*.py", "--basetemp", str(tmp_path / "inner"), str(INSIDE / module),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-12000:]
        pytest.fail(f"{module} failed inside Blender (exit {result.returncode}):\n{output}", pytrace=False)
