"""The optional estimators: SAM through a tiny random-weight checkpoint on the user's loading path,
MMPose's install sentence, and the registry's sentences."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from tpc import keypoints as kp
from tpc_backend.errors import UserError
from tpc_backend.perception import Detection, EstimatorSettings, detect_people, mask_estimator, pose_estimator
from tpc_backend.perception.sam_estimator import (
    KNOWN_ARCHITECTURES,
    SamArchitecture,
    build_prompt,
    choose_mask,
    keypoint_agreement,
    load_sam,
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


def test_prompt_is_built_from_keypoints_box_and_the_other_people(astronaut):
    _, person, mask = astronaut
    other = person.copy()
    other[:, 0] += 300
    coords, labels, box = build_prompt(Detection(person, mask.astype(np.float32)), [Detection(other)], (512, 512))
    positive, negative = coords[labels == 1], coords[labels == 0]
    assert len(positive) >= 3 and len(negative) == len(positive)
    face = person[list(kp.BODY_PARTS["face"]), :2].mean(axis=0)
    assert np.allclose(positive[0], face)  # the face's centre comes first
    assert np.allclose(negative[0], face + (300, 0))
    x0, y0, x1, y1 = box
    seen = kp.visible(person)
    assert (person[seen, 0] >= x0).all() and (person[seen, 0] <= x1).all() and y1 <= 512
    wrists = person[[kp.LEFT_WRIST, kp.RIGHT_WRIST], :2]
    assert not any(np.allclose(point, wrist) for point in positive for wrist in wrists)  # edges pull in background


def test_mask_choice_weighs_sam_score_and_keypoint_agreement(astronaut):
    _, person, mask = astronaut
    head_only = np.zeros_like(mask)
    head_only[60:180, 160:290] = True
    whole_frame = np.ones_like(mask)
    other = person.copy()
    other[:, 0] = np.clip(other[:, 0] + 250, 0, 511)
    assert keypoint_agreement(mask, person, []) > 0.9
    assert keypoint_agreement(whole_frame, person, [other]) <= 0.0  # swallows someone else
    candidates = np.stack([head_only, mask, whole_frame])
    # The head alone scores best by SAM, but misses the shoulders and arms; the whole frame covers
    # the other person too: the body mask wins.
    assert choose_mask(candidates, np.array([0.95, 0.85, 0.9]), person, [other]) == 1
    # Alone, with no keypoints to tell them apart, SAM's own score decides.
    nobody = kp.empty_person()
    assert choose_mask(candidates, np.array([0.95, 0.85, 0.9]), nobody, []) == 0


def test_sam_path_runs_end_to_end_with_tiny_weights_and_maps_back(tiny_sam_checkpoint, astronaut):
    image, fixture, _ = astronaut
    settings = EstimatorSettings(sam_checkpoint=str(tiny_sam_checkpoint))
    # A sideways, non-square photo: the person is found through an upright view, SAM sees the photo
    # as given, and keypoints and mask come back in the photo's own pixels.
    view = View.whole((512, 448), 1)
    turned = view.render(image[:448])  # (W, H) = (448, 512) after the turn
    (keypoints, mask), = detect_people(turned, mask="sam", settings=settings)
    assert mask.shape == turned.shape[:2] and mask.dtype == bool
    expected = view.points_to_view(fixture)
    face = list(kp.BODY_PARTS["face"])
    assert kp.visible(keypoints)[face].all() and np.abs(keypoints[face, :2] - expected[face, :2]).max() < 6.0


def test_sam_segments_each_given_person_with_its_own_prompt(tiny_sam_checkpoint, astronaut):
    image, person, _ = astronaut
    estimator = mask_estimator("sam", EstimatorSettings(sam_checkpoint=str(tiny_sam_checkpoint)))
    assert estimator is mask_estimator("sam", EstimatorSettings(sam_checkpoint=str(tiny_sam_checkpoint)))  # shared
    other = person.copy()
    other[:, 0] = 511 - other[:, 0]
    masks = estimator.segment(image, [Detection(person), Detection(other), Detection(kp.empty_person())])
    assert len(masks) == 3 and all(m.shape == (512, 512) for m in masks)
    assert not masks[2].any()  # nothing to prompt with: nothing cut out


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
