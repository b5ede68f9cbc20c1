"""Bone mapping against real skeletons of every common naming scheme (names and parents only, no bpy).

The skeletons come from tests/blender/data: ``skeletons.json`` (Mixamo, Unreal, MetaHuman, Character
Creator, VRoid, Daz, SMPL, SMPL-X, 3ds Max Biped, Rigify) and the hierarchies of the CMU and Bandai
Namco BVH files there (see data/README.md for where each comes from).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from addon_without_blender import addon_module
from bvh_hierarchy import joints

bone_mapping = addon_module("bone_mapping")
bone_names = addon_module("bone_names")

DATA = Path(__file__).parent / "data"
BODY = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")  # fmt: skip


def bvh_skeleton(path: Path) -> list[tuple[str, str | None]]:
    """(joint, parent) pairs of a BVH file's HIERARCHY."""
    return [(joint.name, joint.parent) for joint in joints(path.read_text())]


def skeletons() -> dict[str, list]:
    table = {name: entry["bones"] for name, entry in json.loads((DATA / "skeletons.json").read_text())["skeletons"].items()}
    table["cmu"] = bvh_skeleton(DATA / "cmu_02_03_excerpt.bvh")
    table["bandai_namco"] = bvh_skeleton(DATA / "bandai_namco_hierarchy.bvh.txt")
    return table


SKELETONS = skeletons()


