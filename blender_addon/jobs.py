"""The jobs of this Blender session, shown in their scenes without ever blocking Blender's UI.

Each :class:`~.job_worker.Job` follows the backend on its own thread and reports through a queue of
events; Blender data may only be touched from the main thread, so this module applies those events
-- progress, the strip growing, the final state -- from a ``bpy.app.timers`` callback in the UI, or
in :func:`launch` itself when Blender runs in the background (a render farm wants
``bpy.ops.tpc.animate()`` to return when the frames are there). :func:`process_events` is that
timer callback; a background script that started a job without waiting
(``bpy.ops.tpc.animate(wait=False)``) calls it itself, since background Blender runs no timers.
Opening another file stops following every job (the backend keeps them for a later Re-attach).
"""

from __future__ import annotations

import queue

import bpy

from . import vse_strip
from .job_worker import FrameSaved, Job, JobAccepted, JobEvent, JobFinished, JobProgress, JobState

TIMER_INTERVAL = 0.2  # seconds between UI updates while a job runs
REDRAW_AREAS = {"VIEW_3D", "SEQUENCE_EDITOR"}

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
    settings.state, settings.last_error, settings.progress = JobState.RUNNING.value, "", 0.0
    settings.status = JobState.RUNNING.status
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


def _apply(job: Job, event: JobEvent) -> None:
    if isinstance(event, JobFinished):
        job.finished = True
    scene = _scene_of(job)
    if scene is None or scene.tpc.job_id != job.job_id:
        return  # the scene is gone or moved on to another job; the files are on disk regardless
    _HANDLERS[type(event)](scene, job, event)


def _on_accepted(scene: bpy.types.Scene, job: Job, event: JobAccepted) -> None:
    settings = scene.tpc
    settings.job_total = event.total
    settings.status = "Cancelling" if job.cancelling else "Accepted"


def _on_progress(scene: bpy.types.Scene, job: Job, event: JobProgress) -> None:
    settings = scene.tpc
    settings.progress = event.fraction
    settings.status = "Cancelling" if job.cancelling else event.message


def _on_frame_saved(scene: bpy.types.Scene, job: Job, event: FrameSaved) -> None:
    job.saved = event.index + 1
    _show_frames(scene, job)


def _on_finished(scene: bpy.types.Scene, job: Job, event: JobFinished) -> None:
    settings = scene.tpc
    settings.state = event.state.value
    settings.last_error = event.message  # what failed, a cancel the backend did not confirm, or a refusal
    settings.status = event.state.status


_HANDLERS = {JobAccepted: _on_accepted, JobProgress: _on_progress, FrameSaved: _on_frame_saved, JobFinished: _on_finished}


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
        if scene.tpc.state == JobState.RUNNING.value:
            scene.tpc.state = JobState.DETACHED.value
            scene.tpc.status = JobState.DETACHED.status


_LOAD_HANDLERS = ((bpy.app.handlers.load_pre, _before_load), (bpy.app.handlers.load_post, _after_load))


def register() -> None:
    for handlers, handler in _LOAD_HANDLERS:
        handlers.append(handler)


def unregister() -> None:
    detach_all(wait=2.0)
    for handlers, handler in _LOAD_HANDLERS:
        if handler in handlers:
            handlers.remove(handler)
