"""Reading poses from the files people already have: PoseSequence, OpenPose JSON and COCO keypoints.

Motion reaches TPC Animate from many tools: our own PoseSequence, OpenPose (one JSON file per
frame, COCO-18 or BODY_25 points), ControlNet pose editors (OpenPose JSON with a canvas size), and
COCO-style keypoint files (a dataset's annotations, or a detector's results). Everything is read
here, converted to COCO-17 and checked by :meth:`PoseSequence.from_json`, so a problem is one
sentence naming the file. Pure JSON and NumPy: the backend and the Blender add-on hand over raw
bytes (:func:`parse_pose_documents`), the command line a path (:func:`load_pose_source`).

OpenPose files do not record the size of the picture they were taken from, and PoseSequence needs
it; it comes from the file when a pose editor wrote ``canvas_width``/``canvas_height``, else from
the caller.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from . import keypoints as kp
from .pose_sequence import MAX_FRAMES, PoseFormatError, PoseSequence

DEFAULT_FPS = 30.0
NEEDS_CANVAS = (
    "OpenPose and COCO result files do not say how large the picture was; give the canvas size "
    "(width and height in pixels of the video the poses come from; on the command line: --width and --height)"
)
# COCO visibility flags: 0 not labelled, 1 labelled but hidden (its place is still known), 2 visible.
_COCO_FLAGS = {0: 0.0, 1: 0.5, 2: 1.0}


def natural_key(name: str) -> list:
    """Sort key that puts frame_2 before frame_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def load_pose_source(
    path: str | os.PathLike, *, canvas: tuple[int, int] | None = None, fps: float | None = None
) -> PoseSequence:
    """Read a pose file, or a folder of per-frame OpenPose files, as a PoseSequence.

    ``canvas`` = (width, height) is needed for OpenPose files without a canvas size and for COCO
    result lists; ``fps`` for formats that do not state one (default 30). Raises
    :class:`PoseFormatError` with a sentence.
    """
    documents = [(str(file), data) for file, data in read_pose_files(path)]
    return parse_pose_documents(documents, canvas=canvas, fps=fps)


def read_pose_files(path: str | os.PathLike) -> list[tuple[Path, bytes]]:
    """The files a pose source is made of, with their bytes: the file, or a folder's .json files in
    natural name order. Raises :class:`PoseFormatError` with a sentence."""
    path = Path(path)
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.suffix.lower() == ".json" and p.is_file()), key=lambda p: natural_key(p.name))
        if not files:
            raise PoseFormatError(f"folder {path} holds no .json pose files")
    elif path.is_file():
        files = [path]
    else:
        raise PoseFormatError(f"pose file {path} does not exist")
    if len(files) > MAX_FRAMES:
        raise PoseFormatError(f"folder {path} holds {len(files)} pose files; at most {MAX_FRAMES} frames are accepted")
    documents = []
    for file in files:
        try:
            documents.append((file, file.read_bytes()))
        except OSError as error:
            raise PoseFormatError(f"{file} cannot be read ({error.strerror})") from None
    return documents


def parse_pose_documents(
    documents: list[tuple[str, bytes]], *, canvas: tuple[int, int] | None = None, fps: float | None = None
) -> PoseSequence:
    """Parse named pose documents (raw bytes): one PoseSequence or COCO file, or OpenPose frames.

    Several OpenPose documents are frames, ordered by name (frame_2 before frame_10).
    """
    if not documents:
        raise PoseFormatError("no pose documents were given")
    parsed = [(name, _decode(name, data)) for name, data in documents]
    kinds = {name: _kind(name, document) for name, document in parsed}
    if len(parsed) > 1:
        others = [name for name, kind in kinds.items() if kind != "openpose"]
        if others:
            raise PoseFormatError(
                f"{others[0]} is not an OpenPose frame; several pose files can only be OpenPose frames of one motion"
            )
        parsed.sort(key=lambda item: natural_key(Path(item[0]).name))
        return _from_openpose(parsed, canvas, fps)
    name, document = parsed[0]
    kind = kinds[name]
    if kind == "pose_sequence":
        return PoseSequence.from_json(document, source=name)
    if kind == "openpose":
        return _from_openpose(parsed, canvas, fps)
    return _from_coco(name, document, canvas, fps)


