"""How long does pose extraction from a driving video take per frame on this machine?

A driving video is made from a packaged photo (tests/support/driving_video.py) at 512x512 and at
1280x720, encoded with PyAV (mpeg4), and run through the same extraction as `tpc pose VIDEO`
(decode, people search, masks written as PNG, One-Euro smoothing). The script prints milliseconds
per frame for decoding alone, for the pose model alone (MediaPipe's full BlazePose, the one bundled),
and for the whole extraction with one person or up to two (then a second person is looked for in
every frame, in the whole frame only: videos retry turns and tiles only while nobody is found).

    .venv/bin/python -m benchmarks.video_pose_speed [--frames 48]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

from tests.support.driving_video import encode_video, make_driving_video
from tpc_backend.perception import PeopleDetector, mask_estimator, pose_estimator
from tpc_backend.perception.video import VideoReader, extract_video_poses


def per_frame_ms(seconds: float, frames: int) -> float:
    return 1000.0 * seconds / max(1, frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=48, help="frames per video (default 48)")
    args = parser.parse_args()
    print(
        f"video pose extraction on {platform.processor() or platform.machine()}, {os.cpu_count()} CPU threads, {args.frames} frames per video"
    )
    print(f"  {'video':10s} {'people':>6s} {'decode':>8s} {'pose':>8s} {'extract':>8s}   (ms per frame)")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for size in ((512, 512), (1280, 720)):
            video = make_driving_video("astronaut", frames=args.frames, size=size)
            path = encode_video(folder / f"drive_{size[0]}x{size[1]}.mp4", video.frames, video.fps)
            started = time.perf_counter()
            with VideoReader(path) as reader:
                frames = [image for _, image in reader]
            decode = per_frame_ms(time.perf_counter() - started, len(frames))
            pose = pose_estimator("mediapipe")
            pose.detect(frames[0])  # warm up
            started = time.perf_counter()
            for image in frames:
                pose.detect(image)
            model_ms = per_frame_ms(time.perf_counter() - started, len(frames))
            for people in (1, 2):
                detector = PeopleDetector(pose, mask_estimator("mediapipe"))
                started = time.perf_counter()
                result = extract_video_poses(path, detector, max_people=people, masks_dir=folder / "masks")
                total = per_frame_ms(time.perf_counter() - started, len(result.poses))
                label = f"{size[0]}x{size[1]}"
                print(f"  {label:10s} {people:6d} {decode:8.1f} {model_ms:8.1f} {total:8.1f}")
    print(
        "decode: PyAV decoding to RGB; pose: the pose model alone on decoded frames; extract: the whole "
        "`tpc pose VIDEO --masks DIR` path (decode, search with second looks, masks cleaned and written, smoothing)"
    )


if __name__ == "__main__":
    main()
