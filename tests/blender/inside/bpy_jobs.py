"""bpy.ops.tpc.animate() end to end: real Blender, a real tpc-backend process, real sockets and files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import bpy
import numpy as np
import pytest
import skimage.data
import zmq
from blender_session import ADDON, free_port
from motion_files import CMU_EXCERPT, bandai_namco_walk, mixamo_fbx

from tests.support.blender_shots import add_body_mesh, bone_end_world, expected_pixels, human_shot, read_pixels
from tests.support.pose_files import coco_keypoints, openpose_frames
from tests.support.waiting import wait_until
from tpc.pose_sequence import PoseSequence

ASTRONAUT = os.path.join(os.path.dirname(skimage.data.__file__), "astronaut.png")
METARIG_BODY = {5: "upper_arm.L", 6: "upper_arm.R", 7: "forearm.L", 8: "forearm.R", 9: "hand.L", 10: "hand.R",
                11: "thigh.L", 12: "thigh.R", 13: "shin.L", 14: "shin.R", 15: "foot.L", 16: "foot.R"}  # fmt: skip


def _prepare(scene, tmp_path: Path, backend_address: str, frames: int = 12, mesh: bool = True, save: bool = True):
    shot = human_shot(scene, frames=frames)
    if mesh:
        add_body_mesh(shot.rig)
    settings = scene.tpc
    settings.reference_image = ASTRONAUT
    settings.armature = shot.rig
    settings.backend = backend_address
    settings.timeout = 60.0  # generous: CI machines are slow and busy; the default is 10 s
    if save:
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "shot.blend"))
    return shot


def _strips(scene):
    return list(scene.sequence_editor.strips) if scene.sequence_editor else []


def _job_folder(scene) -> Path:
    return Path(bpy.path.abspath(scene.tpc.job_folder))


def _frames_on_disk(scene) -> list[str]:
    return sorted(name for name in os.listdir(_job_folder(scene)) if name.startswith("frame_"))


def _pump_until(addon, condition, timeout: float = 120.0) -> None:
    """Drive the add-on's timer callback (background Blender runs no timers) until ``condition()``."""

    def pumped() -> bool:
        if condition():
            return True
        addon.jobs.process_events()
        return False

    wait_until(pumped, timeout, "the add-on's job never reached the state the test waits for")


def _pump_for(addon, seconds: float, unless) -> None:
    """Drive the timer callback for a while, or until ``unless()``: room for something that must not happen."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not unless():
        addon.jobs.process_events()
        time.sleep(0.02)


def _backend_state(addon, address: str, job_id: str) -> str:
    """The job's state as the backend records it ("unknown" when it has no such job)."""
    client_module = addon.vendor.tpc_protocol.client
    client = client_module.JobClient(address, timeout=10)
    try:
        return client.status(job_id)["state"]
    except client_module.JobFailed as error:
        assert error.code == "unknown_job", error
        return "unknown"
    finally:
        client.close()


def _box(points: np.ndarray) -> tuple[float, float, float, float]:
    return points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max()


def test_animate_in_background_fills_the_output_folder_and_one_strip(addon, scene, backend, tmp_path):
    shot = _prepare(scene, tmp_path, backend.address)
    bpy.ops.tpc.animate()

    settings = scene.tpc
    assert settings.state == "DONE" and settings.last_error == ""
    assert settings.frames_done == settings.job_total == 12
    assert settings.job_folder == f"//tpc/{settings.job_id}/"
    assert _frames_on_disk(scene) == [f"frame_{i:06d}.png" for i in range(12)]
    assert (_job_folder(scene) / "report.json").is_file() and (_job_folder(scene) / "report.png").is_file()

    strips = _strips(scene)
    assert len(strips) == 1
    strip = strips[0]
    assert strip.type == "IMAGE" and len(strip.elements) == 12
    assert strip.frame_final_start == scene.frame_start and strip.frame_final_duration == 12
    assert bpy.path.abspath(strip.directory).rstrip("/") == str(_job_folder(scene))

    # What was sent is the rig seen through the camera, frame by frame.
    poses = json.loads((_job_folder(scene) / "poses.json").read_text())
    assert (poses["width"], poses["height"], len(poses["frames"])) == (256, 256, 12)
    skeleton_boxes = []
    for number, frame in enumerate(range(scene.frame_start, scene.frame_end + 1)):
        scene.frame_set(frame)
        keypoints = np.array(poses["frames"][number]["people"][0]["keypoints"])
        bones = list(METARIG_BODY.items())
        expected = expected_pixels(scene, shot.camera, [bone_end_world(shot.rig, name) for _, name in bones])
        np.testing.assert_allclose(keypoints[[k for k, _ in bones], :2], expected[:, :2], atol=2e-3)
        skeleton_boxes.append(_box(keypoints[keypoints[:, 2] > 0]))

    # The preview frames follow the motion: the person's region moves and grows with the skeleton.
    region_boxes = []
    for name in _frames_on_disk(scene):
        ys, xs = np.nonzero(read_pixels(_job_folder(scene) / name)[:, :, :3].max(axis=2) > 0.1)
        region_boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
    skeleton_boxes, region_boxes = np.array(skeleton_boxes), np.array(region_boxes, dtype=float)
    for skeleton, region in zip(skeleton_boxes, region_boxes):
        overlap = np.maximum(0, np.minimum(skeleton[2:], region[2:]) - np.maximum(skeleton[:2], region[:2])).prod()
        union = np.prod(skeleton[2:] - skeleton[:2]) + np.prod(region[2:] - region[:2]) - overlap
        assert overlap / union > 0.5
    skeleton_heights, region_heights = skeleton_boxes[:, 3] - skeleton_boxes[:, 1], region_boxes[:, 3] - region_boxes[:, 1]
    assert region_heights[-1] > 1.3 * region_heights[0]
    assert np.corrcoef(skeleton_heights, region_heights)[0, 1] > 0.9
    skeleton_tops, region_tops = skeleton_boxes[:, 1], region_boxes[:, 1]
    assert np.corrcoef(skeleton_tops, region_tops)[0, 1] > 0.9, "the raised arms lift the top of the person"


