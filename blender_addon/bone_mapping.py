"""Which bone end stands for which keypoint, on the rigs animators actually use.

A keypoint is a joint, i.e. the head of the bone that hangs from it (the shoulder is the head of the
upper arm). Names are read with :mod:`.bone_names` (side, body-part key, segment number), body parts
are sets of keys, and the skeleton's shape settles what names alone cannot:

- A limb is found from its end: the shallowest hand (or foot) of that side, then walking up its
  ancestors to the nearest forearm (shin), then to the nearest upper arm (thigh). So a clavicle called
  ``Shoulder`` (Mixamo, Bandai Namco) never takes the shoulder joint from the upper arm below it, while
  SMPL's ``left_shoulder`` -- the upper arm itself -- does; twist and corrective bones beside the chain
  are never on it; a limb split into segments (``forearm.L``, ``forearm.L.001``) starts at its first.
- Among equally named candidates, the one with the chain a limb needs above it wins (a foot with a
  shin and a thigh over it is the leg's end; an IK target is not).
- A joint the rig lacks falls back to the end of the bone above it (no forearm: the elbow is the
  upper arm's tail); what is still missing is reported (:attr:`BoneMapping.unmapped`), never guessed.

Fingers give the 21 OpenPose hand points per hand (0 the wrist, then thumb, index, middle, ring,
pinky, four points each, base to tip) from each finger's chain of bones; a Rigify face gives the
68-point iBUG face's jaw line, nose and eyes as curves through its face bones, sampled by the
exporter. The face's five COCO points fall back to the head bone (see :mod:`.pose_export`). A
per-keypoint override from the panel wins over all of this.

Plain Python (no bpy) so the tables stay easy to read and to test.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .bone_names import LEFT, RIGHT, TIER_PREFIXES, normalize, parse

COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR = range(5)
LEFT_SHOULDER, RIGHT_SHOULDER = 5, 6
LEFT_WRIST, RIGHT_WRIST = 9, 10
FACE_KEYPOINTS = (NOSE, LEFT_EYE, RIGHT_EYE, LEFT_EAR, RIGHT_EAR)
BODY_KEYPOINTS = tuple(range(5, 17))
HAND_POINTS = 21  # OpenPose hand: 0 wrist, thumb 1-4, index 5-8, middle 9-12, ring 13-16, pinky 17-20
FACE_POINTS = 68  # iBUG: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67

HEAD, TAIL = "HEAD", "TAIL"
BonePoint = tuple[str, str]  # (bone name, HEAD or TAIL)

# Body parts as name keys (see bone_names), most specific first: a direct search prefers earlier keys.
UPPER_ARM = ("upperarm", "uparm", "arm", "shldrbend", "shldr", "humerus", "shoulder")
LOWER_ARM = ("forearm", "lowerarm", "lowarm", "forearmbend", "elbow")
HAND = ("hand", "wrist")
CLAVICLE = ("clavicle", "collar", "shoulder")
UPPER_LEG = ("upperleg", "upleg", "thigh", "thighbend", "hip")
LOWER_LEG = ("lowerleg", "lowleg", "shin", "calf", "leg", "knee")
FOOT = ("foot", "ankle")
HEAD_KEYS = ("head",)
NECK_KEYS = ("neck", "necklower", "neckupper", "necktwist")
EYE_KEYS = ("eye", "faceeye", "eyesmplhf")
EAR_KEYS = ("ear",)
FINGER_KEYS: dict[str, tuple[str, ...]] = {  # in OpenPose order
    "thumb": ("thumb", "handthumb", "thumbfinger"),
    "index": ("index", "handindex", "findex", "indexfinger", "pointer"),
    "middle": ("middle", "mid", "handmiddle", "fmiddle", "middlefinger"),
    "ring": ("ring", "handring", "fring", "ringfinger"),
    "pinky": ("pinky", "little", "handpinky", "handlittle", "fpinky", "pinkyfinger", "littlefinger"),
}
_BIPED_FINGERS = ("thumb", "index", "middle", "ring", "pinky")  # 3ds Max Biped: Finger0 .. Finger4

# Rigify's head is spine.006 (there is no bone called head); its nose chain runs bridge -> tip -> nostrils.
_RIGIFY_HEAD = "spine006"
_NOSE: tuple[BonePoint, ...] = (("nose.002", HEAD), ("nose.001", TAIL), ("NoseTip", HEAD), ("Nose", TAIL))

# The iBUG points a Rigify face justifies: curves through face bones' heads, sampled evenly along their
# length onto the listed points (ends included). Jaw 0-16 runs from the person's right to their left;
# each eye starts at its outer corner (36, 45) and goes over the upper lid.
FACE_CURVES: tuple[tuple[tuple[int, ...], tuple[str, ...]], ...] = (
    (tuple(range(0, 9)), ("jaw.R", "jaw.R.001", "chin.R", "chin")),
    (tuple(range(8, 17)), ("chin", "chin.L", "jaw.L.001", "jaw.L")),
    ((27, 28, 29, 30), ("nose", "nose.001", "nose.002")),
    ((31, 32, 33), ("nose.R.001", "nose.004")),
    ((33, 34, 35), ("nose.004", "nose.L.001")),
    ((36, 37, 38, 39), ("lid.T.R", "lid.T.R.001", "lid.T.R.002", "lid.T.R.003", "lid.B.R")),
    ((39, 40, 41, 36), ("lid.B.R", "lid.B.R.001", "lid.B.R.002", "lid.B.R.003", "lid.T.R")),
    ((42, 43, 44, 45), ("lid.B.L", "lid.T.L.003", "lid.T.L.002", "lid.T.L.001", "lid.T.L")),
    ((45, 46, 47, 42), ("lid.T.L", "lid.B.L.003", "lid.B.L.002", "lid.B.L.001", "lid.B.L")),
)


@dataclass(frozen=True)
class FaceCurve:
    """Face points sampled evenly along a curve through bone heads (first and last point on its ends)."""

    indices: tuple[int, ...]  # iBUG indices, in order along the curve
    bones: tuple[str, ...]


@dataclass(frozen=True)
class BoneMapping:
    """The bone end read for each keypoint (None: not on this rig), and what the face and hands need."""

    points: tuple[BonePoint | None, ...]
    head_bone: str | None
    overridden: frozenset[int] = field(default_factory=frozenset)
    neck_bone: str | None = None  # the bottom of the neck: with the head, which way is up for a stub head
    hands: tuple[tuple[BonePoint | None, ...], ...] = ()  # (left, right), 21 each; () when the rig has no fingers
    face: tuple[FaceCurve, ...] = ()  # iBUG curves the rig's face bones give; () without a face rig

    @property
    def missing_face(self) -> tuple[int, ...]:
        """Face keypoints the rig has no bone for; the exporter derives them from the head bone."""
        return tuple(k for k in FACE_KEYPOINTS if self.points[k] is None)

    @property
    def unmapped(self) -> tuple[int, ...]:
        """Body keypoints (shoulders to ankles) no bone gives: they go out as not visible."""
        return tuple(k for k in BODY_KEYPOINTS if self.points[k] is None)

    def describe(self, keypoint: int) -> str:
        """One line for the panel: where a keypoint comes from."""
        point = self.points[keypoint]
        if point is not None:
            return f"{point[0]} ({point[1].lower()})"
        if keypoint in FACE_KEYPOINTS and self.head_bone is not None:
            return f"from {self.head_bone} (estimated)"
        return "not found"


class Skeleton:
    """A rig's bone names with their parents, and the searches the mapping needs."""

    def __init__(self, bones: Iterable[str | tuple[str, str | None]]) -> None:
        pairs = [(bone, None) if isinstance(bone, str) else (bone[0], bone[1]) for bone in bones]
        self.order = {name: number for number, (name, _) in enumerate(pairs)}
        self.parent = {name: parent for name, parent in pairs if parent in self.order}
        self.names = {name: parse(name) for name, _ in pairs}
        self._by_normalized: list[dict[str, str]] = [{} for _ in TIER_PREFIXES]
        for name, parsed in self.names.items():
            if not parsed.helper:
                bare = name.rsplit(":", 1)[-1]
                bare = bare[len(TIER_PREFIXES[parsed.tier]) :] if parsed.tier != 1 else bare
                self._by_normalized[parsed.tier].setdefault(normalize(bare), name)

    def depth(self, name: str) -> int:
        depth = 0
        while name in self.parent:
            name, depth = self.parent[name], depth + 1
        return depth

    def ancestors(self, name: str) -> Iterable[str]:
        while name in self.parent:
            name = self.parent[name]
            yield name

    def named(self, name: str) -> str | None:
        """A bone by its whole name (case, punctuation and namespace aside), ORG- copies first."""
        key = normalize(name)
        return next((tier[key] for tier in self._by_normalized if key in tier), None)

    def find(
        self, keys: tuple[str, ...], side: str | None, chain: tuple[tuple[str, ...], ...] = (), *, topmost: bool = False
    ) -> str | None:
        """The best bone whose key is one of ``keys`` on ``side``: ORG- copies first, then one with ``chain``
        above it (each a set of keys of a further ancestor), then earlier keys, then the shallowest. With
        ``topmost``, a candidate below another is out (SMPL's ``left_foot`` hangs from ``left_ankle``)."""
        candidates = [parsed.name for parsed in self.names.values() if not parsed.helper and parsed.side == side and parsed.key in keys]
        if topmost:
            tops = [name for name in candidates if not any(above in candidates for above in self.ancestors(name))]
            candidates = tops or candidates
        if not candidates:
            return None

        def rank(name: str):
            parsed = self.names[name]
            return (parsed.tier, -self._chain_length(name, chain), keys.index(parsed.key), self.depth(name), self.order[name])

        return min(candidates, key=rank)

    def _chain_length(self, name: str, chain: tuple[tuple[str, ...], ...]) -> int:
        """How many of the parts in ``chain`` are found, in order, among the bone's ancestors."""
        found = 0
        for ancestor in self.ancestors(name):
            if found < len(chain) and self.names[ancestor].key in chain[found]:
                found += 1
        return found

    def up_to(self, name: str, keys: tuple[str, ...], side: str | None) -> str | None:
        """The nearest ancestor whose key is in ``keys`` (same side), moved up to the first segment of its run."""
        for ancestor in self.ancestors(name):
            parsed = self.names[ancestor]
            if parsed.key in keys and parsed.side == side and not parsed.helper:
                return self.first_segment(ancestor)
        return None

    def first_segment(self, name: str) -> str:
        """The first of a run of segments (``forearm.L.001`` -> ``forearm.L``)."""
        parsed = self.names[name]
        while (parent := self.parent.get(name)) is not None:
            above = self.names[parent]
            if (above.key, above.side, above.tier) != (parsed.key, parsed.side, parsed.tier):
                break
            name = parent
        return name


