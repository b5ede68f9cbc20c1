"""`tpc calibrate` as a job: files in, calibrated images, masks and a report out.

Everything the user hands over is checked before the first frame is computed (sizes of all target
masks included), so a bad input fails at once with one sentence instead of after half the frames.
PNG encoding, the costliest step, runs on a small thread pool beside the search (OpenCV releases the
GIL), and every file is written through a temporary name and a rename.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tpc.calibration import CalibrationConfig, Calibrator
from tpc.files import write_atomic
from tpc.image_io import ImageReadError, encode_png, read_image, read_mask
from tpc.pose_io import parse_pose_documents, read_pose_files
from tpc.pose_sequence import PoseFormatError, PoseSequence
from tpc.report import CalibrationReport
from tpc_protocol.errors import ErrorCode

from .errors import UserError
from .progress import CountCallback
from .reference import complete_reference, reference_keypoints


@dataclass
class Reference:
    """The reference photo and, per person in it, COCO-17 keypoints and a boolean mask."""

    image: np.ndarray
    people: list[tuple[np.ndarray, np.ndarray]]

    @property
    def size(self) -> tuple[int, int]:
        return (self.image.shape[1], self.image.shape[0])


def load_poses(path: str | Path, what: str = "poses") -> PoseSequence:
    """Read a PoseSequence file, turning every format problem into a :class:`UserError`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} file {path} does not exist", ErrorCode.NOT_FOUND)
    try:
        return PoseSequence.load(path)
    except PoseFormatError as error:
        raise UserError(str(error)) from None
    except OSError as error:
        raise UserError(f"{what} file {path} cannot be read ({error.strerror})") from None


def load_target_poses(
    path: str | Path, canvas: tuple[int, int] | None = None, fps: float | None = None
) -> tuple[PoseSequence, list[tuple[str, bytes]]]:
    """The target poses of a PoseSequence file, an OpenPose JSON file or folder, or a COCO keypoint
    file (see :mod:`tpc.pose_io`), and those files as they are: (file name, bytes) in frame order.

    ``canvas`` = (width, height) and ``fps`` are for files that do not state them. Every problem is a
    :class:`UserError` naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"poses file {path} does not exist", ErrorCode.NOT_FOUND)
    try:
        files = read_pose_files(path)
        poses = parse_pose_documents([(str(file), data) for file, data in files], canvas=canvas, fps=fps)
    except PoseFormatError as error:
        raise UserError(str(error)) from None
    return poses, [(file.name, data) for file, data in files]


def load_reference(
    image_path: str | Path,
    keypoints_path: str | Path | None,
    mask_path: str | Path | None,
    *,
    people: int = 1,
) -> Reference:
    """The reference image with its people's keypoints and masks: the user's, else found by perception.

    Without a keypoints file, up to ``people`` people (at most
    :data:`~tpc_backend.reference.MAX_REFERENCE_PEOPLE`) are detected in the photo (turned and zoomed
    in when needed; see tpc_backend.perception); without a mask, the people are segmented (see
    :func:`tpc_backend.reference.complete_reference`, which the backend uses too). Everything the user
    gave is checked before perception runs. Raises :class:`UserError` for anything missing,
    unreadable or of the wrong size, and when no person can be found.
    """
    try:
        image = read_image(image_path, what="reference image")
    except ImageReadError as error:
        raise UserError(str(error), ErrorCode.NOT_FOUND if "does not exist" in str(error) else ErrorCode.BAD_INPUT) from None
    size = (image.shape[1], image.shape[0])
    keypoints = None
    if keypoints_path is not None:
        keypoints = reference_keypoints(
            load_poses(keypoints_path, "reference keypoints"), size, f"reference keypoints file {keypoints_path}"
        )
    mask = None
    if mask_path is not None:
        try:
            mask = read_mask(mask_path, what="reference mask", size=size)
        except ImageReadError as error:
            raise UserError(str(error)) from None
    found = complete_reference(image, keypoints, mask, people=people, source=f"reference image {image_path}")
    return Reference(image=image, people=found)


def target_mask_paths(directory: str | Path, count: int, size: tuple[int, int]) -> list[Path]:
    """Paths DIR/00000.png ... for ``count`` frames, checked to exist and to be ``size`` = (W, H)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"target mask folder {directory} does not exist", ErrorCode.NOT_FOUND)
    paths = [directory / f"{i:05d}.png" for i in range(count)]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise UserError(
            f"target mask {missing[0]} is missing ({count - len(missing)} of {count} frames have masks; "
            "name them 00000.png, 00001.png, ...)"
        )
    for path in paths:
        found = _png_size(path)
        if found is None:
            raise UserError(f"target mask {path} is not a PNG file")
        if found != size:
            raise UserError(f"target mask {path} is {found[0]}x{found[1]} pixels but the poses' canvas is {size[0]}x{size[1]}")
    return paths