def test_steps_guidance_and_independent_frames_go_as_chosen(addon, scene, backend, tmp_path):
    """By default the backend's models folder decides steps and guidance and frames are calibrated as a
    sequence; turned off and on, the scene's choices go along."""
    _prepare(scene, tmp_path, backend.address, frames=2, mesh=False)
    client = addon.vendor.tpc_protocol.client.JobClient(backend.address, timeout=10)
    try:
        sent = {}
        for chosen in (False, True):
            scene.tpc.use_trained_settings, scene.tpc.use_independent_frames = not chosen, chosen
            scene.tpc.steps, scene.tpc.guidance = 17, 4.5
            bpy.ops.tpc.animate()
            assert scene.tpc.state == "DONE", scene.tpc.last_error
            settings = client.status(scene.tpc.job_id)["settings"]
            sent[chosen] = (settings["steps"], settings["guidance"], settings["independent"])
    finally:
        client.close()
    assert sent == {False: (None, None, False), True: (17, 4.5, True)}


def test_a_bvh_exported_by_blender_animates_through_the_addon(addon, scene, backend, tmp_path):
    _prepare(scene, tmp_path, backend.address, frames=10, mesh=False)
    bvh = tmp_path / "take.bvh"
    bpy.ops.export_anim.bvh(filepath=str(bvh), frame_start=scene.frame_start, frame_end=scene.frame_end)

    settings = scene.tpc
    settings.pose_source, settings.pose_file = "FILE", str(bvh)
    bpy.ops.tpc.animate()

    assert settings.state == "DONE" and settings.frames_done == 10
    assert _frames_on_disk(scene) == [f"frame_{i:06d}.png" for i in range(10)]
    assert len(_strips(scene)) == 1 and len(_strips(scene)[0].elements) == 10
    imported = [obj for obj in scene.objects if obj.get(addon.motion_import.MOTION_SOURCE_PROPERTY) == str(bvh)]
    assert len(imported) == 1 and imported[0].type == "ARMATURE"
    direct = addon.pose_export.export_armature(
        scene, imported[0], addon.pose_sources.mapping_for(scene.tpc, imported[0]), with_silhouettes=False
    ).document
    sent = json.loads((_job_folder(scene) / "poses.json").read_text())
    assert sent == direct, "the file path sends what the imported armature shows the camera"


MOTION_FILES = {
    "cmu": lambda tmp_path: CMU_EXCERPT,
    "bandai_namco": lambda tmp_path: bandai_namco_walk(tmp_path / "walk.bvh", frames=20),
    "mixamo_fbx": lambda tmp_path: mixamo_fbx(tmp_path / "wave.fbx", frames=12),
}


@pytest.mark.parametrize("source", sorted(MOTION_FILES))
def test_motion_files_animate_through_the_file_path_and_the_armature_path_alike(addon, backend, tmp_path, source):
    path = MOTION_FILES[source](tmp_path)
    bpy.ops.wm.read_homefile(use_empty=False)  # the default scene: its camera, 24 fps and 250 frames
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = 160, 120
    settings = scene.tpc
    settings.reference_image, settings.backend, settings.timeout = ASTRONAUT, backend.address, 60.0
    settings.output_dir = str(tmp_path / "renders")
    settings.pose_source, settings.pose_file = "FILE", str(path)
    bpy.ops.tpc.animate()
    assert settings.state == "DONE", settings.last_error
    by_file = json.loads((_job_folder(scene) / "poses.json").read_text())
    frames = {"cmu": 33, "bandai_namco": 20, "mixamo_fbx": 12}[source]
    assert (
        len(by_file["frames"]) == settings.frames_done == frames
        and by_file["fps"] == {"cmu": 120, "bandai_namco": 30, "mixamo_fbx": 30}[source]
    )
    keypoints = np.array([frame["people"][0]["keypoints"] for frame in by_file["frames"]])
    assert (keypoints[:, 5:, 2] == 1).all(), "framed: every body joint of every frame in view"
    assert settings.warnings == ""

    settings.pose_source = "ARMATURE"
    settings.armature = addon.motion_import.imported_armature(scene, str(path))
    bpy.ops.tpc.animate()
    assert settings.state == "DONE" and json.loads((_job_folder(scene) / "poses.json").read_text()) == by_file


