"""pytest plugin for the tests that run inside Blender (``-p blender_session``; see ../conftest.py).

Points Blender at a temporary user folder *before* ``bpy`` is imported, installs the extension zip
into it the way Blender's "Install from Disk" does, and offers fixtures: the installed add-on's
modules, an empty scene per test, a real ``tpc-backend serve`` process, and a :class:`Relay` that
can hold requests back on their way to it.
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="tpc-blender-user-"))

import importlib  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import bpy  # noqa: E402
import msgpack  # noqa: E402
import pytest  # noqa: E402
import zmq  # noqa: E402

from tests.support.backend import Backend  # noqa: E402

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
    for name in (
        "bone_mapping",
        "bone_names",
        "camera_view",
        "framing",
        "jobs",
        "job_worker",
        "job_files",
        "motion_import",
        "pose_export",
        "pose_sources",
        "rig_points",
        "silhouette",
        "vse_strip",
    ):
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


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    server = Backend(tmp_path_factory.mktemp("backend") / "data").start(timeout=120)
    yield server
    if server.alive:
        server.stop(timeout=30)


class Relay:
    """A loopback hop between the add-on and a real backend that can hold requests back.

    Every client socket gets a socket of its own towards the backend, so the backend sees the same
    conversations. A message of a type named in ``hold`` (e.g. ``"submit"``) -- and everything that
    follows it from the same client socket, heartbeats included -- waits in the relay until that type
    is released: a request stays "on its way" exactly as long as a test needs, with no timing luck.
    ``seen`` lists the type of every client message in arrival order; ``answered`` the type of the
    first request of the socket each answer coming back goes to.
    """

    def __init__(self, backend_address: str, hold: tuple[str, ...]) -> None:
        self.backend_address = backend_address
        self.seen: list[str] = []
        self.answered: list[str] = []
        self._holding = set(hold)  # replaced, never changed in place: the relay thread reads it
        self._context = zmq.Context()
        self._front = self._context.socket(zmq.ROUTER)
        self.address = f"tcp://127.0.0.1:{self._front.bind_to_random_port('tcp://127.0.0.1')}"
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tpc-test-relay", daemon=True)
        self._thread.start()

    def release(self, kind: str | None = None) -> None:
        """Send on what a held ``kind`` (None: every kind) kept back, in order, and hold it no more."""
        self._holding = set() if kind is None else self._holding - {kind}

    def close(self) -> None:
        self._closing.set()
        self._thread.join(10)

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._front, zmq.POLLIN)
        towards_backend: dict[bytes, zmq.Socket] = {}  # client socket identity -> our socket to the backend
        first_request: dict[bytes, str] = {}
        held: dict[bytes, tuple[str, list[list[bytes]]]] = {}  # identity -> (the kind that holds it, messages)
        try:
            while not self._closing.is_set():
                holding = self._holding
                for identity in [identity for identity, (kind, _) in held.items() if kind not in holding]:
                    for frames in held.pop(identity)[1]:
                        towards_backend[identity].send_multipart(frames)
                for ready, _ in poller.poll(20):
                    if ready is self._front:
                        identity, *frames = self._front.recv_multipart()
                        kind = msgpack.unpackb(frames[0])["type"]
                        self.seen.append(kind)
                        if identity not in towards_backend:
                            upstream = towards_backend[identity] = self._context.socket(zmq.DEALER)
                            upstream.connect(self.backend_address)
                            poller.register(upstream, zmq.POLLIN)
                            first_request[identity] = kind
                        if identity in held:
                            held[identity][1].append(frames)
                        elif kind in holding:
                            held[identity] = (kind, [frames])
                        else:
                            towards_backend[identity].send_multipart(frames)
                    else:
                        identity = next(key for key, upstream in towards_backend.items() if upstream is ready)
                        self._front.send_multipart([identity, *ready.recv_multipart()])
                        self.answered.append(first_request[identity])
        finally:
            for upstream in towards_backend.values():
                upstream.close(linger=0)
            self._front.close(linger=0)
            self._context.term()


@pytest.fixture
def relay(backend):
    """Build with ``relay("submit", ...)``, the request types to hold back; closed after the test."""
    made: list[Relay] = []

    def make(*hold: str) -> Relay:
        made.append(Relay(backend.address, hold))
        return made[-1]

    yield make
    for one in made:
        one.close()
