"""Finding every person in a photo, however it was taken: the search around the estimators.

Pose models find upright people of a fair size, usually one at a time. A reference photo may be
sideways or upside down, show a small person, or several. So the search looks at the image through
views (tpc_backend.perception.views) and works person by person:

1. Look at the whole image (turned the way the last person found needed, if any). When nobody is
   found, look again turned by 90, 180 and 270 degrees, then through zoomed-in square tiles
   (tpc_backend.perception.views.zoom_tiles).
2. Take a second look at the person found: turned upright (from their keypoints) and, when they are
   small, zoomed in on them. Models are most accurate on exactly that view, and an upright view of a
   rotated photo is pixel for pixel the upright photo, so results do not depend on how it was shot.
3. Grey out the people found so far and repeat, up to ``max_people``. A "person" whose keypoints lie
   mostly on someone already found is an echo of them and is ignored.

Then the mask estimator cuts every person out of the original image, and the masks are cleaned
(tpc_backend.perception.mask_cleanup). A pose estimator that finds hands and faces finds them in
the same look as the body, so they come from the view the body's keypoints came from, and are
checked to sit at that body's wrists and nose (tpc_backend.perception.hands_face).

Limits: people smaller than about an eighth of the image's short side are not found even through
the tiles; tiles are not combined with turns; people who overlap heavily may be found as one, since
greying out the first also hides much of the second; and looking for a person who is not there
costs every retry (videos therefore retry only while nobody has been found in the frame).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from tpc import keypoints as kp
from tpc.matching import person_distance
from tpc.wholebody import HandsFace
from tpc_protocol.errors import ErrorCode

from ..errors import UserError
from .body import person_box, upright_quarter_turns
from .estimators import Detection, EstimatorSettings, MaskEstimator, PoseEstimator, mask_estimator, pose_estimator
from .hands_face import attach
from .mask_cleanup import clean_masks
from .views import View, person_view, zoom_tiles

MIN_VISIBLE = 4  # keypoints a detection must show (inside the image) to count as a person
SMALL_PERSON = 0.3  # a person whose box is shorter than this share of the image's long side gets zoomed in on
ECHO_SHARE = 0.5  # a detection with at least this share of keypoints on found people is an echo
SAME_PERSON = 0.25  # keypoint distance (relative to size) under which two looks show the same person
SHARED_KEYPOINTS = 2  # keypoints two looks must both show to be compared at all (one point has no size)

NO_PERSON = (
    "no person was found in the image, also turned by 90, 180 and 270 degrees and zoomed in; "
    "use a photo in which the person is clearly visible, or give their keypoints and mask"
)


@dataclass
class FoundPerson:
    """A person in the original image's pixels, with the view that gave the final keypoints."""

    keypoints: np.ndarray  # (17, 3)
    hint: np.ndarray | None  # the pose model's own soft mask, original pixels, when it made one
    view: View
    hands_face: HandsFace | None = None  # when the pose estimator looks for them


@dataclass
class Person:
    """A person found in a photo: COCO-17 keypoints, boolean mask, and hands and face when looked for."""

    keypoints: np.ndarray  # (17, 3)
    mask: np.ndarray  # (H, W) bool
    hands_face: HandsFace | None = None