def test_a_pose_sequence_file_is_sent_as_it_is(addon, scene, backend, tmp_path):
    shot = _prepare(scene, tmp_path, backend.address, frames=6, mesh=False)
    document = addon.pose_export.export_armature(
        scene, shot.rig, addon.pose_sources.mapping_for(scene.tpc, shot.rig), with_silhouettes=False
    ).document
    path = tmp_path / "poses.json"
    path.write_text(json.dumps(document))
    scene.tpc.pose_source, scene.tpc.pose_file = "FILE", str(path)
    bpy.ops.tpc.animate()
    assert scene.tpc.state == "DONE" and len(_frames_on_disk(scene)) == 6
    assert json.loads((_job_folder(scene) / "poses.json").read_text()) == document


def _exported(addon, scene, shot) -> dict:
    return addon.pose_export.export_armature(
        scene, shot.rig, addon.pose_sources.mapping_for(scene.tpc, shot.rig), with_silhouettes=False
    ).document


def _animate_frames(scene) -> dict[str, bytes]:
    bpy.ops.tpc.animate()
    assert scene.tpc.state == "DONE", scene.tpc.last_error
    return {name: (_job_folder(scene) / name).read_bytes() for name in _frames_on_disk(scene)}


def test_openpose_and_coco_files_are_sent_as_they_are_on_the_scenes_canvas(addon, scene, backend, tmp_path):
    shot = _prepare(scene, tmp_path, backend.address, frames=6, mesh=False)
    document = _exported(addon, scene, shot)
    for frame in document["frames"]:  # bodies only: COCO keypoint files carry no hands or faces
        for person in frame["people"]:
            person.pop("hands", None), person.pop("face", None)
    (tmp_path / "poses.json").write_text(json.dumps(document))
    poses = PoseSequence.from_json(document)
    (tmp_path / "openpose").mkdir()
    for name, data in openpose_frames(poses, "body25", clip="take"):
        (tmp_path / "openpose" / name).write_bytes(data)
    name, data = openpose_frames(poses, "openpose_coco18")[3]
    (tmp_path / "coco18_frame.json").write_bytes(data)
    (tmp_path / "person_keypoints.json").write_bytes(coco_keypoints(poses))
    settings = scene.tpc
    settings.use_independent_frames = True  # a one-frame file's frame then equals that frame of the whole take
    settings.pose_source, settings.pose_file = "FILE", str(tmp_path / "poses.json")
    expected = _animate_frames(scene)

    settings.pose_file = str(tmp_path / "openpose")  # OpenPose files say nothing of their size: the render size goes along
    assert _animate_frames(scene) == expected, "the folder must give the frames its converted poses give"
    assert settings.frames_done == settings.job_total == 6 and len(_strips(scene)[0].elements) == 6
    sent = _job_folder(scene) / "pose_files"
    assert sorted(p.name for p in sent.iterdir()) == sorted(p.name for p in (tmp_path / "openpose").iterdir())
    assert not (_job_folder(scene) / "poses.json").exists()

    settings.pose_file = str(tmp_path / "coco18_frame.json")
    assert list(_animate_frames(scene).values()) == [expected["frame_000003.png"]]
    settings.pose_file = str(tmp_path / "person_keypoints.json")
    assert len(_animate_frames(scene)) == 6 and settings.job_total == 6


def test_a_broken_pose_file_fails_with_the_backends_sentence(addon, scene, backend, tmp_path):
    _prepare(scene, tmp_path, backend.address, frames=2, mesh=False)
    path = tmp_path / "odd_keypoints.json"
    path.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1, 2, 0.5, 4, 5, 0.5]}]}))
    scene.tpc.pose_source, scene.tpc.pose_file = "FILE", str(path)
    with pytest.raises(RuntimeError, match="The backend stopped job"):
        bpy.ops.tpc.animate()
    assert scene.tpc.state == "FAILED" and "odd_keypoints.json, person 0: 2 keypoints match no known layout" in scene.tpc.last_error
    assert "\n" not in scene.tpc.last_error and _strips(scene) == []


