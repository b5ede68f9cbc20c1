"""Armature -> COCO-17 through the scene camera, bone mapping, face estimation and silhouettes (real bpy)."""

from __future__ import annotations

import json
import math

import bpy
import numpy as np
import pytest
from skimage.draw import polygon

from tests.support.blender_shots import add_body_mesh, bone_end_world, expected_pixels, human_shot, read_pixels

METARIG = {  # the bone ends the Rigify metarig's keypoints must come from
    "nose": ("nose.002", "HEAD"), "left_eye": ("eye.L", "HEAD"), "right_eye": ("eye.R", "HEAD"),
    "left_ear": ("ear.L", "HEAD"), "right_ear": ("ear.R", "HEAD"),
    "left_shoulder": ("upper_arm.L", "HEAD"), "right_shoulder": ("upper_arm.R", "HEAD"),
    "left_elbow": ("forearm.L", "HEAD"), "right_elbow": ("forearm.R", "HEAD"),
    "left_wrist": ("hand.L", "HEAD"), "right_wrist": ("hand.R", "HEAD"),
    "left_hip": ("thigh.L", "HEAD"), "right_hip": ("thigh.R", "HEAD"),
    "left_knee": ("shin.L", "HEAD"), "right_knee": ("shin.R", "HEAD"),
    "left_ankle": ("foot.L", "HEAD"), "right_ankle": ("foot.R", "HEAD"),
}  # fmt: skip

CAMERA_VARIANTS = {
    "default": {},
    "lens_shift": {"shift_x": 0.2, "shift_y": -0.15},
    "portrait_vertical_fit": {"size": (192, 256), "sensor_fit": "VERTICAL", "sensor_height": 30.0},
    "landscape_horizontal_fit": {"size": (320, 180), "sensor_fit": "HORIZONTAL"},
    "pixel_aspect": {"pixel_aspect": (2.0, 1.0)},
    "half_resolution": {"percentage": 50},
    "orthographic": {"ortho_scale": 3.5},
}


def _configure(shot, variant: dict) -> None:
    scene, camera = shot.scene, shot.camera.data
    if "size" in variant:
        scene.render.resolution_x, scene.render.resolution_y = variant["size"]
    scene.render.resolution_percentage = variant.get("percentage", 100)
    scene.render.pixel_aspect_x, scene.render.pixel_aspect_y = variant.get("pixel_aspect", (1.0, 1.0))
    camera.shift_x, camera.shift_y = variant.get("shift_x", 0.0), variant.get("shift_y", 0.0)
    camera.sensor_fit = variant.get("sensor_fit", "AUTO")
    if "sensor_height" in variant:
        camera.sensor_height = variant["sensor_height"]
    if "ortho_scale" in variant:
        camera.type, camera.ortho_scale = "ORTHO", variant["ortho_scale"]


def _export(addon, shot, **options):
    mapping = addon.pose_sources.mapping_for(shot.scene.tpc, shot.rig)
    return addon.pose_export.export_armature(shot.scene, shot.rig, mapping, **options)


@pytest.mark.parametrize("variant", sorted(CAMERA_VARIANTS))
def test_keypoints_are_world_to_camera_view_of_the_mapped_bones(addon, scene, variant):
    shot = human_shot(scene, frames=8)
    _configure(shot, CAMERA_VARIANTS[variant])
    exported = _export(addon, shot, with_silhouettes=False)
    width = scene.render.resolution_x * scene.render.resolution_percentage // 100
    height = scene.render.resolution_y * scene.render.resolution_percentage // 100
    assert (exported.document["width"], exported.document["height"]) == (width, height)
    assert len(exported.document["frames"]) == 8

    names = list(METARIG)
    for number, frame in enumerate(range(scene.frame_start, scene.frame_end + 1)):
        scene.frame_set(frame)
        points = [bone_end_world(shot.rig, *METARIG[name]) for name in names]
        expected = expected_pixels(scene, shot.camera, points)
        keypoints = np.array(exported.document["frames"][number]["people"][0]["keypoints"])
        x, y = expected[:, 0], expected[:, 1]  # pixel centres at whole numbers: the render spans -0.5 .. W - 0.5
        inside = (expected[:, 2] > 0) & (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)
        np.testing.assert_allclose(keypoints[inside, :2], expected[inside, :2], atol=2e-3)
        assert (keypoints[inside, 2] == 1.0).all() and (keypoints[~inside, 2] == 0.0).all()
        assert inside.sum() >= 8, "the shot should keep most of the person in frame"


