"""The README's promises that code can check: its Python quick start runs as written, its links lead
somewhere, and it stays a front page."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE = ROOT / "backend" / "examples" / "astronaut"


def test_the_python_quick_start_runs_as_written(tmp_path, monkeypatch):
    from tpc.image_io import read_image

    code = re.search(r"<!-- library-quick-start -->\s*```python\n(.*?)```", README, re.S)
    assert code, "README.md lost its Python quick start"
    shutil.copy(EXAMPLE / "poses.json", tmp_path / "poses.json")
    monkeypatch.chdir(tmp_path)
    namespace = {"photo": read_image(EXAMPLE / "reference.jpg")}
    exec(compile(code.group(1), "README.md quick start", "exec"), namespace)
    frame = namespace["frame"]
    assert frame.image.shape[:2] == frame.mask.shape and frame.mask.any()
    assert len(frame.fits) == 1 and 0.3 < frame.fits[0].score <= 1.0 and np.isfinite(frame.fits[0].transform.matrix).all()


def test_every_link_and_picture_of_the_readme_and_the_docs_exists():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def test_the_readme_is_a_front_page_that_starts_with_the_two_commands():
    lines = README.splitlines()
    assert len(lines) <= 150
    assert lines[3].startswith("scripts/setup.sh && .venv/bin/tpc demo")
    assert lines[4].startswith("scripts/setup.sh && .venv/bin/python -m pytest")
