"""A job's inputs: checked before the job is accepted, stored as received, and prepared for an engine.

The same decoding serves both ends of a job's life. At intake every input is decoded and checked
(poses, reference photo, keypoints, masks and their sizes), so a bad job is refused with one
sentence before it is journaled, instead of failing after it waited in the queue. The worker later
reads the stored bytes back and prepares the :class:`PreparedJob` an engine renders from; when the
client left out the reference keypoints or mask, that is also where perception adds them, once: what
it found is stored beside the inputs, so a resumed job uses exactly the same reference.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields

import msgpack
import numpy as np

from tpc.files import write_atomic
from tpc.image_io import ImageReadError, decode_image, decode_mask, encode_png
from tpc.pose_io import parse_pose_documents
from tpc.pose_sequence import PoseFormatError, PoseSequence
from tpc_protocol.errors import ErrorCode
from tpc_protocol.messages import Submit

from ..engines.base import PreparedJob, RenderSettings
from ..engines.scratch import FolderScratch, JobScratch
from ..errors import UserError
from ..reference import busiest_frame, complete_reference, reference_keypoints
from . import MAX_IMAGE_PIXELS
from .data_folder import JobFolder

_INPUTS = "inputs.msgpack"  # the job's inputs as received (bytes by field name)
_PERCEIVED = "perceived_people.msgpack"  # what perception added to the client's reference


@dataclass(frozen=True)
class JobInputs:
    """The bytes a client sent for a job (see :class:`tpc_protocol.messages.Submit`).

    The poses are either ``poses`` (a PoseSequence document) or ``pose_documents``, the client's pose
    files as they are, converted here with ``pose_canvas`` and ``pose_fps`` where they say nothing.
    """

    reference_image: bytes
    poses: bytes | None = None
    reference_keypoints: bytes | None = None
    reference_mask: bytes | None = None
    target_masks: tuple[bytes, ...] | None = None
    pose_documents: tuple[tuple[str, bytes], ...] | None = None
    pose_canvas: tuple[int, int] | None = None
    pose_fps: float | None = None

    @classmethod
    def from_submit(cls, submit: Submit) -> JobInputs:
        return cls(**{f.name: getattr(submit, f.name) for f in fields(cls)})

    def digest(self, settings: RenderSettings) -> str:
        """A fingerprint of inputs and settings: resubmitting the same job must give the same one.

        The pose files and their canvas and frame rate count only when sent, so the jobs journaled
        before they existed keep their fingerprints.
        """
        hasher = hashlib.sha256(b"tpc-job-1\0" + json.dumps(asdict(settings), sort_keys=True).encode())
        for name in _BUFFER_FIELDS:
            value = getattr(self, name)
            items = () if value is None else value if isinstance(value, tuple) else (value,)
            hasher.update(f"\0{name}:{'-' if value is None else len(items)}".encode())
            for item in items:
                hasher.update(len(item).to_bytes(8, "little"))
                hasher.update(item)
        if self.pose_documents is not None:
            hasher.update(f"\0pose_documents:{len(self.pose_documents)}".encode())
            for name, data in self.pose_documents:
                hasher.update(json.dumps(name).encode() + len(data).to_bytes(8, "little"))
                hasher.update(data)
            hasher.update(json.dumps({"canvas": self.pose_canvas, "fps": self.pose_fps}).encode())
        return hasher.hexdigest()

    # -- storage --------------------------------------------------------------------------------------
    def write(self, folder: JobFolder) -> None:
        """Store the inputs as received, in one file: one fsync before the job is journaled."""
        document = {f.name: getattr(self, f.name) for f in fields(self)}
        write_atomic(folder.inputs / _INPUTS, msgpack.packb(document, use_bin_type=True), durable=True)

    @classmethod
    def read(cls, folder: JobFolder) -> JobInputs:
        """The stored inputs (also those stored before pose files could be sent)."""
        document = msgpack.unpackb((folder.inputs / _INPUTS).read_bytes(), raw=False)
        for name, convert in _FROM_STORAGE.items():
            if document.get(name) is not None:
                document[name] = convert(document[name])
        return cls(**document)


_BUFFER_FIELDS = ("reference_image", "poses", "reference_keypoints", "reference_mask", "target_masks")
_FROM_STORAGE = {  # msgpack stores tuples as lists
    "target_masks": tuple,
    "pose_documents": lambda pairs: tuple((name, data) for name, data in pairs),
    "pose_canvas": tuple,
}


def render_settings(settings: dict, default_engine: str) -> RenderSettings:
    """The job's settings with the backend's defaults filled in (``settings`` is protocol-checked)."""
    return RenderSettings(**{**asdict(RenderSettings(engine=default_engine)), **settings})


def perception_available() -> bool:
    return importlib.util.find_spec("tpc_backend.perception") is not None


# -- checking (intake) --------------------------------------------------------------------------------
def check_inputs(inputs: JobInputs, can_detect: bool) -> PoseSequence:
    """Decode and check everything a job needs; returns its poses. Raises UserError with a sentence."""
    poses = job_poses(inputs)
    if len(poses) == 0:
        raise UserError("the poses have no frames; there is nothing to render")
    image = _reference_image(inputs)
    keypoints, mask = _given_reference(inputs, image)
    if (keypoints is None or mask is None) and not can_detect:
        raise UserError(
            "reference keypoints and a reference mask are required: this backend has no person detection "
            "installed, so send them with the job (tpc submit --reference-keypoints KP.json --reference-mask MASK.png)",
            ErrorCode.MISSING_INPUT,
        )
    if inputs.target_masks is not None:
        _check_count(inputs.target_masks, len(poses))
        for index, data in enumerate(inputs.target_masks):
            _mask(data, f"target mask {index}", poses.size)
    return poses


def job_poses(inputs: JobInputs) -> PoseSequence:
    """The job's poses: its PoseSequence document, or its pose files converted (one sentence if they cannot be)."""
    if inputs.poses is not None:
        return read_poses(inputs.poses, "the poses")
    try:
        return parse_pose_documents(list(inputs.pose_documents), canvas=inputs.pose_canvas, fps=inputs.pose_fps)
    except PoseFormatError as error:
        raise UserError(str(error)) from None