def _limb(skeleton: Skeleton, side: str, upper: tuple, lower: tuple, end: tuple, clavicle: tuple = ()) -> list[BonePoint | None]:
    """The three joints of an arm or a leg: root (shoulder, hip), middle (elbow, knee), end (wrist, ankle)."""
    end_bone = skeleton.find(end, side, chain=(lower, upper), topmost=True)
    lower_bone = (end_bone and skeleton.up_to(end_bone, lower, side)) or skeleton.find(lower, side, chain=(upper,))
    upper_bone = (lower_bone and skeleton.up_to(lower_bone, upper, side)) or (end_bone and skeleton.up_to(end_bone, upper, side))
    upper_bone = upper_bone or skeleton.find(upper, side)
    root = (upper_bone, HEAD) if upper_bone else None
    if root is None and clavicle and (collar := skeleton.find(clavicle, side)):
        root = (collar, TAIL)
    middle = (lower_bone, HEAD) if lower_bone else (upper_bone, TAIL) if upper_bone else None
    tip = (end_bone, HEAD) if end_bone else (lower_bone, TAIL) if lower_bone else None
    return [root, middle, tip]


def _finger_chain(skeleton: Skeleton, side: str, finger: str, hand: str | None) -> list[str]:
    """A finger's bones from its base, in the best tier that has it (beside the hand, when it is known)."""
    keys = FINGER_KEYS[finger]
    biped = str(_BIPED_FINGERS.index(finger))
    bones = [
        parsed for parsed in skeleton.names.values()
        if parsed.side == side and not parsed.helper
        and (parsed.key in keys or (parsed.key == "finger" and parsed.digits[:1] == biped))
    ]  # fmt: skip
    if hand is not None:
        under = [parsed for parsed in bones if hand in skeleton.ancestors(parsed.name)]
        bones = under or bones
    if not bones:
        return []
    best = min(parsed.tier for parsed in bones)
    return sorted((parsed.name for parsed in bones if parsed.tier == best), key=lambda name: (skeleton.depth(name), skeleton.order[name]))


