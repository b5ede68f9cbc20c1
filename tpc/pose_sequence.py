"""The PoseSequence JSON format: COCO-17 people per frame, in pixels of a stated canvas.

``{"format": "coco17", "width": W, "height": H, "fps": f, "frames": [{"people": [{"keypoints":
[[x, y, confidence] x 17]}]}]}``; origin top-left, confidence 0 = not visible. Pixel centres sit at
integer coordinates (OpenCV's convention: the top-left pixel's centre is (0, 0), the canvas spans
-0.5 .. W - 0.5), which is what every warp in ``tpc`` assumes. One image's keypoints use the same
format with one frame. A person may also carry ``"hands": {"left": [[x, y, c] x 21], "right": [...]}``
and ``"face": [[x, y, c] x 68]`` (:mod:`tpc.wholebody`: orders and meaning); documents without them
stay valid, and the body array is the same either way. Everything that reads poses from users goes
through :meth:`PoseSequence.from_json`, which checks the whole document and says in one sentence what
is wrong, so no NaN or ragged list gets past the door.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .keypoints import COCO17_NAMES, MAX_COORDINATE, NUM_KEYPOINTS
from .wholebody import BODY_ONLY, HAND_POINT_NAMES, NUM_FACE_POINTS, NUM_HAND_POINTS, HandsFace, face_point_name

MAX_CANVAS = 16384
MAX_FRAMES = 100_000
MAX_PEOPLE = 64


class PoseFormatError(ValueError):
    """A pose document that does not follow the PoseSequence format; the message says where."""


@dataclass
class PoseSequence:
    """Frames of people, each person a (17, 3) float array of x, y, confidence.

    ``hands_face`` holds each person's hands and face beside the body: empty when no person has any
    (a body-only sequence), else one :class:`~tpc.wholebody.HandsFace` per person of every frame, in
    the order of ``frames``. Read it through :meth:`hands_face_of`, which serves both cases.
    """

    width: int
    height: int
    fps: float = 30.0
    frames: list[list[np.ndarray]] = field(default_factory=list)
    hands_face: list[list[HandsFace]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.hands_face and [len(people) for people in self.hands_face] != [len(people) for people in self.frames]:
            raise ValueError("hands_face must hold one HandsFace per person of every frame, or nothing")
        if all(extra.empty for people in self.hands_face for extra in people):
            self.hands_face = []  # body only, however it was said

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def __len__(self) -> int:
        return len(self.frames)

    def hands_face_of(self, index: int) -> list[HandsFace]:
        """The hands and face of frame ``index``'s people (:data:`~tpc.wholebody.BODY_ONLY` where none)."""
        return self.hands_face[index] if self.hands_face else [BODY_ONLY] * len(self.frames[index])

    @property
    def has_hands_face(self) -> bool:
        """Some person has hands or a face (else the sequence is body only)."""
        return bool(self.hands_face)

    # -- reading --------------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, document: Any, *, source: str = "pose document") -> PoseSequence:
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
            raise fail('frames must be a list of {"people": [...]} objects')
        if len(frames) > MAX_FRAMES:
            raise fail(f"has {len(frames)} frames; at most {MAX_FRAMES} are accepted")

        parsed: list[list[np.ndarray]] = []
        parts: list[list[HandsFace]] = []
        for i, frame in enumerate(frames):
            people = frame.get("people") if isinstance(frame, dict) else None
            if not isinstance(people, list):
                raise fail(f"frame {i} must be an object with a list of people")
            if len(people) > MAX_PEOPLE:
                raise fail(f"frame {i} has {len(people)} people; at most {MAX_PEOPLE} are accepted")
            persons, extras = [], []
            for j, person in enumerate(people):
                where = lambda m, i=i, j=j: fail(f"frame {i}, person {j}: {m}")  # noqa: E731
                points = person.get("keypoints") if isinstance(person, dict) else None
                persons.append(_parse_points(points, NUM_KEYPOINTS, "keypoint", COCO17_NAMES.__getitem__, where))
                extras.append(_parse_hands_face(person, where))
            parsed.append(persons)
            parts.append(extras)
        return cls(width=width, height=height, fps=float(fps), frames=parsed, hands_face=parts)

    @classmethod
    def load(cls, path: str | os.PathLike) -> PoseSequence:
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
                {"people": [person_json(person, extra) for person, extra in zip(people, self.hands_face_of(index))]}
                for index, people in enumerate(self.frames)
            ],
        }

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_json()), encoding="utf-8")


def person_json(keypoints: np.ndarray, extra: HandsFace, decimals: int | None = 3) -> dict:
    """One person's JSON object: body, and hands and face where they have them (values rounded to
    ``decimals``, or as they are for None)."""

    def rows(points: np.ndarray) -> list[list[float]]:
        return [[float(v) if decimals is None else round(float(v), decimals) for v in point] for point in points]

    person: dict[str, Any] = {"keypoints": rows(keypoints)}
    if extra.left_hand is not None or extra.right_hand is not None:
        person["hands"] = {side: rows(hand) for side, hand in zip(("left", "right"), extra.hands) if hand is not None}
    if extra.face is not None:
        person["face"] = rows(extra.face)
    return person


def _parse_hands_face(person: dict, fail) -> HandsFace:
    """A person's optional ``hands`` and ``face``; absent ones are None."""
    hands, face = person.get("hands"), person.get("face")
    left = right = None
    if hands is not None:
        if not isinstance(hands, dict) or not hands or set(hands) - {"left", "right"}:
            found = sorted(hands) if isinstance(hands, dict) else type(hands).__name__
            raise fail(f'hands must be an object with "left" and/or "right" lists of 21 points, got {found}')
        left, right = (
            None
            if hands.get(side) is None
            else _parse_points(hands[side], NUM_HAND_POINTS, f"{side} hand point", HAND_POINT_NAMES.__getitem__, fail)
            for side in ("left", "right")
        )
    if face is not None:
        face = _parse_points(face, NUM_FACE_POINTS, "face point", face_point_name, fail)
    return HandsFace(left, right, face)


def _parse_points(points: Any, count: int, what: str, name: Callable[[int], str], fail) -> np.ndarray:
    """``count`` [x, y, confidence] rows, or one sentence naming the first bad point."""
    if not isinstance(points, list) or len(points) != count:
        found = len(points) if isinstance(points, list) else type(points).__name__
        raise fail(f"{what}s must be a list of {count} [x, y, confidence] triples, got {found}")
    rows = []
    for k, point in enumerate(points):
        label = f"{what} {k} ({name(k)})"
        if (
            not isinstance(point, list)
            or len(point) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)
        ):
            raise fail(f"{label} must be [x, y, confidence] numbers, got {point!r}")
        if not all(math.isfinite(v) for v in point):
            raise fail(f"{label} has a value that is not a finite number: {point!r}")
        if abs(point[0]) > MAX_COORDINATE or abs(point[1]) > MAX_COORDINATE:
            raise fail(f"{label} lies more than {MAX_COORDINATE:.0f} pixels off the canvas")
        if not 0.0 <= point[2] <= 1.0:
            raise fail(f"{label} has confidence {point[2]}, outside 0..1")
        rows.append(point)
    return np.asarray(rows, dtype=np.float64)
