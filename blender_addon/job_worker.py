"""Following one backend job on a worker thread: the state machine, the thread, the files on disk.

A :class:`Job` owns one worker thread that talks to the backend and writes each frame to disk the
moment it arrives (so nothing received is lost, whatever happens next). It never touches Blender: it
reports what happened as small frozen events on :attr:`Job.events`, and :mod:`.jobs` applies them to
the scene on Blender's main thread. So this module imports no bpy and runs in any Python.

Cancel asks the backend to stop and then closes the stream; detaching (opening another file,
disabling the add-on) only closes the stream, and the backend keeps working for a later re-attach.
A cancel is only sent for a job the backend holds: one that overtook its own Submit would find no
job there (UNKNOWN_JOB), and the job would then run with nobody following it. So the worker thread
owns the order, tracked as the job's :class:`Stage`: pressed before the job is sent (PREPARING),
Cancel stops the worker and nothing is sent; pressed while the Submit is on its way (SENT), the
worker sends the cancel as soon as the backend accepts the job; pressed later (ACCEPTED) -- or for a
job re-attached to, which the backend holds from the start -- a short-lived thread sends it at once
(the UI never waits on the network). Either way the job ends only once the backend has answered the
cancel (ending closes the connection, which would stop a cancel on its way), and until then the
panel says "Cancelling".
"""

from __future__ import annotations

import enum
import json
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zmq

from . import job_messages
from .job_files import POSE_FILES_FOLDER, POSES_FILE, REFERENCE_KEYPOINTS_FILE, REPORT_JSON, REPORT_PNG, frame_name, write_atomic
from .png import encode_mask_png
from .silhouette import rasterize_triangles
from .vendor.tpc_protocol.client import BackendUnreachable, JobClient, JobFailed, ProtocolError, VersionMismatch
from .vendor.tpc_protocol.errors import ErrorCode
from .vendor.tpc_protocol.messages import Accepted, Frame, Progress, Report


class JobState(enum.StrEnum):
    """Where a scene's job stands, as ``scene.tpc.state`` stores it (the values are saved in .blend files)."""

    NONE = "NONE"
    RUNNING = "RUNNING"
    DETACHED = "DETACHED"
    DONE = "DONE"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"

    @property
    def label(self) -> str:
        return _STATE_TEXT[self][0]

    @property
    def description(self) -> str:
        return _STATE_TEXT[self][1]

    @property
    def status(self) -> str:
        """The panel's status line on entering this state."""
        return _STATE_TEXT[self][2]


_STATE_TEXT = {  # label, description, status line at the end
    JobState.NONE: ("No Job", "No job was started in this scene", ""),
    JobState.RUNNING: ("Running", "Frames are arriving from the backend", "Connecting"),
    JobState.DETACHED: ("Not Connected", "The job may still run on the backend; Re-attach collects its frames", "Not connected"),
    JobState.DONE: ("Done", "Every frame arrived", "Done"),
    JobState.CANCELLED: ("Cancelled", "The job was cancelled; the frames that arrived are kept", "Cancelled"),
    JobState.FAILED: ("Failed", "The job stopped with an error; the frames that arrived are kept", "Stopped"),
}


