"""Misaligned target poses made from a real photo, with their ground truth.

A case takes the reference person, swings their limbs about the joints (the mask is cut into body
parts by nearest bone and each part moved rigidly), then scales (0.4-2.2x), rotates (any angle) and
moves the whole person on a 512x512 canvas, hides a few keypoints and drops those that leave the
canvas, and jitters the keypoints like a detector would. Optionally the result is mirrored, which is what a person seen from behind looks like to a
keypoint detector (their left side on the left of the picture). The global transform is known, so
the error of a calibration can be measured against it.

``make_motion`` poses the same :class:`Body` frame after frame instead: smooth global and limb motion,
detector jitter, short keypoint dropouts and an optional shot cut (benchmarks/calibration_stability.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tpc import keypoints as kp
from tpc.procrustes import Similarity
from tpc.silhouette import BodyWidths

CANVAS = (512, 512)

# Bones a mask pixel can belong to; limb bones move, the others form the rigid core.
_LIMB_BONES = {
    (kp.LEFT_SHOULDER, kp.LEFT_ELBOW): "left_upper_arm",
    (kp.LEFT_ELBOW, kp.LEFT_WRIST): "left_forearm",
    (kp.RIGHT_SHOULDER, kp.RIGHT_ELBOW): "right_upper_arm",
    (kp.RIGHT_ELBOW, kp.RIGHT_WRIST): "right_forearm",
    (kp.LEFT_HIP, kp.LEFT_KNEE): "left_thigh",
    (kp.LEFT_KNEE, kp.LEFT_ANKLE): "left_shin",
    (kp.RIGHT_HIP, kp.RIGHT_KNEE): "right_thigh",
    (kp.RIGHT_KNEE, kp.RIGHT_ANKLE): "right_shin",
}
_CORE_BONES = kp.TORSO_EDGES + (
    (kp.NOSE, kp.LEFT_SHOULDER),
    (kp.NOSE, kp.RIGHT_SHOULDER),
    (kp.LEFT_EAR, kp.RIGHT_EAR),
    (kp.NOSE, kp.LEFT_EYE),
    (kp.NOSE, kp.RIGHT_EYE),
)
# (root joint, middle joint, end joint, swing range, bend range) in degrees
_CHAINS = (
    (kp.LEFT_SHOULDER, kp.LEFT_ELBOW, kp.LEFT_WRIST, 110.0, 90.0, "left_upper_arm", "left_forearm", 0.75),
    (kp.RIGHT_SHOULDER, kp.RIGHT_ELBOW, kp.RIGHT_WRIST, 110.0, 90.0, "right_upper_arm", "right_forearm", 0.75),
    (kp.LEFT_HIP, kp.LEFT_KNEE, kp.LEFT_ANKLE, 45.0, 60.0, "left_thigh", "left_shin", 0.6),
    (kp.RIGHT_HIP, kp.RIGHT_KNEE, kp.RIGHT_ANKLE, 45.0, 60.0, "right_thigh", "right_shin", 0.6),
)


@dataclass
class Case:
    """One target: keypoints (17, 3), ground-truth mask, and the global transform applied."""

    keypoints: np.ndarray
    mask: np.ndarray
    truth: Similarity
    mirrored: bool
    truth_matrix: np.ndarray  # 2x3: the true map of reference pixels (a reflection when mirrored)
    axis: tuple[np.ndarray, np.ndarray]  # target torso axis (from, to), pixels


def torso_axis(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The paper's pelvis-to-nose axis; the shoulders' midpoint stands in for a half-length photo."""
    seen = kp.visible(keypoints)
    if seen[kp.LEFT_HIP] and seen[kp.RIGHT_HIP]:
        start = keypoints[[kp.LEFT_HIP, kp.RIGHT_HIP], :2].mean(axis=0)
    elif seen[kp.LEFT_SHOULDER] and seen[kp.RIGHT_SHOULDER]:
        start = keypoints[[kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER], :2].mean(axis=0)
    else:
        return None
    face = [i for i in kp.BODY_PARTS["face"] if seen[i]]
    if seen[kp.NOSE]:
        end = keypoints[kp.NOSE, :2]
    elif face:
        end = keypoints[face, :2].mean(axis=0)
    else:
        return None
    return start, end


def _rotation(pivot: np.ndarray, degrees: float) -> np.ndarray:
    return cv2.getRotationMatrix2D((float(pivot[0]), float(pivot[1])), -degrees, 1.0)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    a = np.vstack([outer, [0, 0, 1]])
    b = np.vstack([inner, [0, 0, 1]])
    return (a @ b)[:2]


