"""Following a backend job without ever blocking Blender's UI.

A :class:`Job` owns one worker thread that talks to the backend and writes each frame to disk the
moment it arrives (so nothing received is lost, whatever happens next). Blender data may only be
touched from the main thread, so the worker never does: it puts small events on a queue, and the
main thread applies them -- progress, the strip growing, the final state -- from a
``bpy.app.timers`` callback in the UI, or in :func:`launch` itself when Blender runs in the
background (a render farm wants ``bpy.ops.tpc.animate()`` to return when the frames are there).
:func:`process_events` is that timer callback; a background script that started a job without
waiting (``bpy.ops.tpc.animate(wait=False)``) calls it itself, since background Blender runs no timers.

Cancel asks the backend to stop and then closes the stream; detaching (opening another file,
disabling the add-on) only closes the stream, and the backend keeps working for a later re-attach.
A cancel is only sent for a job the backend holds: one that overtook its own Submit would find no
job there (UNKNOWN_JOB), and the job would then run with nobody following it. So the worker thread
owns the order: pressed before the job is sent, Cancel stops the worker and nothing is sent; pressed
while the Submit is on its way, the worker sends the cancel as soon as the backend accepts the job;
pressed later -- or for a job re-attached to, which the backend holds from the start -- a short-lived
thread sends it at once (the UI never waits on the network). Either way the job ends only once the
backend has answered the cancel (ending closes the connection, which would stop a cancel on its way),
and until then the panel says "Cancelling".
"""

from __future__ import annotations

import errno
import json
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np
import zmq

from . import vse_strip
from .job_files import POSE_FILES_FOLDER, POSES_FILE, REPORT_JSON, REPORT_PNG, frame_name, write_atomic
from .png import encode_mask_png
from .silhouette import rasterize_triangles
from .vendor.tpc_protocol.client import BackendUnreachable, JobClient, JobFailed, ProtocolError, VersionMismatch
from .vendor.tpc_protocol.errors import CANCELLED
from .vendor.tpc_protocol.messages import Accepted, Frame, Progress, Report

TIMER_INTERVAL = 0.2  # seconds between UI updates while a job runs
REDRAW_AREAS = {"VIEW_3D", "SEQUENCE_EDITOR"}

# Where a job stands with the backend, which decides what Cancel does (see the module docstring).
PREPARING, SENT, ACCEPTED = "preparing", "sent", "accepted"


@dataclass
class Connection:
    address: str
    timeout: float
    server_public_key: str | None = None
    client_keypair: tuple[str, str] | None = None

    def client(self) -> JobClient:
        return JobClient(self.address, self.server_public_key, self.client_keypair, timeout=self.timeout)


@dataclass
class Submission:
    """What a new job sends; the silhouettes' triangles become target masks on the worker thread.

    The poses are either ``poses``, a PoseSequence document, or ``pose_documents``, pose files as they
    are, with the ``canvas`` and ``fps`` for files that do not state them.
    """

    reference_image: bytes
    settings: dict
    poses: dict | None = None
    pose_documents: list[tuple[str, bytes]] | None = None
    canvas: tuple[int, int] | None = None
    fps: float | None = None
    silhouettes: list[np.ndarray] | None = None  # per frame, triangles in pixels (see pose_export)


# Events from the worker to the main thread.
@dataclass
class _Accepted:
    total: int


@dataclass
class _Progress:
    fraction: float
    message: str


@dataclass
class _FrameSaved:
    index: int


@dataclass
class _Finished:
    state: str  # a properties.JOB_STATES identifier
    message: str = ""


class _Stopped(Exception):
    """Cancel or detach arrived before the job was sent."""


