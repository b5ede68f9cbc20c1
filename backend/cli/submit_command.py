"""``tpc submit``: send a job to a backend, show its progress, and write its frames and report.

The pose files are sent as they are (a PoseSequence, OpenPose frames, a COCO keypoint file), after
being read here once so that a problem is reported before anything is sent; the backend converts
them the same way (tpc.pose_io).

Frames land in OUT/00000.png ... as they arrive, each written atomically, and OUT/.tpc-job records
which job the folder belongs to. Running the same command again (same job id; by default the id is
a fingerprint of the inputs and settings) attaches to the job and asks only for the frames OUT does
not have yet, so nothing is computed or transferred twice: after a dropped connection, a Ctrl-C,
or a backend restart.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from tpc.files import write_atomic
from tpc_protocol.errors import ErrorCode

from ..errors import UserError
from .backend_client import add_backend_arguments, connect
from .pose_arguments import add_pose_file_arguments, canvas_of
from .progress import ProgressBar

FRAME_NAME = "{:05d}.png"
MARKER = ".tpc-job"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "submit",
        help="render a job on a backend and write its frames and calibration report",
        description="Submit a job to a backend (tpc-backend serve), follow it, and write OUT/00000.png..., "
        "OUT/report.json and OUT/report.png. Run the same command again to resume: only missing frames "
        "are fetched, and nothing is computed twice.",
    )
    add_backend_arguments(parser)
    parser.add_argument("--reference", required=True, metavar="REF.png", help="photo of the person to animate")
    parser.add_argument(
        "--poses", required=True, metavar="POSES",
        help="target poses: a PoseSequence JSON, an OpenPose JSON file or folder, or a COCO keypoint JSON",
    )  # fmt: skip
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder for frames and report")
    parser.add_argument("--job-id", metavar="ID", help="job id (default: a fingerprint of the inputs and settings)")
    parser.add_argument("--engine", metavar="NAME", help="engine (default: the backend's)")
    parser.add_argument("--seed", type=int, metavar="N", help="random seed (default 0)")
    parser.add_argument("--groups", type=int, metavar="M", help="iterative propagation groups (default 30)")
    parser.add_argument("--steps", type=int, metavar="N", help="denoising steps (diffusion engines)")
    parser.add_argument("--guidance", type=float, metavar="G", help="guidance scale (diffusion engines)")
    parser.add_argument("--no-tpc", action="store_true", help="condition on the plain reference, without calibration")
    parser.add_argument(
        "--whole-banks", action="store_true",
        help="diffusion: attend to whole calibrated images, background included, instead of the person's tokens (slower)",
    )  # fmt: skip
    parser.add_argument(
        "--independent", action="store_true",
        help="calibrate every frame on its own, as the paper does (default: as a sequence, so the calibrated person "
        "does not jump between frames)",
    )  # fmt: skip
    parser.add_argument("--target-masks", metavar="DIR", help="target person masks DIR/00000.png... (canvas size)")
    parser.add_argument("--reference-keypoints", metavar="KP.json", help="reference keypoints (default: the backend detects them)")
    parser.add_argument("--reference-mask", metavar="MASK.png", help="reference person mask (default: the backend detects it)")
    add_pose_file_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    parser.set_defaults(handler=run)


@dataclass
class JobFiles:
    """A job's inputs as the client sends them: the pose files as they are, the rest as read."""

    reference_image: bytes
    pose_documents: list[tuple[str, bytes]]  # (file name, bytes) in frame order
    canvas: tuple[int, int] | None = None  # for pose files that do not state their size
    fps: float | None = None  # for pose files that do not state a frame rate
    reference_keypoints: dict | None = None
    reference_mask: bytes | None = None
    target_masks: list[bytes] | None = None

    @classmethod
    def read(
        cls,
        reference: str | Path,
        poses: str | Path,
        reference_keypoints: str | Path | None = None,
        reference_mask: str | Path | None = None,
        target_masks: str | Path | None = None,
        canvas: tuple[int, int] | None = None,
        fps: float | None = None,
    ) -> JobFiles:
        """Read and check the files (formats and sizes are checked again by the backend).

        ``poses`` is a PoseSequence file, an OpenPose JSON file or folder, or a COCO keypoint file;
        ``canvas`` and ``fps`` are for files that do not state them.
        """
        from ..calibration_job import load_target_poses, target_mask_paths

        sequence, documents = load_target_poses(poses, canvas, fps)
        if len(sequence) == 0:
            raise UserError(f"poses file {poses} has no frames; there is nothing to render")
        masks = None
        if target_masks is not None:
            masks = [_read_bytes(p, "target mask") for p in target_mask_paths(target_masks, len(sequence), sequence.size)]
        return cls(
            reference_image=_read_bytes(reference, "reference image"),
            pose_documents=documents,
            canvas=canvas,
            fps=fps,
            reference_keypoints=None if reference_keypoints is None else _pose_document(reference_keypoints, "reference keypoints"),
            reference_mask=None if reference_mask is None else _read_bytes(reference_mask, "reference mask"),
            target_masks=masks,
        )

    def fingerprint(self, settings: dict) -> str:
        """A job id that is the same whenever the inputs and settings are."""
        names = [name for name, _ in self.pose_documents]
        hasher = hashlib.sha256(json.dumps([names, self.canvas, self.fps, self.reference_keypoints, settings], sort_keys=True).encode())
        for data in (self.reference_image, self.reference_mask or b"", *(d for _, d in self.pose_documents), *(self.target_masks or [])):
            hasher.update(len(data).to_bytes(8, "little") + data)
        return f"job-{hasher.hexdigest()[:16]}"


