"""Scale-out on Ray, the gateway's side: ``TpcWorker`` actors on the cluster, one gateway thread each.

``tpc-backend serve --ray ADDRESS`` keeps everything a client talks to in the gateway (the ROUTER
loop, intake, journal, perception of the reference, streaming) and starts N actors of
:class:`~tpc_backend.service.ray_worker.TpcWorker`, each holding G GPUs (``num_gpus=G``) and its
engine warm. For each actor a :class:`RemoteWorker` thread takes the next job in submission order,
sends the actor the job's inputs, first missing frame and scratch, and drains what it renders into a
:class:`~tpc_backend.service.worker.JobWriter`, exactly as a local worker's frames: the gateway alone
writes and journals frames (and keeps the diffusion engine's saved steps), so byte-identical frames,
exactly once, and resume from the first missing frame hold whichever worker rendered.

Faults. Actors are restarted by Ray when their process or node dies (``max_restarts=-1``), but a
task is never retried by Ray (``max_task_retries=0``): the gateway hears the worker was lost, puts
the job back at the head of the queue, and the next free worker resumes it from the gateway's disk.
A job that loses its worker MAX_LOSSES times in a row fails with a sentence, so a job that kills its
workers (out of memory) does not take the cluster down one node after the other. A worker whose engine
cannot load is reported once and withdrawn; if every worker is, the gateway stops with that sentence.
The actors belong to the gateway's Ray job: when the gateway dies they go too, freeing their GPUs,
and a restarted gateway starts new ones on the same cluster and resumes the journaled jobs.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError, ObjectLostError, RayActorError, WorkerCrashedError

from tpc import __version__
from tpc_protocol.errors import ErrorCode

from ..engines.base import RenderSettings
from ..engines.registry import EngineOptions
from ..errors import UserError
from .events import EventSender
from .job_inputs import prepare_job
from .journal import FAILED, RUNNING, JobRecord
from .ray_worker import FrameOut, JobSpec, ProgressOut, RenderEnded, ReportOut, ScratchCleared, ScratchWritten, TpcWorker
from .scheduler import RunHandle, WorkerPlace
from .worker import JobWriter, WorkerLost, WorkerThread

log = logging.getLogger("tpc_backend.service")

NAMESPACE = "tpc-animate"
MAX_LOSSES = 3
_TAKE_TIMEOUT = 0.25  # seconds a take waits for the render, so cancels and stops are seen this often
_RETRY = 1.0  # seconds between looks at a worker that Ray is (re)starting
JOIN_ATTEMPTS = 3  # tries to join through a Ray Client server that failed to start a session
JOIN_PAUSE = 2.0  # seconds between those tries
JOIN_PROBE_TIMEOUT = 10.0  # seconds a HOST:PORT head gets to accept a connection
_LOST = (RayActorError, ObjectLostError, WorkerCrashedError)


def connect(address: str) -> dict[str, float]:
    """Join the Ray cluster at ``address`` (``auto``, ``local``, ``HOST:PORT`` or ``ray://HOST:PORT``);
    returns its resources."""
    # SIGTERM is how a gateway is told to stop (it pauses its jobs): not a crash worth a stack dump, and
    # not Ray's business (ray.init replaces the handler with sys.exit), so the serve command's stays.
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    on_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        if address == "local":
            join(address, lambda: ray.init(namespace=NAMESPACE, logging_level=logging.WARNING))
        else:
            if address != "auto" and not address.startswith("ray://"):
                _check_listening(address)
            join(address, lambda: ray.init(address=address, namespace=NAMESPACE, logging_level=logging.WARNING))
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_sigterm)
    return ray.cluster_resources()


def join(address: str, init: Callable[[], object], attempts: int = JOIN_ATTEMPTS, pause: float = JOIN_PAUSE) -> None:
    """Run ``init`` (a ``ray.init``), trying again when a Ray Client server was reached but could not
    start this client's session; any other failure, or the last attempt's, is one sentence.

    A Ray Client server starts a Python process per client and gives it 30 s to answer: on a busy head
    node that start fails now and then and succeeds on the next try (Ray reports it as
    ``ConnectionAbortedError``, with the server's traceback, whose last line says why).
    """
    for attempt in range(1, attempts + 1):
        try:
            init()
            return
        except ConnectionAbortedError as error:
            reason = _last_line(error)
            if attempt == attempts:
                raise UserError(
                    f"cannot join the Ray cluster at {address}: its Ray Client server could not start a session "
                    f"({attempts} tries; the last said: {reason})",
                    ErrorCode.RAY_UNREACHABLE,
                ) from None
            log.warning(
                "the Ray Client server at %s could not start a session (%s); trying again (%d/%d)", address, reason, attempt + 1, attempts
            )
            time.sleep(pause)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise UserError(f"cannot join the Ray cluster at {address} ({str(error).splitlines()[0]})", ErrorCode.RAY_UNREACHABLE) from None


def _check_listening(address: str) -> None:
    """Refuse a ``HOST:PORT`` where nothing accepts connections, with one sentence.

    ``ray.init`` would wait on such an address for many minutes, logging a warning every few seconds
    (measured with Ray 2.60: still waiting after 5 minutes), so a mistyped address would look like
    a gateway that hangs.
    """
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"--ray takes auto, local, HOST:PORT or ray://HOST:PORT, not {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=JOIN_PROBE_TIMEOUT):
            pass
    except OSError as error:
        raise UserError(
            f"cannot join the Ray cluster at {address}: nothing answers there ({error.strerror or error}); "
            "give the head node's address and the port of `ray start --head --port`",
            ErrorCode.RAY_UNREACHABLE,
        ) from None


def _last_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def worker_count(requested: int | None, gpus_per_worker: float, resources: dict[str, float], address: str) -> int:
    """How many TpcWorkers to start: ``requested``, or one per ``gpus_per_worker`` GPUs of the
    cluster; refused with one sentence when the cluster cannot hold them."""
    gpus = resources.get("GPU", 0.0)
    if not 0 <= gpus_per_worker <= 64:
        raise UserError(f"--gpus-per-worker must be between 0 and 64, got {gpus_per_worker:g}")
    if gpus_per_worker == 0:
        if requested is None:
            raise UserError("--gpus-per-worker 0 (workers on CPUs) needs --workers N")
        return requested
    fits = math.floor(gpus / gpus_per_worker + 1e-9)
    if requested is None:
        if fits == 0:
            raise UserError(
                f"the Ray cluster at {address} has no GPUs for a worker of {gpus_per_worker:g} GPU(s); "
                "add GPU nodes, or run workers on CPUs with --gpus-per-worker 0 --workers N"
            )
        return fits
    if requested > fits:
        raise UserError(
            f"--workers {requested} with --gpus-per-worker {gpus_per_worker:g} needs {requested * gpus_per_worker:g} GPUs, "
            f"but the Ray cluster at {address} has {gpus:g}; start at most {fits} worker(s) or add GPU nodes"
        )
    return requested


class RayWorkers:
    """The actors and their gateway threads; ``on_none_left`` hears the sentence when no worker can render."""

    def __init__(
        self,
        count: int,
        gpus_per_worker: float,
        engine_options: EngineOptions,
        default_engine: str,
        parts: dict[str, Any],
        on_none_left: Callable[[UserError], None],
    ) -> None:
        actor = ray.remote(TpcWorker).options(num_gpus=gpus_per_worker, num_cpus=1, max_restarts=-1, max_task_retries=0, max_concurrency=4)
        self._losses: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._withdrawn = 0
        self._on_none_left = on_none_left
        log_level = logging.getLogger("tpc_backend").getEffectiveLevel()
        self.threads = [
            RemoteWorker(f"tpc-worker-{i}", actor.remote(engine_options, default_engine, log_level), self, **parts) for i in range(count)
        ]

    def withdraw(self, worker: RemoteWorker, problem: str) -> None:
        log.error("%s cannot render and takes no jobs: %s", worker.name, problem)
        with self._lock:
            self._withdrawn += 1
            none_left = self._withdrawn == len(self.threads)
        if none_left:
            self._on_none_left(UserError(f"no Ray worker can render: {problem}", ErrorCode.ENGINE_UNAVAILABLE))

    def lost(self, job_id: str) -> int:
        """Count a worker lost by a job; how many in a row."""
        with self._lock:
            self._losses[job_id] += 1
            return self._losses[job_id]

    def kept(self, job_id: str) -> None:
        with self._lock:
            self._losses.pop(job_id, None)

    @staticmethod
    def close() -> None:
        ray.shutdown()


class RemoteWorker(WorkerThread):
    """The gateway's thread for one TpcWorker actor: jobs in, frames and scratch out to the gateway's disk."""

    def __init__(self, name: str, actor: Any, pool: RayWorkers, **parts: Any) -> None:
        super().__init__(name, **parts)
        self._actor = actor
        self._pool = pool
        self._place: WorkerPlace | None = None  # where the actor last ran

    def _run(self, handle: RunHandle, place: WorkerPlace, events: EventSender) -> None:
        try:
            super()._run(handle, place, events)
        except WorkerLost as lost:
            self._requeue(handle, place, str(lost))
        else:
            self._pool.kept(handle.job_id)

    def _ready(self) -> WorkerPlace | None:
        """Wait until the actor runs (Ray may be starting or restarting it, or waiting for a free GPU);
        None when it never will, or the backend stops."""
        waiting_said = False
        while not self._scheduler.wait_stopping(0):
            try:
                info = ray.get(self._actor.info.remote(), timeout=_RETRY * 5)
            except ActorDiedError as error:
                self._pool.withdraw(self, f"its actor died for good ({str(error).splitlines()[0]})")
                return None
            except (ActorUnavailableError, GetTimeoutError):
                if not waiting_said:
                    log.info("%s is starting on the cluster (loading its engine, or waiting for a node with free resources)", self.name)
                    waiting_said = True
                self._scheduler.wait_stopping(_RETRY)
                continue
            problem = info.problem
            if problem is None and info.version != __version__:
                problem = f"its node runs tpc-animate {info.version}, the gateway {__version__}; install the same version on every node"
            if problem is not None:
                ray.kill(self._actor, no_restart=True)
                self._pool.withdraw(self, problem)
                return None
            place = WorkerPlace(self.name, info.node_id[:8], info.address, info.pid)
            if place != self._place:
                log.info("%s ready on node %s (%s), pid %d", self.name, place.node, place.address, place.pid)
                self._place = place
            return place
        return None

    def _render(self, handle: RunHandle, record: JobRecord, events: EventSender) -> None:
        writer = JobWriter(self._journal, self._data, self._frames, events, record)
        writer.progress(0.0, "preparing the inputs")
        # Perception of the reference runs here, once: what it finds is stored with the inputs sent.
        prepare_job(handle.job_id, writer.folder, RenderSettings(**record.settings), writer.scratch)
        inputs = {path.name: path.read_bytes() for path in writer.folder.inputs.iterdir() if path.is_file()}
        scratch = {name: writer.scratch.read(name) for name in writer.scratch.names()}
        outcome: dict[type, Callable[[Any], None]] = {
            FrameOut: lambda item: writer.frame(item.index, item.png),
            ProgressOut: lambda item: writer.send_progress(item.fraction, item.message),
            ScratchWritten: lambda item: writer.scratch.write(item.name, item.data),
            ScratchCleared: lambda item: writer.scratch.clear(),
            ReportOut: lambda item: writer.finish(item.report_json, item.report_png),
        }
        cancel_sent = ended = False
        try:
            ray.get(self._actor.start.remote(JobSpec(handle.job_id, record.settings, inputs, writer.start, scratch)))
            while not ended:
                if handle.cancelled() and not cancel_sent:
                    self._actor.cancel.remote(handle.job_id)
                    cancel_sent = True
                items = ray.get(self._actor.take.remote(handle.job_id, _TAKE_TIMEOUT))
                if items is None:
                    raise WorkerLost("it was restarted")
                for item in items:
                    ended = isinstance(item, (RenderEnded, ReportOut))
                    if isinstance(item, RenderEnded):
                        if item.code is not None:
                            raise UserError(item.message, item.code)
                        writer.stopped(handle)
                    else:
                        outcome[type(item)](item)
        except _LOST as error:
            raise WorkerLost(str(error).splitlines()[0]) from None
        finally:
            if not ended and not cancel_sent:  # the gateway gave up on this run (a bug): the worker need not go on
                self._actor.cancel.remote(handle.job_id)

    def _requeue(self, handle: RunHandle, place: WorkerPlace, why: str) -> None:
        if handle.cancelled():  # cancelled (the journal says so already) or stopping (it resumes at the next start)
            return
        job_id = handle.job_id
        where = f"{self.name} on node {place.node} ({place.address})"
        done = self._journal.frames_done(job_id)
        losses = self._pool.lost(job_id)
        if losses >= MAX_LOSSES:
            sentence = (
                f"job {job_id} lost its worker {losses} times in a row (the last, {where}: {why}); "
                "check the workers' memory and logs, then submit it again to resume it"
            )
            log.error("%s", sentence)
            self._journal.set_state(job_id, FAILED, only_from=(RUNNING,), error=(ErrorCode.WORKER_LOST, sentence))
        elif self._scheduler.requeue(handle):
            log.warning("job %s lost %s after %d frames (%s); it waits for the next free worker", job_id, where, done, why)