class Stage(enum.Enum):
    """Where a job stands with the backend, which decides what Cancel does (see the module docstring)."""

    PREPARING = "preparing"  # not sent yet: a cancel means it never is
    SENT = "sent"  # the Submit is on its way: a cancel waits for the backend to accept it
    ACCEPTED = "accepted"  # the backend holds the job: a cancel goes at once


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
    are, with the ``canvas`` and ``fps`` for files that do not state them. ``reference_keypoints`` is a
    one-frame PoseSequence placed by hand on the photo, or None to let the backend find the person.
    """

    reference_image: bytes
    settings: dict
    poses: dict | None = None
    pose_documents: list[tuple[str, bytes]] | None = None
    canvas: tuple[int, int] | None = None
    fps: float | None = None
    silhouettes: list[np.ndarray] | None = None  # per frame, triangles in pixels (see pose_export)
    reference_keypoints: dict | None = None


# -- events from the worker to the main thread ------------------------------------------------------------
@dataclass(frozen=True)
class JobAccepted:
    total: int


@dataclass(frozen=True)
class JobProgress:
    fraction: float
    message: str


@dataclass(frozen=True)
class FrameSaved:
    index: int


@dataclass(frozen=True)
class JobFinished:
    state: JobState
    message: str = ""


JobEvent = JobAccepted | JobProgress | FrameSaved | JobFinished


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
    _stage: Stage = Stage.PREPARING
    _cancelled: bool = False
    _detached: bool = False
    _cancel_problem: str = ""
    _written: int = 0  # frames the worker wrote (the main thread learns of them through events)
    _thread: threading.Thread | None = None
    _cancel_thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        if self.submission is None:
            self._stage = Stage.ACCEPTED  # a job to attach to is the backend's already: a cancel can go at once

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
            if self._stage is Stage.ACCEPTED:  # set with _cancelled, so the worker never sees one without the other
                self._cancel_thread = threading.Thread(target=self._send_cancel, name=f"tpc-cancel-{self.job_id}", daemon=True)
                self._cancel_thread.start()
                return
            stage = self._stage
        if stage is Stage.PREPARING:
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
            self._cancel_problem = job_messages.cancel_not_confirmed(error)
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
            if self._stage is Stage.PREPARING:
                self._stage = Stage.SENT

    def _accepted(self) -> None:
        """The backend holds the job: a cancel pressed while the Submit was on its way goes out now."""
        with self._lock:
            waiting = self._cancelled and self._stage is Stage.SENT
            self._stage = Stage.ACCEPTED
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
                        reference_keypoints=submission.reference_keypoints,
                        target_masks=self._target_masks(),
                        start_frame=self.start_frame,
                        pose_documents=submission.pose_documents,
                        canvas=submission.canvas,
                        fps=submission.fps,
                    )
                except ValueError as error:  # something the protocol cannot carry, e.g. too many pose files
                    self._finish(JobState.FAILED, job_messages.not_sent(error))
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
            if error.code == ErrorCode.CANCELLED or self._cancelled:
                self._wait_for_cancel()
                # Refused before the cancel could go out: why matters for the next take.
                refused = error.code != ErrorCode.CANCELLED and self._stage is Stage.SENT
                reason = job_messages.refused_anyway(self.job_id, error) if refused else ""
                self._finish(JobState.CANCELLED, job_messages.join(reason, self._cancel_problem))
            else:
                self._finish(JobState.FAILED, job_messages.backend_stopped(self.job_id, error, self._kept()))
        except VersionMismatch as error:
            self._finish(JobState.FAILED, job_messages.version_mismatch(error))
        except BackendUnreachable as error:
            if self._cancelled and self._stage is Stage.SENT:
                self._cancel_problem = job_messages.cancel_not_sent(self.job_id)
            if self._cancelled or self._detached:
                self._finish_stopped()
            else:
                button = "Animate" if self.submission else "Re-attach"
                self._finish(JobState.FAILED, job_messages.unreachable(error, button, self._kept()))
        except OSError as error:
            self._finish(JobState.FAILED, job_messages.disk_problem(self.folder_path, error))
        except ProtocolError as error:
            if self._cancelled or self._detached:
                self._finish_stopped()
            else:
                self._finish(JobState.FAILED, job_messages.connection_broke(error, self._kept()))
        except zmq.ZMQError as error:  # ZeroMQ refused a socket setting, e.g. a CURVE key that is not Z85
            self._finish(JobState.FAILED, job_messages.zmq_refused(self.connection.address, error, self._kept()))
        except Exception as error:  # a bug: say so in the panel rather than die silently in a thread
            self._finish(JobState.FAILED, job_messages.unexpected(error, self._kept()))
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
            self.events.put(JobProgress(0.0, f"Silhouettes {number + 1}/{len(silhouettes)}"))
        return masks

    def _save(self, event) -> None:
        if isinstance(event, Frame):
            write_atomic(self.folder_path / frame_name(event.index), event.png)
            self._written += 1
            self.events.put(FrameSaved(event.index))
        elif isinstance(event, Accepted):
            # The folder appears once the backend holds the job, so failed attempts leave nothing behind.
            self.folder_path.mkdir(parents=True, exist_ok=True)
            if self.submission is not None:
                self._keep_what_was_sent()
            self.events.put(JobAccepted(event.total_frames))
        elif isinstance(event, Progress):
            self.events.put(JobProgress(event.fraction, event.message))
        elif isinstance(event, Report):
            write_atomic(self.folder_path / REPORT_JSON, event.report_json_bytes)
            write_atomic(self.folder_path / REPORT_PNG, event.report_png)

    def _keep_what_was_sent(self) -> None:
        """poses.json, or the pose files (their names are plain file names: the backend checked them),
        and the keypoints placed by hand on the photo."""
        submission = self.submission
        if submission.reference_keypoints is not None:
            write_atomic(self.folder_path / REFERENCE_KEYPOINTS_FILE, json.dumps(submission.reference_keypoints).encode())
        if submission.poses is not None:
            write_atomic(self.folder_path / POSES_FILE, json.dumps(submission.poses).encode())
            return
        folder = self.folder_path / POSE_FILES_FOLDER
        folder.mkdir(exist_ok=True)
        for name, data in submission.pose_documents:
            write_atomic(folder / name, data)

    def _finish_stopped(self) -> None:
        """A stream that ended without an error: done, or stopped by us."""
        if self._cancelled:
            self._wait_for_cancel()
            self._finish(JobState.CANCELLED, self._cancel_problem)
        elif self._detached:
            self._finish(JobState.DETACHED)
        else:
            self._finish(JobState.DONE)

    def _finish(self, state: JobState, message: str = "") -> None:
        self.events.put(JobFinished(state, message.strip()))

    def _kept(self) -> str:
        return job_messages.kept(self.folder_path, self._written + self.start_frame)