def read_poses(data: bytes, what: str) -> PoseSequence:
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{what} are not UTF-8 text; send a PoseSequence JSON document") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{what} are not valid JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise UserError(f"{what} are nested too deeply to be a PoseSequence JSON document") from None
    try:
        return PoseSequence.from_json(document, source=what)
    except PoseFormatError as error:
        raise UserError(str(error)) from None


def _reference_image(inputs: JobInputs) -> np.ndarray:
    try:
        image = decode_image(inputs.reference_image, source="the reference image")
    except ImageReadError as error:
        raise UserError(str(error)) from None
    if image.shape[0] * image.shape[1] > MAX_IMAGE_PIXELS:
        raise UserError(f"the reference image has more than {MAX_IMAGE_PIXELS} pixels; send a smaller photo")
    return image


def _given_reference(inputs: JobInputs, image: np.ndarray) -> tuple[list[np.ndarray] | None, np.ndarray | None]:
    """The reference people's keypoints and the person mask the client sent, each checked, or None."""
    size = (image.shape[1], image.shape[0])
    people = mask = None
    if inputs.reference_keypoints is not None:
        people = reference_keypoints(read_poses(inputs.reference_keypoints, "the reference keypoints"), size, "the reference keypoints")
    if inputs.reference_mask is not None:
        mask = _mask(inputs.reference_mask, "the reference mask", size)
    return people, mask


def _mask(data: bytes, what: str, size: tuple[int, int]) -> np.ndarray:
    try:
        return decode_mask(data, source=what, size=size)
    except ImageReadError as error:
        raise UserError(str(error)) from None


def _check_count(masks: Sequence[bytes], frames: int) -> None:
    if len(masks) != frames:
        raise UserError(f"the job has {frames} frames but {len(masks)} target masks; send one mask per frame, or none")


# -- preparing (worker) -------------------------------------------------------------------------------
def prepare_job(job_id: str, folder: JobFolder, settings: RenderSettings, scratch: JobScratch | None = None) -> PreparedJob:
    """Everything an engine needs, from the stored inputs (detecting the reference person once);
    ``scratch`` defaults to the job folder's."""
    inputs = JobInputs.read(folder)
    poses = job_poses(inputs)
    image = _reference_image(inputs)
    people = _reference_people(folder, inputs, image, poses)
    masks = None
    if inputs.target_masks is not None:
        _check_count(inputs.target_masks, len(poses))
        masks = _LazyMasks(inputs.target_masks, lambda data, i: _mask(data, f"target mask {i}", poses.size))
    return PreparedJob(
        job_id, image, people, poses, settings, masks, scratch=scratch if scratch is not None else FolderScratch(folder.scratch)
    )


def _reference_people(folder: JobFolder, inputs: JobInputs, image: np.ndarray, poses: PoseSequence) -> list[tuple[np.ndarray, np.ndarray]]:
    """Keypoints and mask of each reference person: what the client sent, completed by perception.

    What perception adds is stored beside the inputs (exactly: float64 keypoints, lossless masks) and
    read back from there, so every run of the job, resumed or not, uses the same reference.
    """
    keypoints, mask = _given_reference(inputs, image)
    if keypoints is not None and mask is not None:
        return complete_reference(image, keypoints, mask, people=busiest_frame(poses), source="the reference image")
    stored = folder.inputs / _PERCEIVED
    if not stored.exists():
        people = complete_reference(image, keypoints, mask, people=busiest_frame(poses), source="the reference image")
        document = {
            "keypoints": [np.asarray(points, np.float64).ravel().tolist() for points, _ in people],
            "masks": [encode_png(person) for _, person in people],
        }
        write_atomic(stored, msgpack.packb(document, use_bin_type=True), durable=True)
    document = msgpack.unpackb(stored.read_bytes(), raw=False)
    size = (image.shape[1], image.shape[0])
    return [
        (np.asarray(points, np.float64).reshape(17, 3), _mask(png, "a stored reference mask", size))
        for points, png in zip(document["keypoints"], document["masks"])
    ]


class _LazyMasks(Sequence):
    """Target masks decoded when an engine asks for one, so long jobs do not hold them all at once."""

    def __init__(self, encoded: tuple[bytes, ...], decode: Callable[[bytes, int], np.ndarray]) -> None:
        self._encoded = encoded
        self._decode = decode

    def __len__(self) -> int:
        return len(self._encoded)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._decode(self._encoded[index], index)
