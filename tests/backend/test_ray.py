"""`tpc-backend serve --ray`: jobs on TpcWorker actors of a real Ray cluster, and what happens when parts die.

The cluster is real Ray (``ray.cluster_utils.Cluster``): a head node without GPUs and two worker nodes
that declare one logical GPU each, all separate processes on this machine. Each test starts a real
gateway process (`tpc-backend serve --ray ADDRESS`) and kills real processes: a worker's (kill -9), a
node's (removed), the gateway's (kill -9). Frames must be byte-identical to a plain local backend's.
One cluster serves the module: starting one takes seconds, and every test leaves it as it found it.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from ray.cluster_utils import Cluster

from tests.support.backend import BACKEND, Backend
from tests.support.example_jobs import collect, job
from tests.support.waiting import wait_until
from tpc_protocol.client import JobFailed
from tpc_protocol.messages import Frame

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

FRAMES = 150  # long enough that a kill lands mid-job on a loaded machine
JOBS = {"shot-a": 0.0, "shot-b": 4.0, "shot-c": 8.0}  # job id -> pose shift: three different jobs


@pytest.fixture(scope="module")
def cluster():
    """Head node (no GPU; also a Ray Client server, for ray:// addresses) and two nodes of one GPU each."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        client_port = probe.getsockname()[1]
    head = {"num_cpus": 1, "num_gpus": 0, "include_dashboard": False, "ray_client_server_port": client_port}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    cluster.client_address = f"ray://127.0.0.1:{client_port}"
    for _ in range(2):
        cluster.add_node(num_cpus=1, num_gpus=1)
    yield cluster
    cluster.shutdown()


@pytest.fixture(scope="module")
def arguments(example) -> dict[str, dict]:
    return {job_id: job(example, frames=FRAMES, size=128, shift=shift) for job_id, shift in JOBS.items()}


@pytest.fixture(scope="module")
def local_frames(tmp_path_factory, arguments) -> dict[str, dict[int, bytes]]:
    """Each job's frames from a plain local backend: what the cluster must reproduce byte for byte."""
    backend = Backend(tmp_path_factory.mktemp("local") / "data").start()
    frames = {}
    with backend.client() as client:
        for job_id, kwargs in arguments.items():
            frames[job_id] = collect(client.submit(job_id, **kwargs))["frames"]
    assert backend.stop() == 0
    return frames


def gateway(backends, cluster, name: str, *args: str, address: str | None = None) -> Backend:
    return backends(name, "--ray", address or cluster.address, *args)


def running_on_a_worker(backend: Backend, job_id: str, frames: int = 10) -> dict | None:
    """The job's status once it runs on a Ray worker with at least ``frames`` frames done."""
    with backend.client() as client:
        try:
            status = client.status(job_id)
        except JobFailed:  # not admitted yet
            return None
    worker = status.get("worker")
    return status if status["state"] == "running" and worker and worker["pid"] and status["done"] >= frames else None


def journaled(backend: Backend, job_id: str) -> int:
    with sqlite3.connect(backend.data / "journal.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM frames WHERE job_id = ?", (job_id,)).fetchone()[0]


def follow_all(backend: Backend, arguments: dict[str, dict]) -> tuple[dict[str, dict], list[threading.Thread]]:
    """Submit every job at once, each followed by its own client in a thread; results (or the JobFailed
    that ended a job) fill in as they end."""
    results: dict[str, Any] = {}

    def follow(job_id: str) -> None:
        with backend.client(timeout=120) as client:
            try:
                results[job_id] = collect(client.submit(job_id, **arguments[job_id]))
            except JobFailed as failure:
                results[job_id] = failure

    threads = [threading.Thread(target=follow, args=(job_id,)) for job_id in arguments]
    for thread in threads:
        thread.start()
    return results, threads


def test_workers_beyond_the_clusters_gpus_are_refused_with_one_sentence(cluster, tmp_path):
    # First in the module: a removed node counts in the cluster's resources until Ray declares it dead.
    result = subprocess.run(
        [BACKEND, "serve", "--ray", cluster.address, "--workers", "3", "--data", str(tmp_path / "data"), "--bind", "tcp://127.0.0.1:0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    sentence = result.stderr.strip().splitlines()[-1]
    assert sentence.startswith("tpc-backend: error: --workers 3 with --gpus-per-worker 1 needs 3 GPUs, but the Ray cluster")
    assert sentence.endswith("has 2; start at most 2 worker(s) or add GPU nodes")


def test_three_jobs_on_two_workers_survive_a_worker_killed_mid_job(backends, cluster, arguments, local_frames):
    backend = gateway(backends, cluster, "worker-killed")
    results, threads = follow_all(backend, arguments)
    status = wait_until(lambda: running_on_a_worker(backend, "shot-a"), 120, "shot-a never ran on a worker")
    worker_nodes = {node.node_id[:8] for node in cluster.worker_nodes}
    assert status["worker"]["node"] in worker_nodes and status["worker"]["name"].startswith("tpc-worker-")
    os.kill(status["worker"]["pid"], signal.SIGKILL)
    killed_at = journaled(backend, "shot-a")
    for thread in threads:
        thread.join(300)
    assert killed_at < FRAMES, "the kill must land mid-job"
    for job_id in JOBS:
        assert results[job_id]["done"], f"{job_id} did not finish"
        assert results[job_id]["frames"] == local_frames[job_id], f"{job_id}'s frames differ from a local backend's"
        assert journaled(backend, job_id) == FRAMES
    assert f"job shot-a lost {status['worker']['name']}" in backend.log()
    with backend.client() as client:
        listing = client.status()
    assert sorted(job["job_id"] for job in listing) == sorted(JOBS)
    assert all(job["state"] == "done" and job["worker"] is None for job in listing)


def test_a_node_removed_mid_job_its_job_goes_on_elsewhere(backends, cluster, arguments, local_frames):
    backend = gateway(backends, cluster, "node-removed")
    with backend.client(timeout=120) as client:
        received: dict[int, bytes] = {}
        for event in client.submit("shot-b", **arguments["shot-b"]):
            if isinstance(event, Frame):
                received[event.index] = event.png
                if len(received) == 10:
                    node_id = client.status("shot-b")["worker"]["node"]
                    node = next(node for node in cluster.worker_nodes if node.node_id.startswith(node_id))
                    cluster.remove_node(node, allow_graceful=False)
                    removed_at = journaled(backend, "shot-b")
                    cluster.add_node(num_cpus=1, num_gpus=1)  # for the next tests (the job need not wait for it)
    assert removed_at < FRAMES, "the removal must land mid-job"
    assert received == local_frames["shot-b"]
    assert "job shot-b lost tpc-worker-" in backend.log()


def test_a_gateway_killed_and_restarted_resumes_its_job_on_the_live_cluster(backends, cluster, arguments, local_frames):
    backend = gateway(backends, cluster, "gateway-killed")
    received: dict[int, bytes] = {}
    with backend.client(timeout=120) as client:
        for event in client.submit("shot-c", **arguments["shot-c"]):
            if isinstance(event, Frame):
                received[event.index] = event.png
                if len(received) == 10:
                    backend.kill()
                    break
    killed_at = journaled(backend, "shot-c")
    assert killed_at < FRAMES, "the kill must land mid-job"
    backend.start(timeout=120)  # same data folder and cluster; the dead gateway's workers went with it
    with backend.client(timeout=120) as client:
        resumed = collect(client.submit("shot-c", **arguments["shot-c"], start_frame=len(received)))
    assert {**received, **resumed["frames"]} == local_frames["shot-c"]
    assert not set(received) & set(resumed["frames"]), "a frame arrived twice"
    assert f"job shot-c resumes at frame {killed_at}" in backend.log()


def test_cancel_and_delete_a_job_running_on_a_remote_worker(backends, cluster, arguments, local_frames):
    # Through Ray Client, as a gateway outside the cluster's network joins it.
    backend = gateway(backends, cluster, "cancelled", "--workers", "1", address=cluster.client_address)
    results, threads = follow_all(backend, {"shot-a": arguments["shot-a"]})
    wait_until(lambda: running_on_a_worker(backend, "shot-a"), 120, "shot-a never ran on a worker")
    with backend.client() as client:
        with pytest.raises(JobFailed, match="cancel it first"):
            client.delete("shot-a")
        assert client.cancel("shot-a")["state"] == "cancelled"
    threads[0].join(60)
    assert isinstance(results["shot-a"], JobFailed) and "job shot-a was cancelled after" in str(results["shot-a"])
    with backend.client() as client:
        # Refused as "still stopping" until the worker has let go of the job.
        deleted = wait_until(lambda: _delete(client, "shot-a"), 120, "the delete was never accepted")
        assert deleted["freed_bytes"] > 0 and 10 <= deleted["job"]["done"] < FRAMES
        with pytest.raises(JobFailed, match="this backend has no job shot-a"):
            client.status("shot-a")
        # The one worker is free again: the next job runs to the end.
        assert collect(client.submit("shot-b", **arguments["shot-b"]))["frames"] == local_frames["shot-b"]
    assert not (backend.data / "jobs" / "shot-a").exists()
    assert backend.stop() == 0, backend.log()  # SIGTERM stops a gateway on Ray as it stops any backend


def _delete(client, job_id: str) -> dict | None:
    try:
        return client.delete(job_id)
    except JobFailed as error:
        if "still stopping" in str(error):  # the worker is finishing its last frame
            return None
        raise


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "tiny"
    result = subprocess.run([BACKEND, "models", "tiny", str(folder)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return folder


def test_a_diffusion_job_resumes_on_another_worker_from_the_steps_the_gateway_kept(backends, cluster, tiny_models, example):
    backend = gateway(backends, cluster, "diffusion", "--engine", "diffusion", "--models", str(tiny_models))
    arguments = job(example, frames=4, size=128, steps=20, seed=5, guidance=2.5)  # many steps: the kill lands mid-denoising
    results, threads = follow_all(backend, {"steps": arguments})
    saved = backend.data / "jobs" / "steps" / "scratch" / "denoising"
    wait_until(lambda: (saved / "step_00002.npy").exists(), 300, "3 denoising steps never reached the gateway's disk")
    with backend.client() as client:
        os.kill(client.status("steps")["worker"]["pid"], signal.SIGKILL)
    threads[0].join(600)
    assert results["steps"]["done"], backend.log()
    line = wait_until(lambda: next((line for line in backend.log().splitlines() if "resuming after denoising step" in line), None),
                      120, "the resumed worker's log line never reached the gateway's log")  # fmt: skip
    assert 3 <= int(line.split("resuming after denoising step ")[1].split()[0]) < 20, line
    assert not saved.parent.exists(), "a finished job keeps no scratch files"
    with backend.client(timeout=120) as client:
        uninterrupted = collect(client.submit("uninterrupted", **arguments))
    assert results["steps"]["frames"] == uninterrupted["frames"]


def test_an_engine_no_worker_can_load_is_reported_once_per_worker_and_stops_the_gateway(cluster, tiny_models, tmp_path):
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(tiny_models), str(broken)], check=True)
    (broken / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")  # its config still reads
    result = subprocess.run(
        [BACKEND, "serve", "--ray", cluster.address, "--engine", "diffusion", "--models", str(broken), "--data",
         str(tmp_path / "data"), "--bind", "tcp://127.0.0.1:0"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    sentence = result.stderr.strip().splitlines()[-1]
    assert sentence.startswith("tpc-backend: error: no Ray worker can render: ") and "unet" in sentence, sentence
    for worker in ("tpc-worker-0", "tpc-worker-1"):
        assert result.stderr.count(f"{worker} cannot render and takes no jobs") == 1, result.stderr


def test_without_ray_the_backend_never_imports_ray(tmp_path, example):
    """A plain backend serves a job in a process that never imported Ray."""
    script = f"""
import sys, threading
from tpc_backend.service.server import BackendService, ServeOptions
from tpc_protocol.client import JobClient
from tests.support.example_jobs import collect, example_files, job
from tests.support.waiting import wait_until
service = BackendService(ServeOptions(bind="tcp://127.0.0.1:0", data={str(tmp_path / "data")!r}))
thread = threading.Thread(target=service.serve)
thread.start()

def started():
    assert thread.is_alive(), "the backend stopped before it listened"
    return service.endpoint

wait_until(started, 60, "the backend did not start")
with JobClient(service.endpoint) as client:
    assert collect(client.submit("plain", **job(example_files(), frames=2)))["done"]
service.request_stop()
thread.join()
print("ray imported:", "ray" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ray imported: False"


# What a Ray Client server answers when it was reached but could not start the client's session
# (ray/util/client/worker.py: the server's traceback after this first line).
SESSION_FAILED = (
    "Initialization failure from server:\nTraceback (most recent call last):\n  ...\n"
    "RuntimeError: Starting Ray client server failed. See ray_client_server_23001.err for detailed logs.\n"
)


def test_a_ray_client_session_that_fails_to_start_is_tried_again():
    from tpc_backend.service.ray_pool import join

    tries = []

    def init() -> None:
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionAbortedError(SESSION_FAILED)

    join("ray://head:10001", init, attempts=3, pause=0.0)
    assert len(tries) == 3


def test_a_ray_client_session_that_never_starts_is_one_sentence_with_the_servers_reason():
    from tpc_backend.errors import UserError
    from tpc_backend.service.ray_pool import join

    tries = []

    def init() -> None:
        tries.append(1)
        raise ConnectionAbortedError(SESSION_FAILED)

    with pytest.raises(UserError) as refused:
        join("ray://head:10001", init, attempts=2, pause=0.0)
    assert len(tries) == 2 and refused.value.code == "ray_unreachable"
    assert str(refused.value) == (
        "cannot join the Ray cluster at ray://head:10001: its Ray Client server could not start a session (2 tries; "
        "the last said: RuntimeError: Starting Ray client server failed. See ray_client_server_23001.err for detailed logs.)"
    )


def test_a_head_address_where_nothing_listens_is_one_sentence_not_a_wait(tmp_path):
    """Ray itself would wait on such an address for many minutes."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [BACKEND, "serve", "--ray", f"127.0.0.1:{port}", "--data", str(tmp_path / "data"), "--bind", "tcp://127.0.0.1:0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"tpc-backend: error: cannot join the Ray cluster at 127.0.0.1:{port}: nothing answers there (Connection refused); "
        "give the head node's address and the port of `ray start --head --port`"
    )
