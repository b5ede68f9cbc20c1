"""How long does Animate keep Blender busy before the job goes to the backend?

Reading the poses and the deformed mesh touches Blender data, so it runs on Blender's main thread:
this is the one wait a user sees. Filling the mesh triangles into masks and encoding them as PNG
runs on the job's worker thread. Both are timed per frame in the bpy module, with the add-on
installed from a freshly built zip, on the metarig shot of the tests with a body mesh subdivided to
a given number of triangles, at two render sizes.

    .venv/bin/python -m benchmarks.blender_export_speed [--frames 48] [--subdivisions 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="tpc-bench-blender-"))

import bpy  # noqa: E402

from tests.support.blender_shots import add_body_mesh, human_shot  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ADDON = "bl_ext.user_default.tpc_animate"


def install_addon():
    out = tempfile.mkdtemp(prefix="tpc-bench-dist-")
    build = [sys.executable, str(ROOT / "scripts" / "build_addon.py"), "--platforms", "linux-x64", "--out", out]
    zip_path = subprocess.run(build, check=True, capture_output=True, text=True).stdout.strip()
    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    import importlib

    return (importlib.import_module(f"{ADDON}.{name}") for name in ("pose_export", "pose_sources", "silhouette", "png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--subdivisions", type=int, default=2, help="Subdivision levels of the body mesh")
    args = parser.parse_args()
    pose_export, pose_sources, silhouette, png = install_addon()

    print(f"ms per frame over {args.frames} frames, bpy {bpy.app.version_string}")
    print(f"{'render size':>12} {'mesh triangles':>15} {'main: poses':>12} {'main: + mesh':>13} {'worker: masks':>14}")
    for size in ((256, 256), (1920, 1080)):
        bpy.ops.wm.read_homefile(use_empty=True)
        scene = bpy.context.scene
        shot = human_shot(scene, frames=args.frames, size=size)
        body = add_body_mesh(shot.rig)
        body.modifiers.new("Subdivision", "SUBSURF").levels = args.subdivisions
        depsgraph = bpy.context.evaluated_depsgraph_get()
        mesh = body.evaluated_get(depsgraph).to_mesh()
        mesh.calc_loop_triangles()
        triangles_count = len(mesh.loop_triangles)
        body.evaluated_get(depsgraph).to_mesh_clear()
        mapping = pose_sources.mapping_for(scene.tpc, shot.rig)
        timings = {}
        for with_silhouettes in (False, True):
            start = time.perf_counter()
            exported = pose_export.export_armature(scene, shot.rig, mapping, with_silhouettes=with_silhouettes)
            timings[with_silhouettes] = (time.perf_counter() - start) * 1000 / args.frames
        start = time.perf_counter()
        for triangles in exported.silhouettes:
            png.encode_mask_png(silhouette.rasterize_triangles(triangles, *size))
        worker = (time.perf_counter() - start) * 1000 / args.frames
        print(f"{size[0]:>6}x{size[1]:<5} {triangles_count:>15} {timings[False]:>12.1f} {timings[True]:>13.1f} {worker:>14.1f}")


if __name__ == "__main__":
    main()
