"""The calibration report: every fit as JSON, and one picture a person can read at a glance.

``report.json`` lists, per frame and person, the matrix (reference pixels to target pixels), scale,
rotation, translation, keypoints used, the IoU of the transform used (``score``) and of the frame's
own best transform before a sequence smoothed it (``candidate_score``), and the fallback. ``report.png`` shows the reference,
a few target poses (evenly spaced, plus the worst-scoring frame) with their calibrated images over the
target shape, and per-frame curves of IoU, scale and rotation, with fallback frames marked.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .calibration import CalibrationConfig, FrameCalibration, PersonFit
from .drawing import draw_openpose
from .wholebody import HandsFace

_THUMB = 220
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE, _GREY, _DARK = (235, 235, 235), (150, 150, 150), (28, 28, 32)
_CURVES = (("IoU", (80, 200, 120)), ("scale", (90, 160, 255)), ("rotation deg", (255, 170, 60)))
_FALLBACK_COLOR = (240, 60, 60)


@dataclass
class _Sample:
    index: int
    pose: np.ndarray
    overlay: np.ndarray
    score: float


@dataclass
class _LaterSample:
    """A frame the picture may show, calibrated only once that is certain."""

    index: int
    calibration: Callable[[], FrameCalibration]
    target_people: list[np.ndarray]
    score: float


def _sample(
    index: int,
    frame: FrameCalibration | Callable[[], FrameCalibration],
    target_people: list[np.ndarray],
    canvas_size: tuple[int, int],
    score: float,
    hands_face: Callable[[int], Sequence[HandsFace]] | None,
) -> _Sample:
    calibrated = frame if isinstance(frame, FrameCalibration) else frame()
    extras = hands_face(index) if hands_face is not None else None
    return _Sample(index, *_frame_thumbnails(calibrated, target_people, canvas_size, extras), score)


class CalibrationReport:
    """Collects frame calibrations as they are made; writes ``report.json`` and ``report.png``.

    Only what the picture needs is kept per sample frame (thumbnails), so memory stays flat over long
    sequences. A frame's fits are enough for the JSON and the curves; the images of a full
    calibration are needed only for the few frames the picture shows, so a caller that has only fits
    (:meth:`add_fits`) hands over a way to calibrate the frame, used for those frames alone.
    ``hands_face`` gives a frame's hands and faces by index (e.g. ``PoseSequence.hands_face_of``)
    for the target poses pictured; without it they are drawn body only.
    """

    def __init__(
        self,
        reference_image: np.ndarray,
        reference_people: list[tuple[np.ndarray, np.ndarray]],
        canvas_size: tuple[int, int],
        num_frames: int,
        config: CalibrationConfig | None = None,
        samples: int = 3,
        hands_face: Callable[[int], Sequence[HandsFace]] | None = None,
    ) -> None:
        self.canvas_size = canvas_size
        self._hands_face = hands_face
        self.num_frames = num_frames
        self.config = config or CalibrationConfig()
        self.frames: list[list[dict]] = []
        self._reference = _reference_thumbnail(reference_image, reference_people)
        self._reference_size = (reference_image.shape[1], reference_image.shape[0])
        self._reference_count = len(reference_people)
        last = max(0, num_frames - 1)
        self._wanted = sorted({round(i * last / max(1, samples - 1)) for i in range(samples)})
        self._samples: dict[int, _Sample] = {}
        self._worst: _Sample | _LaterSample | None = None

    def add(self, frame: FrameCalibration, target_people: list[np.ndarray]) -> None:
        """Record one calibrated frame (frames must arrive in order)."""
        self._add(frame.index, frame.fits, target_people, frame)

    def add_fits(
        self,
        index: int,
        fits: Sequence[PersonFit],
        target_people: list[np.ndarray],
        calibration: Callable[[], FrameCalibration],
    ) -> None:
        """Record one frame from its fits alone (frames must arrive in order).

        ``calibration()`` gives the frame's full calibration; it is called only for the frames the
        picture shows (the evenly spaced samples, now, and the worst frame, by :meth:`render`).
        """
        self._add(index, fits, target_people, calibration)

    def _add(
        self,
        index: int,
        fits: Sequence[PersonFit],
        target_people: list[np.ndarray],
        frame: FrameCalibration | Callable[[], FrameCalibration],
    ) -> None:
        self.frames.append([fit.to_report() for fit in fits])
        score = min((f.score for f in fits), default=0.0)
        is_wanted = index in self._wanted
        is_worst = self._worst is None or score < self._worst.score
        if is_wanted:
            self._samples[index] = _sample(index, frame, target_people, self.canvas_size, score, self._hands_face)
        if is_worst:
            if is_wanted:
                self._worst = self._samples[index]
            elif isinstance(frame, FrameCalibration):  # at hand now: thumbnails cost less than keeping it
                self._worst = _sample(index, frame, target_people, self.canvas_size, score, self._hands_face)
            else:  # a later frame may score lower still: calibrate this one only if it stays the worst
                self._worst = _LaterSample(index, frame, target_people, score)

    # -- JSON -----------------------------------------------------------------------------------------
    def to_json(self) -> dict:
        scores = [p["score"] for people in self.frames for p in people]
        own = [p["candidate_score"] for people in self.frames for p in people]
        fallbacks = Counter(p["fallback"] for people in self.frames for p in people if p["fallback"])
        return {
            "format": "tpc-calibration-report",
            "version": 1,
            "reference": {
                "width": self._reference_size[0],
                "height": self._reference_size[1],
                "people": self._reference_count,
            },
            "canvas": {"width": self.canvas_size[0], "height": self.canvas_size[1]},
            "settings": dataclasses.asdict(self.config),
            "summary": {
                "frames": len(self.frames),
                "mean_score": round(float(np.mean(scores)), 4) if scores else None,
                "min_score": round(float(np.min(scores)), 4) if scores else None,
                "mean_candidate_score": round(float(np.mean(own)), 4) if own else None,
                "fallbacks": dict(fallbacks),
            },
            "frames": [{"index": i, "people": people} for i, people in enumerate(self.frames)],
        }

    # -- picture --------------------------------------------------------------------------------------
    def render(self) -> np.ndarray:
        """The report picture as an RGB array."""
        if isinstance(self._worst, _LaterSample):
            later = self._worst
            self._worst = _sample(later.index, later.calibration, later.target_people, self.canvas_size, later.score, self._hands_face)
        samples = [self._samples[i] for i in sorted(self._samples)]
        if self._worst is not None and self._worst.index not in self._samples:
            samples.append(self._worst)
        columns = 1 + len(samples)
        pad = 12
        width = columns * (_THUMB + pad) + pad
        plot_height = 3 * 110
        height = pad + 22 + 2 * (_THUMB + 22 + pad) + plot_height + pad
        page = np.full((height, width, 3), _DARK, np.uint8)
        _text(page, "TPC calibration report", (pad, pad + 14), 0.55, _WHITE)
        top = pad + 22
        _paste(page, self._reference, pad, top + 22)
        _text(page, "reference", (pad, top + 16), 0.45, _WHITE)
        _text(page, "top: target pose", (pad, top + 22 + _THUMB + 40), 0.42, _GREY)
        _text(page, "bottom: calibrated image", (pad, top + 22 + _THUMB + 58), 0.42, _GREY)
        _text(page, "over target shape (blue)", (pad, top + 22 + _THUMB + 76), 0.42, _GREY)
        for column, sample in enumerate(samples, start=1):
            x = pad + column * (_THUMB + pad)
            worst = sample is self._worst and sample.index not in self._samples
            label = f"frame {sample.index}" + (" (worst)" if worst else "")
            _text(page, label, (x, top + 16), 0.45, _WHITE)
            _paste(page, sample.pose, x, top + 22)
            y = top + 22 + _THUMB + pad
            _paste(page, sample.overlay, x, y + 22)
            _text(page, f"IoU {sample.score:.2f}", (x, y + 16), 0.45, _WHITE)
        self._plot(page, pad, height - plot_height - pad, width - 2 * pad, plot_height)
        return page

    def _plot(self, page: np.ndarray, x: int, y: int, width: int, height: int) -> None:
        first = [people[0] if people else None for people in self.frames]
        series = {
            "IoU": [p["score"] if p else np.nan for p in first],
            "scale": [p["scale"] if p else np.nan for p in first],
            "rotation deg": [p["rotation_deg"] if p else np.nan for p in first],
        }
        fallback = [bool(p and p["fallback"]) for p in first]
        row_height = height // len(_CURVES)
        for row, (name, color) in enumerate(_CURVES):
            top = y + row * row_height
            values = np.asarray(series[name], dtype=np.float64)
            _curve(page, values, fallback, (x, top, width, row_height - 14), name, color)


def _curve(page, values, fallback, box, name, color) -> None:
    x, y, width, height = box
    left = x + 70
    plot_w = width - 80
    cv2.rectangle(page, (left, y), (left + plot_w, y + height), (60, 60, 68), 1)
    finite = values[np.isfinite(values)]
    if name == "IoU":
        low, high = 0.0, 1.0
    elif finite.size:
        low, high = float(finite.min()), float(finite.max())
        if high - low < 1e-6:
            low, high = low - 1, high + 1
    else:
        low, high = 0.0, 1.0
    label_width = cv2.getTextSize(name, _FONT, 0.42, 1)[0][0]
    _text(page, name, (x, y + 14), 0.42 * min(1.0, (left - x - 6) / label_width), color)  # shrunk to fit beside the plot
    _text(page, f"{high:.2f}", (x, y + 30), 0.36, _GREY)
    _text(page, f"{low:.2f}", (x, y + height - 2), 0.36, _GREY)
    count = len(values)
    if count == 0:
        return

    def point(i: int, v: float) -> tuple[int, int]:
        px = left + (plot_w * i / max(1, count - 1) if count > 1 else plot_w / 2)
        py = y + height - (v - low) / (high - low) * height
        return int(round(px)), int(round(py))

    points = [point(i, v) if np.isfinite(v) else None for i, v in enumerate(values)]
    for a, b in zip(points, points[1:]):
        if a is not None and b is not None:
            cv2.line(page, a, b, color, 1, cv2.LINE_AA)
    for p, bad in zip(points, fallback):
        if p is not None and bad:
            cv2.circle(page, p, 3, _FALLBACK_COLOR, -1, cv2.LINE_AA)
    _text(page, f"frames 0..{count - 1}" + ("   red: fallback" if any(fallback) else ""), (left + 4, y + 12), 0.36, _GREY)


def _text(page, text, origin, scale, color) -> None:
    cv2.putText(page, text, origin, _FONT, scale, color, 1, cv2.LINE_AA)


def _fit_box(image: np.ndarray, size: int = _THUMB) -> np.ndarray:
    """Letterbox an image into a size x size square."""
    height, width = image.shape[:2]
    zoom = size / max(height, width)
    resized = cv2.resize(image, (max(1, round(width * zoom)), max(1, round(height * zoom))), interpolation=cv2.INTER_AREA)
    box = np.full((size, size, 3), 12, np.uint8)
    oy, ox = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    box[oy : oy + resized.shape[0], ox : ox + resized.shape[1]] = resized
    return box


def _paste(page: np.ndarray, tile: np.ndarray, x: int, y: int) -> None:
    page[y : y + tile.shape[0], x : x + tile.shape[1]] = tile


def _reference_thumbnail(image: np.ndarray, people: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    picture = image.copy()
    for _, mask in people:
        outline = cv2.morphologyEx(np.asarray(mask, np.uint8) * 255, cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8))
        picture[outline > 0] = (60, 140, 255)
    draw_openpose(picture, [k for k, _ in people])
    return _fit_box(picture)


def _frame_thumbnails(
    frame: FrameCalibration,
    target_people: list[np.ndarray],
    canvas_size: tuple[int, int],
    hands_face: Sequence[HandsFace] | None,
) -> tuple[np.ndarray, np.ndarray]:
    width, height = canvas_size
    pose = np.zeros((height, width, 3), np.uint8)
    shape = None
    if frame.target_shape is not None:
        shape = cv2.resize(frame.target_shape.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        pose[shape] = (40, 40, 70)
    draw_openpose(pose, list(target_people), hands_face)
    overlay = np.zeros((height, width, 3), np.uint8)
    if shape is not None:
        overlay[shape] = (40, 70, 150)
    person = frame.mask > 0
    overlay[person] = (0.8 * frame.image[person] + 0.2 * overlay[person]).astype(np.uint8)
    return _fit_box(pose), _fit_box(overlay)