def _decode(name: str, data: bytes) -> Any:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PoseFormatError(f"{name} is not a text file") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PoseFormatError(f"{name} is not valid JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise PoseFormatError(f"{name} is nested too deeply to be a pose file") from None


def _kind(name: str, document: Any) -> str:
    if isinstance(document, dict):
        if "frames" in document:
            return "pose_sequence"
        if "people" in document:
            return "openpose"
        if "annotations" in document:
            return "coco"
    if isinstance(document, list) and document and all(isinstance(d, dict) and "keypoints" in d for d in document):
        return "coco"
    raise PoseFormatError(
        f"{name} is not a pose file TPC Animate knows (PoseSequence, OpenPose JSON or COCO keypoints)"
    )


def _sequence(name: str, width: Any, height: Any, fps: float | None, frames: list[list[np.ndarray]]) -> PoseSequence:
    """Check everything through the one PoseSequence door, so the same sentences come out."""
    document = {
        "format": "coco17",
        "width": width,
        "height": height,
        "fps": DEFAULT_FPS if fps is None else fps,
        "frames": [{"people": [{"keypoints": person.tolist()} for person in people]} for people in frames],
    }
    return PoseSequence.from_json(document, source=name)


def _canvas(name: str, canvas: tuple[int, int] | None) -> tuple[int, int]:
    if canvas is None:
        raise PoseFormatError(f"{name}: {NEEDS_CANVAS}")
    return canvas


def _from_openpose(parsed: list[tuple[str, Any]], canvas: tuple[int, int] | None, fps: float | None) -> PoseSequence:
    first = parsed[0][1]
    name = parsed[0][0] if len(parsed) == 1 else f"{Path(parsed[0][0]).parent} (OpenPose frames)"
    if "canvas_width" in first and "canvas_height" in first:
        size = (first["canvas_width"], first["canvas_height"])
    else:
        size = _canvas(name, canvas)
    frames = []
    for file, document in parsed:
        people = document.get("people")
        if not isinstance(people, list):
            raise PoseFormatError(f"{file}: people must be a list")
        persons = []
        for index, person in enumerate(people):
            flat = person.get("pose_keypoints_2d", person.get("pose_keypoints")) if isinstance(person, dict) else None
            if flat is None:
                raise PoseFormatError(f"{file}, person {index}: has no pose_keypoints_2d")
            if flat:
                persons.append(_flat_keypoints(flat, f"{file}, person {index}"))
        frames.append(persons)
    return _sequence(name, size[0], size[1], fps, frames)


def _flat_keypoints(flat: Any, where: str) -> np.ndarray:
    """[x, y, c] * N (N = 17, 18, 25 or 33) as COCO-17, confidences clipped to 0..1."""
    if not isinstance(flat, list) or len(flat) % 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        raise PoseFormatError(f"{where}: keypoints must be a flat list of x, y, confidence numbers")
    try:
        layout = kp.detect_layout(len(flat) // 3)
    except ValueError as error:
        raise PoseFormatError(f"{where}: {error}") from None
    points = kp.convert_to_coco17(np.asarray(flat, dtype=np.float64).reshape(-1, 3), layout)
    with np.errstate(invalid="ignore"):
        points[:, 2] = np.clip(points[:, 2], 0.0, 1.0)
    return points


def _from_coco(name: str, document: Any, canvas: tuple[int, int] | None, fps: float | None) -> PoseSequence:
    if isinstance(document, list):  # a detector's results: [{"image_id", "keypoints", "score"}...]
        annotations, images = document, None
        size = _canvas(name, canvas)
    else:
        annotations, images = document.get("annotations"), document.get("images")
        if not isinstance(annotations, list):
            raise PoseFormatError(f"{name}: annotations must be a list")
        size = _coco_canvas(name, images, canvas)
    by_image: dict[Any, list[np.ndarray]] = {}
    for index, annotation in enumerate(annotations):
        if not isinstance(annotation, dict):
            raise PoseFormatError(f"{name}: annotation {index} must be an object")
        flat = annotation.get("keypoints")
        if not isinstance(flat, list) or len(flat) != 3 * kp.NUM_KEYPOINTS:
            raise PoseFormatError(f"{name}: annotation {index} must have 51 keypoint values (17 x, y, visibility)")
        points = _flat_keypoints(flat, f"{name}, annotation {index}")
        raw = np.asarray(flat, dtype=np.float64).reshape(-1, 3)[:, 2]
        flags = np.isin(raw, list(_COCO_FLAGS))
        if flags.all():
            points[:, 2] = [_COCO_FLAGS[int(v)] for v in raw]
        if points[:, 2].any():
            by_image.setdefault(_image_id(name, annotation.get("image_id")), []).append(points)
    if images is not None:
        order = [_image_id(name, image.get("id")) for image in images]
    else:
        order = sorted(by_image, key=lambda value: natural_key(str(value)))
    frames = [by_image.get(image_id, []) for image_id in order]
    return _sequence(name, size[0], size[1], fps, frames)


def _image_id(name: str, value: Any) -> Any:
    if isinstance(value, (list, dict)):
        raise PoseFormatError(f"{name}: image ids must be numbers or text, got {json.dumps(value)[:40]}")
    return value


def _coco_canvas(name: str, images: Any, canvas: tuple[int, int] | None) -> tuple[int, int]:
    if not isinstance(images, list) or not all(isinstance(image, dict) for image in images):
        raise PoseFormatError(f"{name}: images must be a list of {{\"id\", \"width\", \"height\"}} objects")
    sizes = {(image.get("width"), image.get("height")) for image in images}
    if (None, None) in sizes or any(w is None or h is None for w, h in sizes):
        return _canvas(name, canvas)
    if len(sizes) > 1:
        raise PoseFormatError(f"{name}: its images have different sizes ({len(sizes)} of them); a pose sequence has one canvas")
    return sizes.pop() if sizes else _canvas(name, canvas)
