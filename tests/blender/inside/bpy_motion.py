"""Motion capture as animators bring it (real bpy): bpy.ops.tpc.import_motion() on a real CMU excerpt, the
real Bandai Namco skeleton, a Mixamo-style FBX and Blender's own BVH; Frame Performer; the warnings and
refusals Animate gives before sending anything."""

from __future__ import annotations

import math
import os

import bpy
import numpy as np
import pytest
import skimage.data
from blender_session import free_port
from motion_files import CMU_EXCERPT, bandai_namco_walk, mixamo_fbx

from tests.support.blender_shots import bone_end_world, expected_pixels, human_shot

ASTRONAUT = os.path.join(os.path.dirname(skimage.data.__file__), "astronaut.png")


def _default_scene() -> bpy.types.Scene:
    """Blender's default scene (cube, light, a camera looking at the origin from afar), at a small render size."""
    bpy.ops.wm.read_homefile(use_empty=False)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = 320, 240
    return scene


def _mapping(addon, scene):
    return addon.pose_sources.mapping_for(scene.tpc, scene.tpc.armature)


def _body_over_frames(addon, scene) -> np.ndarray:
    """(frames, 17, 3) world keypoints of the scene's armature over the scene range."""
    frames = list(range(scene.frame_start, scene.frame_end + 1))
    found = addon.framing.rig_points_at(scene, scene.tpc.armature, _mapping(addon, scene), frames)
    return np.array([points.body for points, _ in found])


def _keypoints(addon, scene) -> np.ndarray:
    """(frames, 17, 3) exported keypoints through the scene camera."""
    document = addon.pose_export.export_armature(scene, scene.tpc.armature, _mapping(addon, scene), with_silhouettes=False).document
    return np.array([frame["people"][0]["keypoints"] for frame in document["frames"]])


def _assert_staged(addon, scene, low: float = 1.3, high: float = 2.0) -> np.ndarray:
    """Upright, human-sized in metres, starting above the origin with the feet on the floor; returns the body."""
    body = _body_over_frames(addon, scene)
    hips, shoulders = body[:, 11:13].mean(axis=1), body[:, 5:7].mean(axis=1)
    ankles, nose = body[:, 15:17].mean(axis=1), body[:, 0]
    assert (nose[:, 2] > shoulders[:, 2]).all() and (shoulders[:, 2] > hips[:, 2]).all() and (hips[:, 2] > ankles[:, 2]).all(), "upright"
    top = float(nose[:, 2].max())
    assert low <= top / 0.94 <= high, f"a human height in metres (nose at {top:.2f} m)"
    assert 0.0 <= float(body[:, 15:17, 2].min()) < 0.15, "ankles just above the floor"
    np.testing.assert_allclose(hips[0, :2], 0.0, atol=1e-4, err_msg="the performer starts above the origin")
    return body


def _assert_face_is_a_face(keypoints: np.ndarray) -> None:
    """The face is spread like a face (not a dot), above the shoulders, and seen from the front."""
    shoulder_width = np.linalg.norm(keypoints[:, 5, :2] - keypoints[:, 6, :2], axis=1)
    face = keypoints[:, :5, :2]
    spread = np.max(np.linalg.norm(face[:, :, None] - face[:, None, :], axis=-1), axis=(1, 2))
    assert (spread > 0.3 * shoulder_width).all(), f"face spread / shoulder width: {np.min(spread / shoulder_width):.2f}"
    assert (keypoints[:, 0, 1] < keypoints[:, 5:7, 1].min(axis=1)).all(), "the nose is above the shoulders in the image"
    assert (keypoints[:, 0, 2] > 0).mean() >= 0.9, "a performer facing the camera shows the nose"


def test_a_cmu_excerpt_in_the_default_scene_is_staged_timed_framed_and_followed(addon):
    scene = _default_scene()
    assert bpy.ops.tpc.import_motion(filepath=str(CMU_EXCERPT)) == {"FINISHED"}
    settings = scene.tpc
    assert settings.pose_source == "ARMATURE" and settings.armature is not None and settings.last_error == ""
    assert scene.render.fps / scene.render.fps_base == 120 and (scene.frame_start, scene.frame_end) == (1, 33), "the file's rate and length"
    mapping = _mapping(addon, scene)
    assert mapping.unmapped == () and settings.warnings == ""
    _assert_staged(addon, scene)
    assert scene.camera.get(addon.framing.FRAMING_PROPERTY), "the default camera shows the performer far too small: framed"
    assert bpy.data.objects["Camera"].location.length > 5, "the user's camera is left where it was"
    view = addon.framing.check_view(scene, settings.armature, mapping, addon.framing.sampled_frames(scene))
    assert view.outside == [] and view.fill > 0.4

    keypoints = _keypoints(addon, scene)
    assert keypoints.shape == (33, 17, 3) and (keypoints[:, 5:, 2] == 1).all(), "every body joint in view"
    for number in (0, 16, 32):
        scene.frame_set(1 + number)
        ends = [bone_end_world(settings.armature, *mapping.points[k]) for k in range(5, 17)]
        np.testing.assert_allclose(keypoints[number, 5:, :2], expected_pixels(scene, scene.camera, ends)[:, :2], atol=2e-3)
    wrist_path = np.linalg.norm(np.diff(keypoints[:, 9, :2], axis=0), axis=1).sum()
    assert wrist_path > 20, "the keypoints follow the running arms"
    _assert_face_is_a_face(keypoints)