def _part_labels(mask: np.ndarray, keypoints: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Label every mask pixel with a body part (index into the returned names).

    A pixel belongs to the nearest bone; limb bones only claim pixels within their measured
    half-width (plus a little), so a limb never drags a chunk of torso along. In a half-length photo
    the torso is continued below the shoulders by virtual bones, for the same reason.
    """
    seen = kp.visible(keypoints)
    widths = BodyWidths.measure(keypoints, mask)
    segments, names, reach = [], [], []
    for (a, b), name in _LIMB_BONES.items():
        if seen[a] and seen[b]:
            segments.append((keypoints[a, :2], keypoints[b, :2]))
            names.append(name)
            reach.append(0.75 * widths.limbs[(a, b)])
    for a, b in _CORE_BONES:
        if seen[a] and seen[b]:
            segments.append((keypoints[a, :2], keypoints[b, :2]))
            names.append("core")
            reach.append(np.inf)
    shoulders = seen[kp.LEFT_SHOULDER] and seen[kp.RIGHT_SHOULDER]
    if shoulders and not (seen[kp.LEFT_HIP] and seen[kp.RIGHT_HIP]) and widths.torso_length > 0:
        left, right = keypoints[kp.LEFT_SHOULDER, :2], keypoints[kp.RIGHT_SHOULDER, :2]
        across = right - left
        down = np.array([-across[1], across[0]]) / max(np.linalg.norm(across), 1e-9)
        if seen[kp.NOSE] and np.dot(down, keypoints[kp.NOSE, :2] - (left + right) / 2) > 0:
            down = -down
        for start in (left, (left + right) / 2, right):
            segments.append((start, start + down * widths.torso_length))
            names.append("core")
            reach.append(np.inf)
    rows, cols = np.nonzero(mask)
    points = np.stack([cols, rows], axis=1).astype(np.float64)
    labels = np.full(mask.shape, -1, dtype=np.int32)
    if "core" not in names:
        segments.append((points.mean(axis=0), points.mean(axis=0)))
        names.append("core")
        reach.append(np.inf)
    distances = []
    for (p, q), limit in zip(segments, reach):
        d = q - p
        t = np.clip(((points - p) @ d) / max(float(d @ d), 1e-9), 0.0, 1.0)
        distance = np.linalg.norm(points - (p + t[:, None] * d), axis=1)
        distances.append(np.where(distance <= limit, distance, np.inf))
    distances = np.stack(distances)
    nearest = np.argmin(distances, axis=0)
    unclaimed = ~np.isfinite(distances.min(axis=0))
    nearest[unclaimed] = names.index("core")
    labels[rows, cols] = nearest
    return labels, names


class Body:
    """A reference person cut into rigid parts, ready to be posed many times.

    ``articulate`` swings limb chains about their joints (degrees, per chain index of ``_CHAINS``:
    (swing of the upper bone, bend of the lower one)) and returns the posed mask and keypoints.
    """

    def __init__(self, keypoints: np.ndarray, mask: np.ndarray) -> None:
        self.keypoints = np.asarray(keypoints, dtype=np.float64).copy()
        self.mask = mask
        self.seen = kp.visible(self.keypoints)
        self.labels, self.names = _part_labels(mask, self.keypoints)
        self.parts = [((self.labels == index) * 255).astype(np.uint8) for index in range(len(self.names))]

    def movable(self, chain: int) -> bool:
        root, middle = _CHAINS[chain][:2]
        return bool(self.seen[root] and self.seen[middle])

    def articulate(self, angles: dict[int, tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
        points = self.keypoints
        part_motion = {name: np.array([[1.0, 0, 0], [0, 1.0, 0]]) for name in set(self.names)}
        moved = points.copy()
        for chain, (swing_deg, bend_deg) in angles.items():
            root, middle, end, _, _, upper, lower, _ = _CHAINS[chain]
            swing = _rotation(points[root, :2], swing_deg)
            new_middle = _apply(swing, points[middle, :2][None])[0]
            bend = _compose(_rotation(new_middle, bend_deg), swing)
            part_motion[upper] = swing
            part_motion[lower] = bend
            moved[middle, :2] = new_middle
            if self.seen[end]:
                moved[end, :2] = _apply(bend, points[end, :2][None])[0]
        height, width = self.mask.shape
        articulated = np.zeros((height, width), np.uint8)
        for name, part in zip(self.names, self.parts):
            if part.any():
                articulated |= cv2.warpAffine(part, part_motion[name], (width, height), flags=cv2.INTER_NEAREST)
        articulated = cv2.morphologyEx(articulated, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
        return articulated, moved

    def place(
        self, articulated: np.ndarray, moved: np.ndarray, truth: Similarity, canvas: tuple[int, int], mirrored: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """The posed person moved by ``truth`` onto the canvas (then mirrored): target mask, exact
        keypoints, the true 2x3 map of reference pixels, and the torso axis."""
        target_mask = cv2.warpAffine(articulated, truth.matrix, canvas, flags=cv2.INTER_NEAREST) > 0
        target = truth.apply(moved)
        axis_points = torso_axis(self.keypoints)
        axis = tuple(truth.apply(np.array(p)[None])[0] for p in axis_points) if axis_points else None
        truth_matrix = truth.matrix
        if mirrored:
            flip = np.array([[-1.0, 0.0, canvas[0] - 1.0], [0.0, 1.0, 0.0]])
            truth_matrix = _compose(flip, truth_matrix)
            target_mask = target_mask[:, ::-1].copy()
            target[:, 0] = canvas[0] - 1 - target[:, 0]
            if axis is not None:
                axis = tuple(np.array([canvas[0] - 1 - p[0], p[1]]) for p in axis)
        return target_mask, target, truth_matrix, axis

    def detected(self, rng: np.random.Generator, target: np.ndarray, scale: float, canvas: tuple[int, int], noise: float) -> np.ndarray:
        """What a detector reports: jitter (Gaussian, sigma ``noise`` of the person's size on the
        canvas), keypoints off the canvas or hidden in the reference dropped, others confident."""
        target = target.copy()
        size = np.sqrt(self.mask.sum()) * scale
        target[:, :2] += rng.normal(0.0, noise * size, size=(len(target), 2))
        off_canvas = (target[:, 0] < 0) | (target[:, 0] >= canvas[0]) | (target[:, 1] < 0) | (target[:, 1] >= canvas[1])
        target[off_canvas | ~self.seen, 2] = 0.0
        target[~off_canvas & self.seen, 2] = np.maximum(target[~off_canvas & self.seen, 2], 0.5)
        return target


def make_case(
    rng: np.random.Generator,
    keypoints: np.ndarray,
    mask: np.ndarray,
    *,
    mirrored: bool = False,
    canvas: tuple[int, int] = CANVAS,
    noise: float = 0.01,
    body: Body | None = None,
) -> Case | None:
    """Draw one misaligned target; None when the draw leaves too little of the person on the canvas."""
    body = body or Body(keypoints, mask)
    angles = {}
    for chain, (_, _, _, swing_range, bend_range, _, _, chance) in enumerate(_CHAINS):
        if not body.movable(chain) or rng.random() > chance:
            continue
        angles[chain] = (rng.uniform(-swing_range, swing_range), rng.uniform(-bend_range, bend_range))
    articulated, moved = body.articulate(angles)

    # Global similarity: scale, any rotation, and a centre somewhere in the middle of the canvas.
    scale = float(np.exp(rng.uniform(np.log(0.4), np.log(2.2))))
    angle = float(np.radians(rng.uniform(-180.0, 180.0)))
    rows, cols = np.nonzero(articulated)
    if len(rows) == 0:
        return None
    centre = np.array([cols.mean(), rows.mean()])
    destination = rng.uniform(0.3, 0.7, size=2) * np.asarray(canvas)
    rotate = Similarity(scale=scale, angle=angle)
    tx, ty = destination - rotate.apply(centre[None])[0]
    truth = Similarity(scale=scale, angle=angle, translation=(float(tx), float(ty)))
    target_mask, target, truth_matrix, axis = body.place(articulated, moved, truth, canvas, mirrored)
    target = body.detected(rng, target, scale, canvas, noise)
    visible_now = np.flatnonzero(target[:, 2] > 0)
    hide = rng.choice(visible_now, size=min(len(visible_now), int(rng.integers(0, 4))), replace=False)
    target[hide, 2] = 0.0
    if (target[:, 2] > 0).sum() < 2 or target_mask.mean() < 0.01 or axis is None:
        return None
    return Case(keypoints=target, mask=target_mask, truth=truth, mirrored=mirrored, truth_matrix=truth_matrix, axis=axis)


def make_cases(
    keypoints: np.ndarray, mask: np.ndarray, count: int, seed: int, mirrored_share: float = 0.0, noise: float = 0.01
) -> list[Case]:
    """``count`` cases for one photo, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    body = Body(keypoints, mask)
    cases: list[Case] = []
    while len(cases) < count:
        case = make_case(rng, keypoints, mask, mirrored=bool(rng.random() < mirrored_share), noise=noise, body=body)
        if case is not None:
            cases.append(case)
    return cases


@dataclass
class Motion:
    """A smooth video of one person: per frame a case (detected keypoints, true mask, true map),
    and the frames that start a new shot."""

    frames: list[Case]
    cuts: list[int]
    dropouts: list[tuple[int, int]]  # (first frame, keypoint) of every 3-frame dropout


def _wave(rng: np.random.Generator, amplitude: float, periods: tuple[float, float], t: np.ndarray) -> np.ndarray:
    """A smooth curve through 0 +- amplitude: two sines of random periods (frames) and phases."""
    first, second = rng.uniform(*periods, size=2)
    phases = rng.uniform(0, 2 * np.pi, size=2)
    return amplitude * (0.7 * np.sin(2 * np.pi * t / first + phases[0]) + 0.3 * np.sin(2 * np.pi * t / second + phases[1]))


def make_motion(
    body: Body,
    count: int,
    seed: int,
    *,
    canvas: tuple[int, int] = CANVAS,
    noise: float = 0.01,
    dropout_every: int = 12,
    cut_at: int | None = None,
) -> Motion:
    """``count`` frames of smooth motion at 24 fps, reproducible from ``seed``.

    The whole person drifts, breathes in scale (about +-25 %), sways (about +-25 degrees about a
    random heading) and crosses part of the canvas over a few seconds; the limbs swing about their
    joints with periods of 1.5-4 s. Keypoints jitter like a detector's (``noise`` of the person's
    size, independently per frame), and on average every ``dropout_every`` frames one visible
    keypoint disappears for 3 frames. At ``cut_at`` the shot changes: the global motion starts
    again from a new random placement, as after a cut in an edit.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(count, dtype=np.float64)
    limbs = {
        chain: (_wave(rng, 0.6 * spec[3], (36, 96), t), _wave(rng, 0.6 * spec[4], (36, 96), t))
        for chain, spec in enumerate(_CHAINS)
        if body.movable(chain)
    }
    rows, cols = np.nonzero(body.mask)
    centre = np.array([cols.mean(), rows.mean()])
    shots = [0] + ([cut_at] if cut_at is not None and 0 < cut_at < count else []) + [count]
    scale = np.empty(count)
    angle = np.empty(count)
    position = np.empty((count, 2))
    for start, end in zip(shots, shots[1:]):
        span = t[start:end]
        base_scale = np.exp(rng.uniform(np.log(0.5), np.log(1.3)))
        scale[start:end] = base_scale * np.exp(_wave(rng, 0.25, (72, 160), span))
        angle[start:end] = np.radians(rng.uniform(-180, 180) + _wave(rng, 25.0, (72, 160), span))
        base = rng.uniform(0.4, 0.6, size=2) * np.asarray(canvas)
        position[start:end, 0] = base[0] + _wave(rng, 0.12 * canvas[0], (96, 200), span)
        position[start:end, 1] = base[1] + _wave(rng, 0.08 * canvas[1], (96, 200), span)

    frames: list[Case] = []
    for i in range(count):
        articulated, moved = body.articulate({chain: (swing[i], bend[i]) for chain, (swing, bend) in limbs.items()})
        rotate = Similarity(scale=float(scale[i]), angle=float(angle[i]))
        tx, ty = position[i] - rotate.apply(centre[None])[0]
        truth = Similarity(scale=float(scale[i]), angle=float(angle[i]), translation=(float(tx), float(ty)))
        target_mask, target, truth_matrix, axis = body.place(articulated, moved, truth, canvas)
        frames.append(Case(body.detected(rng, target, float(scale[i]), canvas, noise), target_mask, truth, False, truth_matrix, axis))
    dropouts = []
    for start in np.flatnonzero(rng.random(count) < 1 / dropout_every):
        seen = np.flatnonzero(frames[start].keypoints[:, 2] > 0)
        if len(seen) > 2:
            point = int(rng.choice(seen))
            dropouts.append((int(start), point))
            for frame in frames[start : start + 3]:
                frame.keypoints[point, 2] = 0.0
    return Motion(frames, shots[1:-1], dropouts)
