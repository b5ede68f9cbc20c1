"""How long do a long mocap take's import and export keep Blender busy?

A BVH of a Mixamo-named skeleton with five four-bone fingers per hand (60 joints, centimetres, Y up)
and a long take of swinging limbs is written, imported with ``bpy.ops.tpc.import_motion`` (Blender's
BVH importer, then staging: unit, up, placement, framing) and exported through the camera as the job's
poses (body, hands and estimated face, no silhouettes) -- the main-thread work Animate does before a
job goes out. Timed in the bpy module, with the add-on installed from a freshly built zip.

    .venv/bin/python -m benchmarks.blender_mocap_export [--frames 1000]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="tpc-bench-blender-"))

import bpy  # noqa: E402

from .blender_export_speed import install_addon  # noqa: E402

FINGERS = ("Thumb", "Index", "Middle", "Ring", "Pinky")


def skeleton() -> list[tuple[str, str | None, tuple[float, float, float]]]:
    """(joint, parent, offset in cm) of a Mixamo-named skeleton with fingers: 60 joints."""
    joints = [("Hips", None, (0.0, 100.0, 0.0))]
    parent = "Hips"
    for name, height in (("Spine", 10.0), ("Spine1", 12.0), ("Spine2", 12.0), ("Neck", 15.0), ("Head", 8.0)):
        joints.append((name, parent, (0.0, height, 0.0)))
        parent = name
    for side, x in (("Left", 1.0), ("Right", -1.0)):
        joints += [
            (f"{side}Shoulder", "Spine2", (6 * x, 12.0, 0.0)), (f"{side}Arm", f"{side}Shoulder", (12 * x, 0.0, 0.0)),
            (f"{side}ForeArm", f"{side}Arm", (26 * x, 0.0, 0.0)), (f"{side}Hand", f"{side}ForeArm", (24 * x, 0.0, 0.0)),
        ]  # fmt: skip
        for number, finger in enumerate(FINGERS):
            previous = f"{side}Hand"
            for joint in range(1, 5):
                offset = (8 * x, 0.0, 4.0 - 2 * number) if joint == 1 else (2.5 * x, 0.0, 0.0)
                joints.append((f"{side}Hand{finger}{joint}", previous, offset))
                previous = f"{side}Hand{finger}{joint}"
        joints += [
            (f"{side}UpLeg", "Hips", (9 * x, -6.0, 0.0)), (f"{side}Leg", f"{side}UpLeg", (0.0, -45.0, 0.0)),
            (f"{side}Foot", f"{side}Leg", (0.0, -42.0, 0.0)),
        ]  # fmt: skip
    return joints


def write_bvh(path: Path, frames: int) -> int:
    joints = skeleton()
    children = {name: [j for j in joints if j[1] == name] for name, _, _ in joints}
    lines = ["HIERARCHY"]

    def write(name: str, offset, depth: int) -> None:
        pad = "  " * depth
        lines.extend([f"{pad}{'ROOT' if depth == 0 else 'JOINT'} {name}", f"{pad}{{", f"{pad}  OFFSET {offset[0]} {offset[1]} {offset[2]}"])
        lines.append(f"{pad}  CHANNELS " + ("6 Xposition Yposition Zposition " if depth == 0 else "3 ") + "Zrotation Xrotation Yrotation")
        for child, _, child_offset in children[name]:
            write(child, child_offset, depth + 1)
        if not children[name]:
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0 2 0", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    write(*joints[0][::2], 0)
    lines += ["MOTION", f"Frames: {frames}", "Frame Time: 0.0333333"]
    for frame in range(frames):
        phase = 2 * math.pi * frame / 30
        values = [0.0, 100.0, 2.0 * frame]
        for index in range(len(joints)):
            swing = 20 * math.sin(phase + index)
            values += [swing, 0.5 * swing, 0.0]
        lines.append(" ".join(f"{value:.4f}" for value in values))
    path.write_text("\n".join(lines) + "\n")
    return len(joints)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    args = parser.parse_args()
    pose_export, pose_sources, _, _ = install_addon()
    path = Path(tempfile.mkdtemp(prefix="tpc-bench-mocap-")) / "take.bvh"
    joints = write_bvh(path, args.frames)

    bpy.ops.wm.read_homefile(use_empty=False)
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = 1920, 1080
    start = time.perf_counter()
    bpy.ops.tpc.import_motion(filepath=str(path))
    imported = time.perf_counter() - start
    armature = scene.tpc.armature
    mapping = pose_sources.mapping_for(scene.tpc, armature)
    start = time.perf_counter()
    document = pose_export.export_armature(scene, armature, mapping, with_silhouettes=False).document
    exported = (time.perf_counter() - start) * 1000 / args.frames
    person = document["frames"][0]["people"][0]
    print(f"bpy {bpy.app.version_string}; {joints} joints ({len(armature.data.bones)} bones), {args.frames} frames")
    print(f"import_motion (import, stage, frame): {imported * 1000:.0f} ms")
    print(f"export through the camera (body, face, {len(person.get('hands', {}))} hands): {exported:.2f} ms per frame")


if __name__ == "__main__":
    main()
