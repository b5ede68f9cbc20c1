"""A driving video to poses: per-frame keypoints and person masks, followed, smoothed and written.

Frames are decoded with PyAV (FFmpeg), turned as the file's display rotation says (phones store
portrait videos sideways), and handed one by one to the same people search as photos. Several people
are followed from frame to frame by their keypoints, so a person keeps their place in every frame's
list (ordered by when they first appeared) and their own smoothing filter. Pose models miss a person
now and then for a frame or two (motion blur, someone walking past); a track therefore outlives
``TRACK_PATIENCE`` unseen frames, and a person found again within them is the same person, in the
same place of the list, smoothed by the same filter. Hands and faces, when the detector finds them,
follow their person's track and are smoothed by filters of their own (a hand that goes out of sight
restarts its filter when it comes back, like any point). Masks are written as each frame is done; a
file damaged or cut short part-way keeps the frames before the damage, with a warning.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from tpc.image_io import write_png
from tpc.matching import min_cost_assignment, person_distance
from tpc.pose_sequence import MAX_CANVAS, MAX_FRAMES, PoseSequence
from tpc.wholebody import BODY_ONLY, HandsFace
from tpc_protocol.errors import ErrorCode

from ..errors import UserError
from ..progress import CountCallback
from .people import SHARED_KEYPOINTS, PeopleDetector
from .smoothing import KeypointFilter, OneEuroSettings

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")
SAME_TRACK = 0.5  # keypoint distance (relative to size) under which a person continues a track
TRACK_PATIENCE = 5  # frames a track may go unseen and still be continued (0.2 s at 25 fps); then it ends


class VideoReader:
    """Decoded RGB frames of a video file's first video stream, upright, with their times."""

    def __init__(self, path: str | Path) -> None:
        import av

        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"video {self.path} does not exist", ErrorCode.NOT_FOUND)
        try:
            self._container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError) as error:
            raise UserError(f"video {self.path} cannot be opened ({_reason(error)}); is it an mp4, mov or webm file?") from None
        if not self._container.streams.video:
            self._container.close()
            raise UserError(f"{self.path} has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(30)
        self.fps = float(rate)
        duration = (
            float(self._stream.duration * self._stream.time_base)
            if self._stream.duration and self._stream.time_base
            else (self._container.duration or 0) / 1e6
        )
        self.frame_count = int(self._stream.frames) or int(round(duration * self.fps))
        self.error: str | None = None  # why decoding stopped early, if it did

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self._container.close()

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        import av

        index = 0
        frames = self._container.decode(self._stream)
        while True:
            try:
                frame = next(frames)
            except StopIteration:
                return
            except av.error.FFmpegError as error:
                if index == 0:
                    raise UserError(f"video {self.path} cannot be decoded ({_reason(error)})") from None
                self.error = f"decoding stopped after frame {index - 1} ({_reason(error)})"
                return
            image = frame.to_ndarray(format="rgb24")
            turns = int(round((frame.rotation or 0) / 90.0)) % 4
            if turns:
                image = np.ascontiguousarray(np.rot90(image, turns))  # counter-clockwise, as the display matrix says
            seconds = float(frame.time) if frame.time is not None else index / self.fps
            index += 1
            yield seconds, image


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


@dataclass
class _Track:
    """One person followed; the filter lives and dies with the track."""

    keypoints: np.ndarray  # where the person was last seen
    unseen: int = 0  # frames since then
    smoothers: dict[str, KeypointFilter] = field(default_factory=dict)  # body, left_hand, right_hand, face


@dataclass
class PeopleTracks:
    """People followed across frames: each track's last keypoints and its smoothing filter.

    A track unseen for more than ``patience`` frames ends, filter and all, so memory stays bounded
    however many people come and go; a person who comes back after that is a new track.
    """

    smoothing: OneEuroSettings | None
    unit: float  # pixels per smoothing unit (the frame height)
    patience: int = TRACK_PATIENCE
    tracks: dict[int, _Track] = field(default_factory=dict)
    next_id: int = 0

    def assign(self, people: list[np.ndarray]) -> list[int]:
        """A track id for every person of this frame (new ids for newcomers); ages the others."""
        ids: list[int | None] = [None] * len(people)
        known = list(self.tracks)
        if known and people:
            cost = np.array([[person_distance(p, self.tracks[t].keypoints, min_shared=SHARED_KEYPOINTS) for t in known] for p in people])
            for row, col in min_cost_assignment(np.where(np.isfinite(cost), cost, 1e6)):
                if cost[row, col] < SAME_TRACK:
                    ids[row] = known[col]
        for track in self.tracks.values():
            track.unseen += 1
        for index, person in enumerate(people):
            if ids[index] is None:
                ids[index] = self.next_id
                self.next_id += 1
                self.tracks[ids[index]] = _Track(person)
            track = self.tracks[ids[index]]
            track.keypoints, track.unseen = person, 0
        self.tracks = {i: t for i, t in self.tracks.items() if t.unseen <= self.patience}
        return [int(i) for i in ids]  # type: ignore[arg-type]

    def smooth(self, track_id: int, seconds: float, points: np.ndarray, part: str = "body") -> np.ndarray:
        """A part of the person (their body keypoints, a hand, their face) through the track's filter
        for it (as given without smoothing)."""
        if self.smoothing is None:
            return points
        smoothers = self.tracks[track_id].smoothers
        if part not in smoothers:
            smoothers[part] = KeypointFilter(self.smoothing, self.unit, count=len(points))
        return smoothers[part](seconds, points)

    def smooth_hands_face(self, track_id: int, seconds: float, found: HandsFace | None) -> HandsFace:
        """The person's hands and face through their track's filters (:data:`BODY_ONLY` when not looked for)."""
        if found is None:
            return BODY_ONLY
        parts = {"left_hand": found.left_hand, "right_hand": found.right_hand, "face": found.face}
        return HandsFace(
            **{name: None if points is None else self.smooth(track_id, seconds, points, name) for name, points in parts.items()}
        )


@dataclass
class VideoPoses:
    """What a video gave: its poses, and a sentence when decoding stopped early."""

    poses: PoseSequence
    warning: str | None = None


DEFAULT_SMOOTHING = OneEuroSettings()  # frozen: one shared instance is safe as a default


def extract_video_poses(
    path: str | Path,
    detector: PeopleDetector,
    *,
    max_people: int = 1,
    smoothing: OneEuroSettings | None = DEFAULT_SMOOTHING,
    masks_dir: str | Path | None = None,
    progress: CountCallback | None = None,
) -> VideoPoses:
    """Keypoints of up to ``max_people`` people in every frame of a video, as a PoseSequence.

    ``masks_dir`` receives one union person mask per frame, ``00000.png``... at the video's size
    (the layout ``tpc calibrate --target-masks`` reads). Frames where nobody is found have no
    people (and an empty mask). Raises :class:`UserError` for a missing or unreadable video.
    """
    with VideoReader(path) as video:
        frames: list[list[np.ndarray]] = []
        parts: list[list[HandsFace]] = []
        size: tuple[int, int] | None = None
        tracks: PeopleTracks | None = None
        masks = Path(masks_dir) if masks_dir is not None else None
        if masks is not None:
            try:
                masks.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise UserError(f"cannot create the mask folder {masks} ({error.strerror})", ErrorCode.IO_ERROR) from None
        for seconds, image in video:
            if size is None:
                size = (image.shape[1], image.shape[0])
                if max(size) > MAX_CANVAS:
                    raise UserError(
                        f"video {video.path} is {size[0]}x{size[1]}; at most {MAX_CANVAS} pixels a side are supported, scale it down first"
                    )
                tracks = PeopleTracks(smoothing, unit=float(size[1]))
            elif (image.shape[1], image.shape[0]) != size:
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            if len(frames) >= MAX_FRAMES:
                raise UserError(f"video {video.path} has more than {MAX_FRAMES} frames; cut it into shorter pieces")
            people = detector.detect(image, max_people, thorough=False)
            ids = tracks.assign([person.keypoints for person in people])
            order = np.argsort(ids, kind="stable")
            frames.append([tracks.smooth(ids[i], seconds, people[i].keypoints) for i in order])
            parts.append([tracks.smooth_hands_face(ids[i], seconds, people[i].hands_face) for i in order])
            if masks is not None:
                union = np.zeros(image.shape[:2], dtype=bool)
                for person in people:
                    union |= person.mask
                _write_mask(masks / f"{len(frames) - 1:05d}.png", union)
            if progress:
                progress(len(frames), max(video.frame_count, len(frames)))
        if size is None:
            raise UserError(f"video {video.path} has no frames")
        if progress and video.frame_count > len(frames):  # the container promised more frames
            progress(len(frames), len(frames))
        warning = None
        if video.error:
            warning = f"video {video.path}: {video.error}; kept the {len(frames)} frames before it"
        elif len(frames) < video.frame_count - 1:  # one frame of slack: durations round
            warning = (
                f"video {video.path} announces {video.frame_count} frames but only {len(frames)} could be decoded; is the file cut short?"
            )
        fps = video.fps if math.isfinite(video.fps) and video.fps > 0 else 30.0
        return VideoPoses(PoseSequence(size[0], size[1], fps, frames, parts), warning)


def _write_mask(path: Path, mask: np.ndarray) -> None:
    try:
        write_png(path, mask)
    except OSError as error:
        raise UserError(f"cannot write {path} ({error.strerror})", ErrorCode.IO_ERROR) from None
