"""The job's frames as one image strip in the Video Sequence Editor, growing as frames arrive.

The strip is tagged with the job id (a custom property), which is how a re-attach finds it to keep
growing and a re-run finds the previous take's strip to replace. Its directory is stored relative to
the .blend when possible, so the file still finds its frames after the project folder moves.
Blender 4.4 renamed ``sequence_editor.sequences`` to ``strips`` (5.0 dropped the old name); both work.
"""

from __future__ import annotations

import os

import bpy

from .job_files import frame_name

STRIP_NAME = "TPC Animate"
JOB_PROPERTY = "tpc_job_id"
MAX_CHANNEL = 128


def _strips(scene: bpy.types.Scene, *, create: bool):
    editor = scene.sequence_editor or (scene.sequence_editor_create() if create else None)
    if editor is None:
        return None
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def job_strip(scene: bpy.types.Scene, job_id: str):
    """The strip showing this job's frames, or None."""
    strips = _strips(scene, create=False)
    if strips is None or not job_id:
        return None
    return next((strip for strip in strips if strip.get(JOB_PROPERTY) == job_id), None)


def remove_job_strips(scene: bpy.types.Scene, job_id: str) -> int | None:
    """Remove the strips of a job (a re-run replaces its take); returns the channel they used."""
    strips = _strips(scene, create=False)
    if strips is None or not job_id:
        return None
    channel = None
    for strip in [strip for strip in strips if strip.get(JOB_PROPERTY) == job_id]:
        channel = strip.channel
        strips.remove(strip)
    return channel


def _free_channel(strips, start: int, length: int, preferred: int | None) -> int:
    end = start + max(length, 1)

    def free(channel: int) -> bool:
        return not any(strip.channel == channel and strip.frame_final_start < end and strip.frame_final_end > start for strip in strips)

    if preferred is not None and free(preferred):
        return preferred
    return next((channel for channel in range(1, MAX_CHANNEL + 1) if free(channel)), MAX_CHANNEL)


def show_frames(scene: bpy.types.Scene, job_id: str, folder: str, count: int, *, total: int, channel: int | None = None):
    """Make the job's strip hold exactly frames 0..count-1 of ``folder`` (creating it at the scene start)."""
    if count <= 0:
        return job_strip(scene, job_id)
    strip = job_strip(scene, job_id)
    if strip is None:
        strips = _strips(scene, create=True)
        absolute = bpy.path.abspath(folder)
        channel = _free_channel(strips, scene.frame_start, total, channel)
        strip = strips.new_image(
            name=STRIP_NAME, filepath=os.path.join(absolute, frame_name(0)), channel=channel,
            frame_start=scene.frame_start, fit_method="FIT",
        )  # fmt: skip
        strip[JOB_PROPERTY] = job_id
        if bpy.data.filepath:
            try:
                strip.directory = bpy.path.relpath(absolute).rstrip("/\\") + "/"
            except ValueError:
                pass  # another drive (Windows): keep the absolute path
    while len(strip.elements) < count:
        strip.elements.append(frame_name(len(strip.elements)))
    while len(strip.elements) > count:  # frames that left the disk (the user deleted them)
        strip.elements.pop(len(strip.elements) - 1)
    return strip
