"""Fixtures for the service tests: real `tpc-backend serve` processes on free loopback ports.

Nothing here stands in for the service: every test talks over real ZeroMQ sockets to a real backend
process with a real SQLite journal in a temporary data folder, and can SIGTERM or kill -9 it.
"""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.backend_jobs import Backend, example_files


@pytest.fixture
def backends(tmp_path):
    """Start backends with ``backends(name, *serve_args)``; all are killed at the end of the test."""
    started: list[Backend] = []

    def start(name: str = "data", *args: str) -> Backend:
        backend = Backend(tmp_path / name, *args).start()
        started.append(backend)
        return backend

    yield start
    for backend in started:
        if backend.alive:
            backend.kill()


@pytest.fixture(scope="module")
def shared_backend(tmp_path_factory):
    """One backend for a whole test module (for tests that do not restart it)."""
    backend = Backend(tmp_path_factory.mktemp("backend") / "data").start()
    yield backend
    assert backend.alive, f"the backend died during the module's tests:\n{backend.log()}"
    assert backend.stop() == 0, backend.log()


@pytest.fixture(scope="session")
def example() -> dict[str, Any]:
    return example_files()
