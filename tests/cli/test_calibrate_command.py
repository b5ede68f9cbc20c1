"""`tpc calibrate` end to end through the installed console script, errors included."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tpc.image_io import read_image, read_mask, write_png
from tpc.pose_sequence import PoseSequence
from tpc.procrustes import Similarity

TPC = str(Path(sys.executable).with_name("tpc"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([TPC, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, astronaut):
    """Reference files and a 12-frame misaligned motion with target masks."""
    image, points, mask = astronaut
    folder = tmp_path_factory.mktemp("inputs")
    write_png(folder / "ref.png", image)
    write_png(folder / "ref_mask.png", mask)
    PoseSequence(512, 512, 24.0, [[points]]).save(folder / "ref_kp.json")
    frames = []
    (folder / "masks").mkdir()
    for i in range(12):
        motion = Similarity(scale=1.0 - 0.04 * i, angle=np.radians(4 * i), translation=(10.0 * i, 5.0 * i))
        frames.append([motion.apply(points)])
        write_png(
            folder / "masks" / f"{i:05d}.png",
            cv2.warpAffine(mask.astype(np.uint8) * 255, motion.matrix, (512, 512), flags=cv2.INTER_NEAREST),
        )
    PoseSequence(512, 512, 24.0, frames).save(folder / "poses.json")
    return folder


def calibrate_args(folder: Path, out: Path, *extra: str) -> list[str]:
    return [
        "calibrate", "--reference", str(folder / "ref.png"), "--poses", str(folder / "poses.json"), "--out", str(out),
        "--reference-keypoints", str(folder / "ref_kp.json"), "--reference-mask", str(folder / "ref_mask.png"), *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("with_silhouettes", [False, True])
def test_writes_calibrated_images_masks_and_report(inputs, tmp_path, with_silhouettes):
    extra = ("--target-masks", str(inputs / "masks")) if with_silhouettes else ()
    result = run(*calibrate_args(inputs, tmp_path, *extra))
    assert result.returncode == 0, result.stderr
    assert "calibrated 12 frames" in result.stderr
    for i in range(12):
        image = read_image(tmp_path / "calibrated" / f"{i:05d}.png")
        mask = cv2.imread(str(tmp_path / "calibrated_mask" / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED)
        assert image.shape == (512, 512, 3) and mask.shape == (512, 512)
        assert set(np.unique(mask)) <= {0, 255} and (image[mask == 0] == 0).all()
    report = json.loads((tmp_path / "report.json").read_text())
    assert len(report["frames"]) == 12
    for i, frame in enumerate(report["frames"]):
        person = frame["people"][0]
        assert set(person) >= {"matrix", "scale", "rotation_deg", "translation", "keypoints_used", "score", "fallback"}
        assert person["fallback"] is None
        assert person["scale"] == pytest.approx(1.0 - 0.04 * i, rel=0.02 if with_silhouettes else 0.12)
        if with_silhouettes:
            target = read_mask(inputs / "masks" / f"{i:05d}.png")
            ours = cv2.imread(str(tmp_path / "calibrated_mask" / f"{i:05d}.png"), cv2.IMREAD_UNCHANGED) > 0
            assert (ours & target).sum() / (ours | target).sum() > 0.9
            # The matrix maps reference pixels to target pixels.
            matrix = np.array(person["matrix"])
            nose = matrix[:, :2] @ PoseSequence.load(inputs / "ref_kp.json").frames[0][0][0, :2] + matrix[:, 2]
            truth = PoseSequence.load(inputs / "poses.json").frames[i][0][0, :2]
            assert np.linalg.norm(nose - truth) < 6
    picture = read_image(tmp_path / "report.png")
    assert picture.shape[0] > 400 and picture.shape[1] > 800


def test_independent_frames_keep_their_own_fits_and_the_report_has_both_scores(inputs, tmp_path):
    """By default each frame's own best transform is smoothed over its neighbours; --independent keeps
    it. report.json records both the frame's own IoU (candidate_score) and that of the transform used."""
    extra = ("--target-masks", str(inputs / "masks"), "--quiet")
    assert run(*calibrate_args(inputs, tmp_path / "sequence", *extra)).returncode == 0
    assert run(*calibrate_args(inputs, tmp_path / "independent", *extra, "--independent")).returncode == 0
    sequence = json.loads((tmp_path / "sequence" / "report.json").read_text())
    independent = json.loads((tmp_path / "independent" / "report.json").read_text())
    assert sequence["settings"]["independent"] is False and independent["settings"]["independent"] is True
    alone = [frame["people"][0] for frame in independent["frames"]]
    smoothed = [frame["people"][0] for frame in sequence["frames"]]
    assert all(person["candidate_score"] == person["score"] for person in alone)
    assert [p["candidate_score"] for p in smoothed] == [p["score"] for p in alone]
    assert [p["matrix"] for p in smoothed] != [p["matrix"] for p in alone]
    # The motion is smooth and the masks exact: smoothing costs next to nothing of the overlap.
    assert sequence["summary"]["mean_score"] > independent["summary"]["mean_score"] - 0.01


