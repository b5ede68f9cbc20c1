"""The optional estimators: SAM through a tiny random-weight checkpoint on the user's loading path,
MMPose's install sentence, and the registry's sentences."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest
import torch

from tpc import keypoints as kp
from tpc_backend.errors import UserError
from tpc_backend.perception import Detection, EstimatorSettings, detect_people, mask_estimator, pose_estimator
from tpc_backend.perception.mask_cleanup import clean_masks
from tpc_backend.perception.sam_estimator import (
    KNOWN_ARCHITECTURES,
    SamArchitecture,
    choose_mask,
    keypoint_agreement,
    load_sam,
    person_prompts,
    prompt_points,
)
from tpc_backend.perception.views import View

TINY = SamArchitecture(embed_dim=32, depth=2, num_heads=2, global_attn_indexes=(1,))


@pytest.fixture(scope="module")
def tiny_sam_checkpoint(tmp_path_factory):
    """A SAM built by segment_anything's own builder with a tiny encoder, saved as users' .pth files are."""
    from segment_anything.build_sam import _build_sam

    torch.manual_seed(0)
    model = _build_sam(
        encoder_embed_dim=TINY.embed_dim,
        encoder_depth=TINY.depth,
        encoder_num_heads=TINY.num_heads,
        encoder_global_attn_indexes=list(TINY.global_attn_indexes),
    )
    path = tmp_path_factory.mktemp("sam") / "sam_tiny.pth"
    torch.save(model.state_dict(), path)
    return path


def test_sam_checkpoint_loads_with_its_architecture_read_from_the_weights(tiny_sam_checkpoint):
    model = load_sam(tiny_sam_checkpoint)
    encoder = model.image_encoder
    assert encoder.patch_embed.proj.out_channels == TINY.embed_dim and len(encoder.blocks) == TINY.depth
    assert encoder.blocks[0].attn.num_heads == TINY.num_heads
    assert [b.window_size for b in encoder.blocks] == [14, 0]  # block 1 attends globally
    saved = torch.load(tiny_sam_checkpoint, weights_only=True)
    assert all(torch.equal(saved[name], value) for name, value in model.state_dict().items())
    assert not model.training


def test_sam_loader_sentences(tiny_sam_checkpoint, tmp_path):
    with pytest.raises(UserError, match="holds a custom size, not vit_b"):
        load_sam(tiny_sam_checkpoint, "vit_b")
    with pytest.raises(UserError, match="unknown SAM model type 'vit_x'; choose vit_b, vit_l, vit_h"):
        load_sam(tiny_sam_checkpoint, "vit_x")
    with pytest.raises(UserError, match="does not exist") as missing:
        load_sam(tmp_path / "nope.pth")
    assert missing.value.code == "missing_checkpoint"
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(UserError, match="cannot be read as a PyTorch checkpoint"):
        load_sam(tmp_path / "text.pth")
    torch.save({"weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="is not a segment-anything"):
        load_sam(tmp_path / "other.pth")
    state = torch.load(tiny_sam_checkpoint, weights_only=True)
    del state["mask_decoder.iou_token.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(UserError, match="does not fit the SAM model"):
        load_sam(tmp_path / "broken.pth")
    assert KNOWN_ARCHITECTURES["vit_b"] == SamArchitecture(768, 12, 12, (2, 5, 8, 11))


def test_sam_estimator_needs_a_checkpoint():
    with pytest.raises(UserError, match="needs a SAM checkpoint on this machine: pass --sam-checkpoint") as error:
        mask_estimator("sam", EstimatorSettings())
    assert error.value.code == "missing_checkpoint"


@pytest.fixture(scope="module")
def pair(astronaut):
    """A 1024x512 photo of the astronaut (left) and her mirror image (right), with both people."""
    image, person, mask = astronaut
    mirrored = person.copy()
    mirrored[:, 0] = 1023 - person[:, 0]
    people = [
        Detection(person, np.pad(mask, ((0, 0), (0, 512))).astype(np.float32)),
        Detection(mirrored),
    ]
    return np.concatenate([image, image[:, ::-1]], axis=1), people


def test_each_persons_prompt_comes_from_their_own_keypoints_and_box(pair):
    _, (left, right) = pair
    nobody = Detection(kp.empty_person())
    prompts = person_prompts([left, right, nobody], (1024, 512))
    assert prompts[2] is None  # nothing says where this person is: SAM is not asked
    for prompt, me, other in ((prompts[0], left, right), (prompts[1], right, left)):
        positive, negative = prompt.coords[prompt.labels == 1], prompt.coords[prompt.labels == 0]
        assert np.array_equal(positive, prompt_points(me.keypoints))
        assert np.array_equal(negative, prompt_points(other.keypoints))
        assert (prompt.labels[: len(positive)] == 1).all()  # own points first
        x0, y0, x1, y1 = prompt.box
        seen = me.keypoints[kp.visible(me.keypoints)]
        assert (seen[:, 0] >= x0).all() and (seen[:, 0] <= x1).all() and (seen[:, 1] >= y0).all() and (seen[:, 1] <= y1).all()
        assert 0 <= x0 and x1 <= 1024 and 0 <= y0 and y1 <= 512
        elsewhere = other.keypoints[kp.visible(other.keypoints)]
        assert not ((elsewhere[:, 0] >= x0) & (elsewhere[:, 0] <= x1)).any()  # the boxes stay apart
    # The face's centre comes first; wrists lie on the body's edge and would pull background in.
    face = left.keypoints[list(kp.BODY_PARTS["face"]), :2].mean(axis=0)
    assert np.allclose(prompts[0].coords[0], face)
    wrists = left.keypoints[[kp.LEFT_WRIST, kp.RIGHT_WRIST], :2]
    assert not any(np.allclose(point, wrist) for point in prompts[0].coords for wrist in wrists)
    # The pose model's own mask widens the box to all of it.
    rows, cols = np.nonzero(left.mask >= 0.5)
    assert prompts[0].box[1] <= rows.min() and prompts[0].box[3] >= rows.max() + 1


def test_mask_choice_weighs_sam_score_and_keypoint_agreement(astronaut):
    _, person, mask = astronaut
    seen = kp.visible(person)
    background = np.zeros_like(mask)
    background[0:40, 400:512] = True  # a patch of sky: no keypoint of the person
    head_only = np.zeros_like(mask)
    head_only[60:180, 160:290] = True
    whole_frame = np.ones_like(mask)
    other = person.copy()
    other[:, 0] = np.clip(other[:, 0] + 250, 0, 511)
    assert keypoint_agreement(background, person, []) == 0.0
    assert keypoint_agreement(mask, person, []) > 0.9
    assert keypoint_agreement(whole_frame, person, [other]) <= 0.0  # swallows someone else
    # SAM likes the patch of sky best, but it holds none of the person's keypoints: the body wins.
    candidates = np.stack([background, mask, whole_frame])
    assert choose_mask(candidates, np.array([0.99, 0.8, 0.9]), person, [other]) == 1
    # The head alone scores best by SAM but misses the shoulders and arms.
    candidates = np.stack([head_only, mask, whole_frame])
    assert choose_mask(candidates, np.array([0.95, 0.85, 0.9]), person, [other]) == 1
    # The score still counts: of two masks holding every keypoint, SAM's favourite wins, and a
    # mask missing one keypoint in ten beats a complete one SAM barely believes.
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    assert keypoint_agreement(mask, person, []) == keypoint_agreement(grown, person, []) == 1.0
    assert choose_mask(np.stack([mask, grown]), np.array([0.7, 0.9]), person, []) == 1
    one_missing = grown.copy()
    x, y = np.rint(person[np.flatnonzero(seen)[0], :2]).astype(int)
    one_missing[y - 10 : y + 11, x - 10 : x + 11] = False
    agreement = keypoint_agreement(one_missing, person, [])
    assert 0.8 < agreement < 1.0
    assert choose_mask(np.stack([grown, one_missing]), np.array([0.1, 0.9]), person, []) == 1
    # Alone, with no keypoints to tell them apart, SAM's own score decides.
    nobody = kp.empty_person()
    assert choose_mask(np.stack([head_only, mask, whole_frame]), np.array([0.95, 0.85, 0.9]), nobody, []) == 0


def test_sam_path_runs_end_to_end_with_tiny_weights_and_maps_back(tiny_sam_checkpoint, astronaut):
    image, fixture, _ = astronaut
    settings = EstimatorSettings(sam_checkpoint=str(tiny_sam_checkpoint))
    # A sideways, non-square photo: the person is found through an upright view, SAM sees the photo
    # as given, and keypoints and mask come back in the photo's own pixels.
    view = View.whole((512, 448), 1)
    turned = view.render(image[:448])  # (W, H) = (448, 512) after the turn
    ((keypoints, mask),) = detect_people(turned, mask="sam", settings=settings)
    assert mask.shape == turned.shape[:2] and mask.dtype == bool
    expected = view.points_to_view(fixture)
    face = list(kp.BODY_PARTS["face"])
    assert kp.visible(keypoints)[face].all() and np.abs(keypoints[face, :2] - expected[face, :2]).max() < 6.0


def test_sam_cuts_each_person_to_one_piece_inside_their_own_box(tiny_sam_checkpoint, pair):
    image, people = pair
    estimator = mask_estimator("sam", EstimatorSettings(sam_checkpoint=str(tiny_sam_checkpoint)))
    assert estimator is mask_estimator("sam", EstimatorSettings(sam_checkpoint=str(tiny_sam_checkpoint)))  # shared
    soft = estimator.segment(image, [*people, Detection(kp.empty_person())])
    assert len(soft) == 3 and all(m.shape == (512, 1024) and m.dtype == np.float32 for m in soft)
    assert not soft[2].any()  # nothing to prompt with: nothing cut out
    prompts = person_prompts(people, (1024, 512))
    clean = clean_masks(soft[:2], [p.keypoints for p in people])
    for raw, mask, prompt in zip(soft[:2], clean, prompts):
        x0, y0, x1, y1 = prompt.box
        outside = np.ones((512, 1024), dtype=bool)
        outside[int(np.floor(y0)) : int(np.ceil(y1)), int(np.floor(x0)) : int(np.ceil(x1))] = False
        assert raw.any() and not raw[outside].any()  # random weights leak everywhere; the box holds them
        assert mask.dtype == bool and mask.any() and not mask[outside].any()
        assert cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] == 2  # background + one piece
    assert not (clean[0] & clean[1]).any()


@pytest.mark.skipif(importlib.util.find_spec("mmpose") is not None, reason="MMPose is installed here")
def test_mmpose_without_the_package_says_how_to_install_it(tmp_path):
    config, weights = tmp_path / "rtmpose.py", tmp_path / "rtmpose.pth"
    config.write_text("model = dict()")
    weights.write_bytes(b"")
    settings = EstimatorSettings(mmpose_config=str(config), mmpose_checkpoint=str(weights))
    with pytest.raises(UserError) as error:
        pose_estimator("mmpose", settings)
    assert error.value.code == "missing_package"
    message = str(error.value)
    assert "mim install" in message and "mmpose" in message and "--mmpose-config" in message and "\n" not in message
