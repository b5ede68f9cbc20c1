"""Person shapes drawn from keypoints, with body-part thickness measured on the reference person.

When a target frame comes without a mask (a bare pose file, a rig without a mesh), the subset search
still needs a target *shape* to score against (paper Eq. 4). We draw one: limbs as capsules, the torso
as a padded polygon, a neck and a head disc. A stick figure of fixed width would reward candidates that
shrink the person; taking each part's thickness from the reference person's own mask (scaled by the
ratio of bone lengths) keeps the drawn shape as wide as the person that will be warped onto it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from . import keypoints as kp

_SHIFT = 4  # fixed-point bits for cv2 drawing: sub-pixel accurate shapes at low resolution
_ONE = 1 << _SHIFT

# Pairs whose length ratio between two people estimates their relative size (foreshortening of one
# bone is voted down by the median over all of them).
_SIZE_SEGMENTS: tuple[tuple[int, int], ...] = (
    kp.LIMBS
    + kp.TORSO_EDGES
    + (
        (kp.LEFT_EYE, kp.RIGHT_EYE),
        (kp.LEFT_EAR, kp.RIGHT_EAR),
        (kp.NOSE, kp.LEFT_EYE),
        (kp.NOSE, kp.RIGHT_EYE),
    )
)


@dataclass(frozen=True)
class BodyWidths:
    """Thickness of body parts, in the pixels of the person they were measured on."""

    limbs: dict[tuple[int, int], float] = field(default_factory=dict)
    head_radius: float = 0.0
    torso_margin: float = 0.0
    torso_length: float = 0.0  # shoulders' to hips' midpoint; without hips, the torso the mask shows

    def scaled(self, factor: float) -> BodyWidths:
        return BodyWidths(
            limbs={edge: width * factor for edge, width in self.limbs.items()},
            head_radius=self.head_radius * factor,
            torso_margin=self.torso_margin * factor,
            torso_length=self.torso_length * factor,
        )

    @classmethod
    def measure(
        cls,
        keypoints: np.ndarray,
        mask: np.ndarray,
        threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD,
    ) -> BodyWidths:
        """Measure limb widths and head radius of one person on their mask.

        A limb's width is taken across the bone at 25 %, 50 % and 75 % of its length as twice the
        shorter of the two half-runs of mask pixels, so an arm resting against the torso is not
        measured as wide as the torso. Parts that cannot be measured get the median of the others,
        or a fraction of the person's size.
        """
        points = np.asarray(keypoints, dtype=np.float64)
        seen = kp.visible(points, threshold)
        mask = np.asarray(mask).astype(bool)
        size = _person_size(points, seen, mask)

        limbs: dict[tuple[int, int], float] = {}
        for a, b in kp.LIMBS:
            if seen[a] and seen[b]:
                width = _width_across(mask, points[a, :2], points[b, :2])
                if width is not None:
                    limbs[(a, b)] = width
        typical = float(np.median(list(limbs.values()))) if limbs else 0.12 * size
        limbs = {edge: limbs.get(edge, typical) for edge in kp.LIMBS}

        head_radius = _head_radius(points, seen, mask)
        if head_radius is None:
            head_radius = 0.11 * size

        torso_length = 0.0
        if seen[[kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER, kp.LEFT_HIP, kp.RIGHT_HIP]].all():
            shoulders = points[[kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER], :2].mean(0)
            hips = points[[kp.LEFT_HIP, kp.RIGHT_HIP], :2].mean(0)
            torso_length = float(np.linalg.norm(shoulders - hips))
        elif seen[kp.LEFT_SHOULDER] and seen[kp.RIGHT_SHOULDER]:
            # A half-length photo: as much torso as the mask shows below the shoulders.
            middle = points[[kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER], :2].mean(0)
            down = _away_from_head(points[:, :2], seen)
            if down is not None:
                shoulder_width = float(np.linalg.norm(points[kp.LEFT_SHOULDER, :2] - points[kp.RIGHT_SHOULDER, :2]))
                torso_length = float(_runs(mask, middle, down, max(2, int(2 * shoulder_width))))
        return cls(limbs=limbs, head_radius=head_radius, torso_margin=0.5 * typical, torso_length=torso_length)


def relative_size(reference: np.ndarray, target: np.ndarray, threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD) -> float | None:
    """How much larger the target person is than the reference person (median bone-length ratio)."""
    ref_seen, tgt_seen = kp.visible(reference, threshold), kp.visible(target, threshold)
    ratios = []
    for a, b in _SIZE_SEGMENTS:
        if ref_seen[a] and ref_seen[b] and tgt_seen[a] and tgt_seen[b]:
            ref_len = np.linalg.norm(reference[a, :2] - reference[b, :2])
            if ref_len > 2.0:
                ratios.append(np.linalg.norm(target[a, :2] - target[b, :2]) / ref_len)
    if not ratios:
        return None
    ratio = float(np.median(ratios))
    return ratio if np.isfinite(ratio) and ratio > 1e-3 else None


# Parts a silhouette is drawn from. Label 0 is background; UNASSIGNED marks person pixels that no
# drawable part claims (a reference whose keypoints show nothing), which every comparison includes.
HEAD, TORSO = 1, 2
LIMB_PARTS = {limb: 3 + i for i, limb in enumerate(kp.LIMBS)}
UNASSIGNED = 3 + len(kp.LIMBS)
NUM_LABELS = UNASSIGNED + 1
# Label permutation exchanging left and right limbs (for people seen from behind).
LABEL_SWAP = np.arange(NUM_LABELS)
for _limb, _label in LIMB_PARTS.items():
    LABEL_SWAP[_label] = LIMB_PARTS[tuple(kp.LEFT_RIGHT_SWAP[i] for i in _limb)]


def drawn_parts(keypoints: np.ndarray, threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD) -> np.ndarray:
    """Which part labels a silhouette of these keypoints contains: (NUM_LABELS,) bools."""
    seen = kp.visible(keypoints, threshold)
    parts = np.zeros(NUM_LABELS, dtype=bool)
    parts[HEAD] = seen[list(kp.BODY_PARTS["face"])].any()
    parts[TORSO] = seen[list(kp.BODY_PARTS["torso"])].sum() >= 2
    for (a, b), label in LIMB_PARTS.items():
        parts[label] = seen[a] and seen[b]
    parts[UNASSIGNED] = True
    return parts


def draw_silhouette(
    keypoints: np.ndarray,
    widths: BodyWidths,
    size: tuple[int, int],
    *,
    zoom: float = 1.0,
    threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD,
    out: np.ndarray | None = None,
    only: int | None = None,
) -> np.ndarray:
    """Draw a person's shape from their keypoints into a uint8 mask (0/255) of ``size`` = (W, H).

    ``zoom`` scales keypoint coordinates and widths (for drawing at a lower resolution than the
    keypoints' canvas; pixel centres map to pixel centres, ``x' = (x + 0.5) * zoom - 0.5``). Pass ``out`` to draw into an existing mask (several people on one canvas),
    ``only`` to draw a single part label.
    """
    width, height = size
    canvas = np.zeros((height, width), np.uint8) if out is None else out
    points = np.asarray(keypoints, dtype=np.float64)
    seen = kp.visible(points, threshold)
    xy = (points[:, :2] + 0.5) * zoom - 0.5  # pixel centres stay pixel centres at any zoom

    def fixed(p: np.ndarray) -> tuple[int, int]:
        return int(round(p[0] * _ONE)), int(round(p[1] * _ONE))

    def thickness(w: float) -> int:
        return max(1, int(round(w * zoom)))

    # Torso: the hull of the visible shoulders and hips, padded by the margin; the neck joins it.
    corners = [i for i in (kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER, kp.RIGHT_HIP, kp.LEFT_HIP) if seen[i]]
    if only in (None, TORSO) and len(corners) >= 2:
        torso = [xy[i] for i in corners]
        if len(corners) == 2 and seen[kp.LEFT_SHOULDER] and seen[kp.RIGHT_SHOULDER] and widths.torso_length > 0:
            torso = _extend_torso(xy, seen, widths.torso_length * zoom)
        polygon = np.array([fixed(p) for p in torso], dtype=np.int32)
        if len(torso) >= 3:
            hull = cv2.convexHull(polygon)
            cv2.fillConvexPoly(canvas, hull, 255, cv2.LINE_8, _SHIFT)
            cv2.polylines(canvas, [hull], True, 255, thickness(2 * widths.torso_margin), cv2.LINE_8, _SHIFT)
        else:
            cv2.line(canvas, tuple(polygon[0]), tuple(polygon[1]), 255, thickness(2 * widths.torso_margin), cv2.LINE_8, _SHIFT)

    for (a, b), label in LIMB_PARTS.items():
        if only in (None, label) and seen[a] and seen[b]:
            cv2.line(canvas, fixed(xy[a]), fixed(xy[b]), 255, thickness(widths.limbs.get((a, b), 0.0)), cv2.LINE_8, _SHIFT)

    face = [i for i in kp.BODY_PARTS["face"] if seen[i]]
    if only in (None, HEAD) and face:
        center = xy[face].mean(axis=0)
        radius = max(1, int(round(widths.head_radius * zoom * _ONE)))
        cv2.circle(canvas, fixed(center), radius, 255, -1, cv2.LINE_8, _SHIFT)
    if only in (None, TORSO) and face and seen[kp.LEFT_SHOULDER] and seen[kp.RIGHT_SHOULDER]:
        center = xy[face].mean(axis=0)
        neck = xy[[kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER]].mean(axis=0)
        cv2.line(canvas, fixed(center), fixed(neck), 255, thickness(1.2 * widths.head_radius), cv2.LINE_8, _SHIFT)
    return canvas


def label_parts(
    keypoints: np.ndarray,
    mask: np.ndarray,
    widths: BodyWidths,
    threshold: float = kp.DEFAULT_CONFIDENCE_THRESHOLD,
) -> np.ndarray:
    """Label each person pixel with the drawable part nearest to it: (H, W) uint8, 0 = background.

    Each part the keypoints can draw is drawn alone with the person's own widths; a pixel belongs to
    the part whose drawing is closest. With nothing drawable, pixels get UNASSIGNED.
    """
    mask = np.asarray(mask, dtype=bool)
    height, width = mask.shape
    labels = np.zeros((height, width), np.uint8)
    available = np.flatnonzero(drawn_parts(keypoints, threshold)[:UNASSIGNED])
    if len(available) == 0:
        labels[mask] = UNASSIGNED
        return labels
    nearest = np.zeros((height, width), np.uint8)
    best = np.full((height, width), np.inf, np.float32)  # running minimum: one map in memory, not ten
    for label in available:
        drawing = draw_silhouette(keypoints, widths, (width, height), threshold=threshold, only=int(label))
        distance = cv2.distanceTransform(np.where(drawing > 0, 0, 255).astype(np.uint8), cv2.DIST_L2, 3)
        closer = distance < best
        best[closer] = distance[closer]
        nearest[closer] = label
    labels[mask] = nearest[mask]
    return labels


def _away_from_head(xy: np.ndarray, seen: np.ndarray) -> np.ndarray | None:
    """Unit vector across the shoulder line, pointing away from the face (down the torso)."""
    left, right = xy[kp.LEFT_SHOULDER], xy[kp.RIGHT_SHOULDER]
    across = right - left
    down = np.array([-across[1], across[0]])
    norm = np.linalg.norm(down)
    if norm < 1e-6:
        return None
    down /= norm
    face = [i for i in kp.BODY_PARTS["face"] if seen[i]]
    toward_head = (xy[face].mean(axis=0) - (left + right) / 2) if face else np.array([0.0, -1.0])
    return -down if np.dot(down, toward_head) > 0 else down


def _extend_torso(xy: np.ndarray, seen: np.ndarray, length: float) -> list[np.ndarray]:
    """Shoulders seen, hips not: continue the torso away from the head for the reference's length."""
    left, right = xy[kp.LEFT_SHOULDER], xy[kp.RIGHT_SHOULDER]
    down = _away_from_head(xy, seen)
    if down is None:
        return [left, right]
    return [left, right, right + down * length, left + down * length]