def _rendered_coverage(scene, path) -> np.ndarray:
    """What Blender's own renderer covers: Workbench without anti-aliasing on a transparent film, as bools."""
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.render_aa = "OFF"  # a pixel is covered or not, by whether its centre is inside
    scene.render.film_transparent = True
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return read_pixels(path)[:, :, 3] > 0.5


@pytest.mark.parametrize("size, percentage", [((720, 90), 70), ((100, 180), 58), ((150, 100), 82), ((180, 50), 35)])
def test_the_canvas_is_the_size_blender_renders(addon, scene, tmp_path, size, percentage):
    """Sizes where scaling by the float percentage / 100 comes out a pixel short (720 at 70 %: 503)."""
    shot = human_shot(scene, frames=1, size=size)
    scene.render.resolution_percentage = percentage
    height, width = _rendered_coverage(scene, tmp_path / "render.png").shape
    assert addon.camera_view.render_size(scene) == (width, height)
    document = _export(addon, shot, with_silhouettes=False).document
    assert (document["width"], document["height"]) == (width, height)
    openpose = tmp_path / "take_000000000000_keypoints.json"  # OpenPose files travel with the render size
    openpose.write_text(json.dumps({"version": 1.3, "people": []}))
    assert addon.pose_sources.read_pose_file(scene, str(openpose)).canvas == (width, height)


def test_the_motion_shows_in_the_keypoints(addon, scene):
    """Arms rise above the shoulders and the person grows in frame as the camera dollies in."""
    shot = human_shot(scene, frames=12)
    frames = [np.array(f["people"][0]["keypoints"]) for f in _export(addon, shot, with_silhouettes=False).document["frames"]]
    first, last = frames[0], frames[-1]
    wrist, shoulder = 9, 5
    assert first[wrist, 1] > first[shoulder, 1] and last[wrist, 1] < last[shoulder, 1]  # y grows downwards

    def height(keypoints):
        visible = keypoints[keypoints[:, 2] > 0]
        return visible[:, 1].max() - visible[:, 1].min()

    assert height(last) > 1.3 * height(first)


def test_points_behind_the_camera_or_outside_the_frame_have_zero_confidence(addon, scene):
    shot = human_shot(scene, frames=2)
    shot.camera.animation_data_clear()
    shot.camera.location = (0.6, -1.2, 1.3)  # so close that the legs and one arm leave the frame
    exported = np.array(_export(addon, shot, with_silhouettes=False).document["frames"][0]["people"][0]["keypoints"])
    outside = (exported[:, :2] < -0.5).any(axis=1) | (exported[:, :2] > 255.5).any(axis=1)  # the render spans -0.5 .. 255.5
    assert outside.any() and (exported[outside, 2] == 0).all()

    shot.camera.location = (0.0, 0.5, 1.0)  # inside the body, looking away from the head and arms
    shot.camera.rotation_euler = (math.radians(90), 0.0, 0.0)
    keypoints = np.array(_export(addon, shot, with_silhouettes=False).document["frames"][0]["people"][0]["keypoints"])
    depths = expected_pixels(scene, shot.camera, [bone_end_world(shot.rig, *METARIG[name]) for name in METARIG])[:, 2]
    assert (depths < 0).any()
    assert (keypoints[depths < 0, 2] == 0).all() and (keypoints[depths < 0, :2] == 0).all()


def test_rigify_metarig_maps_every_keypoint(addon, scene):
    shot = human_shot(scene, frames=2)
    mapping = addon.pose_sources.mapping_for(scene.tpc, shot.rig)
    assert dict(zip(addon.bone_mapping.COCO17_NAMES, mapping.points)) == METARIG
    assert mapping.head_bone == "spine.006"