def _second_armature(scene, shot):
    scene.tpc.armature = None
    scene.collection.objects.link(bpy.data.objects.new("Other", bpy.data.armatures.new("Other")))


def _unknown_rig(scene, shot):
    for number, bone in enumerate(shot.rig.data.bones):
        bone.name = f"bone_{number}"


def _set(**values):
    def change(scene, shot):
        for name, value in values.items():
            setattr(scene.tpc, name, value)

    return change


PROBLEMS = {
    "no photo": (_set(reference_image=""), "Choose a reference photo"),
    "photo gone": (_set(reference_image="/nonexistent/me.png"), "cannot be read"),
    "no camera": (lambda scene, shot: setattr(scene, "camera", None), "The scene has no active camera"),
    "two armatures": (_second_armature, "The scene has 2 armatures: choose the armature"),
    "unknown rig": (_unknown_rig, "recognises fewer than 4 joints"),
    "missing pose file": (_set(pose_source="FILE", pose_file="/nonexistent/take.bvh"), "does not exist"),
    "folder without pose files": (_set(pose_source="FILE", pose_file=str(Path(__file__).parent)), "holds no .json pose files"),
    "not json": (_set(pose_source="FILE", pose_file=__file__), "cannot be read as JSON"),
    "bad address": (_set(backend="localhost:5555"), "not a ZeroMQ address"),
}


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_what_must_change_before_a_job_starts_is_one_sentence(addon, scene, tmp_path, problem):
    shot = _prepare(scene, tmp_path, f"tcp://127.0.0.1:{free_port()}", frames=2, mesh=False)
    change, message = PROBLEMS[problem]
    change(scene, shot)
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.tpc.animate()
    assert message in scene.tpc.last_error and "\n" not in scene.tpc.last_error
    assert scene.tpc.job_id == "" and scene.tpc.state == "NONE", "nothing was started"


def test_an_unsaved_file_needs_an_absolute_output_folder(addon, scene, backend, tmp_path):
    _prepare(scene, tmp_path, backend.address, frames=2, mesh=False, save=False)
    with pytest.raises(RuntimeError, match="not saved yet"):
        bpy.ops.tpc.animate()
    scene.tpc.output_dir = str(tmp_path / "renders")
    bpy.ops.tpc.animate()
    assert scene.tpc.state == "DONE" and len(_frames_on_disk(scene)) == 2
    assert _job_folder(scene).parent == tmp_path / "renders"


def test_a_job_the_backend_rejects_fails_with_the_backends_sentence(addon, scene, backend, tmp_path):
    _prepare(scene, tmp_path, backend.address, frames=2, mesh=False)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"format": "coco17", "width": 64, "height": 64, "frames": [{"people": [{"keypoints": [[1, 2, 1]]}]}]}))
    scene.tpc.pose_source, scene.tpc.pose_file = "FILE", str(path)
    with pytest.raises(RuntimeError, match="The backend stopped job"):
        bpy.ops.tpc.animate()
    assert scene.tpc.state == "FAILED" and "keypoints" in scene.tpc.last_error
    assert _strips(scene) == []


