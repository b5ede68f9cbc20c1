"""The reference people: what the user gave, checked the same way everywhere, completed by perception.

`tpc calibrate` (files) and the backend (bytes a client sent, stored with the job) read their inputs
differently but must agree on everything after: which reference keypoints are acceptable, how many
people perception looks for, how a shared mask is split between people, and the sentence for each
problem. That part lives here, once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tpc.masks import split_between_people
from tpc.pose_sequence import PoseSequence
from tpc_protocol.errors import ErrorCode

from .errors import UserError

# People looked for in a reference photo without keypoints: perception costs a search per person, and
# one who is not there costs its full set of turns and tiles, so the busiest target frame's count is
# capped here.
MAX_REFERENCE_PEOPLE = 8

ReferencePeople = list[tuple[np.ndarray, np.ndarray]]  # per person: COCO-17 keypoints (17, 3), bool mask (H, W)


def reference_keypoints(poses: PoseSequence, image_size: tuple[int, int], what: str) -> list[np.ndarray]:
    """The people of a reference keypoints document (one frame, drawn on the reference image, someone in it).

    ``image_size`` = (W, H) of the reference image; ``what`` names the document in the sentence
    (e.g. "reference keypoints file KP.json").
    """
    if len(poses) != 1:
        raise UserError(f"{what} must hold exactly one frame, not {len(poses)}")
    if poses.size != tuple(image_size):
        raise UserError(f"{what} must describe the {image_size[0]}x{image_size[1]} reference image, not a {poses.width}x{poses.height} one")
    if not poses.frames[0]:
        raise UserError(f"{what} must show at least one person, but its frame is empty")
    return list(poses.frames[0])


def busiest_frame(poses: PoseSequence) -> int:
    """The most people any frame of ``poses`` shows (at least 1): how many reference people to look for."""
    return max(1, max((len(people) for people in poses.frames), default=1))


def complete_reference(
    image: np.ndarray,
    keypoints: Sequence[np.ndarray] | None,
    mask: np.ndarray | None,
    *,
    people: int,
    source: str,
) -> ReferencePeople:
    """Keypoints and mask of every reference person: what was given, the rest found by perception.

    Without keypoints, up to ``people`` people (capped at :data:`MAX_REFERENCE_PEOPLE`) are detected
    in the photo; without a mask, the people are segmented. A mask shared by several people is split
    between them by nearest skeleton. ``source`` names the photo in perception's sentences. Raises
    :class:`UserError` when perception cannot load ("missing_input") or finds nobody ("no_person").
    """
    if keypoints is not None and mask is not None:
        return list(zip(keypoints, split_between_people(mask, keypoints)))
    try:
        from .perception import detect_people, segment_people
    except ImportError as error:
        raise UserError(
            f"reference keypoints and a reference mask are required: person detection cannot load here ({error})",
            ErrorCode.MISSING_INPUT,
        ) from None
    if keypoints is not None:
        return list(zip(keypoints, segment_people(image, keypoints)))
    try:
        found = detect_people(image, max_people=max(1, min(MAX_REFERENCE_PEOPLE, people)))
    except UserError as error:
        raise UserError(f"{source}: {error}", error.code) from None
    keypoints = [points for points, _ in found]
    masks = [person for _, person in found] if mask is None else split_between_people(mask, keypoints)
    return list(zip(keypoints, masks))