class PeopleDetector:
    """A pose and a mask estimator with the search around them (see the module docstring)."""

    def __init__(self, pose: PoseEstimator, mask: MaskEstimator, *, retries: bool = True) -> None:
        self.pose = pose
        self.mask = mask
        self.retries = retries
        self.quarter_turns = 0  # how the last person found had to be turned; tried first next time

    def detect(self, image: np.ndarray, max_people: int = 1, *, thorough: bool = True) -> list[Person]:
        """Up to ``max_people`` people (keypoints, mask, hands and face); [] when none.

        ``thorough=False`` (videos) retries only while nobody has been found: looking for a person
        who is not there through every turn and tile, in every frame, costs more than it finds.
        """
        image = _as_rgb(image)
        found = self.find(image, max_people, thorough=thorough)
        if not found:
            return []
        detections = [Detection(keypoints=p.keypoints, mask=p.hint) for p in found]
        soft = self.mask.segment(image, detections)
        masks = clean_masks(soft, [p.keypoints for p in found])
        return [Person(p.keypoints, m, p.hands_face) for p, m in zip(found, masks)]

    def find(self, image: np.ndarray, max_people: int = 1, *, thorough: bool = True) -> list[FoundPerson]:
        """The people's keypoints (and the pose model's own masks), without the final segmentation."""
        if max_people < 1:
            raise ValueError("max_people must be at least 1")
        height, width = image.shape[:2]
        size = (width, height)
        found: list[FoundPerson] = []
        covered = np.zeros((height, width), dtype=bool)
        work = image
        while len(found) < max_people:
            person = self._first_look(work, size, found, covered, retries=self.retries and (thorough or not found))
            if person is None:
                break
            found.append(person)
            self.quarter_turns = upright_quarter_turns(person.keypoints)
            if len(found) < max_people:
                covered |= _footprint(person, size)
                work = _grey_out(image, covered)
        return found

    # -- the search --------------------------------------------------------------------------------
    def _views(self, size: tuple[int, int], retries: bool) -> list[View]:
        first = self.quarter_turns
        views = [View.whole(size, first)]
        if retries:
            views += [View.whole(size, (first + turn) % 4) for turn in (1, 2, 3)]
            views += zoom_tiles(size, first)
        return views

    def _first_look(self, image, size, found, covered, retries: bool) -> FoundPerson | None:
        """The first new person in the views, checked and refined by a second look.

        What the plain whole-image view shows is trusted; a person that only a retry view (a turned
        copy, a tile) shows must be seen again in the upright close-up, since models also find
        people in brick walls when asked often enough.
        """
        views = self._views(size, retries)
        for index, view in enumerate(views):
            for person in self._look(image, view, size):
                if not self._is_new(person, found, covered):
                    continue
                second = self._second_look(image, size, person, found, covered)
                if second is not None:
                    return second
                if index == 0:
                    return person
        return None

    def _second_look(self, image, size, person: FoundPerson, found, covered) -> FoundPerson | None:
        """The same person seen upright and, when small, zoomed in; None when that view disagrees."""
        turns = upright_quarter_turns(person.keypoints)
        box = person_box(person.keypoints, person.hint, size)
        if box is not None and max(box[2] - box[0], box[3] - box[1]) < SMALL_PERSON * max(size):
            view = person_view(box, turns)
        else:
            view = View.whole(size, turns)
            if view.size == person.view.size and np.allclose(view.matrix, person.view.matrix):
                return person  # the first look was already this one
        for other in self._look(image, view, size):
            if person_distance(other.keypoints, person.keypoints, min_shared=SHARED_KEYPOINTS) < SAME_PERSON and self._is_new(
                other, found, covered
            ):
                return other
        return None

    def _look(self, image: np.ndarray, view: View, size: tuple[int, int]) -> list[FoundPerson]:
        def to_original(points: np.ndarray) -> np.ndarray:
            """Points of the view in the original's pixels; those outside the original are unseen."""
            points = view.points_to_original(points)
            outside = (points[:, 0] < -0.5) | (points[:, 0] > size[0] - 0.5)
            outside |= (points[:, 1] < -0.5) | (points[:, 1] > size[1] - 0.5)
            points[outside, 2] = 0.0
            return points

        people = []
        for detection in self.pose.detect(view.render(image)):
            keypoints = to_original(detection.keypoints)
            if kp.visible(keypoints).sum() < MIN_VISIBLE:
                continue
            hint = None if detection.mask is None else view.mask_to_original(detection.mask, size)
            hands_face = None
            if detection.hands_face is not None:
                hands_face = attach(keypoints, detection.hands_face.mapped(to_original))
            people.append(FoundPerson(keypoints=keypoints, hint=hint, view=view, hands_face=hands_face))
        return people

    @staticmethod
    def _is_new(person: FoundPerson, found: Sequence[FoundPerson], covered: np.ndarray) -> bool:
        if not found:
            return True
        if any(person_distance(person.keypoints, other.keypoints, min_shared=SHARED_KEYPOINTS) < SAME_PERSON for other in found):
            return False
        seen = kp.visible(person.keypoints)
        xy = np.rint(person.keypoints[seen, :2]).astype(int)
        height, width = covered.shape
        xy[:, 0] = np.clip(xy[:, 0], 0, width - 1)
        xy[:, 1] = np.clip(xy[:, 1], 0, height - 1)
        on_others = covered[xy[:, 1], xy[:, 0]].mean() if len(xy) else 1.0
        return on_others < ECHO_SHARE