def test_an_unreachable_backend_is_a_clear_error_not_a_crash(addon, scene, tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    _prepare(scene, tmp_path, address, frames=4, mesh=False)
    scene.tpc.timeout = 2.0
    with pytest.raises(RuntimeError, match="(?i)no answer from the backend") as raised:
        bpy.ops.tpc.animate()
    settings = scene.tpc
    assert settings.state == "FAILED"
    assert address in settings.last_error and "tpc-backend serve" in settings.last_error
    assert str(raised.value).count("\n") <= 1, "one message, no traceback"
    assert not _job_folder(scene).exists() and _strips(scene) == [], "a job that never started leaves nothing behind"


def test_a_remote_backend_needs_online_access_and_keys(addon, scene, tmp_path):
    _prepare(scene, tmp_path, "tcp://192.0.2.10:5555", frames=2, mesh=False)
    preferences = bpy.context.preferences.system
    preferences.use_online_access = False
    with pytest.raises(RuntimeError, match="Online access is off"):
        bpy.ops.tpc.animate()
    preferences.use_online_access = True
    try:
        with pytest.raises(RuntimeError, match="must be encrypted"):
            bpy.ops.tpc.animate()
    finally:
        preferences.use_online_access = False
    assert scene.tpc.job_id == "", "nothing was sent"


def _curve_preferences(server: str, public: str, secret: str):
    preferences = bpy.context.preferences.addons[ADDON].preferences
    preferences.server_public_key, preferences.client_public_key, preferences.client_secret_key = server, public, secret


def _key_pair() -> tuple[str, str]:
    public, secret = zmq.curve_keypair()
    return public.decode(), secret.decode()


KEY_PROBLEMS = {  # (server key, client public key, client secret key) from a key pair (a, b) and a server key s
    "server key too short": (lambda s, a, b: (s[:39], a, b), "The Backend Public Key .* has 39 characters, a key has 40"),
    "server key not z85": (lambda s, a, b: ("~" + s[1:], a, b), "The Backend Public Key .* not Z85 text"),
    "server key past z85's range": (lambda s, a, b: ("#" * 40, a, b), "The Backend Public Key .* not Z85 text"),
    "secret key pasted with a space": (lambda s, a, b: (s, a, b[:20] + " " + b[21:]), "Your Secret Key .* not Z85 text"),
    "keys of two pairs": (lambda s, a, b: (s, a, _key_pair()[1]), "Your Public Key .* does not belong to Your Secret Key"),
}


@pytest.mark.parametrize("problem", sorted(KEY_PROBLEMS))
def test_malformed_curve_keys_are_a_sentence_and_leave_nothing_running(addon, scene, tmp_path, problem):
    _prepare(scene, tmp_path, "tcp://192.0.2.10:5555", frames=2, mesh=False)  # a remote backend: keys needed
    change, message = KEY_PROBLEMS[problem]
    _curve_preferences(*change(_key_pair()[0], *_key_pair()))
    bpy.context.preferences.system.use_online_access = True
    try:
        with pytest.raises(RuntimeError, match=message):
            bpy.ops.tpc.animate()
    finally:
        bpy.context.preferences.system.use_online_access = False
        _curve_preferences("", "", "")
    assert re.search(message, scene.tpc.last_error) and "\n" not in scene.tpc.last_error
    assert "Generate Key Pair" in scene.tpc.last_error or "server.key" in scene.tpc.last_error, "what to do about it"
    assert scene.tpc.state == "NONE" and scene.tpc.job_id == "" and addon.jobs.active_job(scene) is None
    assert not bpy.ops.tpc.cancel.poll(), "nothing to cancel"


def _job_without_submission(addon, scene, tmp_path, connection):
    return addon.job_worker.Job(
        scene_key=scene.as_pointer(), job_id="keys-test", folder=str(tmp_path / "out") + "/",
        folder_path=tmp_path / "out", connection=connection, submission=None,
    )  # fmt: skip


def test_a_client_that_refuses_its_settings_leaves_the_scene_as_it_was(addon, scene, tmp_path):
    _prepare(scene, tmp_path, "tcp://192.0.2.10:5555", frames=2, mesh=False)
    public, secret = _key_pair()
    connection = addon.job_worker.Connection("tcp://192.0.2.10:5555", 5.0, public[:39], (public, secret))
    with pytest.raises(ValueError, match="40-character"):
        addon.jobs.launch(scene, _job_without_submission(addon, scene, tmp_path, connection), wait=True)
    assert scene.tpc.state == "NONE" and scene.tpc.job_id == "" and addon.jobs.active_job(scene) is None


def test_a_key_that_is_not_z85_is_refused_before_the_scene_shows_a_job(addon, scene, backend, tmp_path):
    _prepare(scene, tmp_path, backend.address, frames=2, mesh=False)
    public, secret = _key_pair()
    connection = addon.job_worker.Connection(backend.address, 5.0, "~" * 40, (public, secret))  # 40 characters, not Z85
    settings = scene.tpc
    before = settings.state
    with pytest.raises(ValueError, match="40-character Z85 CURVE key"):
        addon.jobs.launch(scene, _job_without_submission(addon, scene, tmp_path, connection), wait=True)
    assert addon.jobs.active_job(scene) is None and settings.state == before != "RUNNING"


def test_cancel_mid_job_keeps_the_frames_that_arrived(addon, scene, backend, tmp_path):
    _prepare(scene, tmp_path, backend.address, frames=240, mesh=False)  # long enough to be running when the cancel lands
    bpy.ops.tpc.animate(wait=False)
    settings = scene.tpc
    assert settings.state == "RUNNING" and bpy.app.timers.is_registered(addon.jobs.process_events)
    _pump_until(addon, lambda: settings.frames_done >= 2)
    bpy.ops.tpc.cancel()
    _pump_until(addon, lambda: addon.jobs.active_job(scene) is None)

    assert settings.state == "CANCELLED"
    kept = _frames_on_disk(scene)
    assert 2 <= len(kept) < 240 and kept == [f"frame_{i:06d}.png" for i in range(len(kept))]
    assert settings.frames_done == len(kept) and len(_strips(scene)[0].elements) == len(kept)
    client = addon.vendor.tpc_protocol.client.JobClient(backend.address, timeout=10)
    try:
        assert client.status(settings.job_id)["state"] == "cancelled"
    finally:
        client.close()


def test_cancel_while_the_submit_is_on_its_way_cancels_the_job_on_the_backend(addon, scene, backend, relay, tmp_path):
    """Cancel right after Animate, while the backend has not accepted the job yet (the Submit waits in
    a relay): a cancel sent now would reach the backend first, find no job and let the job run."""
    _prepare(scene, tmp_path, backend.address, frames=240, mesh=False)  # long enough to be running when the cancel lands
    gate = relay("submit", "cancel")
    settings = scene.tpc
    settings.backend = gate.address
    bpy.ops.tpc.animate(wait=False)
    _pump_until(addon, lambda: "submit" in gate.seen)
    bpy.ops.tpc.cancel()
    _pump_for(addon, 1.0, unless=lambda: "cancel" in gate.seen)  # room for a cancel that overtakes the Submit
    assert "cancel" not in gate.seen and addon.jobs.active_job(scene) is not None and settings.state == "RUNNING", (
        "the job is not cancelled until the backend, which does not hold it yet, has cancelled it"
    )
    assert settings.status == "Cancelling"

    gate.release("submit")  # the backend accepts the job; the add-on's cancel follows, and waits in the relay
    _pump_until(addon, lambda: "cancel" in gate.seen and settings.job_total == 240)
    assert settings.state == "RUNNING" and settings.status == "Cancelling", "the panel keeps saying what it waits for"
    gate.release("cancel")
    _pump_until(addon, lambda: addon.jobs.active_job(scene) is None)
    assert settings.state == "CANCELLED" and settings.status == "Cancelled" and settings.last_error == ""
    assert _backend_state(addon, backend.address, settings.job_id) == "cancelled"
    assert gate.seen.index("cancel") > gate.seen.index("submit")
    assert bpy.ops.tpc.animate.poll() and not bpy.ops.tpc.cancel.poll(), "the scene is ready for the next take"


def test_a_job_refused_while_its_cancel_waits_says_why(addon, scene, backend, relay, tmp_path):
    """Cancel pressed while the Submit is on its way, then the backend refuses the job: the cancel never
    goes out, and the panel says why the job was refused (the next take needs to know), not only Cancelled."""
    _prepare(scene, tmp_path, backend.address, frames=4, mesh=False)
    gate = relay("submit")
    settings = scene.tpc
    settings.backend = gate.address
    settings.engine = "diffusion"  # this backend has no models folder, so it refuses the job
    bpy.ops.tpc.animate(wait=False)
    _pump_until(addon, lambda: "submit" in gate.seen)
    bpy.ops.tpc.cancel()
    gate.release("submit")
    _pump_until(addon, lambda: addon.jobs.active_job(scene) is None)
    assert settings.state == "CANCELLED" and "cancel" not in gate.seen
    assert settings.last_error == (
        f"The backend refused job {settings.job_id} anyway: the diffusion engine needs a models folder: "
        "start the backend with `tpc-backend serve --models DIR`."
    )
    assert _backend_state(addon, backend.address, settings.job_id) == "unknown"


def test_cancel_before_the_job_is_sent_sends_nothing(addon, scene, backend, relay, tmp_path):
    _prepare(scene, tmp_path, backend.address, frames=4, mesh=False)
    gate = relay("hello")  # the add-on waits for the backend's hello before it sends the job
    settings = scene.tpc
    settings.backend = gate.address
    bpy.ops.tpc.animate(wait=False)
    _pump_until(addon, lambda: "hello" in gate.seen)
    bpy.ops.tpc.cancel()
    _pump_until(addon, lambda: addon.jobs.active_job(scene) is None)
    gate.release()
    assert settings.state == "CANCELLED" and "submit" not in gate.seen
    assert _backend_state(addon, backend.address, settings.job_id) == "unknown"
    assert not _job_folder(scene).exists(), "nothing was sent, so nothing was written"


def test_a_cancel_that_cannot_reach_the_backend_says_how_to_stop_the_job(addon, scene, backend, relay, tmp_path):
    _prepare(scene, tmp_path, backend.address, frames=240, mesh=False)  # long enough to be running when the cancel lands
    gate = relay("submit")
    settings = scene.tpc
    settings.backend, settings.timeout = gate.address, 1.0
    bpy.ops.tpc.animate(wait=False)
    _pump_until(addon, lambda: "submit" in gate.seen)
    bpy.ops.tpc.cancel()
    _pump_until(addon, lambda: addon.jobs.active_job(scene) is None)  # no word from the backend for 1 s
    assert settings.state == "CANCELLED" and "press Re-attach, then Cancel" in settings.last_error

    gate.release()  # the job reaches the backend after all, and runs
    _pump_until(addon, lambda: _backend_state(addon, backend.address, settings.job_id) != "unknown")
    slow_cancel = relay("cancel")
    settings.job_backend, settings.timeout = slow_cancel.address, 60.0
    bpy.ops.tpc.reattach(wait=False)
    bpy.ops.tpc.cancel()  # the backend holds this job: the cancel goes at once, and waits in the relay
    _pump_for(addon, 1.0, unless=lambda: addon.jobs.active_job(scene) is None)
    assert "cancel" in slow_cancel.seen and settings.state == "RUNNING" and settings.status == "Cancelling", (
        "the job ends when the backend has confirmed the cancel, not before (ending closes the connection)"
    )
    slow_cancel.release()
    _pump_until(addon, lambda: addon.jobs.active_job(scene) is None)
    assert settings.state == "CANCELLED" and settings.last_error == ""
    assert _backend_state(addon, backend.address, settings.job_id) == "cancelled"


def test_reattach_after_reopening_the_file_collects_the_rest(addon, scene, backend, tmp_path):
    frames = 120  # long enough that the job outlasts saving and reopening the file
    _prepare(scene, tmp_path, backend.address, frames=frames, mesh=False)
    bpy.ops.tpc.animate(wait=False)
    settings = scene.tpc
    _pump_until(addon, lambda: settings.frames_done >= 1)
    bpy.ops.wm.save_mainfile()
    job_id = settings.job_id
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "shot.blend"))  # as after restarting Blender
    scene = bpy.context.scene
    settings = scene.tpc
    assert settings.job_id == job_id and settings.state == "DETACHED"
    before = len(_frames_on_disk(scene))
    assert before < frames, "the first session stopped following the job early"

    client = addon.vendor.tpc_protocol.client.JobClient(settings.job_backend, timeout=10)
    try:  # the backend finishes meanwhile
        wait_until(lambda: client.status(job_id)["state"] == "done", 120, "the backend did not finish the job", interval=0.2)
    finally:
        client.close()

    bpy.ops.tpc.reattach()
    assert settings.state == "DONE" and settings.frames_done == frames
    assert _frames_on_disk(scene) == [f"frame_{i:06d}.png" for i in range(frames)]
    strips = _strips(scene)
    assert len(strips) == 1 and len(strips[0].elements) == frames


