"""pytest plugin for the tests that run inside Blender (``-p blender_session``; see ../conftest.py).

Points Blender at a temporary user folder *before* ``bpy`` is imported, installs the extension zip
into it the way Blender's "Install from Disk" does, and offers fixtures: the installed add-on's
modules, an empty scene per test, and a real ``tpc-backend serve`` process.
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="tpc-blender-user-"))

import importlib  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import bpy  # noqa: E402
import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
ADDON = "bl_ext.user_default.tpc_animate"


def install_addon() -> None:
    zip_path = os.environ.get("TPC_ADDON_ZIP")
    if not zip_path:  # run directly, not through test_in_blender.py: build the zip here
        out = tempfile.mkdtemp(prefix="tpc-addon-dist-")
        build = [sys.executable, str(ROOT / "scripts" / "build_addon.py"), "--platforms", "linux-x64", "--out", out]
        zip_path = subprocess.run(build, check=True, capture_output=True, text=True).stdout.strip()
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    if ADDON not in bpy.context.preferences.addons:
        raise RuntimeError(f"installing {zip_path} did not enable {ADDON}; see Blender's messages above")


def pytest_sessionstart(session: pytest.Session) -> None:
    install_addon()


@pytest.fixture
def addon():
    """The installed add-on package (its submodules are attributes once imported)."""
    module = importlib.import_module(ADDON)
    for name in ("bone_mapping", "camera_view", "jobs", "job_files", "pose_export", "pose_sources", "silhouette", "vse_strip"):
        importlib.import_module(f"{ADDON}.{name}")
    return module


@pytest.fixture
def scene() -> bpy.types.Scene:
    """An empty file with one scene (the add-on stays enabled)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy.context.scene


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Backend:
    """A real ``tpc-backend serve`` on a free loopback port, with its own data folder."""

    def __init__(self, data: Path, log: Path) -> None:
        self.data, self.log = data, log
        self.process: subprocess.Popen | None = None
        self.address = ""

    def start(self) -> "Backend":
        ready = self.data / "ready.txt"
        ready.unlink(missing_ok=True)
        executable = Path(sys.executable).parent / "tpc-backend"
        self.process = subprocess.Popen(
            [str(executable), "serve", "--bind", "tcp://127.0.0.1:0", "--data", str(self.data), "--ready-file", str(ready)],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"),
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not (ready.exists() and ready.read_text().strip()):
            if self.process.poll() is not None:
                raise RuntimeError(f"tpc-backend exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"tpc-backend did not start within 120 s:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)
        self.address = ready.read_text().strip()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("backend")
    server = Backend(folder / "data", folder / "backend.log").start()
    yield server
    server.stop()