def write_json(path: Path, value) -> Path:
    path.write_text(json.dumps(value))
    return path


def test_user_errors_are_one_sentence_and_exit_2(inputs, tmp_path, astronaut):
    image, points, _ = astronaut
    nan_poses = json.loads((inputs / "poses.json").read_text())
    nan_poses["frames"][3]["people"][0]["keypoints"][5][0] = float("nan")
    write_png(tmp_path / "small.png", image[:100, :100])
    (tmp_path / "garbage.png").write_bytes(b"not an image at all")
    cases = {
        "missing reference": (["--reference", str(tmp_path / "nope.png")], "reference image .* does not exist"),
        "undecodable reference": (["--reference", str(tmp_path / "garbage.png")], "not an image"),
        "missing poses": (["--poses", str(tmp_path / "nope.json")], "poses file .* does not exist"),
        "bad json": (["--poses", str(write_json(tmp_path / "text.json", "hello"))], "text.json is not a pose file TPC Animate knows"),
        "nan keypoints": (["--poses", str(write_json(tmp_path / "nan.json", nan_poses))], "frame 3, person 0: keypoint 5"),
        "zero frames": (
            [
                "--poses",
                str(write_json(tmp_path / "empty.json", {"format": "coco17", "width": 512, "height": 512, "fps": 24, "frames": []})),
            ],
            "no frames",
        ),
        "nobody anywhere": (
            [
                "--poses",
                str(
                    write_json(
                        tmp_path / "nobody.json",
                        {"format": "coco17", "width": 512, "height": 512, "fps": 24, "frames": [{"people": []}] * 3},
                    )
                ),
            ],
            "none of the 3 frames .* has a person",
        ),
        "mask size": (["--reference-mask", str(tmp_path / "small.png")], "must be 512x512"),
        "keypoint canvas": (["--reference", str(tmp_path / "small.png")], "must describe the 100x100 reference image, not a 512x512 one"),
        "missing target masks": (["--target-masks", str(tmp_path / "none")], "target mask folder .* does not exist"),
    }
    for name, (override, message) in cases.items():
        args = calibrate_args(inputs, tmp_path / "out")
        for flag, value in zip(override[::2], override[1::2]):
            if flag in args:
                args[args.index(flag) + 1] = value
            else:
                args += [flag, value]
        result = run(*args)
        assert result.returncode == 2, name
        assert "Traceback" not in result.stderr, name
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("tpc: error: "), (name, result.stderr)
        assert re.search(message, lines[0]), (name, lines[0])


