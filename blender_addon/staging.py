"""The arithmetic of putting imported motion on stage: its unit, which way is up, where the camera goes.

Motion files rarely say their unit. A skeleton's own proportions do: the hip-to-ankle length of an
adult is about 0.49 of their height and hip joints to shoulder joints about 0.29 (Drillis & Contini's
segment ratios), so :func:`estimated_height` reads a height off any rig in the file's units, and
:func:`detect_unit` picks the unit that makes it a human height. Plain Python and numpy (no bpy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LEG_PER_HEIGHT = 0.491  # hip joint to ankle joint (thigh 0.245 + shank 0.246)
TORSO_PER_HEIGHT = 0.288  # hip joints to shoulder joints (shoulder height 0.818 - hip height 0.530)
HUMAN_HEIGHTS = (1.2, 2.3)  # metres: what a performer's height may be in a known unit
NOMINAL_HEIGHT = 1.7  # metres: the height given to a skeleton whose unit is none of the known ones

# The units motion files come in, with metres per unit; their human height ranges do not overlap.
UNITS: tuple[tuple[str, float], ...] = (
    ("metres", 1.0),
    ("centimetres", 0.01),
    ("millimetres", 0.001),
    ("inches", 0.0254),
    ("CMU units", 0.0254 / 0.45),  # the CMU database's ASF scale: 0.45 units to the inch
)


@dataclass(frozen=True)
class Unit:
    name: str  # "centimetres", or "" when no known unit fits
    metres_per_unit: float


def estimated_height(leg: float | None, torso: float | None) -> float | None:
    """A standing height from the leg (hip to ankle) and torso (hips to shoulders) lengths, either may be None."""
    if leg and torso:
        return (leg + torso) / (LEG_PER_HEIGHT + TORSO_PER_HEIGHT)
    if leg:
        return leg / LEG_PER_HEIGHT
    if torso:
        return torso / TORSO_PER_HEIGHT
    return None


def detect_unit(height: float) -> Unit:
    """The known unit in which ``height`` is a human height; otherwise one that makes it NOMINAL_HEIGHT."""
    low, high = HUMAN_HEIGHTS
    for name, metres in UNITS:
        if low <= height * metres <= high:
            return Unit(name, metres)
    return Unit("", NOMINAL_HEIGHT / height)


@dataclass(frozen=True)
class BvhTiming:
    frames: int
    fps: float


def bvh_timing(path: str | Path) -> BvhTiming:
    """The frame count and rate a BVH file states (``Frames:``, ``Frame Time:``); ValueError when it states none."""
    frames = frame_time = None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            words = line.replace(":", " : ").split()
            if words[:2] == ["Frames", ":"] and len(words) > 2:
                frames = int(words[2])
            elif words[:3] == ["Frame", "Time", ":"] and len(words) > 3:
                frame_time = float(words[3])
                break
    if frames is None or not frame_time or frame_time <= 0:
        raise ValueError("it states no frame count and frame time after MOTION")
    return BvhTiming(frames, frame_rate(1.0 / frame_time))


def frame_rate(rate: float) -> float:
    """A rate as files write it (0.0083333 s a frame is 120 fps, not 120.0005)."""
    whole = round(rate)
    return float(whole) if abs(rate - whole) < 0.01 else rate


def blender_fps(rate: float) -> tuple[int, float]:
    """Blender's (fps, fps_base) for a frame rate."""
    fps = max(1, round(rate))
    return fps, fps / rate


def nearest_axis(vector: np.ndarray) -> np.ndarray:
    """The signed world axis closest to ``vector`` (a floor is a coordinate plane)."""
    axis = np.zeros(3)
    biggest = int(np.argmax(np.abs(vector)))
    axis[biggest] = math.copysign(1.0, vector[biggest])
    return axis


def rotation_onto(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 3x3 rotation taking unit vector ``source`` to unit vector ``target`` by the shortest turn."""
    cross, dot = np.cross(source, target), float(np.dot(source, target))
    if dot > 1 - 1e-12:
        return np.eye(3)
    if dot < -1 + 1e-12:  # half a turn about any axis perpendicular to source
        helper = np.eye(3)[int(np.argmin(np.abs(source)))]
        axis = np.cross(source, helper)
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    skew = np.array([[0, -cross[2], cross[1]], [cross[2], 0, -cross[0]], [-cross[1], cross[0], 0]])
    return np.eye(3) + skew + skew @ skew / (1 + dot)


@dataclass(frozen=True)
class CameraPlacement:
    location: np.ndarray
    rotation: np.ndarray  # 3x3, columns: the camera's X (right), Y (up), Z (backwards) axes
    distance: float


def frame_points(points: np.ndarray, forward: np.ndarray, half_width: float, half_height: float, margin: float = 0.15) -> CameraPlacement:
    """A camera level with the floor, in front of a performer facing ``forward``, that sees every point.

    ``points`` (n, 3) are where the performer is over the whole shot; ``half_width`` and ``half_height``
    are the tangents of half the camera's field of view. The camera looks along ``-forward``, centred on
    the points' extent, from the nearest distance at which every point lies inside the frame with
    ``margin`` (a fraction of the frame) to spare: for a point at offsets (u, v) across and w towards
    the camera from the aim point, seen from distance d, |u| <= t (d - w), so d >= |u| / t + w.
    """
    up = np.array([0.0, 0.0, 1.0])
    back = forward - np.dot(forward, up) * up
    back = back / np.linalg.norm(back) if np.linalg.norm(back) > 1e-9 else np.array([0.0, -1.0, 0.0])
    right = np.cross(up, back)
    rotation = np.stack([right, up, back], axis=1)
    local = points @ rotation  # (u, v, w) of every point
    centre = (local.min(axis=0) + local.max(axis=0)) / 2
    centre[2] = 0.0
    offsets = local - centre
    tan_x, tan_y = half_width * (1 - margin), half_height * (1 - margin)
    distance = float(max(np.max(np.abs(offsets[:, 0]) / tan_x + offsets[:, 2]), np.max(np.abs(offsets[:, 1]) / tan_y + offsets[:, 2])))
    distance = max(distance, float(offsets[:, 2].max()) + 0.1)  # never inside the performer
    location = rotation @ (centre + np.array([0.0, 0.0, distance]))
    return CameraPlacement(location=location, rotation=rotation, distance=distance)