def test_delete_on_backend_frees_the_backend_and_keeps_the_frames_here(addon, scene, backend, tmp_path):
    _prepare(scene, tmp_path, backend.address, frames=3, mesh=False)
    settings = scene.tpc
    assert not bpy.ops.tpc.delete_on_backend.poll(), "no job yet"
    bpy.ops.tpc.animate()
    assert settings.state == "DONE" and _backend_state(addon, backend.address, settings.job_id) == "done"
    assert bpy.ops.tpc.delete_on_backend() == {"FINISHED"}
    assert _backend_state(addon, backend.address, settings.job_id) == "unknown"
    assert not (backend.data / "jobs" / settings.job_id).exists()
    assert _frames_on_disk(scene) == [f"frame_{i:06d}.png" for i in range(3)] and len(_strips(scene)[0].elements) == 3
    assert settings.state == "DONE" and settings.last_error == ""
    assert bpy.ops.tpc.delete_on_backend() == {"FINISHED"}, "deleting what is gone already is no error"
    assert bpy.ops.tpc.reattach() == {"FINISHED"}, "every frame is here: re-attach needs no backend"


def test_delete_on_backend_refuses_a_running_job(addon, scene, backend, tmp_path):
    _prepare(scene, tmp_path, backend.address, frames=240, mesh=False)
    settings = scene.tpc
    bpy.ops.tpc.animate(wait=False)
    _pump_until(addon, lambda: settings.frames_done >= 1)
    assert not bpy.ops.tpc.delete_on_backend.poll(), "not while this scene follows the job"
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "shot.blend"))  # stops following; the backend goes on
    settings = bpy.context.scene.tpc
    assert settings.state == "DETACHED" and bpy.ops.tpc.delete_on_backend.poll()
    with pytest.raises(RuntimeError, match="cancel it first"):
        bpy.ops.tpc.delete_on_backend()
    assert settings.last_error.startswith(f"The backend did not delete job {settings.job_id}: job {settings.job_id} is running")
    assert _backend_state(addon, backend.address, settings.job_id) == "running"
    client = addon.vendor.tpc_protocol.client.JobClient(backend.address, timeout=10)
    try:
        client.cancel(settings.job_id)  # the next tests' jobs need not wait behind it
    finally:
        client.close()