def test_several_people_get_their_own_images_by_reference_person(tmp_path, astronaut, grace_hopper):
    """Two people in the photo, two in every frame (listed in changing order): per-person folders
    follow the reference person, and the frame image holds both."""
    image_a, points_a, mask_a = astronaut
    image_b, points_b, mask_b = grace_hopper
    image = np.concatenate([image_a, image_b[:512]], axis=1)
    shifted = points_b.copy()
    shifted[:, 0] += 512
    shifted[shifted[:, 1] >= 512, 2] = 0
    mask = np.concatenate([mask_a, mask_b[:512]], axis=1)
    write_png(tmp_path / "ref.png", image)
    write_png(tmp_path / "ref_mask.png", mask)
    PoseSequence(1024, 512, 24.0, [[points_a, shifted]]).save(tmp_path / "ref_kp.json")
    frames = []
    for i in range(6):
        a = Similarity(scale=0.5, translation=(60.0 + 10 * i, 100.0)).apply(points_a)
        b = Similarity(scale=0.5, translation=(300.0 - 10 * i, 120.0)).apply(shifted)
        frames.append([a, b] if i % 2 == 0 else [b, a])
    PoseSequence(1024, 512, 24.0, frames).save(tmp_path / "poses.json")
    result = run(
        "calibrate", "--reference", str(tmp_path / "ref.png"), "--poses", str(tmp_path / "poses.json"),
        "--reference-keypoints", str(tmp_path / "ref_kp.json"), "--reference-mask", str(tmp_path / "ref_mask.png"),
        "--out", str(tmp_path / "out"), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert len(report["frames"]) == 6
    for i, frame in enumerate(report["frames"]):
        expected = [0, 1] if i % 2 == 0 else [1, 0]
        assert [p["reference_person"] for p in frame["people"]] == expected
        union = read_mask(tmp_path / "out" / "calibrated_mask" / f"{i:05d}.png")
        parts = [read_mask(tmp_path / "out" / "people" / str(r) / "calibrated_mask" / f"{i:05d}.png") for r in (0, 1)]
        assert all(p.any() for p in parts) and ((parts[0] | parts[1]) == union).all()
        # The astronaut (reference person 0) stays on the left where her target stands.
        assert np.nonzero(parts[0])[1].mean() < np.nonzero(parts[1])[1].mean()


def test_incomplete_target_mask_folder_is_refused_before_any_work(inputs, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    for i in range(5):
        (partial / f"{i:05d}.png").write_bytes((inputs / "masks" / f"{i:05d}.png").read_bytes())
    result = run(*calibrate_args(inputs, tmp_path / "out", "--target-masks", str(partial)))
    assert result.returncode == 2 and "00005.png is missing (5 of 12 frames have masks" in result.stderr
    assert not (tmp_path / "out" / "calibrated" / "00000.png").exists()


def test_without_reference_hints_perception_finds_the_person_even_upside_down(inputs, tmp_path):
    """No keypoints, no mask, and the photo upside down: as good as the upright photo with hints."""
    write_png(tmp_path / "upside_down.png", read_image(inputs / "ref.png")[::-1, ::-1])
    given = run(*calibrate_args(inputs, tmp_path / "given", "--target-masks", str(inputs / "masks"), "--quiet"))
    found = run(
        "calibrate", "--reference", str(tmp_path / "upside_down.png"), "--poses", str(inputs / "poses.json"),
        "--target-masks", str(inputs / "masks"), "--out", str(tmp_path / "found"), "--quiet",
    )  # fmt: skip
    assert given.returncode == 0 and found.returncode == 0, found.stderr
    given_report = json.loads((tmp_path / "given" / "report.json").read_text())
    found_report = json.loads((tmp_path / "found" / "report.json").read_text())
    assert found_report["summary"]["mean_score"] > given_report["summary"]["mean_score"] - 0.03
    for frame in found_report["frames"]:
        person = frame["people"][0]
        assert abs(abs(person["rotation_deg"]) - 180.0) < 60.0 and person["fallback"] is None  # turned back upright
    calibrated = read_image(tmp_path / "found" / "calibrated" / "00000.png")
    assert calibrated.shape == (512, 512, 3) and calibrated.any()


def test_without_reference_hints_a_photo_without_people_is_one_sentence(inputs, tmp_path):
    import skimage.data

    write_png(tmp_path / "coffee.png", skimage.data.coffee())
    result = run(
        "calibrate", "--reference", str(tmp_path / "coffee.png"), "--poses", str(inputs / "poses.json"), "--out", str(tmp_path / "out")
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tpc: error: reference image ") and "no person was found" in lines[0]
    assert not (tmp_path / "out" / "calibrated" / "00000.png").exists()


def test_reference_keypoints_without_a_mask_get_one_from_segmentation(inputs, tmp_path):
    args = calibrate_args(inputs, tmp_path / "out", "--target-masks", str(inputs / "masks"), "--quiet")
    mask_flag = args.index("--reference-mask")
    del args[mask_flag : mask_flag + 2]
    result = run(*args)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["summary"]["mean_score"] > 0.8


def test_demo_runs_the_bundled_example(tmp_path):
    result = run("demo", "--out", str(tmp_path / "demo"), "--quiet")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert report["summary"]["frames"] == 48 and report["summary"]["mean_score"] > 0.5
    assert len(list((tmp_path / "demo").glob("0*.png"))) == 48  # preview frames from the local backend


def test_openpose_folders_and_coco_files_are_read_as_tpc_pose_reads_them(inputs, tmp_path):
    from tests.support.pose_files import coco_keypoints, openpose_frames

    poses = PoseSequence.load(inputs / "poses.json")
    (tmp_path / "openpose").mkdir()
    for name, data in openpose_frames(poses, "body25"):
        (tmp_path / "openpose" / name).write_bytes(data)
    (tmp_path / "coco.json").write_bytes(coco_keypoints(poses))
    ours = run(*calibrate_args(inputs, tmp_path / "from_poses", "--quiet"))
    folder = calibrate_args(inputs, tmp_path / "from_openpose", "--quiet", "--width", "512", "--height", "512", "--fps", "24")
    folder[folder.index("--poses") + 1] = str(tmp_path / "openpose")
    coco = calibrate_args(inputs, tmp_path / "from_coco", "--quiet")
    coco[coco.index("--poses") + 1] = str(tmp_path / "coco.json")
    for result in (ours, run(*folder), run(*coco)):
        assert result.returncode == 0 and result.stderr == "", result.stderr
    expected = json.loads((tmp_path / "from_poses" / "report.json").read_text())["frames"]
    from_openpose = json.loads((tmp_path / "from_openpose" / "report.json").read_text())["frames"]
    np.testing.assert_allclose([f["people"][0]["matrix"] for f in from_openpose], [f["people"][0]["matrix"] for f in expected])
    assert len(json.loads((tmp_path / "from_coco" / "report.json").read_text())["frames"]) == 12