def test_generated_rigify_rig_maps_to_its_org_bones_which_follow_the_deformation(addon, scene):
    shot = human_shot(scene, frames=2)
    bpy.ops.pose.rigify_generate()
    rig = next(obj for obj in scene.objects if obj.type == "ARMATURE" and obj is not shot.rig)
    mapping = addon.pose_sources.mapping_for(scene.tpc, rig)
    assert all(point is not None and point[0] == f"ORG-{METARIG[name][0]}" for name, point in zip(METARIG, mapping.points))

    rig.pose.bones["root"].location = (0.3, 0.0, 0.0)  # pose through controls; the ORG bones follow
    for control in ("jaw_master", "f_index.01.L"):
        rig.pose.bones[control].rotation_mode = "XYZ"
        rig.pose.bones[control].rotation_euler = (math.radians(30), 0.0, 0.0)
    person = addon.pose_export.export_armature(scene, rig, mapping, with_silhouettes=False).document["frames"][0]["people"][0]
    exported = np.array(person["keypoints"])
    deforming = [bone_end_world(rig, "DEF-forearm.L"), bone_end_world(rig, "DEF-hand.L")]
    np.testing.assert_allclose(exported[[7, 9], :2], expected_pixels(scene, shot.camera, deforming)[:, :2], atol=0.05)
    rest = expected_pixels(scene, shot.camera, [rig.matrix_world @ rig.data.bones["DEF-hand.L"].head_local])[0]
    assert np.hypot(*(exported[9, :2] - rest[:2])) > 5, "the control must move the wrist"
    tip, chin = person["hands"]["left"][8], person["face"][8]  # the index fingertip, the chin
    expected = expected_pixels(scene, shot.camera, [bone_end_world(rig, "DEF-f_index.03.L", "TAIL"), bone_end_world(rig, "DEF-chin")])
    np.testing.assert_allclose([tip[:2], chin[:2]], expected[:, :2], atol=0.05)


def _armature(scene, bones: dict[str, tuple[tuple, tuple, str | None]]) -> bpy.types.Object:
    data = bpy.data.armatures.new("Rig")
    obj = bpy.data.objects.new("Rig", data)
    scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for name, (head, tail, _) in bones.items():
        edit = data.edit_bones.new(name)
        edit.head, edit.tail = head, tail
    for name, (_, _, parent) in bones.items():
        if parent:
            data.edit_bones[name].parent = data.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def _mixamo_bones(prefix: str) -> dict:
    bones = {"Hips": ((0, 0, 1.0), (0, 0, 1.1), None), "Spine": ((0, 0, 1.1), (0, 0, 1.35), "Hips"),
             "Neck": ((0, 0, 1.5), (0, 0, 1.6), "Spine"), "Head": ((0, 0, 1.6), (0, 0, 1.8), "Neck")}  # fmt: skip
    for side, x in (("Left", 1), ("Right", -1)):
        bones |= {
            f"{side}Shoulder": ((0.05 * x, 0, 1.45), (0.18 * x, 0, 1.45), "Spine"),
            f"{side}Arm": ((0.18 * x, 0, 1.45), (0.45 * x, 0, 1.45), f"{side}Shoulder"),
            f"{side}ForeArm": ((0.45 * x, 0, 1.45), (0.7 * x, 0, 1.45), f"{side}Arm"),
            f"{side}Hand": ((0.7 * x, 0, 1.45), (0.8 * x, 0, 1.45), f"{side}ForeArm"),
            f"{side}UpLeg": ((0.1 * x, 0, 1.0), (0.1 * x, 0, 0.55), "Hips"),
            f"{side}Leg": ((0.1 * x, 0, 0.55), (0.1 * x, 0, 0.1), f"{side}UpLeg"),
            f"{side}Foot": ((0.1 * x, 0, 0.1), (0.1 * x, -0.12, 0.02), f"{side}Leg"),
        }
    return {prefix + name: (head, tail, parent and prefix + parent) for name, (head, tail, parent) in bones.items()}