def _sided(left: tuple[str, ...], right: tuple[str, ...]) -> dict[str, str]:
    """Body keypoint -> bone, from the left and right (upper arm, forearm, hand, thigh, shin, foot)."""
    return {key: (left, right)[i % 2][i // 2] for i, key in enumerate(BODY)}


# Per scheme: the bone whose head is each body keypoint, the head bone, the left eye bone, and the left
# index finger's base and tip (None: the rig has no fingers).
EXPECTED = {
    "mixamo": (
        _sided(
            *(tuple(f"mixamorig:{side}{part}" for part in ("Arm", "ForeArm", "Hand", "UpLeg", "Leg", "Foot")) for side in ("Left", "Right"))
        ),
        "mixamorig:Head",
        "mixamorig:LeftEye",
        (("mixamorig:LeftHandIndex1", "HEAD"), ("mixamorig:LeftHandIndex4", "HEAD")),
    ),
    "unreal_ue5": (
        _sided(*(tuple(f"{part}_{side}" for part in ("upperarm", "lowerarm", "hand", "thigh", "calf", "foot")) for side in "lr")),
        "head",
        None,
        (("index_01_l", "HEAD"), ("index_03_l", "TAIL")),
    ),
    "metahuman": (
        _sided(*(tuple(f"{part}_{side}" for part in ("upperarm", "lowerarm", "hand", "thigh", "calf", "foot")) for side in "lr")),
        "head",
        "FACIAL_L_Eye",
        (("index_01_l", "HEAD"), ("index_03_l", "TAIL")),
    ),
    "character_creator": (
        _sided(*(tuple(f"CC_Base_{side}_{part}" for part in ("Upperarm", "Forearm", "Hand", "Thigh", "Calf", "Foot")) for side in "LR")),
        "CC_Base_Head",
        "CC_Base_L_Eye",
        (("CC_Base_L_Index1", "HEAD"), ("CC_Base_L_Index3", "TAIL")),
    ),
    "vroid": (
        _sided(
            *(tuple(f"J_Bip_{side}_{part}" for part in ("UpperArm", "LowerArm", "Hand", "UpperLeg", "LowerLeg", "Foot")) for side in "LR")
        ),
        "J_Bip_C_Head",
        "J_Adj_L_FaceEye",
        (("J_Bip_L_Index1", "HEAD"), ("J_Bip_L_Index3", "TAIL")),
    ),
    "daz_genesis8": (
        _sided(*(tuple(f"{side}{part}" for part in ("ShldrBend", "ForearmBend", "Hand", "ThighBend", "Shin", "Foot")) for side in "lr")),
        "head",
        "lEye",
        (("lIndex1", "HEAD"), ("lIndex3", "TAIL")),
    ),
    "smpl": (
        _sided(*(tuple(f"m_avg_{side}_{part}" for part in ("Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")) for side in "LR")),
        "m_avg_Head",
        None,
        None,
    ),
    "smplx": (
        _sided(*(tuple(f"{side}_{part}" for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")) for side in ("left", "right"))),
        "head",
        "left_eye_smplhf",
        (("left_index1", "HEAD"), ("left_index3", "TAIL")),
    ),
    "biped": (
        _sided(*(tuple(f"Bip01 {side} {part}" for part in ("UpperArm", "Forearm", "Hand", "Thigh", "Calf", "Foot")) for side in "LR")),
        "Bip01 Head",
        None,
        (("Bip01 L Finger1", "HEAD"), ("Bip01 L Finger12", "TAIL")),
    ),
    "rigify_metarig": (
        _sided(*(tuple(f"{part}.{side}" for part in ("upper_arm", "forearm", "hand", "thigh", "shin", "foot")) for side in "LR")),
        "spine.006",
        "eye.L",
        (("f_index.01.L", "HEAD"), ("f_index.03.L", "TAIL")),
    ),
    "cmu": (
        _sided(*(tuple(f"{side}{part}" for part in ("Arm", "ForeArm", "Hand", "UpLeg", "Leg", "Foot")) for side in ("Left", "Right"))),
        "Head",
        None,
        (("LeftHandIndex1", "HEAD"), ("LeftHandIndex1", "TAIL")),
    ),
    "bandai_namco": (
        _sided(*(tuple(f"{part}_{side}" for part in ("UpperArm", "LowerArm", "Hand", "UpperLeg", "LowerLeg", "Foot")) for side in "LR")),
        "Head",
        None,
        None,
    ),
}


def test_every_skeleton_of_the_table_is_checked():
    assert sorted(EXPECTED) == sorted(SKELETONS)


@pytest.mark.parametrize("scheme", sorted(EXPECTED))
def test_every_body_joint_maps_to_the_bone_that_starts_at_it(scheme):
    body, head, left_eye, left_index = EXPECTED[scheme]
    mapping = bone_mapping.resolve(SKELETONS[scheme])
    found = dict(zip(bone_mapping.COCO17_NAMES, mapping.points))
    assert {key: found[key] for key in BODY} == {key: (bone, "HEAD") for key, bone in body.items()}
    assert mapping.unmapped == ()
    assert mapping.head_bone == head
    assert found["left_eye"] == ((left_eye, "HEAD") if left_eye else None)
    if left_index is None:
        assert mapping.hands == ()
    else:
        left_hand = mapping.hands[0]
        assert left_hand[0] == found["left_wrist"], "hand point 0 is the wrist"
        assert (left_hand[5], left_hand[8]) == left_index


@pytest.mark.parametrize("scheme", sorted(EXPECTED))
def test_left_and_right_are_the_persons_own(scheme):
    """Every bone mapped to a left keypoint is named left by its scheme, and the right ones right."""
    mapping = bone_mapping.resolve(SKELETONS[scheme])
    sided = [(name, point) for name, point in zip(bone_mapping.COCO17_NAMES, mapping.points) if point is not None and name != "nose"]
    assert {name for name, _ in sided} >= set(BODY), "every limb joint is mapped, so every one is checked"
    for name, point in sided:
        assert bone_names.parse(point[0]).side == name.split("_")[0], f"{name} <- {point[0]}"
    for side, hand in zip(("left", "right"), mapping.hands):
        assert {bone_names.parse(point[0]).side for point in hand if point is not None} == {side}


def test_a_mixamo_hand_gives_all_21_points_from_its_finger_bones_in_openpose_order():
    hand = bone_mapping.resolve(SKELETONS["mixamo"]).hands[1]
    expected = ["mixamorig:RightHand"] + [
        f"mixamorig:RightHand{finger}{joint}" for finger in ("Thumb", "Index", "Middle", "Ring", "Pinky") for joint in (1, 2, 3, 4)
    ]
    assert hand == tuple((name, "HEAD") for name in expected)


def test_a_cmu_hand_gives_only_the_points_its_one_bone_fingers_justify():
    hand = bone_mapping.resolve(SKELETONS["cmu"]).hands[0]
    known = {index: point for index, point in enumerate(hand) if point is not None}
    assert known == {
        0: ("LeftHand", "HEAD"), 1: ("LThumb", "HEAD"), 4: ("LThumb", "TAIL"),
        5: ("LeftHandIndex1", "HEAD"), 8: ("LeftHandIndex1", "TAIL"),
    }  # fmt: skip


def test_a_rigify_face_gives_the_jaw_line_nose_and_eyes_and_nothing_else():
    mapping = bone_mapping.resolve(SKELETONS["rigify_metarig"])
    covered = sorted({index for curve in mapping.face for index in curve.indices})
    assert covered == list(range(0, 17)) + list(range(27, 48))
    jaw = [curve for curve in mapping.face if 8 in curve.indices]
    assert all(curve.bones[0] == "chin" or curve.bones[-1] == "chin" for curve in jaw), "the chin is point 8"
    for scheme in ("mixamo", "cmu", "character_creator", "daz_genesis8"):
        assert bone_mapping.resolve(SKELETONS[scheme]).face == (), f"{scheme} has no face rig to justify a face"


# -- how names are read -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, side, key",
    [
        ("mixamorig:LeftHandIndex1", "left", "handindex"), ("mixamorig1_RightArm", "right", "arm"),
        ("UpperLeg_L", "left", "upperleg"), ("upper_arm.R", "right", "upperarm"), ("forearm.L.001", "left", "forearm"),
        ("upperarm_twist_01_l", "left", "upperarmtwist"), ("CC_Base_L_Thigh", "left", "thigh"),
        ("J_Bip_R_LowerLeg", "right", "lowerleg"), ("J_Bip_C_Head", None, "head"), ("lShldrBend", "left", "shldrbend"),
        ("m_avg_R_Knee", "right", "knee"), ("left_eye_smplhf", "left", "eyesmplhf"), ("Bip01 L Calf", "left", "calf"),
        ("LHipJoint", "left", "hipjoint"), ("LowerBack", None, "lowerback"), ("Lf_Foot", "left", "foot"),
        ("Rt_Hand", "right", "hand"), ("ArmLeft", "left", "arm"), ("HeadTop_End", None, "headtopend"),
    ],
)  # fmt: skip
def test_names_are_read_as_side_and_part(name, side, key):
    parsed = bone_names.parse(name)
    assert (parsed.side, parsed.key) == (side, key)


def test_whole_names_compare_without_namespace_case_or_punctuation():
    assert bone_names.normalize("mixamorig:LeftForeArm") == bone_names.normalize("LeftForeArm") == "leftforearm"
    assert bone_names.normalize("mixamorig1_LeftHand") == "lefthand"
    assert bone_names.normalize("hand.L") == bone_names.normalize("hand_l") == bone_names.normalize("Hand-L")


# -- topology -------------------------------------------------------------------------------------------------
def test_a_foot_with_a_leg_above_it_wins_over_an_ik_target_of_the_same_name():
    bones = [("root", None), ("Foot_L", "root"), ("pelvis", "root"), ("thigh.L", "pelvis"), ("shin.L", "thigh.L"), ("foot.L", "shin.L")]
    points = dict(zip(bone_mapping.COCO17_NAMES, bone_mapping.resolve(bones).points))
    assert points["left_ankle"] == ("foot.L", "HEAD") and points["left_hip"] == ("thigh.L", "HEAD")


def test_a_clavicle_called_shoulder_never_takes_the_shoulder_joint_but_an_upper_arm_called_shoulder_does():
    mixamo = dict(zip(bone_mapping.COCO17_NAMES, bone_mapping.resolve(SKELETONS["mixamo"]).points))
    smpl = dict(zip(bone_mapping.COCO17_NAMES, bone_mapping.resolve(SKELETONS["smplx"]).points))
    assert mixamo["left_shoulder"] == ("mixamorig:LeftArm", "HEAD")  # LeftShoulder is the clavicle above it
    assert smpl["left_shoulder"] == ("left_shoulder", "HEAD")  # left_collar is the clavicle above it


def test_a_limb_in_segments_starts_at_its_first_segment_and_twist_bones_beside_it_are_ignored():
    bones = [
        ("DEF-spine", None), ("DEF-upper_arm.L", "DEF-spine"), ("DEF-upper_arm.L.001", "DEF-upper_arm.L"),
        ("DEF-forearm.L", "DEF-upper_arm.L.001"), ("DEF-forearm.L.001", "DEF-forearm.L"), ("DEF-hand.L", "DEF-forearm.L.001"),
        ("upperarm_twist_01_l", "DEF-upper_arm.L"),
    ]  # fmt: skip
    points = dict(zip(bone_mapping.COCO17_NAMES, bone_mapping.resolve(bones).points))
    assert points["left_shoulder"] == ("DEF-upper_arm.L", "HEAD") and points["left_elbow"] == ("DEF-forearm.L", "HEAD")


def test_names_alone_still_map_and_generated_rigify_prefers_org_bones_over_controls():
    names = ["eye.L", "MCH-eye.L", "ORG-eye.L", "DEF-upper_arm.L", "ORG-upper_arm.L", "upper_arm_fk.L", "MCH-forearm.L", "DEF-forearm.L"]
    points = dict(zip(bone_mapping.COCO17_NAMES, bone_mapping.resolve(names).points))
    assert points["left_eye"] == ("ORG-eye.L", "HEAD")  # the plain eye.L is the aim control in front of the face
    assert points["left_shoulder"] == ("ORG-upper_arm.L", "HEAD")
    assert points["left_elbow"] == ("DEF-forearm.L", "HEAD")


def test_a_missing_joint_falls_back_to_the_end_of_the_bone_above_it_and_the_rest_is_reported():
    mapping = bone_mapping.resolve(["LeftShoulder", "LeftArm", "LeftUpLeg"])  # no forearm, no leg below the thigh
    points = dict(zip(bone_mapping.COCO17_NAMES, mapping.points))
    assert points["left_shoulder"] == ("LeftArm", "HEAD")
    assert points["left_elbow"] == ("LeftArm", "TAIL") and points["left_knee"] == ("LeftUpLeg", "TAIL")
    assert points["left_wrist"] is None and points["left_ankle"] is None
    names = [bone_mapping.COCO17_NAMES[i] for i in mapping.unmapped]
    assert names == ["right_shoulder", "right_elbow", "left_wrist", "right_wrist", "right_hip", "right_knee", "left_ankle", "right_ankle"]


def test_overrides_win_when_the_bone_exists():
    mapping = bone_mapping.resolve(["hand.L", "palm.01.L"], {9: ("palm.01.L", "TAIL"), 10: ("no_such_bone", "HEAD")})
    assert mapping.points[9] == ("palm.01.L", "TAIL") and mapping.overridden == {9}
    assert mapping.points[10] is None
