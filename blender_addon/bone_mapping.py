"""Which bone end stands for which COCO-17 keypoint, for the rigs animators actually use.

Rigs name the same joints differently: the Rigify metarig says ``upper_arm.L``, a generated Rigify
rig keeps that position on ``ORG-upper_arm.L`` / ``DEF-upper_arm.L``, Mixamo says
``mixamorig:LeftArm``, CMU-style BVH says ``LeftArm``, Poser/Second Life BVH says ``lShldr``. A
keypoint is a joint, i.e. the head of the bone that hangs from it (the shoulder is the head of the
upper arm), so each keypoint lists candidate bones with the end to read, in order of preference.
Names are compared after dropping namespaces (``mixamorig:``), case and punctuation, so ``hand.L``,
``hand_l`` and ``Hand.L`` are the same bone. A per-keypoint override from the panel wins over all of
this. The face (nose, eyes, ears) is often missing from body rigs; :func:`resolve` then reports the
head bone so the exporter can place those points from it, with lower confidence.

This module is plain Python (no bpy) so the tables stay easy to read and to test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR = range(5)
LEFT_SHOULDER, RIGHT_SHOULDER = 5, 6
FACE_KEYPOINTS = (NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR)

HEAD, TAIL = "HEAD", "TAIL"
BonePoint = tuple[str, str]  # (bone name, HEAD or TAIL)

# Templates: {L} -> L/R (Blender suffixes), {Left} -> Left/Right (Mixamo, CMU), {l} -> l/r (Poser, Unreal).
_SIDED: dict[str, tuple[BonePoint, ...]] = {
    "eye": (("eye.{L}", HEAD), ("{Left}Eye", HEAD), ("{l}Eye", HEAD)),
    "ear": (("ear.{L}", HEAD), ("{Left}Ear", HEAD), ("{l}Ear", HEAD)),
    "shoulder": (
        ("upper_arm.{L}", HEAD), ("{Left}Arm", HEAD), ("{l}Shldr", HEAD), ("{Left}UpArm", HEAD),
        ("{Left}UpperArm", HEAD), ("{Left}Shoulder", TAIL), ("shoulder.{L}", TAIL),
    ),
    "elbow": (
        ("forearm.{L}", HEAD), ("{Left}ForeArm", HEAD), ("{l}ForeArm", HEAD), ("{Left}LowArm", HEAD),
        ("{Left}LowerArm", HEAD), ("lowerarm_{l}", HEAD), ("{Left}Elbow", HEAD),
        ("upper_arm.{L}", TAIL), ("{Left}Arm", TAIL),
    ),
    "wrist": (
        ("hand.{L}", HEAD), ("{Left}Hand", HEAD), ("{l}Hand", HEAD), ("{Left}Wrist", HEAD),
        ("forearm.{L}", TAIL), ("{Left}ForeArm", TAIL),
    ),
    "hip": (
        ("thigh.{L}", HEAD), ("{Left}UpLeg", HEAD), ("{l}Thigh", HEAD), ("{Left}UpperLeg", HEAD),
        ("{Left}Hip", HEAD),
    ),
    "knee": (
        ("shin.{L}", HEAD), ("{Left}Leg", HEAD), ("{l}Shin", HEAD), ("{Left}LowLeg", HEAD),
        ("{Left}LowerLeg", HEAD), ("calf_{l}", HEAD), ("{Left}Knee", HEAD),
        ("thigh.{L}", TAIL), ("{Left}UpLeg", TAIL),
    ),
    "ankle": (
        ("foot.{L}", HEAD), ("{Left}Foot", HEAD), ("{l}Foot", HEAD), ("{Left}Ankle", HEAD),
        ("shin.{L}", TAIL), ("{Left}Leg", TAIL),
    ),
}  # fmt: skip

# Rigify's nose chain runs bridge -> tip -> nostrils; the tip is the head of nose.002.
_NOSE: tuple[BonePoint, ...] = (("nose.002", HEAD), ("nose.001", TAIL), ("Nose", TAIL), ("NoseTip", HEAD))
_HEAD_BONES: tuple[str, ...] = ("spine.006", "Head", "head")

# Generated Rigify rigs keep the metarig's bones as ORG- (original) and DEF- (deforming) copies, and
# reuse some plain names for controls placed off the joint (eye.L is the eye's aim target), so ORG-
# bones come first; plain names serve every other rig.
_PREFIX_TIERS: tuple[str, ...] = ("ORG-", "", "DEF-")


def _sided(part: str, side: str) -> tuple[BonePoint, ...]:
    words = {"L": "L", "Left": "Left", "l": "l"} if side == "left" else {"L": "R", "Left": "Right", "l": "r"}
    return tuple((template.format(**words), end) for template, end in _SIDED[part])


CANDIDATES: dict[str, tuple[BonePoint, ...]] = {"nose": _NOSE}
for _side in ("left", "right"):
    for _part in _SIDED:
        CANDIDATES[f"{_side}_{_part}"] = _sided(_part, _side)
assert set(CANDIDATES) == set(COCO17_NAMES)


def normalize(name: str) -> str:
    """The comparable form of a bone name: no namespace, no case, no punctuation."""
    name = name.rsplit(":", 1)[-1]
    name = re.sub(r"^mixamorig\d*_", "", name, flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class BoneMapping:
    """The bone end read for each keypoint (None: not on this rig), and the head bone for the face."""

    points: tuple[BonePoint | None, ...]
    head_bone: str | None
    overridden: frozenset[int] = field(default_factory=frozenset)

    @property
    def missing_face(self) -> tuple[int, ...]:
        """Face keypoints the rig has no bone for; the exporter derives them from the head bone."""
        return tuple(k for k in FACE_KEYPOINTS if self.points[k] is None)

    def describe(self, keypoint: int) -> str:
        """One line for the panel: where a keypoint comes from."""
        point = self.points[keypoint]
        if point is not None:
            return f"{point[0]} ({point[1].lower()})"
        if keypoint in FACE_KEYPOINTS and self.head_bone is not None:
            return f"from {self.head_bone} (estimated)"
        return "not found"


class _BoneIndex:
    """Finds a candidate among a rig's bones, trying ORG- copies, then plain names, then DEF- copies."""

    def __init__(self, bone_names: Iterable[str]) -> None:
        self._tiers: list[dict[str, str]] = [{} for _ in _PREFIX_TIERS]
        for name in bone_names:
            if re.match(r"^(MCH|VIS|WGT|CTRL)-", name):
                continue  # Rigify mechanism and widget bones sit off the body
            prefix = next((p for p in _PREFIX_TIERS if p and name.startswith(p)), "")
            self._tiers[_PREFIX_TIERS.index(prefix)].setdefault(normalize(name[len(prefix) :]), name)

    def find(self, candidate: str) -> str | None:
        key = normalize(candidate)
        for tier in self._tiers:
            if key in tier:
                return tier[key]
        return None


def resolve(bone_names: Iterable[str], overrides: dict[int, BonePoint] | None = None) -> BoneMapping:
    """Map COCO-17 keypoints to bone ends of a rig; ``overrides`` (keypoint index -> point) win."""
    names = list(bone_names)
    index = _BoneIndex(names)
    points: list[BonePoint | None] = []
    for keypoint in COCO17_NAMES:
        found = None
        for candidate, end in CANDIDATES[keypoint]:
            bone = index.find(candidate)
            if bone is not None:
                found = (bone, end)
                break
        points.append(found)
    existing = set(names)
    applied = set()
    for keypoint, (bone, end) in (overrides or {}).items():
        if bone in existing:
            points[keypoint] = (bone, end)
            applied.add(keypoint)
    head_bone = next((bone for bone in map(index.find, _HEAD_BONES) if bone is not None), None)
    return BoneMapping(points=tuple(points), head_bone=head_bone, overridden=frozenset(applied))
