"""Security: loopback by default, CURVE with an allow-list beyond it, keys from `tpc-backend keys`."""

from __future__ import annotations

import stat
import subprocess

import pytest
import zmq.auth

from tests.support.backend import BACKEND, Backend
from tests.support.example_jobs import collect, job
from tpc_backend.service.security import is_local
from tpc_protocol.client import BackendUnreachable, JobClient


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BACKEND, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """A server key pair, an allowed client and a stranger, made by `tpc-backend keys`."""
    folder = tmp_path_factory.mktemp("keys")
    for name in ("server", "alice", "mallory"):
        result = run("keys", name, "--dir", str(folder))
        assert result.returncode == 0, result.stderr
    allowed = folder / "allowed"
    allowed.mkdir()
    (allowed / "alice.key").write_bytes((folder / "alice.key").read_bytes())
    return folder


def pair(folder, name) -> tuple[str, str]:
    public, secret = zmq.auth.load_certificate(folder / f"{name}.key_secret")
    return public.decode(), secret.decode()


def test_keys_are_made_once_with_a_private_secret(keys):
    assert stat.S_IMODE((keys / "server.key_secret").stat().st_mode) == 0o600
    public, secret = zmq.auth.load_certificate(keys / "server.key_secret")
    assert len(public) == len(secret) == 40
    again = run("keys", "server", "--dir", str(keys))
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.parametrize(
    "endpoint, local",
    [("tcp://127.0.0.1:5555", True), ("tcp://localhost:1", True), ("tcp://[::1]:5", True), ("tcp://127.8.0.1:5", True),
     ("ipc:///tmp/tpc", True), ("tcp://0.0.0.0:5555", False), ("tcp://*:5555", False), ("tcp://eth0:5555", False),
     ("tcp://192.168.1.4:5555", False), ("udp://127.0.0.1:5", False)],
)  # fmt: skip
def test_which_endpoints_count_as_local(endpoint, local):
    assert is_local(endpoint) is local


def test_a_network_bind_without_curve_is_refused(tmp_path):
    result = run("serve", "--bind", "tcp://0.0.0.0:0", "--data", str(tmp_path / "data"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "tpc-backend: error: listening on tcp://0.0.0.0:0 would let anyone on the network use this backend; pass "
        "--secret-key SERVER.key_secret and --allow CLIENT_KEYS_DIR (make keys with `tpc-backend keys`), or bind tcp://127.0.0.1"
    ]
    half = run("serve", "--bind", "tcp://0.0.0.0:0", "--data", str(tmp_path / "data"), "--allow", str(tmp_path))
    assert half.returncode == 2 and "needs both --secret-key" in half.stderr


def test_curve_lets_in_allowed_keys_only(tmp_path, keys, example):
    backend = Backend(
        tmp_path / "data", "--bind", "tcp://0.0.0.0:0", "--secret-key", str(keys / "server.key_secret"), "--allow", str(keys / "allowed")
    ).start()
    try:
        port = backend.address.rsplit(":", 1)[1]
        address = f"tcp://127.0.0.1:{port}"
        server_key = zmq.auth.load_certificate(keys / "server.key")[0].decode()
        with JobClient(address, server_key, pair(keys, "alice"), timeout=20) as alice:
            assert alice.hello()["version"] >= 1
            assert collect(alice.submit("secret-job", **job(example, frames=2)))["done"]
        with JobClient(address, server_key, pair(keys, "mallory"), timeout=2) as mallory:
            with pytest.raises(BackendUnreachable):
                mallory.hello()
            with pytest.raises(BackendUnreachable):
                list(mallory.attach("secret-job"))
        with JobClient(address, timeout=2) as plain:
            with pytest.raises(BackendUnreachable):
                plain.status()
        with JobClient(address, server_key, pair(keys, "alice"), timeout=20) as alice:
            assert alice.status("secret-job")["state"] == "done"
        assert "with CURVE" in backend.log()
    finally:
        assert backend.stop() == 0
