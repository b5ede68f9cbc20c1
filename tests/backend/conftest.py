"""Fixtures for the service tests: real `tpc-backend serve` processes on free loopback ports.

Nothing here stands in for the service: every test talks over real ZeroMQ sockets to a real backend
process with a real SQLite journal in a temporary data folder, and can SIGTERM or kill -9 it.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import zmq

from tests.support.backend import Backend
from tests.support.example_jobs import example_files
from tpc_protocol import PROTOCOL_VERSION, codec
from tpc_protocol.messages import Done, Hello


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


class RawPeer:
    """A DEALER that sends whatever it is given and reads the replies."""

    def __init__(self, address: str) -> None:
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(address)
        self.probes = itertools.count(10**12)

    def close(self) -> None:
        self.socket.close(0)
        self.context.term()

    def send(self, parts: list[bytes]) -> None:
        self.socket.send_multipart(parts)

    def reply(self, timeout: float = 10.0) -> codec.Envelope:
        assert self.socket.poll(int(timeout * 1000)), "the backend did not answer"
        return codec.decode(self.socket.recv_multipart(), side="client")  # every reply must be well-formed

    def probe(self) -> list[codec.Envelope]:
        """Ask hello and return the replies that came before its answer (the backend is alive)."""
        req = next(self.probes)
        self.send(codec.encode(Hello("probe"), req))
        before = []
        while True:
            envelope = self.reply()
            if envelope.req == req:
                assert isinstance(envelope.message, Done) and envelope.message.result["version"] == PROTOCOL_VERSION
                return before
            before.append(envelope)


@pytest.fixture
def peer(shared_backend):
    raw = RawPeer(shared_backend.address)
    yield raw
    raw.close()
    assert shared_backend.alive, shared_backend.log()
