"""Hands and face: the whole-body points a person may carry beside their COCO-17 body.

The released animation models were trained on DWPose drawings, which show both hands and (for
Moore-AnimateAnyone) 68 face points; a body-only skeleton is out of their training distribution. The
body stays a (17, 3) array everywhere (calibration, matching and silhouettes read only it); the
hands and face ride beside it in a :class:`HandsFace`, in the same pixels and the same
``x, y, confidence`` rows.

- A hand is 21 points in the OpenPose / COCO-WholeBody / MediaPipe order: 0 the wrist, then four
  points per finger from the palm outwards (thumb 1-4, index 5-8, middle 9-12, ring 13-16, pinky
  17-20). ``left_hand`` is the person's own left hand, wherever it appears in the picture.
- A face is 68 points in the iBUG 300-W order (as dlib, OpenPose without its two pupils,
  COCO-WholeBody and DWPose): jaw line 0-16 from the person's right ear to their left, eyebrows
  17-26, nose 27-35, eyes 36-47 (the person's right eye first), lips 48-67.

``None`` means the source had no such part (a body-only file, a rig without fingers); a part that was
looked for and not found is an array with confidence 0 everywhere, never invented points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_HAND_POINTS = 21
NUM_FACE_POINTS = 68

_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
_JOINTS = {"thumb": ("cmc", "mcp", "ip", "tip")}
HAND_POINT_NAMES: tuple[str, ...] = ("wrist",) + tuple(
    f"{finger}_{joint}" for finger in _FINGERS for joint in _JOINTS.get(finger, ("mcp", "pip", "dip", "tip"))
)

# Wrist to each finger's base, then along the finger: the edges OpenPose and DWPose draw, in their order.
HAND_EDGES: tuple[tuple[int, int], ...] = tuple(
    edge for base in range(1, 21, 4) for edge in ((0, base), (base, base + 1), (base + 1, base + 2), (base + 2, base + 3))
)

# The iBUG 300-W regions: (first, last + 1) point of each.
FACE_REGIONS: dict[str, tuple[int, int]] = {
    "jaw": (0, 17),
    "right_eyebrow": (17, 22),
    "left_eyebrow": (22, 27),
    "nose_bridge": (27, 31),
    "nose_bottom": (31, 36),
    "right_eye": (36, 42),
    "left_eye": (42, 48),
    "outer_lips": (48, 60),
    "inner_lips": (60, 68),
}
FACE_NOSE_TIP = 30


def face_point_name(index: int) -> str:
    """``"jaw 3"``, ``"left_eye 1"``...: where a face point sits, for sentences about a bad one."""
    for region, (first, end) in FACE_REGIONS.items():
        if first <= index < end:
            return f"{region} {index - first}"
    raise IndexError(f"face point {index} is outside 0..{NUM_FACE_POINTS - 1}")


@dataclass(frozen=True)
class HandsFace:
    """One person's hands (21, 3) and face (68, 3) in canvas pixels; ``None`` where the source had none."""

    left_hand: np.ndarray | None = None
    right_hand: np.ndarray | None = None
    face: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name, count in (("left_hand", NUM_HAND_POINTS), ("right_hand", NUM_HAND_POINTS), ("face", NUM_FACE_POINTS)):
            value = getattr(self, name)
            if value is not None:
                array = np.asarray(value, dtype=np.float64)
                if array.shape != (count, 3):
                    raise ValueError(f"{name} must have shape ({count}, 3), got {array.shape}")
                object.__setattr__(self, name, array)

    @property
    def hands(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        return self.left_hand, self.right_hand

    @property
    def empty(self) -> bool:
        """No part at all: the person is body-only."""
        return self.left_hand is None and self.right_hand is None and self.face is None

    def scaled(self, sx: float, sy: float) -> HandsFace:
        """The same points on a canvas scaled by ``sx`` horizontally and ``sy`` vertically."""
        factor = np.array([sx, sy, 1.0])
        return HandsFace(*(None if part is None else part * factor for part in (self.left_hand, self.right_hand, self.face)))

    def mapped(self, transform) -> HandsFace:
        """Every part through ``transform``, a function of an (N, 3) array (e.g. a view back to the photo)."""
        return HandsFace(*(None if part is None else transform(part) for part in (self.left_hand, self.right_hand, self.face)))


BODY_ONLY = HandsFace()


def not_found(hands: bool = True, face: bool = True) -> HandsFace:
    """Parts that were looked for and not seen: every point at (0, 0) with confidence 0."""
    hand = np.zeros((NUM_HAND_POINTS, 3)) if hands else None
    return HandsFace(hand, None if hand is None else hand.copy(), np.zeros((NUM_FACE_POINTS, 3)) if face else None)
