"""Reading a bone's name the way an animator reads it: which side, which body part, which segment.

Rigs name the same joint in many schemes -- ``upper_arm.L`` (Rigify), ``mixamorig:LeftArm``
(Mixamo), ``UpperArm_L`` (Bandai Namco), ``upperarm_l`` (Unreal), ``CC_Base_L_Upperarm``
(Character Creator), ``J_Bip_L_UpperArm`` (VRoid), ``lShldrBend`` (Daz), ``left_shoulder`` /
``m_avg_L_Shoulder`` (SMPL), ``Bip01 L UpperArm`` (3ds Max Biped). Rather than list them all, a name
is taken apart: the namespace or vendor prefix goes (``mixamorig:``, ``CC_Base_``, ``J_Bip_``,
``Bip01``, ``m_avg_``...), Rigify's ``ORG-``/``DEF-`` copies are ranked (:attr:`BoneName.tier`) and
its mechanism bones set aside, the side token is found wherever the scheme puts it (``.L``, ``_l``,
``L_``, ``Left``, ``l`` glued to a capital, ``Lf``/``Rt``), and what remains becomes a *key*: the
lower-case words run together without digits (``UpperArm`` and ``upper_arm`` both give
``upperarm``; ``forearm.L.001`` gives ``forearm`` with the segment number ``001``). Body parts are
then sets of keys (:mod:`.bone_mapping`), so a twist or IK helper (``upperarm_twist_01_l`` ->
``upperarmtwist``) never passes for the limb itself.

Plain Python (no bpy), so it can be tested against real skeletons' name lists without Blender.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LEFT, RIGHT = "left", "right"

# Rigify keeps the metarig's bones as ORG- (original) and DEF- (deforming) copies next to controls that
# reuse plain names but sit off the joint (eye.L is the eye's aim target): ORG- first, then plain names
# (every other rig), then DEF-.
TIER_PREFIXES = ("ORG-", "", "DEF-")
_HELPER = re.compile(r"^(MCH|VIS|WGT|CTRL)-")  # Rigify mechanism and widget bones sit off the body
# Vendor prefixes in front of the body part (after any "namespace:" has gone).
_VENDOR = re.compile(
    r"^(?:mixamorig\d*[_:]?|CC_Base_|J_(?:Bip|Adj|Sec|Opt)_|Bip0*1[ _]?|[mf]_avg_|FACIAL_|ValveBiped\.Bip01_)",
    re.IGNORECASE,
)
_SIDE_WORDS = {"l": LEFT, "left": LEFT, "lf": LEFT, "r": RIGHT, "right": RIGHT, "rt": RIGHT}
_SEPARATOR = r"[._\- ]"
_SIDE_SUFFIX = re.compile(rf"{_SEPARATOR}(l|r|left|right|lf|rt)(?=$|{_SEPARATOR}\d+$)", re.IGNORECASE)
_SIDE_PREFIX = re.compile(rf"^(l|r|left|right|lf|rt|c){_SEPARATOR}", re.IGNORECASE)  # C_: VRoid's centre
_GLUED_WORD_PREFIX = re.compile(r"^(Left|Right|LEFT|RIGHT)(?=[A-Z0-9_])")  # LeftArm, RightUpLeg
_GLUED_LETTER_PREFIX = re.compile(r"^([lrLR])(?=[A-Z][a-z])")  # lShldr, rThigh, LHipJoint, LThumb
_GLUED_SUFFIX = re.compile(r"(?<=[a-z0-9])(Left|Right)$")  # ArmLeft
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


@dataclass(frozen=True)
class BoneName:
    """A bone's name taken apart; ``key`` is what body-part tables compare."""

    name: str  # as in the rig
    tier: int  # index into TIER_PREFIXES: 0 ORG-, 1 plain, 2 DEF-
    helper: bool  # a Rigify mechanism or widget bone: never a body part
    side: str | None  # LEFT, RIGHT or None (the middle of the body, or not said)
    key: str  # lower-case words without side or digits, run together: "upperarm", "handindex"
    digits: str  # the digits of the name in order ("001" for forearm.L.001, "12" for Finger12)


def normalize(name: str) -> str:
    """The comparable form of a whole bone name: no namespace, no case, no punctuation."""
    name = name.rsplit(":", 1)[-1]
    name = re.sub(r"^mixamorig\d*_", "", name, flags=re.IGNORECASE)
    return re.sub(r"[^a-z0-9]", "", name.lower())


def parse(name: str) -> BoneName:
    rest = name.rsplit(":", 1)[-1]
    helper = bool(_HELPER.match(rest))
    tier = next((i for i, prefix in enumerate(TIER_PREFIXES) if prefix and rest.startswith(prefix)), 1)
    if helper or tier != 1:
        rest = rest.split("-", 1)[1]
    while (vendor := _VENDOR.match(rest)) and vendor.end() < len(rest):
        rest = rest[vendor.end() :]
    side, rest = _side(rest)
    words = _WORDS.findall(rest)
    key = "".join(word.lower() for word in words if not word.isdigit())
    digits = "".join(word for word in words if word.isdigit())
    return BoneName(name=name, tier=tier, helper=helper, side=side, key=key, digits=digits)


def _side(text: str) -> tuple[str | None, str]:
    """The side a name states and the name without it."""
    if match := _SIDE_SUFFIX.search(text):
        return _SIDE_WORDS[match.group(1).lower()], text[: match.start()] + text[match.end() :]
    if match := _SIDE_PREFIX.match(text):
        word = match.group(1).lower()
        return _SIDE_WORDS.get(word), text[match.end() :]  # "c" (centre) has no side
    for pattern in (_GLUED_WORD_PREFIX, _GLUED_LETTER_PREFIX):
        if match := pattern.match(text):
            return _SIDE_WORDS[match.group(1).lower()], text[match.end() :]
    if match := _GLUED_SUFFIX.search(text):
        return _SIDE_WORDS[match.group(1).lower()], text[: match.start()]
    return None, text
