"""``TpcWorker``: a Ray actor that renders jobs for the gateway, one at a time, with its engine kept warm.

It runs on a cluster node and owns nothing durable: the gateway sends a job's stored inputs (after
the gateway's perception completed the reference), the first frame it lacks and the job's scratch
(the diffusion engine's saved denoising steps); the worker renders in a thread of its own and keeps
what it makes in a short queue that the gateway drains with :meth:`TpcWorker.take`, a pull that
works through every kind of Ray connection (Ray Client included) and is the flow control: a gateway
that does not take stops the render after a few frames. Frames, progress, scratch writes and the
report travel as small dataclasses; the gateway alone writes and journals them, so a worker that
dies loses nothing the gateway has taken, and the job resumes elsewhere from the first missing frame.

The engine is loaded when the actor starts (and again when Ray restarts it after its process or node
died). An engine that cannot load is not an exception here: :meth:`TpcWorker.info` reports the
sentence, so the gateway says it once and withdraws the worker instead of Ray restarting it forever.
Inputs reaching a worker passed the gateway's intake checks.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import ray

from tpc import __version__
from tpc_protocol.errors import ErrorCode
from tpc_protocol.limits import MAX_TEXT_CHARS

from ..engines.base import RenderSettings
from ..engines.registry import EngineOptions, EngineRegistry
from ..engines.scratch import JobScratch
from ..errors import UserError
from .data_folder import JobFolder
from .job_inputs import prepare_job
from .job_run import ProgressThrottle, render_frames

log = logging.getLogger("tpc_backend.worker")

QUEUE = 4  # items a render may get ahead of the gateway before it waits
_TAKE_BYTES = 4 << 20  # a take returns once it holds this much (frames and scratch are large)


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    settings: dict
    inputs: dict[str, bytes]  # the files of the job's input folder, by name
    start: int  # the first frame the gateway has not journaled
    scratch: dict[str, bytes]  # the job's scratch as the gateway keeps it


@dataclass(frozen=True)
class FrameOut:
    index: int
    png: bytes


@dataclass(frozen=True)
class ProgressOut:
    fraction: float
    message: str


@dataclass(frozen=True)
class ScratchWritten:
    name: str
    data: bytes


@dataclass(frozen=True)
class ScratchCleared:
    pass


@dataclass(frozen=True)
class ReportOut:
    """The last item of a job that rendered every frame."""

    report_json: bytes
    report_png: bytes


@dataclass(frozen=True)
class RenderEnded:
    """The last item of a job that did not finish: cancelled (``code`` None) or failed (one sentence)."""

    code: str | None = None
    message: str = ""


@dataclass(frozen=True)
class WorkerInfo:
    node_id: str
    address: str
    pid: int
    version: str
    problem: str | None  # why this worker cannot render (its engine did not load), or None


class _Run:
    """One job on this worker: what its render made that the gateway has not taken yet, and its cancel."""

    def __init__(self) -> None:
        self.items: queue.Queue = queue.Queue(QUEUE)
        self.cancel = threading.Event()
        self.abandoned = threading.Event()  # the gateway will not take any more

    def put(self, item: object) -> None:
        while not self.abandoned.is_set():
            try:
                self.items.put(item, timeout=0.5)
                return
            except queue.Full:
                continue


class _SentScratch(JobScratch):
    """The job's scratch as the gateway sent it; each change also goes to the gateway, in order with the frames."""

    def __init__(self, kept: dict[str, bytes], run: _Run) -> None:
        self._kept = dict(kept)
        self._run = run

    def names(self) -> set[str]:
        return set(self._kept)

    def read(self, name: str) -> bytes:
        return self._kept[name]

    def write(self, name: str, data: bytes) -> None:
        self._kept[name] = data
        self._run.put(ScratchWritten(name, data))

    def clear(self) -> None:
        self._kept.clear()
        self._run.put(ScratchCleared())


