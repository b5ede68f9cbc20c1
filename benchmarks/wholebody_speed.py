"""What do hands and faces cost? Pose extraction per photo and per video frame, whole-body vs body-only.

Whole-body extraction runs MediaPipe Holistic (BlazePose + hand and face landmark models, bundled)
where body-only runs BlazePose alone; everything else (the people search, masks, smoothing) is the
same. For each packaged photo (tests/support/photos.py) the script times the pose model alone and the
whole `tpc pose PHOTO` search (median of --repeats, after a warm-up); for a driving video made from
the astronaut (tests/support/driving_video.py) at 512x512 and 1280x720, the whole `tpc pose VIDEO`
extraction (decode, search, masks, One-Euro smoothing of body, hands and face), per frame (the
faster of --video-runs). The two modes take turns, so a machine busy with other work slows both alike.

    .venv/bin/python -m benchmarks.wholebody_speed [--frames 48] [--repeats 15] [--video-runs 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("GLOG_minloglevel", "2")

from tests.support.driving_video import encode_video, make_driving_video
from tests.support.photos import PHOTOS, load_image
from tpc_backend.perception import EstimatorSettings, PeopleDetector, mask_estimator, pose_estimator
from tpc_backend.perception.video import extract_video_poses

MODES = {"body-only": False, "whole-body": True}


def median_ms(works: dict[str, object], repeats: int) -> dict[str, float]:
    """Each work's median time in ms, the works taking turns (after one warm-up call each)."""
    times: dict[str, list[float]] = {mode: [] for mode in works}
    for round_ in range(repeats + 1):
        for mode, work in works.items():
            started = time.perf_counter()
            work()
            if round_:
                times[mode].append(time.perf_counter() - started)
    return {mode: 1000.0 * statistics.median(values) for mode, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=48, help="frames per video (default 48)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per photo (default 15; the median is printed)")
    parser.add_argument("--video-runs", type=int, default=2, help="extractions per video and mode (default 2; the fastest is printed)")
    args = parser.parse_args()
    estimators = {mode: pose_estimator("mediapipe", EstimatorSettings(whole_body=whole)) for mode, whole in MODES.items()}
    masks = mask_estimator("mediapipe")
    print(f"pose extraction on {platform.processor() or platform.machine()}, {os.cpu_count()} CPU threads (ms; whole-body / body-only)")
    print(f"  {'photo':14s} {'size':>9s} {'model':>19s} {'tpc pose PHOTO':>22s}")
    for name in PHOTOS:
        image = load_image(name)
        model = median_ms(
            {mode: (lambda e=estimator, image=image: e.detect(image)) for mode, estimator in estimators.items()}, args.repeats
        )
        detectors = {mode: PeopleDetector(estimator, masks) for mode, estimator in estimators.items()}
        search = median_ms(
            {mode: (lambda d=detector, image=image: d.detect(image, 1)) for mode, detector in detectors.items()}, args.repeats
        )
        print(f"  {name:14s} {image.shape[1]:4d}x{image.shape[0]:<4d} {_pair(model):>19s} {_pair(search):>22s}")
    print(f"  {'video':14s} {'frames':>9s} {'tpc pose VIDEO, per frame':>42s}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for size in ((512, 512), (1280, 720)):
            video = make_driving_video("astronaut", frames=args.frames, size=size)
            path = encode_video(folder / f"drive_{size[0]}x{size[1]}.mp4", video.frames, video.fps)
            per_frame = {mode: float("inf") for mode in estimators}
            for _ in range(args.video_runs):
                for mode, estimator in estimators.items():
                    started = time.perf_counter()
                    result = extract_video_poses(path, PeopleDetector(estimator, masks), masks_dir=folder / "masks")
                    per_frame[mode] = min(per_frame[mode], 1000.0 * (time.perf_counter() - started) / len(result.poses))
            print(f"  {size[0]:4d}x{size[1]:<9d} {args.frames:>9d} {_pair(per_frame):>42s}")
    print("model: the pose estimator alone on the photo; tpc pose PHOTO: the people search with second looks and the mask")


def _pair(values: dict[str, float]) -> str:
    whole, body = values["whole-body"], values["body-only"]
    return f"{whole:6.1f} / {body:6.1f} ({whole / body:.2f}x)"


if __name__ == "__main__":
    main()