@pytest.mark.parametrize("prefix", ["mixamorig:", "mixamorig1:", ""])
def test_mixamo_and_cmu_names_map_the_body_and_the_face_is_estimated_from_the_head(addon, scene, prefix):
    rig = _armature(scene, _mixamo_bones(prefix))
    mapping = addon.pose_sources.mapping_for(scene.tpc, rig)
    names = dict(zip(addon.bone_mapping.COCO17_NAMES, mapping.points))
    assert names["left_shoulder"] == (f"{prefix}LeftArm", "HEAD")
    assert names["right_elbow"] == (f"{prefix}RightForeArm", "HEAD")
    assert names["left_wrist"] == (f"{prefix}LeftHand", "HEAD")
    assert names["right_hip"] == (f"{prefix}RightUpLeg", "HEAD")
    assert names["left_knee"] == (f"{prefix}LeftLeg", "HEAD")
    assert names["right_ankle"] == (f"{prefix}RightFoot", "HEAD")
    assert mapping.head_bone == f"{prefix}Head" and mapping.missing_face == (0, 1, 2, 3, 4)

    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera = camera
    camera.location, camera.rotation_euler = (0, -6, 1.0), (math.radians(90), 0, 0)
    scene.frame_start = scene.frame_end = 1
    keypoints = np.array(addon.pose_export.export_armature(scene, rig, mapping).document["frames"][0]["people"][0]["keypoints"])
    face, body = keypoints[:5], keypoints[5:]
    assert (face[:, 2] == addon.pose_export.DERIVED_CONFIDENCE).all() and (body[:, 2] == 1.0).all()
    assert face[0, 1] < body[0, 1]  # the nose is above the shoulders
    assert face[1, 0] > face[0, 0] > face[2, 0]  # image x: the person faces us, so their left eye is on our right
    assert face[3, 0] > face[1, 0] and face[4, 0] < face[2, 0]  # ears outside the eyes


def test_estimated_face_matches_the_metarig_face_and_hides_when_turned_away(addon, scene):
    shot = human_shot(scene, frames=2)
    mapping = addon.pose_sources.mapping_for(scene.tpc, shot.rig)
    without_face = addon.bone_mapping.BoneMapping(points=(None,) * 5 + mapping.points[5:], head_bone=mapping.head_bone)
    actual = np.array(_export(addon, shot, with_silhouettes=False).document["frames"][0]["people"][0]["keypoints"])
    estimated = np.array(
        addon.pose_export.export_armature(scene, shot.rig, without_face, with_silhouettes=False).document["frames"][0]["people"][0][
            "keypoints"
        ]
    )
    head_pixels = np.linalg.norm(actual[0, :2] - (actual[5, :2] + actual[6, :2]) / 2)
    assert np.abs(estimated[:5, :2] - actual[:5, :2]).max() < 0.25 * head_pixels
    assert (estimated[:5, 2] == addon.pose_export.DERIVED_CONFIDENCE).all()

    shot.rig.rotation_euler = (0, 0, math.pi)  # back to the camera
    behind = np.array(
        addon.pose_export.export_armature(scene, shot.rig, without_face, with_silhouettes=False).document["frames"][0]["people"][0][
            "keypoints"
        ]
    )
    assert (behind[:3, 2] == 0).all(), "nose and eyes are hidden behind the head"
    assert (behind[3:5, 2] == addon.pose_export.DERIVED_CONFIDENCE).all(), "ears still show from behind"


def test_the_panel_reuses_the_mapping_until_the_bones_or_overrides_change(addon, scene):
    """The Bone Mapping panel asks for the mapping on every redraw; it is resolved once per rig state."""
    shot = human_shot(scene, frames=2)
    settings = scene.tpc
    mapping = addon.pose_sources.mapping_for(settings, shot.rig)
    assert addon.pose_sources.mapping_for(settings, shot.rig) is mapping, "a redraw resolves nothing again"
    assert mapping.points[9] == ("hand.L", "HEAD")

    shot.rig.data.bones["hand.L"].name = "palm.L"  # a rename reaches the panel at its next redraw
    renamed = addon.pose_sources.mapping_for(settings, shot.rig)
    assert renamed.points[9] == ("forearm.L", "TAIL") and addon.pose_sources.mapping_for(settings, shot.rig) is renamed

    override = settings.keypoint_overrides.add()
    override.name, override.bone, override.end = "left_wrist", "palm.L", "HEAD"
    assert addon.pose_sources.mapping_for(settings, shot.rig).points[9] == ("palm.L", "HEAD")
    override.end = "TAIL"
    assert addon.pose_sources.mapping_for(settings, shot.rig).points[9] == ("palm.L", "TAIL")