@dataclass
class Job:
    """One job of one scene: a worker thread following the backend, and what the main thread shows."""

    scene_key: int  # scene.as_pointer(); stable while the file is open
    job_id: str
    folder: str  # as stored in the scene (may start with //)
    folder_path: Path  # absolute
    connection: Connection
    submission: Submission | None  # None: attach to a job the backend already has
    start_frame: int = 0  # frames 0..start_frame-1 are already on disk
    replaces_job: str = ""  # the previous take's job id, whose strip the first frame replaces
    events: queue.Queue = field(default_factory=queue.Queue)
    finished: bool = False
    saved: int = 0  # frames on disk from frame 0 on, as the main thread knows them (the client delivers in order)
    _client: JobClient | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)  # guards _stage and _cancelled together
    _stage: str = PREPARING
    _cancelled: bool = False
    _detached: bool = False
    _cancel_problem: str = ""
    _written: int = 0  # frames the worker wrote (the main thread learns of them through events)
    _thread: threading.Thread | None = None
    _cancel_thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        if self.submission is None:
            self._stage = ACCEPTED  # a job to attach to is the backend's already: a cancel can go at once

    # -- main thread ------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Make the job's client; raises ValueError for settings it refuses, before anything has started."""
        self._client = self.connection.client()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name=f"tpc-job-{self.job_id}", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Ask the backend to stop; the frames already made stay (on the backend and here)."""
        with self._lock:
            if self._cancelled or self.finished:
                return
            self._cancelled = True
            if self._stage == ACCEPTED:  # set with _cancelled, so the worker never sees one without the other
                self._cancel_thread = threading.Thread(target=self._send_cancel, name=f"tpc-cancel-{self.job_id}", daemon=True)
                self._cancel_thread.start()
                return
            stage = self._stage
        if stage == PREPARING:
            self._client.close()  # ends a wait for the backend's hello at once; the job is never sent
        # SENT: the worker sends the cancel once the backend has accepted the job.

    @property
    def cancelling(self) -> bool:
        """Cancel was pressed and the job has not ended yet (the panel says so until it does)."""
        return self._cancelled and not self.finished

    def detach(self) -> None:
        """Stop following; the backend keeps working and Re-attach collects the rest later."""
        self._detached = True
        if self._client is not None:
            self._client.close()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # -- worker thread ----------------------------------------------------------------------------------
    def _send_cancel(self) -> None:
        """Cancel the job the backend holds, then stop following it (a worker's stream ends quietly)."""
        try:
            self._client.cancel(self.job_id)
        except (ProtocolError, zmq.ZMQError) as error:
            self._cancel_problem = f"The backend did not confirm the cancel ({error}); it may still finish the job."
        finally:
            self._client.close()

    def _wait_for_cancel(self) -> None:
        """Let a cancel on its way finish before the job ends: the worker's last act, closing the
        client, would stop it, and its outcome is part of how the job ended."""
        with self._lock:
            thread = self._cancel_thread
        if thread is not None:
            thread.join()  # bounded: the request gives up after the connection's timeout

    def _sending(self) -> None:
        """The request is about to go out: a cancel pressed before now means it never does."""
        with self._lock:
            if self._cancelled:
                raise _Stopped
            if self._stage == PREPARING:
                self._stage = SENT

    def _accepted(self) -> None:
        """The backend holds the job: a cancel pressed while the Submit was on its way goes out now."""
        with self._lock:
            waiting = self._cancelled and self._stage == SENT
            self._stage = ACCEPTED
        if waiting:
            self._send_cancel()

    def _follow(self) -> None:
        client = self._client
        try:
            client.hello()
            if self.submission is not None:
                submission = self.submission
                try:
                    stream = client.submit(
                        job_id=self.job_id,
                        reference_image=submission.reference_image,
                        poses=submission.poses,
                        settings=submission.settings,
                        target_masks=self._target_masks(),
                        start_frame=self.start_frame,
                        pose_documents=submission.pose_documents,
                        canvas=submission.canvas,
                        fps=submission.fps,
                    )
                except ValueError as error:  # something the protocol cannot carry, e.g. too many pose files
                    self._finish("FAILED", f"{_sentence(error)} Nothing was sent.")
                    return
            else:
                stream = client.attach(self.job_id, start_frame=self.start_frame)
            self._sending()
            for event in stream:
                self._save(event)
                if isinstance(event, Accepted):
                    self._accepted()
            self._finish_stopped()
        except _Stopped:
            self._finish_stopped()
        except JobFailed as error:
            if error.code == CANCELLED or self._cancelled:
                self._wait_for_cancel()
                # Refused before the cancel could go out: why matters for the next take.
                refused = error.code != CANCELLED and self._stage == SENT
                reason = f"The backend refused job {self.job_id} anyway: {str(error).rstrip('.')}." if refused else ""
                self._finish("CANCELLED", f"{reason} {self._cancel_problem}")
            else:
                self._finish("FAILED", f"The backend stopped job {self.job_id}: {str(error).rstrip('.')}. {self._kept()}")
        except VersionMismatch as error:
            self._finish("FAILED", f"{_sentence(error)} Install the same TPC Animate release in Blender and on the backend.")
        except BackendUnreachable as error:
            if self._cancelled and self._stage == SENT:
                self._cancel_problem = (
                    f"The backend stopped answering before it accepted job {self.job_id}, so the cancel could not be "
                    "sent; if the job reached it, it runs on: press Re-attach, then Cancel."
                )
            if self._cancelled or self._detached:
                self._finish_stopped()
            else:
                self._finish("FAILED", f"{_sentence(error)} Then press {'Animate' if self.submission else 'Re-attach'}. {self._kept()}")
        except OSError as error:
            self._finish("FAILED", self._disk_problem(error))
        except ProtocolError as error:
            if self._cancelled or self._detached:
                self._finish_stopped()
            else:
                self._finish("FAILED", f"The connection to the backend broke: {str(error).rstrip('.')}. Press Re-attach to continue. {self._kept()}")
        except zmq.ZMQError as error:  # ZeroMQ refused a socket setting, e.g. a CURVE key that is not Z85
            self._finish(
                "FAILED",
                f"ZeroMQ cannot open a connection to the backend at {self.connection.address} ({error.strerror or error}): "
                "check the address and, for a backend on another machine, the keys in Edit > Preferences > Add-ons > "
                f"TPC Animate. {self._kept()}",
            )
        except Exception as error:  # a bug: say so in the panel rather than die silently in a thread
            self._finish("FAILED", f"Unexpected error in TPC Animate ({error!r}); please report it. {self._kept()}")
            raise
        finally:
            client.close()

    def _target_masks(self) -> list[bytes] | None:
        """The silhouettes filled and encoded as PNG masks (numpy and zlib, off the main thread)."""
        silhouettes = self.submission.silhouettes
        if silhouettes is None:
            return None
        width, height = self.submission.poses["width"], self.submission.poses["height"]
        masks = []
        for number, triangles in enumerate(silhouettes):
            if self._cancelled or self._detached:
                raise _Stopped
            masks.append(encode_mask_png(rasterize_triangles(triangles, width, height)))
            self.events.put(_Progress(0.0, f"Silhouettes {number + 1}/{len(silhouettes)}"))
        return masks

    def _save(self, event) -> None:
        if isinstance(event, Frame):
            write_atomic(self.folder_path / frame_name(event.index), event.png)
            self._written += 1
            self.events.put(_FrameSaved(event.index))
        elif isinstance(event, Accepted):
            # The folder appears once the backend holds the job, so failed attempts leave nothing behind.
            self.folder_path.mkdir(parents=True, exist_ok=True)
            if self.submission is not None:
                self._keep_what_was_sent()
            self.events.put(_Accepted(event.total_frames))
        elif isinstance(event, Progress):
            self.events.put(_Progress(event.fraction, event.message))
        elif isinstance(event, Report):
            write_atomic(self.folder_path / REPORT_JSON, event.report_json_bytes)
            write_atomic(self.folder_path / REPORT_PNG, event.report_png)

    def _keep_what_was_sent(self) -> None:
        """poses.json, or the pose files (their names are plain file names: the backend checked them)."""
        if self.submission.poses is not None:
            write_atomic(self.folder_path / POSES_FILE, json.dumps(self.submission.poses).encode())
            return
        folder = self.folder_path / POSE_FILES_FOLDER
        folder.mkdir(exist_ok=True)
        for name, data in self.submission.pose_documents:
            write_atomic(folder / name, data)

    def _finish_stopped(self) -> None:
        """A stream that ended without an error: done, or stopped by us."""
        if self._cancelled:
            self._wait_for_cancel()
            self._finish("CANCELLED", self._cancel_problem)
        elif self._detached:
            self._finish("DETACHED")
        else:
            self._finish("DONE")

    def _finish(self, state: str, message: str = "") -> None:
        self.events.put(_Finished(state, message.strip()))

    def _kept(self) -> str:
        if self._written + self.start_frame == 0:
            return ""
        return f"The frames that arrived are kept in {self.folder_path}."

    def _disk_problem(self, error: OSError) -> str:
        if error.errno == errno.ENOSPC:
            problem = "the disk is full. Free some space"
        else:
            problem = f"{error.strerror or error}. Fix the folder (or choose another Output Folder)"
        return f"Cannot write frames to {self.folder_path}: {problem}, then press Re-attach to collect the remaining frames."


def _sentence(error: Exception) -> str:
    text = str(error).strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


# -- the jobs of this Blender session -----------------------------------------------------------------------
_jobs: dict[int, Job] = {}


def active_job(scene: bpy.types.Scene) -> Job | None:
    job = _jobs.get(scene.as_pointer())
    return job if job is not None and not job.finished else None


def launch(scene: bpy.types.Scene, job: Job, *, wait: bool) -> Job:
    """Start following ``job`` for ``scene``; with ``wait``, return only once it has finished."""
    if active_job(scene) is not None:
        raise RuntimeError("a job is already running in this scene")
    job.connect()  # the one step that can refuse the job's settings: before the scene shows it running
    _jobs[job.scene_key] = job
    settings = scene.tpc
    settings.job_id, settings.job_folder, settings.job_backend = job.job_id, job.folder, job.connection.address
    settings.state, settings.last_error, settings.status, settings.progress = "RUNNING", "", "Connecting", 0.0
    job.saved = settings.frames_done = job.start_frame
    _show_frames(scene, job)
    job.start()
    if wait:
        while not job.finished:
            _apply(job, job.events.get())
        _drain(job)
    elif not bpy.app.timers.is_registered(process_events):
        bpy.app.timers.register(process_events, first_interval=TIMER_INTERVAL)
    return job


def process_events() -> float | None:
    """Apply what the workers reported (the timer callback); returns when to run again, None when idle."""
    for key, job in list(_jobs.items()):
        _drain(job)
        if job.finished:
            del _jobs[key]
    _redraw()
    return TIMER_INTERVAL if _jobs else None


def _drain(job: Job) -> None:
    while True:
        try:
            event = job.events.get_nowait()
        except queue.Empty:
            return
        _apply(job, event)


def _scene_of(job: Job) -> bpy.types.Scene | None:
    return next((scene for scene in bpy.data.scenes if scene.as_pointer() == job.scene_key), None)


def _apply(job: Job, event) -> None:
    if isinstance(event, _Finished):
        job.finished = True
    scene = _scene_of(job)
    if scene is None or scene.tpc.job_id != job.job_id:
        return  # the scene is gone or moved on to another job; the files are on disk regardless
    settings = scene.tpc
    if isinstance(event, _Accepted):
        settings.job_total = event.total
        settings.status = "Cancelling" if job.cancelling else "Accepted"
    elif isinstance(event, _Progress):
        settings.progress = event.fraction
        settings.status = "Cancelling" if job.cancelling else event.message
    elif isinstance(event, _FrameSaved):
        job.saved = event.index + 1
        _show_frames(scene, job)
    elif isinstance(event, _Finished):
        settings.state = event.state
        settings.last_error = event.message  # what failed, a cancel the backend did not confirm, or a refusal
        settings.status = {"DONE": "Done", "CANCELLED": "Cancelled", "DETACHED": "Not connected"}.get(event.state, "Stopped")


def _show_frames(scene: bpy.types.Scene, job: Job) -> None:
    """Grow the strip to the frames on disk; the first frame of a new take replaces the previous take's strip."""
    settings = scene.tpc
    if job.saved == 0:
        return
    channel = None
    if job.replaces_job:
        channel = vse_strip.remove_job_strips(scene, job.replaces_job)
        job.replaces_job = ""
    vse_strip.show_frames(scene, job.job_id, job.folder, job.saved, total=max(settings.job_total, job.saved), channel=channel)
    settings.frames_done = job.saved
    if settings.job_total:
        settings.progress = max(settings.progress, job.saved / settings.job_total)


def _redraw() -> None:
    window_manager = bpy.context.window_manager
    for window in window_manager.windows if window_manager else ():
        for area in window.screen.areas:
            if area.type in REDRAW_AREAS:
                area.tag_redraw()


def detach_all(*, wait: float = 0.0) -> None:
    """Stop following every job (the backend keeps them); used on file load and unregister."""
    for job in list(_jobs.values()):
        job.detach()
    for job in list(_jobs.values()):
        job.join(wait)
    _jobs.clear()
    if bpy.app.timers.is_registered(process_events):
        bpy.app.timers.unregister(process_events)


@bpy.app.handlers.persistent
def _before_load(*_args) -> None:
    detach_all()


@bpy.app.handlers.persistent
def _after_load(*_args) -> None:
    """A file saved while a job ran opens with that job not followed: say so, offer Re-attach."""
    for scene in bpy.data.scenes:
        if scene.tpc.state == "RUNNING":
            scene.tpc.state = "DETACHED"
            scene.tpc.status = "Not connected"


def register() -> None:
    bpy.app.handlers.load_pre.append(_before_load)
    bpy.app.handlers.load_post.append(_after_load)


def unregister() -> None:
    detach_all(wait=2.0)
    for handlers, handler in ((bpy.app.handlers.load_pre, _before_load), (bpy.app.handlers.load_post, _after_load)):
        if handler in handlers:
            handlers.remove(handler)