@dataclass
class Outcome:
    job_id: str
    total: int
    already_there: int
    received: int
    report: dict | None


def run(args: argparse.Namespace) -> int:
    files = JobFiles.read(
        args.reference, args.poses, args.reference_keypoints, args.reference_mask, args.target_masks, canvas_of(args), args.fps
    )
    chosen = {"engine": args.engine, "seed": args.seed, "groups": args.groups, "steps": args.steps, "guidance": args.guidance}
    settings = {key: value for key, value in chosen.items() if value is not None}
    if args.no_tpc:
        settings["tpc"] = False
    if args.whole_banks:
        settings["person_tokens"] = False
    if args.independent:  # sent only when asked for, so backends older than the setting take the job
        settings["independent"] = True
    job_id = args.job_id or files.fingerprint(settings)
    out = Path(args.out)
    with connect(args) as client:
        try:
            outcome = submit_to_folder(client, job_id, files, settings, out, quiet=args.quiet)
        except KeyboardInterrupt:
            print(
                f"tpc: job {job_id} goes on on the backend; run the same command again to collect its frames "
                f"(tpc status --backend {args.backend} {job_id})",
                file=sys.stderr,
            )
            raise
    if not args.quiet:
        print(
            f"job {job_id}: {outcome.total} frames in {out} ({outcome.received} received now, "
            f"{outcome.already_there} were already there); report: {out / 'report.png'}",
            file=sys.stderr,
        )
    return 0


def submit_to_folder(
    client,
    job_id: str,
    files: JobFiles,
    settings: dict,
    out: Path,
    *,
    quiet: bool = False,
    fresh: bool = False,
) -> Outcome:
    """Submit (or re-attach to) a job and write what the backend streams into ``out``.

    Frames already in ``out`` from an earlier run of the same job are not asked for again, unless
    ``fresh``. Raises UserError for a folder that holds another job's frames.
    """
    from tpc_protocol.messages import Accepted, Frame, Report

    start = _prepare_output(out, job_id, fresh)
    try:
        events = client.submit(
            job_id, files.reference_image, None, settings, files.reference_keypoints, files.reference_mask,
            files.target_masks, start_frame=start, pose_documents=files.pose_documents, canvas=files.canvas, fps=files.fps,
        )  # fmt: skip
    except ValueError as error:
        raise UserError(str(error)) from None
    bar = None if quiet else ProgressBar("render")
    total = received = 0
    report = None
    for event in events:
        if isinstance(event, Accepted):  # only now is OUT this job's folder: a refused job leaves it as it was
            _write(out / MARKER, f"{job_id}\n".encode())
            total = event.total_frames
            if bar and start:
                bar(start, total)
        elif isinstance(event, Frame):
            _write(out / FRAME_NAME.format(event.index), event.png)
            received += 1
            if bar:
                bar(event.index + 1, total)
        elif isinstance(event, Report):
            _write(out / "report.json", event.report_json_bytes)
            _write(out / "report.png", event.report_png)
            report = event.report_json
    if bar and not received:
        bar(total, total)
    return Outcome(job_id, total, start, received, report)


def _prepare_output(out: Path, job_id: str, fresh: bool) -> int:
    """Check that ``out`` can be this job's folder and return the first frame it lacks (0 when ``fresh``)."""
    marker = out / MARKER
    if marker.is_file():
        owner = marker.read_text(encoding="utf-8").strip()
        if owner != job_id and not fresh:
            raise UserError(f"{out} holds frames of job {owner}; pass another --out, or --job-id {owner} to finish that job")
    elif (out / FRAME_NAME.format(0)).exists() and not fresh:
        raise UserError(f"{out} already holds frames that tpc submit did not write; pass an empty or new --out folder")
    if fresh:
        return 0
    start = 0
    while (out / FRAME_NAME.format(start)).is_file():
        start += 1
    return start


def _write(path: Path, data: bytes) -> None:
    try:
        write_atomic(path, data)
    except OSError as error:
        raise UserError(f"cannot write {path} ({error.strerror})", ErrorCode.IO_ERROR) from None


def _read_bytes(path: str | Path, what: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist", ErrorCode.NOT_FOUND)
    try:
        return path.read_bytes()
    except OSError as error:
        raise UserError(f"{what} {path} cannot be read ({error.strerror})") from None


def _pose_document(path: str | Path, what: str) -> dict:
    """A PoseSequence file's JSON document, checked first (one sentence for any problem)."""
    from ..calibration_job import load_poses

    load_poses(path, what)
    return json.loads(Path(path).read_text(encoding="utf-8"))