def test_a_keypoint_override_from_the_panel_wins(addon, scene):
    shot = human_shot(scene, frames=2)
    bpy.ops.tpc.customize_mapping()
    assert [item.name for item in scene.tpc.keypoint_overrides] == list(addon.bone_mapping.COCO17_NAMES)
    assert scene.tpc.keypoint_overrides["left_wrist"].bone == "hand.L"
    item = scene.tpc.keypoint_overrides["left_wrist"]
    item.bone, item.end = "hand.L", "TAIL"
    keypoints = np.array(_export(addon, shot, with_silhouettes=False).document["frames"][0]["people"][0]["keypoints"])
    expected = expected_pixels(scene, shot.camera, [bone_end_world(shot.rig, "hand.L", "TAIL")])[0]
    np.testing.assert_allclose(keypoints[9, :2], expected[:2], atol=2e-3)
    bpy.ops.tpc.reset_mapping()
    assert len(scene.tpc.keypoint_overrides) == 0


def test_silhouettes_are_the_deformed_mesh_seen_by_the_camera(addon, scene):
    shot = human_shot(scene, frames=6)
    body = add_body_mesh(shot.rig)
    exported = _export(addon, shot)
    assert exported.silhouettes is not None and len(exported.silhouettes) == 6
    masks = [addon.silhouette.rasterize_triangles(triangles, 256, 256) for triangles in exported.silhouettes]
    for number, frame in enumerate(range(1, 7)):
        scene.frame_set(frame)
        mask = masks[number]
        assert mask.shape == (256, 256) and mask.sum() > 500
        evaluated = body.evaluated_get(bpy.context.evaluated_depsgraph_get())
        vertices = [evaluated.matrix_world @ v.co for v in evaluated.data.vertices]
        pixels = expected_pixels(scene, shot.camera, vertices)[:, :2]
        # The faces of the deformed boxes through world_to_camera_view, filled by scikit-image (which
        # also puts pixel centres at whole numbers): exactly the same pixels.
        reference = np.zeros_like(mask)
        for face in evaluated.data.polygons:
            corners = pixels[list(face.vertices)]
            reference[polygon(corners[:, 1], corners[:, 0], shape=reference.shape)] = True
        np.testing.assert_array_equal(mask, reference, err_msg=f"frame {frame}")
    assert (masks[0] != masks[-1]).sum() > 1000, "the silhouette follows the motion"

    body.hide_render = True
    assert _export(addon, shot).silhouettes is None, "a mesh left out of renders is left out of the silhouette"


def test_silhouettes_cover_the_pixels_blender_renders(addon, scene, tmp_path):
    """The projection checked against Blender's own rasterizer rather than against world_to_camera_view.

    The rasterizer puts pixel centres at whole numbers (checked against scikit-image in
    test_addon_parts.py), so covering exactly the rendered pixels means the projection -- which the
    keypoints share -- does too. Points half a pixel off, as the keypoints once were, disagree all
    along the outline.
    """
    shot = human_shot(scene, frames=3, size=(160, 120))
    add_body_mesh(shot.rig)
    scene.frame_start = scene.frame_end = 2
    scene.frame_set(2)
    rendered = _rendered_coverage(scene, tmp_path / "render.png")
    triangles = _export(addon, shot).silhouettes[0]
    mask = addon.silhouette.rasterize_triangles(triangles, 160, 120)
    half_pixel_off = addon.silhouette.rasterize_triangles(triangles + 0.5, 160, 120)
    assert rendered.sum() > 500, "the body is in frame"
    # The GPU rasterizes in float32: allow a tie or two on a pixel centre that lies exactly on an edge.
    assert (mask != rendered).sum() <= 2, f"{(mask != rendered).sum()} pixels differ from Blender's render"
    assert (half_pixel_off != rendered).sum() > 50, "the check can tell the two conventions apart"


# -- hands and face ---------------------------------------------------------------------------------------
def _rest_pose(shot):
    """The shot without its motion: the metarig in its rest pose, facing the camera, which stays put."""
    shot.rig.animation_data_clear()
    shot.camera.animation_data_clear()
    for bone in shot.rig.pose.bones:
        bone.rotation_quaternion, bone.rotation_euler = (1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0)


def _still_shot_of_the_left_hand(scene):
    """The metarig at rest, and a camera close in front of its left hand."""
    shot = human_shot(scene, frames=2)
    _rest_pose(shot)
    shot.camera.location, shot.camera.rotation_euler = (0.74, -0.55, 1.24), (math.radians(90), 0.0, 0.0)
    return shot


