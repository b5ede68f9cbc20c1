"""``tpc pose``: keypoints (and person masks) from a photo, a driving video or someone else's pose files."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tpc_protocol.errors import ErrorCode

from ..errors import UserError
from .pose_arguments import add_pose_file_arguments, canvas_of
from .progress import ProgressBar

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "pose",
        help="find people's keypoints, hands, faces and masks in a photo or video, or convert OpenPose/COCO pose files",
        description="Write a PoseSequence (COCO-17 body, with both hands and a 68-point face per person) for INPUT: "
        "a photo (one frame), a driving video (mp4, mov, webm...; one frame per video frame), or pose files to "
        "convert (OpenPose JSON, a folder of them, COCO or COCO-WholeBody keypoints). Photos and videos also give "
        "person masks with --masks. Runs offline on the CPU with MediaPipe; --estimator mmpose and --mask-estimator "
        "sam use your own model files (body only).",
    )
    parser.add_argument("input", metavar="INPUT", help="photo, video, pose file or folder of OpenPose files")
    parser.add_argument("--out", required=True, metavar="POSES.json", help="where to write the PoseSequence")
    parser.add_argument("--openpose", metavar="DIR", help="also write the poses as OpenPose JSON, one file per frame, into DIR")
    parser.add_argument(
        "--masks", metavar="DIR", help="write person masks DIR/00000.png... (one per frame; all people of a frame together)"
    )
    parser.add_argument("--estimator", default="mediapipe", metavar="NAME", help="pose estimator: mediapipe (default) or mmpose")
    parser.add_argument("--mask-estimator", default="mediapipe", metavar="NAME", help="mask estimator: mediapipe (default) or sam")
    parser.add_argument("--max-people", type=int, default=1, metavar="N", help="find up to N people (default %(default)s)")
    parser.add_argument("--no-retries", action="store_true", help="do not look again turned and zoomed in when nobody is found")
    parser.add_argument("--no-smoothing", action="store_true", help="videos: keep the raw per-frame keypoints (no One-Euro filter)")
    parser.add_argument("--body-only", action="store_true", help="photos and videos: skip hands and faces (faster)")
    models = parser.add_argument_group("optional models (local files; nothing is downloaded)")
    models.add_argument("--sam-checkpoint", metavar="PATH", help="segment-anything checkpoint for --mask-estimator sam")
    models.add_argument("--sam-model-type", metavar="TYPE", help="vit_b, vit_l or vit_h (optional: read from the checkpoint)")
    models.add_argument("--mmpose-config", metavar="PATH", help="MMPose model config for --estimator mmpose")
    models.add_argument("--mmpose-checkpoint", metavar="PATH", help="MMPose model weights for --estimator mmpose")
    models.add_argument("--mmpose-detector-config", metavar="PATH", help="MMDetection person detector config (optional)")
    models.add_argument("--mmpose-detector-checkpoint", metavar="PATH", help="MMDetection person detector weights (optional)")
    models.add_argument("--device", metavar="DEVICE", help="torch device for optional models (default: cuda when present, else cpu)")
    add_pose_file_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    source = Path(args.input)
    if not source.exists():
        raise UserError(f"input {source} does not exist", ErrorCode.NOT_FOUND)
    if args.max_people < 1:
        raise UserError(f"--max-people must be at least 1, got {args.max_people}")
    kind = _kind(source)
    if kind == "poses":
        if args.masks:
            raise UserError("--masks needs a photo or a video; pose files have no pixels to cut people from")
        return _convert(source, args)
    from ..perception import EstimatorSettings, PeopleDetector, mask_estimator, pose_estimator

    settings = EstimatorSettings(
        sam_checkpoint=args.sam_checkpoint,
        sam_model_type=args.sam_model_type,
        mmpose_config=args.mmpose_config,
        mmpose_checkpoint=args.mmpose_checkpoint,
        mmpose_detector_config=args.mmpose_detector_config,
        mmpose_detector_checkpoint=args.mmpose_detector_checkpoint,
        device=args.device,
        whole_body=not args.body_only,
    )
    detector = PeopleDetector(
        pose_estimator(args.estimator, settings), mask_estimator(args.mask_estimator, settings), retries=not args.no_retries
    )
    if kind == "video":
        return _video(source, detector, args)
    return _image(source, detector, args)


def _kind(source: Path) -> str:
    from ..perception.video import VIDEO_SUFFIXES

    suffix = source.suffix.lower()
    if source.is_dir() or suffix == ".json":
        return "poses"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    raise UserError(
        f"input {source} is not a photo ({', '.join(IMAGE_SUFFIXES)}), a video ({', '.join(VIDEO_SUFFIXES)}) "
        "or pose files (.json, or a folder of them)"
    )


def _save(poses, args: argparse.Namespace) -> None:
    from tpc.files import write_atomic
    from tpc.pose_io import write_openpose
    from tpc.pose_sequence import PoseFormatError

    try:
        write_atomic(args.out, json.dumps(poses.to_json()).encode())
    except OSError as error:
        raise UserError(f"cannot write {args.out} ({error.strerror})", ErrorCode.IO_ERROR) from None
    if args.openpose:
        try:
            write_openpose(poses, args.openpose)
        except PoseFormatError as error:
            raise UserError(str(error), ErrorCode.IO_ERROR) from None


def _image(source: Path, detector, args: argparse.Namespace) -> int:
    from tpc.image_io import ImageReadError, read_image, write_png
    from tpc.pose_sequence import MAX_CANVAS, PoseSequence
    from tpc.wholebody import BODY_ONLY

    from ..perception import NO_PERSON

    try:
        image = read_image(source, what="photo")
    except ImageReadError as error:
        raise UserError(str(error)) from None
    height, width = image.shape[:2]
    if max(width, height) > MAX_CANVAS:  # its PoseSequence could not be calibrated against
        raise UserError(f"photo {source} is {width}x{height}; at most {MAX_CANVAS} pixels a side are supported, scale it down first")
    people = detector.detect(image, args.max_people)
    if not people:
        raise UserError(f"photo {source}: {NO_PERSON}", ErrorCode.NO_PERSON)
    parts = [[person.hands_face or BODY_ONLY for person in people]]
    poses = PoseSequence(width, height, 30.0, [[person.keypoints for person in people]], parts)
    _save(poses, args)
    if args.masks:
        union = people[0].mask.copy()
        for person in people[1:]:
            union |= person.mask
        try:
            write_png(Path(args.masks) / "00000.png", union)
        except OSError as error:
            raise UserError(f"cannot write the mask into {args.masks} ({error.strerror})", ErrorCode.IO_ERROR) from None
    if not args.quiet:
        masks = f", mask in {Path(args.masks) / '00000.png'}" if args.masks else ""
        print(
            f"found {len(people)} {'person' if len(people) == 1 else 'people'} in {source}{_parts_found(poses)}: "
            f"keypoints in {args.out}{masks}",
            file=sys.stderr,
        )
    return 0


def _video(source: Path, detector, args: argparse.Namespace) -> int:
    from ..perception.smoothing import OneEuroSettings
    from ..perception.video import extract_video_poses

    started = time.perf_counter()
    result = extract_video_poses(
        source,
        detector,
        max_people=args.max_people,
        smoothing=None if args.no_smoothing else OneEuroSettings(),
        masks_dir=args.masks,
        progress=None if args.quiet else ProgressBar("pose"),
    )
    _save(result.poses, args)
    if result.warning:
        print(f"tpc: warning: {result.warning}", file=sys.stderr)
    if not args.quiet:
        frames = len(result.poses)
        with_people = sum(1 for people in result.poses.frames if people)
        per_frame = 1000 * (time.perf_counter() - started) / max(1, frames)
        print(
            f"{source}: {frames} frames ({with_people} with people{_parts_found(result.poses)}), {per_frame:.0f} ms per frame; "
            f"keypoints in {args.out}" + (f", masks in {args.masks}" if args.masks else ""),
            file=sys.stderr,
        )
    return 0


def _convert(source: Path, args: argparse.Namespace) -> int:
    from tpc.pose_io import load_pose_source
    from tpc.pose_sequence import PoseFormatError

    try:
        poses = load_pose_source(source, canvas=canvas_of(args), fps=args.fps)
    except PoseFormatError as error:
        raise UserError(str(error)) from None
    _save(poses, args)
    if not args.quiet:
        people = sum(len(frame) for frame in poses.frames)
        print(
            f"converted {source}: {len(poses)} frames, {people} people in all{_parts_found(poses)}, "
            f"{poses.width}x{poses.height}; wrote {args.out}",
            file=sys.stderr,
        )
    return 0


def _parts_found(poses) -> str:
    """ ", 2 hands and 1 face seen": what the poses show beside the bodies (nothing when body only)."""
    if not poses.has_hands_face:
        return ""
    from tpc.keypoints import visible

    extras = [extra for index in range(len(poses)) for extra in poses.hands_face_of(index)]
    hands = sum(1 for extra in extras for hand in extra.hands if hand is not None and visible(hand).any())
    faces = sum(1 for extra in extras if extra.face is not None and visible(extra.face).any())
    return f", {hands} {'hand' if hands == 1 else 'hands'} and {faces} {'face' if faces == 1 else 'faces'} seen"
