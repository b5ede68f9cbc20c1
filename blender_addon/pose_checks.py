"""Poses that would make a bad job, found before it is sent: one sentence each, refusal or warning.

The backend fits the photo to each frame from the keypoints both share; a frame with fewer than two
keypoints it trusts (confidence 0.3 or more, the backend's threshold) gets a fallback -- the photo
moved by its mask's moments, or not at all. A job made only of such frames is refused here, and so is
one whose performer is outside the camera in most frames: the result would be mostly the photo,
unchanged, and the cause is the shot, which the user can fix in a click (Frame Performer). A few such
frames, and body joints the rig has no bone for, are warnings: the job goes, and the panel says why
some frames may look wrong. Plain Python (no bpy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .bone_mapping import BODY_KEYPOINTS, COCO17_NAMES

TRUSTED_CONFIDENCE = 0.3  # the backend's keypoint confidence threshold (tpc.keypoints.DEFAULT_CONFIDENCE_THRESHOLD)
SEEN_FRACTION = 0.5  # a performer with fewer of their body joints in view than this is mostly outside it


@dataclass
class Verdict:
    refusal: str = ""  # one sentence; empty: the job may go
    warnings: list[str] = field(default_factory=list)


def _trusted(person: dict) -> int:
    return sum(1 for point in person.get("keypoints", ()) if point[2] >= TRUSTED_CONFIDENCE)


def fallback_frames(document: dict) -> list[int]:
    """Frames (0-based) where no person has two trusted keypoints."""
    return [number for number, frame in enumerate(document["frames"]) if not any(_trusted(p) >= 2 for p in frame["people"])]


def frames_mostly_outside(document: dict, joints: Sequence[int]) -> list[int]:
    """Frames (0-based) where the performer shows fewer than half of ``joints`` (the body joints the rig maps)."""
    outside = []
    for number, frame in enumerate(document["frames"]):
        people = frame["people"]
        seen = max((sum(1 for j in joints if person["keypoints"][j][2] > 0) for person in people), default=0)
        if seen < SEEN_FRACTION * len(joints):
            outside.append(number)
    return outside


def check_armature_poses(document: dict, joints: Sequence[int], first_frame: int) -> Verdict:
    """A rig's poses through the camera: refused when every frame would be a fallback or the performer
    is outside the view in most frames; warned when some frames are."""
    total = len(document["frames"])
    outside = frames_mostly_outside(document, joints)
    if len(fallback_frames(document)) == total:
        frames = "The one frame does not show" if total == 1 else f"None of the {total} frames shows"
        return Verdict(
            f"{frames} two of the performer's joints to the camera, so every frame would come back as the photo "
            "unchanged; use Frame Performer."
        )
    if len(outside) * 2 > total:
        return Verdict(f"The performer is outside the camera view in {len(outside)} of {total} frames; use Frame Performer.")
    verdict = Verdict()
    if outside:
        verdict.warnings.append(
            f"The performer is mostly outside the camera view in {len(outside)} of {total} frames (from frame "
            f"{first_frame + outside[0]}); those frames will follow the photo less closely: use Frame Performer."
        )
    return verdict


def check_pose_file(document: dict, path: str) -> Verdict:
    """A PoseSequence file sent as it is: refused when no frame has two trusted keypoints. A document
    that is not a well-formed PoseSequence passes: the backend says what is wrong with it."""
    if not _well_formed(document):
        return Verdict()
    total = len(document["frames"])
    if len(fallback_frames(document)) == total:
        frames = "The one frame" if total == 1 else f"None of the {total} frames"
        return Verdict(
            f"{frames} of {path} has two keypoints with confidence {TRUSTED_CONFIDENCE} or more, so every frame "
            "would come back as the photo unchanged; choose another pose file."
        )
    return Verdict()


def _well_formed(document) -> bool:
    def point(value) -> bool:
        return isinstance(value, list) and len(value) == 3 and all(isinstance(v, (int, float)) for v in value)

    frames = document.get("frames") if isinstance(document, dict) else None
    return isinstance(frames, list) and all(
        isinstance(frame, dict) and isinstance(frame.get("people"), list)
        and all(isinstance(p, dict) and isinstance(p.get("keypoints"), list) and len(p["keypoints"]) == len(COCO17_NAMES)
                and all(point(v) for v in p["keypoints"]) for p in frame["people"])
        for frame in frames
    )  # fmt: skip


def unmapped_warning(armature: str, unmapped: Sequence[int]) -> str:
    """The body joints a rig gives no bone for, as one sentence (empty when there are none)."""
    joints = [COCO17_NAMES[k].replace("_", " ") for k in unmapped if k in BODY_KEYPOINTS]
    if not joints:
        return ""
    listed = joints[0] if len(joints) == 1 else ", ".join(joints[:-1]) + " and " + joints[-1]
    return (
        f"Armature '{armature}' has no bone for the {listed}, sent as not visible in every frame: assign bones "
        "under Bone Mapping in the TPC Animate panel."
    )
