"""The tree keeps the project's lint rules and formatting (ruff, configured in pyproject.toml).

Part of the suite, so that the README's one test command (and CI, which runs it) also holds the
style: a change that breaks it fails here with ruff's own report of what and where.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", [["check", "--no-cache"], ["format", "--check", "--no-cache"]], ids=["lint", "format"])
def test_ruff_is_satisfied(command):
    result = subprocess.run([sys.executable, "-m", "ruff", *command, "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (
        f"ruff {' '.join(command)} found problems (fix with `ruff check --fix .` / `ruff format .`):\n{result.stdout}{result.stderr}"
    )