def test_the_bandai_namco_skeleton_stands_up_in_centimetres_and_its_stub_head_keeps_a_face(addon, tmp_path):
    """Its rest pose lies along X and its head ends in a zero-length End Site (a 0.1-unit stub bone)."""
    path = bandai_namco_walk(tmp_path / "walk.bvh", frames=40)
    scene = _default_scene()
    bpy.ops.tpc.import_motion(filepath=str(path))
    armature = scene.tpc.armature
    assert armature.data.bones["Head"].length < 0.01 * armature.data.bones["LowerLeg_L"].length, "the head bone is a stub"
    assert (scene.frame_start, scene.frame_end, scene.render.fps) == (1, 40, 30)
    assert _mapping(addon, scene).unmapped == ()
    assert armature.matrix_world.to_scale()[0] == pytest.approx(0.01), "centimetres"
    body = _assert_staged(addon, scene)
    assert body[-1, 11:13, 1].mean() < -1.0, "it walks forward, towards Blender's front (-Y)"
    keypoints = _keypoints(addon, scene)
    assert (keypoints[:, 5:, 2] == 1).all()
    _assert_face_is_a_face(keypoints)
    left_wrist_x = keypoints[:, 9, 0] - keypoints[:, 11:13, 0].mean(axis=1)
    assert (left_wrist_x > 0).all(), "the person's left arm is on the image's right (they face the camera)"


def test_a_mixamo_fbx_imports_at_its_rate_in_metres_with_both_hands(addon, tmp_path):
    path = mixamo_fbx(tmp_path / "wave.fbx", frames=20, fps=30)
    scene = _default_scene()
    assert bpy.ops.tpc.import_motion(filepath=str(path)) == {"FINISHED"}
    assert (scene.frame_start, scene.frame_end, scene.render.fps) == (1, 20, 30)
    mapping = _mapping(addon, scene)
    assert mapping.unmapped == () and mapping.points[5] == ("mixamorig:LeftArm", "HEAD")
    _assert_staged(addon, scene)
    document = addon.pose_export.export_armature(scene, scene.tpc.armature, mapping, with_silhouettes=False).document
    hands = [frame["people"][0]["hands"] for frame in document["frames"]]
    left = np.array([hand["left"] for hand in hands])
    assert left.shape == (20, 21, 3) and (left[:, :, 2] == 1).all(), "all 21 points of the waving hand, every frame"
    np.testing.assert_allclose(left[:, 0, :2], np.array([f["people"][0]["keypoints"][9][:2] for f in document["frames"]]))
    assert np.linalg.norm(left[-1, 8, :2] - left[0, 8, :2]) > 10, "the index fingertip follows the wave"


def test_retiming_keeps_the_scene_rate_and_stretches_the_motion(addon):
    scene = _default_scene()
    scene.render.fps = 24
    bpy.ops.tpc.import_motion(filepath=str(CMU_EXCERPT), retime=True)
    assert scene.render.fps / scene.render.fps_base == 24
    assert scene.frame_end - scene.frame_start + 1 == math.ceil(33 / 120 * 24), "0.275 s at 24 fps"


