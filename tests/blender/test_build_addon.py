"""scripts/build_addon.py: one command -> an extension zip with the add-on, the vendored protocol and wheels."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build_addon.py"
_spec = importlib.util.spec_from_file_location("build_addon", SCRIPT)
build_addon = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_addon)


def _sources(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_zip_holds_the_addon_the_vendored_protocol_and_the_wheels_its_manifest_lists(addon_zip: Path):
    assert addon_zip.name == "tpc_animate-0.1.0-linux-x64.zip"
    with zipfile.ZipFile(addon_zip) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    manifest = tomllib.loads(files.pop("blender_manifest.toml").decode())
    source_manifest = tomllib.loads((ROOT / "blender_addon" / "blender_manifest.toml").read_text())
    assert {key: manifest[key] for key in source_manifest} == source_manifest
    assert manifest["platforms"] == ["linux-x64"] and manifest["permissions"]["network"]

    wheels = {name: data for name, data in files.items() if name.startswith("wheels/")}
    assert sorted(f"./{name}" for name in wheels) == sorted(manifest["wheels"])
    assert sorted(name.split("/")[1].split("-")[0].lower() for name in wheels) == ["msgpack", "pyzmq"]
    assert all("-cp311-cp311-manylinux" in name for name in wheels)

    addon = {name: data for name, data in files.items() if not name.startswith(("wheels/", "vendor/"))}
    expected_addon = _sources(ROOT / "blender_addon")
    expected_addon.pop("blender_manifest.toml")
    assert addon == expected_addon
    vendored = {name[len("vendor/tpc_protocol/") :]: data for name, data in files.items() if name.startswith("vendor/tpc_protocol/")}
    assert vendored == _sources(ROOT / "protocol")
    assert "vendor/__init__.py" in files


def test_the_release_manifest_lists_all_four_platforms_and_keeps_its_tables():
    text = build_addon.manifest_text(
        list(build_addon.PLATFORMS), ["a-1-cp311-cp311-win_amd64.whl", "b-2-cp311-cp311-macosx_11_0_arm64.whl"]
    )
    manifest = tomllib.loads(text)
    assert manifest["platforms"] == ["linux-x64", "windows-x64", "macos-arm64", "macos-x64"]
    assert manifest["wheels"] == ["./wheels/a-1-cp311-cp311-win_amd64.whl", "./wheels/b-2-cp311-cp311-macosx_11_0_arm64.whl"]
    assert set(manifest["permissions"]) == {"network", "files"}


def test_an_unknown_platform_is_refused_with_a_sentence():
    result = subprocess.run([sys.executable, str(SCRIPT), "--platforms", "linux-arm64"], capture_output=True, text=True)
    assert result.returncode == 2 and "unknown platform linux-arm64; choose from linux-x64" in result.stderr