def test_rerunning_replaces_the_strip_and_keeps_the_earlier_take(addon, scene, backend, tmp_path):
    _prepare(scene, tmp_path, backend.address, frames=4, mesh=False)
    bpy.ops.tpc.animate()
    first_job, first_folder = scene.tpc.job_id, _job_folder(scene)
    channel = _strips(scene)[0].channel
    bpy.ops.tpc.animate()
    assert scene.tpc.job_id != first_job
    strips = _strips(scene)
    assert len(strips) == 1 and strips[0][addon.vse_strip.JOB_PROPERTY] == scene.tpc.job_id
    assert strips[0].channel == channel and len(strips[0].elements) == 4
    assert len(os.listdir(first_folder)) > 4, "the earlier take's frames stay on disk"


def test_a_frame_that_cannot_be_written_stops_the_job_with_a_sentence_and_keeps_the_rest(addon, scene, backend, tmp_path):
    _prepare(scene, tmp_path, backend.address, frames=8, mesh=False)
    bpy.ops.tpc.animate()
    folder = _job_folder(scene)
    for index in range(3, 8):
        (folder / f"frame_{index:06d}.png").unlink()
    (folder / "frame_000005.png").mkdir()  # frame 5 can no longer be written there
    (folder / "frame_000005.png" / "keep").write_text("x")
    with pytest.raises(RuntimeError, match="Cannot write frames to"):
        bpy.ops.tpc.reattach()
    settings = scene.tpc
    assert settings.state == "FAILED" and "press Re-attach" in settings.last_error
    assert _frames_on_disk(scene)[:5] == [f"frame_{i:06d}.png" for i in range(5)]
    assert settings.frames_done == 5 and len(_strips(scene)[0].elements) == 5