def _footprint(person: FoundPerson, size: tuple[int, int]) -> np.ndarray:
    """Where a found person is, generously: their model mask, or a hull around their keypoints, grown."""
    width, height = size
    if person.hint is not None and (person.hint >= 0.5).any():
        region = (person.hint >= 0.5).astype(np.uint8)
    else:
        region = np.zeros((height, width), np.uint8)
        seen = kp.visible(person.keypoints)
        if seen.sum() >= 3:
            cv2.fillConvexPoly(region, cv2.convexHull(np.rint(person.keypoints[seen, :2]).astype(np.int32)), 1)
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    if len(rows) == 0:
        return region > 0
    grow = max(3, int(0.06 * max(rows[-1] - rows[0], cols[-1] - cols[0])))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    top, bottom = max(rows[0] - grow, 0), min(rows[-1] + grow + 1, height)
    left, right = max(cols[0] - grow, 0), min(cols[-1] + grow + 1, width)
    grown = np.zeros((height, width), dtype=bool)
    grown[top:bottom, left:right] = cv2.dilate(region[top:bottom, left:right], kernel) > 0  # only near the person
    return grown


def _grey_out(image: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """The image with the covered pixels painted flat grey, so the model looks elsewhere."""
    work = image.copy()
    work[covered] = 127
    return work


def _as_rgb(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {array.dtype} {array.shape}")
    return np.ascontiguousarray(array)


def detect_people(
    image_rgb: np.ndarray,
    *,
    max_people: int = 1,
    pose: str = "mediapipe",
    mask: str = "mediapipe",
    settings: EstimatorSettings | None = None,
    retries: bool = True,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Up to ``max_people`` people in an RGB photo: (COCO-17 keypoints (17, 3), boolean mask (H, W)).

    The body is all the backend's reference needs (use :class:`PeopleDetector` for hands and face).
    Keypoints are in the photo's pixels; those outside it have confidence 0. People come in the
    order they were found (the model's most prominent first). Raises :class:`UserError` ("no_person") when nobody is found after the
    retries, and for an unknown estimator or a missing optional package or checkpoint.
    """
    detector = PeopleDetector(pose_estimator(pose, settings), mask_estimator(mask, settings), retries=retries)
    people = detector.detect(image_rgb, max_people)
    if not people:
        raise UserError(NO_PERSON, ErrorCode.NO_PERSON)
    return [(person.keypoints, person.mask) for person in people]


def segment_people(
    image_rgb: np.ndarray,
    people: Sequence[np.ndarray],
    *,
    mask: str = "mediapipe",
    settings: EstimatorSettings | None = None,
) -> list[np.ndarray]:
    """Boolean masks (H, W) for people whose keypoints are already known (one per person)."""
    image = _as_rgb(image_rgb)
    keypoints = [np.asarray(p, dtype=np.float64) for p in people]
    soft = mask_estimator(mask, settings).segment(image, [Detection(keypoints=k) for k in keypoints])
    return clean_masks(soft, keypoints)