def test_rigify_finger_bones_give_hands_that_follow_them(addon, scene):
    shot = _still_shot_of_the_left_hand(scene)
    index = shot.rig.pose.bones["f_index.01.L"]  # curl the index finger at frame 2 only
    index.rotation_mode = "XYZ"
    index.keyframe_insert("rotation_euler", frame=1)
    index.rotation_euler = (math.radians(80), 0.0, 0.0)
    index.keyframe_insert("rotation_euler", frame=2)
    frames = _export(addon, shot, with_silhouettes=False).document["frames"]
    hands = [frame["people"][0]["hands"] for frame in frames]
    assert all(len(hand["left"]) == len(hand["right"]) == 21 for hand in hands)

    left_chain = ["hand.L"] + [
        f"{finger}.0{joint}.L" for finger in ("thumb", "f_index", "f_middle", "f_ring", "f_pinky") for joint in (1, 2, 3)
    ]
    for number, frame in enumerate((1, 2)):
        scene.frame_set(frame)
        ends = [bone_end_world(shot.rig, name) for name in left_chain]
        tips = {4 * finger + 4: bone_end_world(shot.rig, left_chain[3 * finger + 3], "TAIL") for finger in range(5)}
        order = [0] + [4 * finger + joint + 1 for finger in range(5) for joint in range(3)]
        expected = np.zeros((21, 3))
        expected[order] = expected_pixels(scene, shot.camera, ends)
        expected[list(tips)] = expected_pixels(scene, shot.camera, list(tips.values()))
        left = np.array(hands[number]["left"])
        np.testing.assert_allclose(left[:, :2], expected[:, :2], atol=2e-3)
        assert (left[:, 2] == 1.0).all(), "the whole left hand is in view"
    before, after = np.array(hands[0]["left"]), np.array(hands[1]["left"])
    moved = np.linalg.norm(after[:, :2] - before[:, :2], axis=1)
    assert (moved[6:9] > 10).all(), "the curled index finger's joints move"
    assert (moved[[0, 1, 2, 3, 4, 5] + list(range(9, 21))] < 1e-3).all(), "the wrist, the knuckle it turns about and the other fingers stay"
    assert np.linalg.norm(after[8, :2] - after[0, :2]) < np.linalg.norm(before[8, :2] - before[0, :2]), "the tip curls towards the palm"


def test_the_rigify_face_gives_jaw_nose_and_eyes_at_its_face_bones_and_nothing_else(addon, scene):
    shot = human_shot(scene, frames=1)
    _rest_pose(shot)
    shot.camera.location = (0.0, -1.2, 1.85)  # the face fills the frame
    face = np.array(_export(addon, shot, with_silhouettes=False).document["frames"][0]["people"][0]["face"])
    assert face.shape == (68, 3)
    justified = list(range(0, 17)) + list(range(27, 48))
    assert (face[justified, 2] == 1.0).all()
    unjustified = [index for index in range(68) if index not in justified]  # brows and mouth
    assert (face[unjustified] == 0).all()
    at_bones = {
        8: "chin",
        0: "jaw.R",
        16: "jaw.L",
        27: "nose",
        30: "nose.002",
        33: "nose.004",
        36: "lid.T.R",
        39: "lid.B.R",
        42: "lid.B.L",
        45: "lid.T.L",
    }
    expected = expected_pixels(scene, shot.camera, [bone_end_world(shot.rig, name) for name in at_bones.values()])
    np.testing.assert_allclose(face[list(at_bones), :2], expected[:, :2], atol=2e-3)
    assert face[0, 0] < face[8, 0] < face[16, 0], "the jaw runs from the person's right (image left) to their left"
    jaw_steps = np.linalg.norm(np.diff(face[0:17, :2], axis=0), axis=1)
    assert jaw_steps.max() < 2.5 * jaw_steps.min(), "jaw points are spread along the jaw line"


def test_a_rig_without_fingers_or_face_rig_sends_neither(addon, scene):
    rig = _armature(scene, _mixamo_bones("mixamorig:"))
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    scene.camera, camera.location, camera.rotation_euler = camera, (0, -6, 1.0), (math.radians(90), 0, 0)
    scene.frame_start = scene.frame_end = 1
    person = addon.pose_export.export_armature(scene, rig, addon.pose_sources.mapping_for(scene.tpc, rig)).document["frames"][0]["people"][
        0
    ]
    assert set(person) == {"keypoints"}