def test_blenders_own_z_up_bvh_imports_upright_with_its_pose(addon, tmp_path):
    """Blender's BVH exporter writes Z-up: the standing rest pose says which way is up."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    shot = human_shot(scene, frames=4)
    path = tmp_path / "metarig.bvh"
    bpy.ops.export_anim.bvh(filepath=str(path), frame_start=1, frame_end=4)
    bpy.ops.tpc.import_motion(filepath=str(path), frame_camera=False)
    imported = scene.tpc.armature
    assert imported is not shot.rig and imported.matrix_world.to_scale()[0] == pytest.approx(1.0), "metres already"
    offsets = []
    for frame in (1, 4):
        scene.frame_set(frame)
        for bone in ("hand.L", "forearm.R", "spine.006", "foot.L"):
            offsets.append(np.array(bone_end_world(imported, bone) - bone_end_world(shot.rig, bone)))
    np.testing.assert_allclose(offsets, np.repeat(offsets[:1], len(offsets), axis=0), atol=1e-3, err_msg="the same pose, moved")
    assert abs(offsets[0][2]) < 0.05, "already standing on the floor"


def test_a_file_import_reuses_the_armature_and_a_bad_file_is_one_sentence(addon, tmp_path):
    scene = _default_scene()
    rig = addon.pose_sources.motion_armature(bpy.context, str(CMU_EXCERPT))
    assert addon.pose_sources.motion_armature(bpy.context, str(CMU_EXCERPT)) is rig, "a second Animate reuses the import"
    text = tmp_path / "notes.bvh"
    text.write_text("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n}\n")
    with pytest.raises(RuntimeError, match="is not a BVH file TPC Animate can read"):
        bpy.ops.tpc.import_motion(filepath=str(text))
    assert "\n" not in scene.tpc.last_error and "notes.bvh" in scene.tpc.last_error
    with pytest.raises(RuntimeError, match="choose a .bvh or .fbx file"):
        bpy.ops.tpc.import_motion(filepath=str(tmp_path / "take.mov"))

    still = tmp_path / "still.fbx"  # a skeleton without animation
    rig = bpy.data.objects.new("Still", bpy.data.armatures.new("Still"))
    scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    rig.data.edit_bones.new("Hips").tail = (0, 0, 0.2)
    bpy.ops.object.mode_set(mode="OBJECT")
    bpy.ops.export_scene.fbx(filepath=str(still), object_types={"ARMATURE"}, bake_anim=False)
    objects, rate = set(bpy.data.objects), scene.render.fps
    with pytest.raises(RuntimeError, match="found an armature without motion in .*still.fbx: choose a file with an animated skeleton"):
        bpy.ops.tpc.import_motion(filepath=str(still))
    assert set(bpy.data.objects) == objects and scene.render.fps == rate, "nothing half-imported stays"


# -- Frame Performer, warnings and refusals ------------------------------------------------------------------
def _walk_off(shot, leaves_after: int) -> None:
    """Move the metarig out of the camera's view after frame ``leaves_after``."""
    rig = shot.rig
    for frame, x in ((leaves_after, 0.0), (leaves_after + 1, 30.0)):
        rig.location = (x, 0.0, 0.0)
        rig.keyframe_insert("location", frame=frame)
    fcurves = rig.animation_data.action.layers[0].strips[0].channelbags[0].fcurves
    for curve in fcurves:
        for key in curve.keyframe_points:
            key.interpolation = "CONSTANT"


def _prepared(scene, tmp_path, frames: int = 12):
    """A shot ready to Animate, towards a backend that is not there (refusals come before it is asked)."""
    shot = human_shot(scene, frames=frames)
    settings = scene.tpc
    settings.armature, settings.reference_image, settings.output_dir = shot.rig, ASTRONAUT, str(tmp_path)
    settings.backend, settings.timeout = f"tcp://127.0.0.1:{free_port()}", 1.0
    return shot


def test_a_performer_outside_the_view_in_most_frames_is_refused_and_frame_performer_fixes_it(addon, scene, tmp_path):
    shot = _prepared(scene, tmp_path)
    _walk_off(shot, leaves_after=3)
    with pytest.raises(RuntimeError, match="The performer is outside the camera view in 9 of 12 frames; use Frame Performer"):
        bpy.ops.tpc.animate()
    assert scene.tpc.last_error == "The performer is outside the camera view in 9 of 12 frames; use Frame Performer."
    assert scene.tpc.job_id == "", "nothing was sent"

    assert bpy.ops.tpc.frame_performer() == {"FINISHED"}
    assert scene.camera is not shot.camera and shot.camera.name in scene.objects, "a camera of its own; the user's stays"
    poses = addon.pose_sources.collect_poses(bpy.context)
    keypoints = np.array([frame["people"][0]["keypoints"] for frame in poses.document["frames"]])
    assert (keypoints[:, 5:, 2] == 1).all() and poses.warnings == [], "every joint of every frame in view"


def test_frames_that_would_all_be_fallbacks_are_refused(addon, scene, tmp_path):
    shot = _prepared(scene, tmp_path)
    shot.camera.animation_data_clear()
    shot.camera.rotation_euler = (math.radians(90), 0.0, math.radians(180))  # looking away from the performer
    with pytest.raises(RuntimeError, match="None of the 12 frames shows two of the performer's joints to the camera"):
        bpy.ops.tpc.animate()
    assert scene.tpc.job_id == ""


def test_a_few_frames_out_of_view_and_joints_without_bones_are_warnings_in_the_panel(addon, scene, tmp_path):
    shot = _prepared(scene, tmp_path)
    _walk_off(shot, leaves_after=10)
    for name in ("hand.L", "forearm.L"):
        shot.rig.data.bones[name].name = f"prop_{name}"
    poses = addon.pose_sources.collect_poses(bpy.context)
    assert poses.warnings == [
        f"Armature '{shot.rig.name}' has no bone for the left wrist, sent as not visible in every frame: assign bones "
        "under Bone Mapping in the TPC Animate panel.",
        "The performer is mostly outside the camera view in 2 of 12 frames (from frame 11); those frames will follow "
        "the photo less closely: use Frame Performer.",
    ]
    with pytest.raises(RuntimeError, match="No answer from the backend"):
        bpy.ops.tpc.animate()
    assert scene.tpc.warnings.splitlines() == poses.warnings, "the panel shows what may look wrong"
