"""``tpc calibrate``: warp a reference photo onto every target pose (the paper's Eq. 4)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from tpc.calibration import CalibrationConfig

from ..errors import UserError
from ..reference import MAX_REFERENCE_PEOPLE, busiest_frame
from .pose_arguments import add_pose_file_arguments, canvas_of
from .progress import ProgressBar


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "calibrate",
        help="warp a reference photo onto every target pose (calibrated images, masks, report)",
        description="Warp the reference person onto every target pose with the optimal keypoint subset "
        "(TPC, Eq. 4); frames are calibrated as a sequence, so the person does not jump between frames. "
        "Writes OUT/calibrated/00000.png..., OUT/calibrated_mask/..., OUT/report.json and OUT/report.png.",
    )
    parser.add_argument("--reference", required=True, metavar="REF.png", help="photo of the person to animate")
    parser.add_argument(
        "--poses", required=True, metavar="POSES",
        help="target poses: a PoseSequence JSON, an OpenPose JSON file or folder, or a COCO keypoint JSON",
    )  # fmt: skip
    parser.add_argument("--out", required=True, metavar="OUT", help="output folder (created if needed)")
    parser.add_argument(
        "--reference-keypoints", metavar="KP.json",
        help="reference keypoints (PoseSequence, one frame; default: found with MediaPipe, as many people as the "
        f"busiest frame of the poses shows, at most {MAX_REFERENCE_PEOPLE})",
    )  # fmt: skip
    parser.add_argument(
        "--reference-mask", metavar="MASK.png",
        help="reference person mask (0 background, 255 person; default: found with MediaPipe)",
    )  # fmt: skip
    parser.add_argument("--target-masks", metavar="DIR", help="target person masks DIR/00000.png... (canvas size)")
    parser.add_argument(
        "--score-resolution", type=int, default=CalibrationConfig.score_resolution, metavar="N",
        help="long side of the grid subsets are scored on (default %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--independent", action="store_true",
        help="calibrate every frame on its own, as the paper does (default: as a sequence, each frame's transform "
        f"smoothed over up to {CalibrationConfig.look_back} frames before and {CalibrationConfig.look_ahead} after it "
        "in the same shot)",
    )  # fmt: skip
    add_pose_file_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..calibration_job import calibrate_to_folder, check_poses, load_reference, load_target_poses, target_mask_paths

    try:
        config = CalibrationConfig(score_resolution=args.score_resolution, independent=args.independent)
    except ValueError as error:
        raise UserError(f"--score-resolution: {error}") from None
    poses, _ = load_target_poses(args.poses, canvas_of(args), args.fps)
    check_poses(poses)
    masks = target_mask_paths(args.target_masks, len(poses), poses.size) if args.target_masks else None
    reference = load_reference(args.reference, args.reference_keypoints, args.reference_mask, people=busiest_frame(poses))
    progress = None if args.quiet else ProgressBar("calibrate")
    # Frames run in parallel already (PNG writer threads beside the search); OpenCV's own thread pool
    # would only compete with them: measured 1.5 ms less CPU per 512x512 frame with it off.
    cv2.setNumThreads(1)
    report = calibrate_to_folder(reference, poses, args.out, masks, config, progress)
    if not args.quiet:
        summary = report["summary"]
        fallbacks = ", ".join(f"{n} x{c}" for n, c in summary["fallbacks"].items()) or "none"
        own = "" if args.independent else f" (each frame's own best {summary['mean_candidate_score']:.3f})"
        print(
            f"calibrated {summary['frames']} frames into {args.out}: mean IoU {summary['mean_score']:.3f}{own}, "
            f"lowest {summary['min_score']:.3f}, fallbacks: {fallbacks}; see {Path(args.out) / 'report.png'}",
            file=sys.stderr,
        )
    return 0
