"""The built zip as users get it: installed into Blender, its wheels usable, registering and unregistering cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import addon_utils
import bpy
import skimage.data
from blender_session import ADDON, install_addon

USER = Path(os.environ["BLENDER_USER_RESOURCES"])
EXTENSION = USER / "extensions" / "user_default" / "tpc_animate"
SITE_PACKAGES = USER / "extensions" / ".local" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
OPERATORS = ("animate", "reattach", "cancel", "customize_mapping", "reset_mapping", "import_motion", "frame_performer")
PANELS = ("VIEW3D_PT_tpc_animate", "SEQUENCER_PT_tpc_animate", "VIEW3D_PT_tpc_mapping", "SEQUENCER_PT_tpc_engine")


def _registered() -> bool:
    return hasattr(bpy.types.Scene, "tpc") and all(hasattr(bpy.types, name) for name in PANELS)


def test_the_zip_installs_as_an_extension_with_its_manifest_and_vendored_protocol():
    assert ADDON in bpy.context.preferences.addons
    assert (EXTENSION / "blender_manifest.toml").is_file()
    assert (EXTENSION / "vendor" / "tpc_protocol" / "client.py").is_file()
    assert _registered()
    for name in OPERATORS:
        assert getattr(bpy.ops.tpc, name).idname() == f"TPC_OT_{name}"


def test_the_manifest_passes_blenders_strict_validation():
    from bl_pkg.bl_extension_utils import pkg_manifest_dict_is_valid_or_error

    manifest = tomllib.loads((EXTENSION / "blender_manifest.toml").read_text())
    assert pkg_manifest_dict_is_valid_or_error(manifest, from_repo=False, strict=True) is None
    assert manifest["permissions"]["network"] and manifest["blender_version_min"] == "4.2.0"


def test_the_bundled_wheels_are_installed_and_import_on_their_own():
    assert (SITE_PACKAGES / "zmq").is_dir() and (SITE_PACKAGES / "msgpack").is_dir()
    # A clean interpreter that sees only Blender's extension site-packages, as Blender's own Python would.
    probe = "import sys; sys.path.insert(0, sys.argv[1]); import zmq, msgpack; print(zmq.__file__); print(msgpack.packb([1]))"
    result = subprocess.run([sys.executable, "-I", "-c", probe, str(SITE_PACKAGES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(str(SITE_PACKAGES))


def test_the_protocol_is_imported_under_the_addons_own_name_and_nothing_heavy_is(addon):
    client = sys.modules[f"{ADDON}.vendor.tpc_protocol.client"]
    assert Path(client.__file__).is_relative_to(EXTENSION)
    assert addon.job_worker.JobClient is client.JobClient
    # A fresh Blender (this test process has pytest's own imports) with the add-on enabled and all of it loaded.
    probe = (
        "import bpy, pkgutil, importlib, sys; "
        f"bpy.ops.preferences.addon_enable(module={ADDON!r}); "
        f"package = importlib.import_module({ADDON!r}); "
        "[importlib.import_module(f'{package.__name__}.{m.name}') for m in pkgutil.iter_modules(package.__path__)]; "
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('tpc', 'tpc_protocol', 'tpc_backend', 'torch', 'diffusers', 'cv2')))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]", "Blender must stay light and keep the protocol under the add-on's name"


def test_scene_settings_are_the_scripting_contract(scene):
    settings = scene.tpc
    assert settings.pose_source == "ARMATURE" and settings.output_dir == "//tpc/"
    assert settings.backend == "tcp://127.0.0.1:5555" and settings.engine == "preview"
    for name in ("reference_image", "armature", "pose_file", "seed", "steps", "guidance", "groups", "use_tpc", "job_id"):
        assert name in settings.bl_rna.properties
    settings.engine, settings.seed = "diffusion", 7
    assert (settings.engine, settings.seed) == ("diffusion", 7)


def test_settings_and_the_job_id_survive_saving_the_file(scene, tmp_path):
    scene.tpc.job_id, scene.tpc.seed, scene.tpc.state = "shot010-take3", 42, "RUNNING"
    path = tmp_path / "saved.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    settings = bpy.context.scene.tpc
    assert (settings.job_id, settings.seed) == ("shot010-take3", 42)
    assert settings.state == "DETACHED", "a job saved while running is offered for re-attach after opening"


def test_the_pose_settings_describe_every_format_the_import_takes(scene):
    """Tooltips are documentation: pose files may be PoseSequence, OpenPose (files or a folder), COCO or BVH."""
    properties = scene.tpc.bl_rna.properties
    file_source = properties["pose_source"].enum_items["FILE"].description
    for description in (properties["pose_file"].description, file_source):
        for format_name in ("PoseSequence", "OpenPose", "COCO", "folder", "BVH"):
            assert format_name in description, f"{format_name} missing from {description!r}"


PHOTOS = {name: os.path.join(os.path.dirname(skimage.data.__file__), f"{name}.png") for name in ("astronaut", "camera", "coffee")}


def _images() -> list[str]:
    return sorted(image.filepath for image in bpy.data.images)


def test_choosing_photo_after_photo_keeps_one_thumbnail_image(scene, tmp_path):
    settings = scene.tpc
    texture = bpy.data.images.load(PHOTOS["coffee"])  # the user's own image, e.g. a texture
    for _ in range(3):
        for name in ("astronaut", "camera"):
            settings.reference_image = PHOTOS[name]
            assert settings.reference_thumbnail is not None and settings.reference_thumbnail.filepath == PHOTOS[name]
    assert _images() == sorted([PHOTOS["coffee"], PHOTOS["camera"]]), "the thumbnails no longer shown are gone"

    settings.reference_image = PHOTOS["coffee"]  # an image already open is shown, not loaded again
    assert settings.reference_thumbnail == texture and _images() == [PHOTOS["coffee"]]
    settings.reference_image = PHOTOS["astronaut"]
    assert texture.name in bpy.data.images, "an image the add-on did not load stays"

    other = bpy.data.scenes.new("Other")
    other.tpc.reference_image = PHOTOS["astronaut"]  # two scenes, one photo: one image
    assert other.tpc.reference_thumbnail == settings.reference_thumbnail and len(bpy.data.images) == 2
    settings.reference_image = PHOTOS["camera"]
    assert other.tpc.reference_thumbnail.filepath == PHOTOS["astronaut"], "still shown in the other scene"

    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a picture")
    for path in (str(not_an_image), str(tmp_path / "missing.png"), ""):
        settings.reference_image = path
        assert settings.reference_thumbnail is None
    assert _images() == sorted([PHOTOS["coffee"], PHOTOS["astronaut"]]), "nothing left behind by files Blender cannot show"


def test_disable_and_enable_leave_nothing_behind():
    bpy.ops.preferences.addon_disable(module=ADDON)
    assert not hasattr(bpy.types.Scene, "tpc") and not any(hasattr(bpy.types, name) for name in PANELS)
    handlers = bpy.app.handlers.load_pre[:] + bpy.app.handlers.load_post[:]
    assert not any(getattr(handler, "__module__", "").startswith(ADDON) for handler in handlers)
    bpy.ops.preferences.addon_enable(module=ADDON)
    assert _registered() and addon_utils.check(ADDON) == (True, True)


def test_uninstall_removes_the_extension_and_its_wheels_then_it_installs_again():
    repo = next(repo for repo in bpy.context.preferences.extensions.repos if repo.module == "user_default")
    bpy.ops.extensions.package_uninstall(repo_directory=repo.directory, pkg_id="tpc_animate")
    assert not EXTENSION.exists() and ADDON not in bpy.context.preferences.addons
    assert not hasattr(bpy.types.Scene, "tpc")
    assert not (SITE_PACKAGES / "zmq").exists(), "wheels only this extension used go with it"
    install_addon()
    assert _registered()