def test_the_headless_farm_command(addon, scene, backend, tmp_path):
    """What the README tells render farms to run, in a fresh process using the bpy module."""
    _prepare(scene, tmp_path, backend.address, frames=4, mesh=True)
    script = (
        "import bpy; "
        f"bpy.ops.preferences.addon_enable(module={ADDON!r}); "
        f"bpy.ops.wm.open_mainfile(filepath={str(tmp_path / 'shot.blend')!r}); "
        "bpy.ops.tpc.animate(); "
        "bpy.ops.wm.save_mainfile()"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "shot.blend"))
    scene = bpy.context.scene
    assert scene.tpc.state == "DONE" and len(_frames_on_disk(scene)) == 4 and len(_strips(scene)[0].elements) == 4

    scene.tpc.backend = f"tcp://127.0.0.1:{free_port()}"
    scene.tpc.timeout = 1.0
    bpy.ops.wm.save_mainfile()
    failing = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert failing.returncode != 0 and "No answer from the backend" in failing.stderr


def _report_matrices(scene) -> np.ndarray:
    report = json.loads((_job_folder(scene) / "report.json").read_text())
    return np.array([frame["people"][0]["matrix"] for frame in report["frames"]])


def test_keypoints_placed_by_hand_are_saved_with_the_file_and_sent_as_the_reference(addon, scene, backend, tmp_path):
    _prepare(scene, tmp_path, backend.address, frames=3, mesh=False)
    settings = scene.tpc
    assert not bpy.ops.tpc.reference_points_edit.poll(), "editing needs the Image Editor, which background Blender has not"
    bpy.ops.tpc.reference_points_reset()
    assert [item.name for item in settings.reference_points] == list(addon.bone_mapping.COCO17_NAMES)
    settings.use_reference_points = True
    for item in settings.reference_points:
        item.location = (item.location[0] * 0.6 + 60, item.location[1] * 0.6 + 40)  # a smaller figure, up and left
    settings.reference_points["left_ear"].placed = False
    bpy.ops.wm.save_mainfile()
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "shot.blend"))
    scene = bpy.context.scene
    settings = scene.tpc
    assert settings.use_reference_points and not settings.reference_points["left_ear"].placed, "saved with the .blend"

    bpy.ops.tpc.animate()
    assert settings.state == "DONE", settings.last_error
    sent = json.loads((_job_folder(scene) / "reference_keypoints.json").read_text())
    expected = [
        [round(item.location[0], 3), round(item.location[1], 3), 1.0] if item.placed else [0.0, 0.0, 0.0]
        for item in settings.reference_points
    ]
    assert (sent["width"], sent["height"]) == (512, 512)
    np.testing.assert_allclose(sent["frames"][0]["people"][0]["keypoints"], expected, atol=1e-3)
    by_hand = _report_matrices(scene)

    settings.use_reference_points = False  # the backend finds the astronaut itself
    bpy.ops.tpc.animate()
    assert not (_job_folder(scene) / "reference_keypoints.json").exists()
    assert np.abs(_report_matrices(scene) - by_hand).max() > 1.0, "the placed keypoints decided the calibration"


def test_too_few_placed_keypoints_are_one_sentence(addon, scene, tmp_path):
    _prepare(scene, tmp_path, f"tcp://127.0.0.1:{free_port()}", frames=2, mesh=False)
    settings = scene.tpc
    settings.use_reference_points = True
    bpy.ops.tpc.reference_points_reset()
    for item in list(settings.reference_points)[1:]:
        item.placed = False
    with pytest.raises(RuntimeError, match="Place at least two body points on the photo"):
        bpy.ops.tpc.animate()
    assert settings.job_id == ""
