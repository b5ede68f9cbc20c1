"""Where a job's results live on disk, and writing them so that nothing is ever half there.

Each job gets its own folder under the output folder, named by the job id, so a re-run never
overwrites the frames of an earlier take, and re-attaching knows exactly what already arrived: the
frames ``frame_000000.png``, ``frame_000001.png``... present without a gap. Files are written to a
temporary name and renamed into place, so a crash or a full disk never leaves a truncated PNG that
would later count as received.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

JOB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
POSES_FILE = "poses.json"  # the PoseSequence a job sent
POSE_FILES_FOLDER = "pose_files"  # or the pose files it sent as they are
REFERENCE_KEYPOINTS_FILE = "reference_keypoints.json"  # the keypoints placed by hand on the photo, when sent
REPORT_JSON = "report.json"
REPORT_PNG = "report.png"


def frame_name(index: int) -> str:
    return f"frame_{index:06d}.png"


def new_job_id(blend_name: str, scene_name: str) -> str:
    """A fresh id that says where the job came from: <file>-<scene>-<time>-<random>, protocol-safe."""

    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")[:20]

    stamp = time.strftime("%Y%m%d-%H%M%S")
    parts = [part for part in (clean(blend_name), clean(scene_name)) if part]
    return "-".join(parts + [stamp, secrets.token_hex(3)])[-64:].lstrip("._-")


def frames_present(folder: str | os.PathLike) -> int:
    """How many frames are on disk from frame 0 on without a gap."""
    folder = Path(folder)
    count = 0
    while (folder / frame_name(count)).is_file():
        count += 1
    return count


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder; raises OSError."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
