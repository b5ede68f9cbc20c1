"""The calibration library stands alone: the base install (NumPy and OpenCV) runs all of it but
:mod:`tpc.attention`, which plugs into diffusers and needs torch. It never imports the service, the
protocol or Blender: ``tpc`` is what the backend and other people's pipelines build on, not the reverse.
"""

from __future__ import annotations

from tests.support.imports import ROOT, imports_outside, modules_loaded_by, python_files

TPC = ROOT / "tpc"
BASE = {"numpy", "cv2"}
DIFFUSION = {"torch", "diffusers"}  # tpc/attention.py only
DIFFUSION_MODULES = {TPC / "attention.py"}


def test_tpc_imports_numpy_and_opencv_and_only_its_attention_module_imports_torch_and_diffusers():
    files = python_files(TPC)
    assert DIFFUSION_MODULES < set(files) and TPC / "calibration.py" in files
    base = [path for path in files if path not in DIFFUSION_MODULES]
    assert imports_outside(base, BASE | {"tpc"}) == []
    assert imports_outside(DIFFUSION_MODULES, BASE | DIFFUSION | {"tpc"}) == []


def test_importing_tpc_without_its_attention_module_loads_only_numpy_and_opencv():
    modules = [f"tpc.{path.stem}" for path in python_files(TPC) if path.stem != "__init__" and path not in DIFFUSION_MODULES]
    assert modules_loaded_by(modules) <= BASE | {"tpc"}