class TpcWorker:
    """The actor's class; the gateway creates it with ``ray.remote(TpcWorker).options(num_gpus=G, ...)``."""

    def __init__(self, engine_options: EngineOptions, default_engine: str, log_level: int = logging.INFO) -> None:
        # What this worker logs goes to its stderr, which Ray copies into the gateway's log.
        logger = logging.getLogger("tpc_backend")
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("tpc-worker: %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(log_level)
        self._engines = EngineRegistry(engine_options)
        self._problem: str | None = None
        try:
            self._engines.get(default_engine)
        except UserError as error:
            self._problem = str(error)
        except Exception as error:  # a broken install or weights: the sentence says what, the log the rest
            log.exception("the %s engine cannot load", default_engine)
            self._problem = f"the {default_engine} engine cannot load ({type(error).__name__}: {error})"[:MAX_TEXT_CHARS]
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    def info(self) -> WorkerInfo:
        context = ray.get_runtime_context()
        return WorkerInfo(context.get_node_id(), ray.util.get_node_ip_address(), os.getpid(), __version__, self._problem)

    def start(self, spec: JobSpec) -> None:
        """Start rendering a job; its output waits for :meth:`take`."""
        run = _Run()
        with self._lock:
            for previous in self._runs.values():  # one job at a time: a gateway starting another gave up on these
                previous.abandoned.set()
                previous.cancel.set()
            self._runs = {spec.job_id: run}
        threading.Thread(target=self._render, args=(spec, run), name=f"render-{spec.job_id}", daemon=True).start()

    def take(self, job_id: str, timeout: float) -> list | None:
        """What the job made since the last take (waiting up to ``timeout`` seconds for something);
        None when this worker does not run the job (it was restarted since the job started)."""
        with self._lock:
            run = self._runs.get(job_id)
        if run is None:
            return None
        items, size = [], 0
        try:
            item = run.items.get(timeout=timeout)
            while True:
                items.append(item)
                size += len(getattr(item, "png", b"")) + len(getattr(item, "data", b""))
                if isinstance(item, (ReportOut, RenderEnded)):
                    with self._lock:
                        if self._runs.get(job_id) is run:
                            del self._runs[job_id]
                    break
                if size >= _TAKE_BYTES:
                    break
                item = run.items.get_nowait()
        except queue.Empty:
            pass
        return items

    def cancel(self, job_id: str) -> None:
        """Stop the job after its current frame or step (it ends with ``RenderEnded()``)."""
        with self._lock:
            run = self._runs.get(job_id)
        if run is not None:
            run.cancel.set()

    def _render(self, spec: JobSpec, run: _Run) -> None:
        progress = ProgressThrottle(lambda fraction, message: run.put(ProgressOut(fraction, message)))
        engine_name = spec.settings.get("engine", "?")
        ended = RenderEnded()
        try:
            if self._problem is not None:
                raise UserError(self._problem, ErrorCode.ENGINE_UNAVAILABLE)
            settings = RenderSettings(**spec.settings)
            with tempfile.TemporaryDirectory(prefix="tpc-job-") as root:
                folder = JobFolder(Path(root))  # the inputs as the gateway stores them, for prepare_job
                folder.inputs.mkdir(parents=True)
                for name, data in spec.inputs.items():
                    (folder.inputs / name).write_bytes(data)
                job = prepare_job(spec.job_id, folder, settings, scratch=_SentScratch(spec.scratch, run))
                progress(0.0, f"loading the {settings.engine} engine")
                engine = self._engines.get(settings.engine)
                report = render_frames(job, engine, spec.start, _Frames(run), run.cancel.is_set, progress)
            if report is not None:
                ended = ReportOut(*report)
        except UserError as error:
            ended = RenderEnded(error.code, str(error))
        except Exception as error:
            log.exception("job %s failed in the %s engine", spec.job_id, engine_name)
            message = f"the {engine_name} engine failed ({type(error).__name__}: {error}); the gateway's log has the worker's details"
            ended = RenderEnded(ErrorCode.INTERNAL, message[:MAX_TEXT_CHARS])
        run.put(ended)


class _Frames:
    def __init__(self, run: _Run) -> None:
        self._run = run

    def frame(self, index: int, png: bytes) -> None:
        self._run.put(FrameOut(index, png))