def _png_size(path: Path) -> tuple[int, int] | None:
    """Width and height from a PNG header, without decoding the image."""
    try:
        with path.open("rb") as file:
            header = file.read(24)
    except OSError as error:
        raise UserError(f"target mask {path} cannot be read ({error.strerror})") from None
    if len(header) < 24 or header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", header[16:24])


def check_poses(poses: PoseSequence) -> None:
    """Refuse a pose sequence with nothing to calibrate, before any expensive work."""
    if len(poses) == 0:
        raise UserError("the poses file has no frames; there is nothing to calibrate")
    if not any(poses.frames):
        raise UserError(f"none of the {len(poses)} frames of the poses file has a person; there is nothing to calibrate")


def calibrate_to_folder(
    reference: Reference,
    poses: PoseSequence,
    out: str | Path,
    mask_paths: list[Path] | None = None,
    config: CalibrationConfig | None = None,
    progress: CountCallback | None = None,
    writers: int = 2,
) -> dict:
    """Calibrate every frame and write ``out/calibrated``, ``out/calibrated_mask`` and the report.

    With several target people in a frame, each person's own calibrated image and mask also go to
    ``out/people/<r>/calibrated{,_mask}/<frame>.png``, r being the reference person they were
    warped from (tracked over the sequence); when one reference person plays several target people
    in a frame, the second and later ones go to ``people/<r>-2``, ``people/<r>-3``...
    Returns the report as written to ``report.json``.
    """
    check_poses(poses)
    out = Path(out)
    try:
        for folder in ("calibrated", "calibrated_mask"):
            (out / folder).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create the output folder {out} ({error.strerror})", ErrorCode.IO_ERROR) from None

    config = config or CalibrationConfig()
    calibrator = Calibrator(reference.image, reference.people, poses.size, config)
    report = CalibrationReport(reference.image, reference.people, poses.size, len(poses), config, hands_face=poses.hands_face_of)
    sequence = calibrator.sequence(poses.frames, _MaskFiles(mask_paths, poses.size) if mask_paths else None)

    pending: list[Future] = []
    with ThreadPoolExecutor(max_workers=max(1, writers), thread_name_prefix="png") as pool:

        def save(path: Path, array: np.ndarray) -> None:
            pending.append(pool.submit(lambda: write_atomic(path, encode_png(array))))

        for index, people in enumerate(poses.frames):
            frame = sequence.calibration(index)
            name = f"{index:05d}.png"
            save(out / "calibrated" / name, frame.image)
            save(out / "calibrated_mask" / name, frame.mask)
            if len(frame.fits) > 1:
                repeats: dict[int, int] = {}
                for fit, (image, mask) in zip(frame.fits, frame.people):
                    count = repeats[fit.reference_index] = repeats.get(fit.reference_index, 0) + 1
                    folder = out / "people" / (f"{fit.reference_index}" + (f"-{count}" if count > 1 else ""))
                    save(folder / "calibrated" / name, image)
                    save(folder / "calibrated_mask" / name, mask)
            report.add(frame, people)
            while len(pending) > 4 * max(1, writers) or (pending and pending[0].done()):
                _finish(pending.pop(0))
            if progress:
                progress(index + 1, len(poses))
        while pending:
            _finish(pending.pop(0))

    document = report.to_json()
    _finish_write(lambda: write_atomic(out / "report.json", json.dumps(document, indent=1).encode()))
    _finish_write(lambda: write_atomic(out / "report.png", encode_png(report.render(), compression=6)))
    return document


class _MaskFiles(Sequence):
    """Target masks read from their files when the calibration asks for them."""

    def __init__(self, paths: list[Path], size: tuple[int, int]) -> None:
        self.paths, self.size = paths, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        try:
            return read_mask(self.paths[index], what="target mask", size=self.size)
        except ImageReadError as error:
            raise UserError(str(error)) from None


def _finish(future: Future) -> None:
    _finish_write(future.result)


def _finish_write(write: Callable[[], object]) -> None:
    try:
        write()
    except OSError as error:
        raise UserError(f"cannot write {error.filename or 'the output'} ({error.strerror})", ErrorCode.IO_ERROR) from None
