"""The PoseSequence JSON format: COCO-17 people per frame, in pixels of a stated canvas.

``{"format": "coco17", "width": W, "height": H, "fps": f, "frames": [{"people": [{"keypoints":
[[x, y, confidence] x 17]}]}]}``; origin top-left, confidence 0 = not visible. Pixel centres sit at
integer coordinates (OpenCV's convention: the top-left pixel's centre is (0, 0), the canvas spans
-0.5 .. W - 0.5), which is what every warp in ``tpc`` assumes. One image's keypoints use the same
format with one frame. Everything that reads poses from users goes through
:meth:`PoseSequence.from_json`, which checks the whole document and says in one sentence what is wrong,
so no NaN or ragged list gets past the door.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .keypoints import COCO17_NAMES, MAX_COORDINATE, NUM_KEYPOINTS

MAX_CANVAS = 16384
MAX_FRAMES = 100_000
MAX_PEOPLE = 64


class PoseFormatError(ValueError):
    """A pose document that does not follow the PoseSequence format; the message says where."""


@dataclass
class PoseSequence:
    """Frames of people, each person a (17, 3) float array of x, y, confidence."""

    width: int
    height: int
    fps: float = 30.0
    frames: list[list[np.ndarray]] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def __len__(self) -> int:
        return len(self.frames)

    # -- reading --------------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, document: Any, *, source: str = "pose document") -> "PoseSequence":
        """Validate and convert a parsed JSON document; raises :class:`PoseFormatError`."""

        def fail(message: str) -> PoseFormatError:
            return PoseFormatError(f"{source}: {message}")

        if not isinstance(document, dict):
            raise fail("expected a JSON object with format, width, height, fps and frames")
        fmt = document.get("format", "coco17")
        if fmt != "coco17":
            raise fail(f"format is {fmt!r}; only 'coco17' is a PoseSequence (convert OpenPose files with `tpc pose`)")
        width, height = document.get("width"), document.get("height")
        for name, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CANVAS:
                raise fail(f"{name} must be a whole number of pixels between 1 and {MAX_CANVAS}, got {value!r}")
        fps = document.get("fps", 30.0)
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
            raise fail(f"fps must be a positive number, got {fps!r}")
        frames = document.get("frames")
        if not isinstance(frames, list):
            raise fail("frames must be a list of {\"people\": [...]} objects")
        if len(frames) > MAX_FRAMES:
            raise fail(f"has {len(frames)} frames; at most {MAX_FRAMES} are accepted")

        parsed: list[list[np.ndarray]] = []
        for i, frame in enumerate(frames):
            people = frame.get("people") if isinstance(frame, dict) else None
            if not isinstance(people, list):
                raise fail(f"frame {i} must be an object with a list of people")
            if len(people) > MAX_PEOPLE:
                raise fail(f"frame {i} has {len(people)} people; at most {MAX_PEOPLE} are accepted")
            persons = []
            for j, person in enumerate(people):
                points = person.get("keypoints") if isinstance(person, dict) else None
                persons.append(_parse_keypoints(points, lambda m, i=i, j=j: fail(f"frame {i}, person {j}: {m}")))
            parsed.append(persons)
        return cls(width=width, height=height, fps=float(fps), frames=parsed)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PoseSequence":
        """Read a PoseSequence JSON file; raises :class:`PoseFormatError` or :class:`OSError`."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise PoseFormatError(f"{path}: not a text file ({error.reason})") from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise PoseFormatError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
        return cls.from_json(document, source=str(path))

    # -- writing --------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format": "coco17",
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "frames": [
                {"people": [{"keypoints": [[round(float(v), 3) for v in point] for point in person]} for person in people]}
                for people in self.frames
            ],
        }

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_json()), encoding="utf-8")


def _parse_keypoints(points: Any, fail) -> np.ndarray:
    if not isinstance(points, list) or len(points) != NUM_KEYPOINTS:
        count = len(points) if isinstance(points, list) else type(points).__name__
        raise fail(f"keypoints must be a list of {NUM_KEYPOINTS} [x, y, confidence] triples, got {count}")
    rows = []
    for k, point in enumerate(points):
        if (
            not isinstance(point, list)
            or len(point) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)
        ):
            raise fail(f"keypoint {k} ({COCO17_NAMES[k]}) must be [x, y, confidence] numbers, got {point!r}")
        if not all(math.isfinite(v) for v in point):
            raise fail(f"keypoint {k} ({COCO17_NAMES[k]}) has a value that is not a finite number: {point!r}")
        if abs(point[0]) > MAX_COORDINATE or abs(point[1]) > MAX_COORDINATE:
            raise fail(f"keypoint {k} ({COCO17_NAMES[k]}) lies more than {MAX_COORDINATE:.0f} pixels off the canvas")
        if not 0.0 <= point[2] <= 1.0:
            raise fail(f"keypoint {k} ({COCO17_NAMES[k]}) has confidence {point[2]}, outside 0..1")
        rows.append(point)
    return np.asarray(rows, dtype=np.float64)
