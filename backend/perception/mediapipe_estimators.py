"""The default estimators: MediaPipe's BlazePose and selfie segmentation, bundled in the wheel, CPU only.

mediapipe 0.10.21 ships the full pose model and the selfie segmentation models inside its wheel,
so these work offline out of the box; the lite and heavy pose models are not bundled (MediaPipe
would download them), so they are never used. BlazePose finds one person per call and gives 33 landmarks plus a
person mask; the landmarks become COCO-17 with their visibility as confidence. With ``whole_body``
the same BlazePose runs inside MediaPipe Holistic (also bundled), which adds both hands and the
face mesh (:mod:`.hands_face`); the body and mask are the same either way. A MediaPipe graph is
not thread-safe, so each estimator serialises its calls.

MediaPipe's C++ side prints a dozen log lines to the process's stderr while a graph starts and first
runs (GLOG_minloglevel does not reach them), which would bury the one line a user needs; stderr's
file descriptor is pointed at /dev/null during those calls only: the graph's start, and its calls
until it first finds a person (at most 32 of them). Other threads' stderr is muted then too.

File descriptor 2 belongs to the whole process, so the muting is counted process-wide: the first
muted call in points it at /dev/null, the last one out restores it. Each call saving and restoring
it on its own would, with two threads interleaved, save /dev/null as "the original" and leave a
server deaf to every later traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging, before it is imported

import mediapipe as mp
import numpy as np

from tpc import keypoints as kp
from tpc_protocol.errors import ErrorCode

from ..errors import UserError
from .body import person_box, upright_quarter_turns
from .estimators import Detection
from .hands_face import from_holistic
from .views import person_view

_BLANK = np.zeros((64, 64, 3), dtype=np.uint8)
_QUIET_CALLS = 32  # calls kept quiet until the first person is found (a whole search of a photo)


class _StderrMute:
    """Process-wide count of the muted calls under way, and where fd 2 pointed before the first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.saved: int | None = None  # a duplicate of the real stderr while muted


_MUTE = _StderrMute()


@contextlib.contextmanager
def _quiet_native_stderr(enabled: bool) -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration (other threads' stderr too; keep it short)."""
    if not enabled:
        yield
        return
    with _MUTE.lock:
        if _MUTE.depth == 0:
            try:
                sys.stderr.flush()
                _MUTE.saved = _point_stderr_at_devnull()
            except OSError:  # no usable stderr descriptor (embedded interpreters): nothing to hide
                _MUTE.saved = None
        muted = _MUTE.saved is not None
        if muted:
            _MUTE.depth += 1
    if not muted:
        yield
        return
    try:
        yield
    finally:
        with _MUTE.lock:
            _MUTE.depth -= 1
            if _MUTE.depth == 0:
                os.dup2(_MUTE.saved, 2)
                os.close(_MUTE.saved)
                _MUTE.saved = None


def _point_stderr_at_devnull() -> int:
    """Point fd 2 at /dev/null; returns a duplicate of what it pointed at."""
    saved = os.dup(2)
    try:
        sink = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(sink, 2)
        finally:
            os.close(sink)
    except OSError:
        os.close(saved)
        raise
    return saved


_MODELS = {  # what each graph needs from the wheel (MediaPipe would try to download a missing one)
    False: ("pose_landmark/pose_landmark_full.tflite",),
    True: (
        "pose_landmark/pose_landmark_full.tflite",
        "hand_landmark/hand_landmark_full.tflite",
        "holistic_landmark/hand_recrop.tflite",
        "face_landmark/face_landmark.tflite",
    ),
}


class MediaPipePose:
    """BlazePose full in static-image mode, with its segmentation mask; inside Holistic for ``whole_body``."""

    name = "mediapipe"

    def __init__(self, whole_body: bool = False) -> None:
        for model in _MODELS[whole_body]:
            path = Path(mp.__file__).parent / "modules" / model
            if not path.is_file():
                raise UserError(
                    f"MediaPipe's model {path} is missing; reinstall mediapipe==0.10.21, whose wheel contains it",
                    ErrorCode.MISSING_PACKAGE,
                )
        self.whole_body = whole_body
        self._lock = threading.Lock()
        self._quiet_calls = _QUIET_CALLS  # the landmark stage logs when it first finds a person
        with _quiet_native_stderr(True):
            if whole_body:
                self._graph = mp.solutions.holistic.Holistic(static_image_mode=True, enable_segmentation=True, model_complexity=1)
            else:
                self._graph = mp.solutions.pose.Pose(static_image_mode=True, enable_segmentation=True, model_complexity=1)
            self._graph.process(_BLANK)  # waits for the graph's threads to finish starting (and logging)

    def detect(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        with self._lock, _quiet_native_stderr(self._quiet_calls > 0):
            result = self._graph.process(np.ascontiguousarray(image))
            self._quiet_calls = 0 if result.pose_landmarks is not None else self._quiet_calls - 1
        if result.pose_landmarks is None:
            return []

        def pixels(landmarks, visibility: bool = False) -> np.ndarray | None:
            # MediaPipe's 0..1 span the image's edges; our pixel centres sit at integers (OpenCV's convention).
            if landmarks is None:
                return None
            return np.array([[p.x * width - 0.5, p.y * height - 0.5] + ([p.visibility] if visibility else []) for p in landmarks.landmark])

        landmarks = pixels(result.pose_landmarks, visibility=True)
        keypoints = kp.convert_to_coco17(landmarks, "blazepose33")
        keypoints[:, 2] = np.clip(keypoints[:, 2], 0.0, 1.0)
        mask = None if result.segmentation_mask is None else np.asarray(result.segmentation_mask, dtype=np.float32)
        hands_face = None
        if self.whole_body:
            hands_face = from_holistic(
                landmarks, pixels(result.left_hand_landmarks), pixels(result.right_hand_landmarks), pixels(result.face_landmarks)
            )
        return [Detection(keypoints=keypoints, mask=mask, hands_face=hands_face)]


class MediaPipeMask:
    """The pose model's own person mask when there is one; else selfie segmentation around the person.

    Selfie segmentation marks every person-like pixel of what it sees; it is run on an upright crop
    around the given person, so a small or rotated person is seen large and upright (the mask is
    split between several people afterwards).
    """

    name = "mediapipe"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._segmenter = None  # made on first need: with MediaPipe pose, the pose model's masks suffice

    def _segment(self, image: np.ndarray) -> np.ndarray:
        with self._lock:
            if self._segmenter is None:
                with _quiet_native_stderr(True):
                    self._segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
                    return self._segmenter.process(np.ascontiguousarray(image)).segmentation_mask
            return self._segmenter.process(np.ascontiguousarray(image)).segmentation_mask

    def segment(self, image: np.ndarray, people: Sequence[Detection]) -> list[np.ndarray]:
        height, width = image.shape[:2]
        masks = []
        for person in people:
            if person.mask is not None:
                masks.append(person.mask)
                continue
            box = person_box(person.keypoints, None, (width, height))
            if box is None:
                masks.append(np.zeros((height, width), np.float32))
                continue
            view = person_view(box, upright_quarter_turns(person.keypoints), target_side=256)
            masks.append(view.mask_to_original(self._segment(view.render(image)), (width, height)))
        return masks