def _hand(skeleton: Skeleton, side: str, wrist: BonePoint | None) -> tuple[tuple[BonePoint | None, ...], bool]:
    """The 21 hand points of one side and whether any finger was found. A finger of four bones or more
    (Mixamo's ends in a tip bone) gives its four joints; of fewer, the last bone's tail is the tip and
    the joints it lacks stay unknown."""
    points: list[BonePoint | None] = [wrist] + [None] * (HAND_POINTS - 1)
    hand_bone = wrist[0] if wrist is not None and wrist[1] == HEAD else None
    found = False
    for number, finger in enumerate(FINGER_KEYS):
        chain = _finger_chain(skeleton, side, finger, hand_bone)
        if not chain:
            continue
        found = True
        first = 1 + 4 * number
        if len(chain) >= 4:
            joints = [(bone, HEAD) for bone in chain[:4]]
        else:
            joints = [(bone, HEAD) for bone in chain] + [None] * (3 - len(chain)) + [(chain[-1], TAIL)]
        points[first : first + 4] = joints
    return tuple(points), found


def _face(skeleton: Skeleton) -> tuple[FaceCurve, ...]:
    curves = []
    for indices, names in FACE_CURVES:
        bones = [skeleton.named(name) for name in names]
        if all(bones):
            curves.append(FaceCurve(indices, tuple(bones)))
    return tuple(curves)