def _person_size(points: np.ndarray, seen: np.ndarray, mask: np.ndarray) -> float:
    area = float(mask.sum())
    if area > 0:
        return float(np.sqrt(area))
    if seen.sum() >= 2:
        spread = points[seen, :2] - points[seen, :2].mean(axis=0)
        return float(2.0 * np.sqrt((spread**2).sum(axis=1).mean()))
    return 1.0


def _runs(mask: np.ndarray, start: np.ndarray, direction: np.ndarray, limit: int) -> int:
    """Number of consecutive mask pixels from ``start`` along ``direction`` (start excluded)."""
    steps = np.arange(1, limit + 1)[:, None]
    coords = np.rint(start + steps * direction).astype(np.int64)
    height, width = mask.shape
    inside = (coords[:, 0] >= 0) & (coords[:, 0] < width) & (coords[:, 1] >= 0) & (coords[:, 1] < height)
    values = np.zeros(limit, dtype=bool)
    values[inside] = mask[coords[inside, 1], coords[inside, 0]]
    misses = np.flatnonzero(~values)
    return int(misses[0]) if misses.size else limit


def _width_across(mask: np.ndarray, a: np.ndarray, b: np.ndarray) -> float | None:
    bone = b - a
    length = float(np.linalg.norm(bone))
    if length < 2.0:
        return None
    normal = np.array([-bone[1], bone[0]]) / length
    limit = max(2, int(length))
    height, width = mask.shape
    widths = []
    for t in (0.25, 0.5, 0.75):
        p = a + t * bone
        x, y = int(round(p[0])), int(round(p[1]))
        if not (0 <= x < width and 0 <= y < height and mask[y, x]):
            continue
        half = min(_runs(mask, p, normal, limit), _runs(mask, p, -normal, limit))
        widths.append(2.0 * half + 1.0)
    return float(np.median(widths)) if widths else None


def _head_radius(points: np.ndarray, seen: np.ndarray, mask: np.ndarray) -> float | None:
    face = [i for i in kp.BODY_PARTS["face"] if seen[i]]
    if not face:
        return None
    center = points[face, :2].mean(axis=0)
    x, y = int(round(center[0])), int(round(center[1]))
    height, width = mask.shape
    if not (0 <= x < width and 0 <= y < height and mask[y, x]):
        return None
    up = np.array([0.0, -1.0])
    if seen[kp.LEFT_SHOULDER] and seen[kp.RIGHT_SHOULDER]:
        away = center - points[[kp.LEFT_SHOULDER, kp.RIGHT_SHOULDER], :2].mean(axis=0)
        if np.linalg.norm(away) > 1e-6:
            up = away / np.linalg.norm(away)
    limit = int(max(height, width))
    radii = []
    for angle in np.linspace(0, 2 * np.pi, 16, endpoint=False):
        direction = np.array([np.cos(angle), np.sin(angle)])
        if np.dot(direction, up) > 0.2:  # the crown and temples, not the neck
            radii.append(_runs(mask, center, direction, limit) + 0.5)
    return float(np.median(radii)) if radii else None
