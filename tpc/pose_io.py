"""Reading poses from the files people already have: PoseSequence, OpenPose JSON and COCO keypoints.

Motion reaches TPC Animate from many tools: our own PoseSequence, OpenPose (one JSON file per
frame, COCO-18 or BODY_25 points, with hands and face when it ran with them), ControlNet pose
editors (OpenPose JSON with a canvas size), and COCO-style keypoint files (a dataset's annotations,
or a detector's results; COCO-WholeBody's 133 points too). Everything is read here, converted to
COCO-17 (+ hands and face, :mod:`tpc.wholebody`) and checked by :meth:`PoseSequence.from_json`, so
a problem is one sentence naming the file. Pure JSON and NumPy: the backend and the Blender add-on
hand over raw bytes (:func:`parse_pose_documents`), the command line a path
(:func:`load_pose_source`). :func:`write_openpose` writes OpenPose frames for other tools.

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
from .files import write_atomic
from .pose_sequence import MAX_FRAMES, PoseFormatError, PoseSequence, person_json
from .wholebody import NUM_FACE_POINTS, NUM_HAND_POINTS, HandsFace

DEFAULT_FPS = 30.0
NEEDS_CANVAS = (
    "OpenPose and COCO result files do not say how large the picture was; give the canvas size "
    "(width and height in pixels of the video the poses come from; on the command line: --width and --height)"
)
# COCO visibility flags: 0 not labelled, 1 labelled but hidden (its place is still known), 2 visible.
_COCO_FLAGS = {0: 0.0, 1: 0.5, 2: 1.0}
# COCO-WholeBody's 133 points: body 0-16, feet 17-22 (not kept), face 23-90, left hand 91-111, right hand 112-132.
_WHOLEBODY_POINTS = 133
_WHOLEBODY_FACE, _WHOLEBODY_LEFT, _WHOLEBODY_RIGHT = slice(23, 91), slice(91, 112), slice(112, 133)
# The same parts as COCO-WholeBody's dataset stores them, beside the 17 body keypoints.
_WHOLEBODY_FIELDS = {"lefthand_kpts": NUM_HAND_POINTS, "righthand_kpts": NUM_HAND_POINTS, "face_kpts": NUM_FACE_POINTS}
# OpenPose's face has the 68 points and then the two pupils (right, left), which we do not keep.
_OPENPOSE_FACE_POINTS = 70
_OPENPOSE_PARTS = {  # key -> the point counts it may have (the first is kept)
    "hand_left_keypoints_2d": (NUM_HAND_POINTS,),
    "hand_right_keypoints_2d": (NUM_HAND_POINTS,),
    "face_keypoints_2d": (NUM_FACE_POINTS, _OPENPOSE_FACE_POINTS),
}

Person = tuple[np.ndarray, HandsFace]  # COCO-17 body and its hands and face, as read from a file


def natural_key(name: str) -> list:
    """Sort key that puts frame_2 before frame_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def load_pose_source(path: str | os.PathLike, *, canvas: tuple[int, int] | None = None, fps: float | None = None) -> PoseSequence:
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
            raise PoseFormatError(f"{others[0]} is not an OpenPose frame; several pose files can only be OpenPose frames of one motion")
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
    raise PoseFormatError(f"{name} is not a pose file TPC Animate knows (PoseSequence, OpenPose JSON or COCO keypoints)")


