"""The add-on's plain-Python parts (no bpy): rasterising, PNG, addresses, job files, imports.

These modules import neither bpy nor each other, so they load here straight from blender_addon/ and
are checked against independent references (scikit-image, OpenCV, the protocol's own job id rule).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.draw import polygon

from tests.support.imports import imports_outside, python_files
from tpc_protocol.messages import check_job_id

ADDON = Path(__file__).resolve().parents[2] / "blender_addon"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"tpc_addon_{name}", ADDON / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


silhouette, png, backend_address, job_files = map(_load, ("silhouette", "png", "backend_address", "job_files"))


# -- silhouettes -------------------------------------------------------------------------------------------
def _reference_fill(triangles: np.ndarray, width: int, height: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    for triangle in triangles:  # skimage puts pixel centres at whole numbers, as the project (and OpenCV) does
        rows, columns = polygon(triangle[:, 1], triangle[:, 0], shape=mask.shape)
        mask[rows, columns] = True
    return mask


def test_triangles_fill_like_scikit_image():
    rng = np.random.default_rng(1)
    for _ in range(50):
        triangles = rng.uniform(-30, 130, size=(int(rng.integers(1, 6)), 3, 2))
        np.testing.assert_array_equal(silhouette.rasterize_triangles(triangles, 100, 80), _reference_fill(triangles, 100, 80))


def test_a_vertex_on_a_pixel_centre_covers_that_pixel():
    """Keypoint (c, r) names the centre of pixel column c, row r; a mesh vertex projected there covers it."""
    triangle = np.array([[[10, 10], [20, 10], [10, 25]]], dtype=float)
    mask = silhouette.rasterize_triangles(triangle, 32, 32)
    assert mask[10, 10] and mask[10, 20] and mask[25, 10], "each corner's own pixel"
    assert not mask[9].any() and not mask[:, 9].any() and not mask[26:].any() and not mask[:, 21:].any()
    assert mask[10, 10:21].all() and mask[10:26, 10].all(), "the edges' pixel centres, ends included"


def test_many_small_triangles_cover_a_mesh_without_gaps():
    # A 40x30 grid of quads (two triangles each) whose outer edges run between pixels, around the
    # pixel centres 20..59 x 10..39.
    xs, ys = np.meshgrid(np.arange(20, 60) - 0.5, np.arange(10, 40) - 0.5)
    corners = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(float)
    a, b, c, d = corners, corners + [1, 0], corners + [1, 1], corners + [0, 1]
    triangles = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    mask = silhouette.rasterize_triangles(triangles, 80, 50)
    expected = np.zeros((50, 80), dtype=bool)
    expected[10:40, 20:60] = True
    np.testing.assert_array_equal(mask, expected)


def test_degenerate_and_invalid_triangles_draw_nothing():
    flat = [[[0, 0], [10, 10], [20, 20]]]
    broken = [[[0, 0], [np.nan, 5], [5, 5]]]
    outside = [[[-50, -50], [-40, -50], [-45, -40]]]
    for triangles in (flat, broken, outside, np.zeros((0, 3, 2))):
        assert not silhouette.rasterize_triangles(np.array(triangles, dtype=float), 32, 32).any()


def test_a_screen_filling_triangle_is_cut_into_chunks(monkeypatch):
    big = np.array([[[-1000, -1000], [5000, -1000], [-1000, 5000]]], dtype=float)
    monkeypatch.setattr(silhouette, "_ROWS_PER_CHUNK", 7)
    assert silhouette.rasterize_triangles(big, 300, 200).all()
    rng = np.random.default_rng(2)
    small = rng.uniform(0, 64, size=(300, 3, 2))
    np.testing.assert_array_equal(silhouette.rasterize_triangles(small, 64, 64), _reference_fill(small, 64, 64))


# -- PNG -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mask", [np.eye(7, 5, dtype=bool), (np.arange(48).reshape(6, 8) * 5).astype(np.uint8)])
def test_masks_encode_to_png_that_opencv_reads_back(mask):
    decoded = cv2.imdecode(np.frombuffer(png.encode_mask_png(mask), np.uint8), cv2.IMREAD_UNCHANGED)
    expected = mask.astype(np.uint8) * 255 if mask.dtype == bool else mask
    np.testing.assert_array_equal(decoded, expected)


def test_a_mask_must_be_two_dimensional():
    with pytest.raises(ValueError, match="2-D"):
        png.encode_mask_png(np.zeros((2, 2, 3), dtype=np.uint8))


# -- backend addresses ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "address, online, allowed",
    [
        ("tcp://127.0.0.1:5555", False, True),
        ("tcp://127.3.0.1:5555", False, True),
        ("tcp://localhost:5555", False, True),
        ("tcp://[::1]:5555", False, True),
        ("ipc:///tmp/tpc.sock", False, True),
        ("tcp://10.0.0.5:5555", False, False),
        ("tcp://render-box:5555", False, False),
        ("tcp://10.0.0.5:5555", True, True),
        ("localhost:5555", True, False),
        ("tcp://127.0.0.1:99999", True, False),
        ("ipc://", True, False),
    ],
)
def test_backend_addresses(address, online, allowed):
    if allowed:
        assert backend_address.check_address(f" {address} ", online_access=online) == address
    else:
        with pytest.raises(backend_address.AddressError, match="tcp://127.0.0.1:5555"):
            backend_address.check_address(address, online_access=online)


# -- job files -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("blend, scene", [("shot010", "Scene"), ("..weird ñame", "Szene ü"), ("x" * 80, "y" * 80), ("", "")])
def test_job_ids_follow_the_protocol_and_differ(blend, scene):
    first, second = job_files.new_job_id(blend, scene), job_files.new_job_id(blend, scene)
    assert check_job_id(first) == first and first != second


def test_frames_count_from_zero_without_a_gap_and_writes_leave_no_partial_files(tmp_path):
    for index in (0, 1, 2, 4):
        job_files.write_atomic(tmp_path / job_files.frame_name(index), b"png")
    assert job_files.frames_present(tmp_path) == 3
    with pytest.raises(IsADirectoryError):
        (tmp_path / "taken").mkdir()
        (tmp_path / "taken" / "x").write_text("x")
        job_files.write_atomic(tmp_path / "taken", b"data")
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".part")]


# -- what the add-on may import ---------------------------------------------------------------------------
ALLOWED_IMPORTS = {"bpy", "bpy_extras", "mathutils", "addon_utils", "gpu", "gpu_extras", "numpy", "zmq"}


def test_the_addon_imports_only_blender_numpy_the_standard_library_and_itself():
    files = python_files(ADDON)
    assert ADDON / "__init__.py" in files and ADDON / "job_worker.py" in files
    assert imports_outside(files, ALLOWED_IMPORTS) == [], (
        "the add-on may use only bpy, numpy, the standard library and its vendored protocol "
        "(torch, diffusers and tpc belong to the backend)"
    )