def resolve(bones: Iterable[str | tuple[str, str | None]], overrides: dict[int, BonePoint] | None = None) -> BoneMapping:
    """Map keypoints to bone ends of a rig given as bone names or (name, parent name) pairs;
    ``overrides`` (keypoint index -> point) win."""
    skeleton = Skeleton(bones)
    points: list[BonePoint | None] = [None] * len(COCO17_NAMES)
    for side, offset in ((LEFT, 0), (RIGHT, 1)):
        arm = _limb(skeleton, side, UPPER_ARM, LOWER_ARM, HAND, clavicle=CLAVICLE)
        leg = _limb(skeleton, side, UPPER_LEG, LOWER_LEG, FOOT)
        for joint, first in ((arm, LEFT_SHOULDER), (leg, 11)):
            for number, point in enumerate(joint):
                points[first + 2 * number + offset] = point
        eye, ear = skeleton.find(EYE_KEYS, side), skeleton.find(EAR_KEYS, side)
        points[LEFT_EYE + offset] = (eye, HEAD) if eye else None
        points[LEFT_EAR + offset] = (skeleton.first_segment(ear), HEAD) if ear else None
    points[NOSE] = next(((bone, end) for name, end in _NOSE if (bone := skeleton.named(name))), None)

    applied = set()
    for keypoint, (bone, end) in (overrides or {}).items():
        if bone in skeleton.order:
            points[keypoint] = (bone, end)
            applied.add(keypoint)

    head_bone = skeleton.named(_RIGIFY_HEAD) or skeleton.find(HEAD_KEYS, None)
    neck_bone = None
    if head_bone is not None:
        neck_bone = skeleton.up_to(head_bone, NECK_KEYS, None) or skeleton.parent.get(head_bone)
    hands = [_hand(skeleton, side, points[wrist]) for side, wrist in ((LEFT, LEFT_WRIST), (RIGHT, RIGHT_WRIST))]
    return BoneMapping(
        points=tuple(points), head_bone=head_bone, overridden=frozenset(applied), neck_bone=neck_bone,
        hands=tuple(points for points, _ in hands) if any(found for _, found in hands) else (),
        face=_face(skeleton),
    )  # fmt: skip