def _sequence(name: str, width: Any, height: Any, fps: float | None, frames: list[list[Person]]) -> PoseSequence:
    """Check everything through the one PoseSequence door, so the same sentences come out."""
    document = {
        "format": "coco17",
        "width": width,
        "height": height,
        "fps": DEFAULT_FPS if fps is None else fps,
        "frames": [{"people": [person_json(*person, decimals=None) for person in people]} for people in frames],
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
                where = f"{file}, person {index}"
                parts = {key: _flat_part(person.get(key), counts, f"{where}: {key}") for key, counts in _OPENPOSE_PARTS.items()}
                extra = HandsFace(parts["hand_left_keypoints_2d"], parts["hand_right_keypoints_2d"], parts["face_keypoints_2d"])
                persons.append((_flat_keypoints(flat, where), extra))
        frames.append(persons)
    return _sequence(name, size[0], size[1], fps, frames)


def _flat_points(flat: Any, where: str, *, clip: bool = True) -> np.ndarray:
    """A flat [x, y, c] * N list as (N, 3), confidences clipped to 0..1 (OpenPose's scores pass 1 by a hair)."""
    if not isinstance(flat, list) or len(flat) % 3 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
        raise PoseFormatError(f"{where}: keypoints must be a flat list of x, y, confidence numbers")
    points = np.asarray(flat, dtype=np.float64).reshape(-1, 3)
    if clip:
        with np.errstate(invalid="ignore"):
            points[:, 2] = np.clip(points[:, 2], 0.0, 1.0)
    return points


def _flat_keypoints(flat: Any, where: str) -> np.ndarray:
    """[x, y, c] * N (N = 17, 18, 25 or 33) as COCO-17, confidences clipped to 0..1."""
    points = _flat_points(flat, where)
    try:
        layout = kp.detect_layout(len(points))
    except ValueError as error:
        raise PoseFormatError(f"{where}: {error}") from None
    return kp.convert_to_coco17(points, layout)


def _flat_part(flat: Any, counts: tuple[int, ...], where: str, *, clip: bool = True) -> np.ndarray | None:
    """A hand (21 points) or face (68, or OpenPose's 70 with the pupils, which are dropped); None when absent."""
    if flat is None or flat == []:
        return None
    points = _flat_points(flat, where, clip=clip)
    if len(points) not in counts:
        raise PoseFormatError(f"{where} must hold {' or '.join(map(str, counts))} points (x, y, confidence each), got {len(points)}")
    return points[: counts[0]]


def _from_coco(name: str, document: Any, canvas: tuple[int, int] | None, fps: float | None) -> PoseSequence:
    if isinstance(document, list):  # a detector's results: [{"image_id", "keypoints", "score"}...]
        annotations, images = document, None
        size = _canvas(name, canvas)
    else:
        annotations, images = document.get("annotations"), document.get("images")
        if not isinstance(annotations, list):
            raise PoseFormatError(f"{name}: annotations must be a list")
        size = _coco_canvas(name, images, canvas)
    by_image: dict[Any, list[Person]] = {}
    for index, annotation in enumerate(annotations):
        if not isinstance(annotation, dict):
            raise PoseFormatError(f"{name}: annotation {index} must be an object")
        person = _coco_person(annotation, f"{name}, annotation {index}")
        if person[0][:, 2].any():
            by_image.setdefault(_image_id(name, annotation.get("image_id")), []).append(person)
    if images is not None:
        order = [_image_id(name, image.get("id")) for image in images]
    else:
        order = sorted(by_image, key=lambda value: natural_key(str(value)))
    frames = [by_image.get(image_id, []) for image_id in order]
    return _sequence(name, size[0], size[1], fps, frames)


def _coco_person(annotation: dict, where: str) -> Person:
    """One COCO annotation or result: 17 body points, or COCO-WholeBody's 133 (or its separate part lists).

    Visibility flags (every third value 0, 1 or 2 across the annotation) become confidences 0, 0.5, 1;
    anything else is taken as a detector's scores.
    """
    flat = annotation.get("keypoints")
    if not isinstance(flat, list) or len(flat) not in (3 * kp.NUM_KEYPOINTS, 3 * _WHOLEBODY_POINTS):
        raise PoseFormatError(f"{where} must have 51 keypoint values (17 x, y, visibility) or COCO-WholeBody's 399 (133 points)")
    points = _flat_points(flat, where, clip=False)
    if len(points) == _WHOLEBODY_POINTS:
        left, right, face = points[_WHOLEBODY_LEFT], points[_WHOLEBODY_RIGHT], points[_WHOLEBODY_FACE]
    else:
        left, right, face = (
            _flat_part(annotation.get(key), (count,), f"{where}: {key}", clip=False) for key, count in _WHOLEBODY_FIELDS.items()
        )
    parts = [part.copy() if part is not None else None for part in (points[: kp.NUM_KEYPOINTS], left, right, face)]
    given = [part for part in parts if part is not None]
    flags = all(np.isin(part[:, 2], list(_COCO_FLAGS)).all() for part in given)
    for part in given:
        with np.errstate(invalid="ignore"):
            part[:, 2] = [_COCO_FLAGS[int(v)] for v in part[:, 2]] if flags else np.clip(part[:, 2], 0.0, 1.0)
    return parts[0], HandsFace(*parts[1:])


def _image_id(name: str, value: Any) -> Any:
    if isinstance(value, (list, dict)):
        raise PoseFormatError(f"{name}: image ids must be numbers or text, got {json.dumps(value)[:40]}")
    return value


def _coco_canvas(name: str, images: Any, canvas: tuple[int, int] | None) -> tuple[int, int]:
    if not isinstance(images, list) or not all(isinstance(image, dict) for image in images):
        raise PoseFormatError(f'{name}: images must be a list of {{"id", "width", "height"}} objects')
    sizes = {(image.get("width"), image.get("height")) for image in images}
    if (None, None) in sizes or any(w is None or h is None for w, h in sizes):
        return _canvas(name, canvas)
    if len(sizes) > 1:
        raise PoseFormatError(f"{name}: its images have different sizes ({len(sizes)} of them); a pose sequence has one canvas")
    return sizes.pop() if sizes else _canvas(name, canvas)


# -- writing ------------------------------------------------------------------------------------------
OPENPOSE_VERSION = 1.3


def write_openpose(poses: PoseSequence, folder: str | os.PathLike, *, stem: str = "frame") -> list[Path]:
    """Write ``poses`` as OpenPose JSON, one file per frame (``{stem}_000000000000_keypoints.json``...).

    The body is OpenPose's COCO-18 (its neck is the shoulders' midpoint, seen when both are), hands
    have 21 points and the face OpenPose's 70 (the two pupils, which PoseSequence does not keep, have
    confidence 0); a part a person does not have is an empty list, as OpenPose writes it when it did
    not look. The canvas size is written the way pose editors do, so the folder reads back as it is.
    Returns the files written.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PoseFormatError(f"cannot create the folder {folder} ({error.strerror})") from None
    written = []
    for index, people in enumerate(poses.frames):
        document = {
            "version": OPENPOSE_VERSION,
            "canvas_width": poses.width,
            "canvas_height": poses.height,
            "people": [_openpose_person(body, extra) for body, extra in zip(people, poses.hands_face_of(index))],
        }
        path = folder / f"{stem}_{index:012d}_keypoints.json"
        try:
            write_atomic(path, json.dumps(document).encode())
        except OSError as error:
            raise PoseFormatError(f"cannot write {path} ({error.strerror})") from None
        written.append(path)
    return written


def _openpose_person(body: np.ndarray, extra: HandsFace) -> dict:
    def flat(points: np.ndarray | None) -> list[float]:
        return [] if points is None else [round(float(v), 3) for v in np.asarray(points).ravel()]

    face = None if extra.face is None else np.concatenate([extra.face, np.zeros((_OPENPOSE_FACE_POINTS - NUM_FACE_POINTS, 3))])
    return {
        "person_id": [-1],
        "pose_keypoints_2d": flat(kp.to_openpose18(body)),
        "face_keypoints_2d": flat(face),
        "hand_left_keypoints_2d": flat(extra.left_hand),
        "hand_right_keypoints_2d": flat(extra.right_hand),
    }
