#!/usr/bin/env python3
"""Build the installable Blender extension: ``.venv/bin/python scripts/build_addon.py`` -> dist/tpc_animate-<version>.zip

The zip holds the add-on (``blender_addon/``), the wire protocol (``protocol/``) vendored inside it as
``vendor/tpc_protocol`` (imported relatively, so it cannot collide with another add-on's modules),
and the pyzmq and msgpack wheels for Blender's Python (3.11) on each platform, listed in the
manifest so Blender installs the right ones. Wheels are pinned to the versions installed in the
Python that runs this script (the ones the protocol is tested with), downloaded once with
``pip download`` into a git-ignored cache (``build/addon-wheels``) and reused after that.

``--platforms linux-x64`` builds for fewer platforms (tests use it to stay quick); the zip is then
named ``tpc_animate-<version>-linux-x64.zip`` so it is never mistaken for the release build.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "blender_addon"
PROTOCOL = ROOT / "protocol"
MANIFEST = "blender_manifest.toml"
VENDORED_PROTOCOL = "vendor/tpc_protocol"

# Blender's platform names -> the wheel platform tag pip should look for (and everything older).
PLATFORMS = {
    "linux-x64": "manylinux_2_28_x86_64",
    "windows-x64": "win_amd64",
    "macos-arm64": "macosx_11_0_arm64",
    "macos-x64": "macosx_10_15_x86_64",
}
WHEEL_PACKAGES = ("pyzmq", "msgpack")
BLENDER_PYTHON = "3.11"
_FIXED_TIME = (2024, 1, 1, 0, 0, 0)  # same sources, same zip

_VENDOR_INIT = '"""Third-party code the add-on carries under its own name (see scripts/build_addon.py)."""\n'


class BuildError(Exception):
    pass


def pinned_versions() -> dict[str, str]:
    """The wheel packages at the versions installed here (what the protocol is tested with)."""
    try:
        return {name: importlib.metadata.version(name) for name in WHEEL_PACKAGES}
    except importlib.metadata.PackageNotFoundError as error:
        raise BuildError(f"{error.name} is not installed in {sys.executable}; run scripts/setup.sh first") from None


def _cached_wheel(folder: Path, package: str, version: str) -> Path | None:
    pattern = re.compile(rf"^{re.escape(package)}-{re.escape(version)}-cp311-.*\.whl$", re.IGNORECASE)
    return next((path for path in sorted(folder.glob("*.whl")) if pattern.match(path.name)), None)


def wheels_for(platform: str, versions: dict[str, str], cache: Path) -> list[Path]:
    """The cp311 wheels of every package for one Blender platform, downloading what the cache lacks."""
    folder = cache / platform
    folder.mkdir(parents=True, exist_ok=True)
    missing = [f"{name}=={version}" for name, version in versions.items() if _cached_wheel(folder, name, version) is None]
    if missing:
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
            "--platform", PLATFORMS[platform], "--python-version", BLENDER_PYTHON, "--implementation", "cp",
            "--abi", "cp311", "--dest", str(folder), *missing,
        ]  # fmt: skip
        print(f"build_addon: downloading {', '.join(missing)} for {platform}", file=sys.stderr)
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"pip could not download {', '.join(missing)} for {platform}:\n{result.stderr.strip()}")
    wheels = [_cached_wheel(folder, name, version) for name, version in versions.items()]
    if None in wheels:
        raise BuildError(f"pip downloaded no cp311 wheel of {', '.join(missing)} for {platform}")
    return wheels


def _source_files(folder: Path) -> list[Path]:
    return sorted(
        path for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )  # fmt: skip


def _check_protocol_is_relative() -> None:
    for path in _source_files(PROTOCOL):
        if path.suffix == ".py" and re.search(r"^\s*(from|import)\s+tpc_protocol\b", path.read_text(), re.MULTILINE):
            raise BuildError(f"{path} imports tpc_protocol by name; the vendored copy needs relative imports")


def manifest_text(platforms: list[str], wheel_names: list[str]) -> str:
    """The source manifest with ``platforms`` and ``wheels`` added before its first table."""
    source = (ADDON / MANIFEST).read_text()
    first_table = re.search(r"^\[", source, re.MULTILINE)
    cut = first_table.start() if first_table else len(source)
    added = ["# Added by scripts/build_addon.py", f"platforms = {json.dumps(platforms)}", "wheels = ["]
    added += [f'  "./wheels/{name}",' for name in wheel_names] + ["]", "", ""]
    return source[:cut] + "\n".join(added) + source[cut:]


def build(platforms: list[str], out: Path, cache: Path) -> Path:
    manifest = tomllib.loads((ADDON / MANIFEST).read_text())
    if "wheels" in manifest or "platforms" in manifest:
        raise BuildError(f"{ADDON / MANIFEST} must not list wheels or platforms; the build adds them")
    _check_protocol_is_relative()
    versions = pinned_versions()
    wheels: dict[str, Path] = {}
    for platform in platforms:
        for wheel in wheels_for(platform, versions, cache):
            wheels.setdefault(wheel.name, wheel)  # macOS universal2 wheels serve both Mac platforms

    suffix = "" if sorted(platforms) == sorted(PLATFORMS) else "-" + "+".join(platforms)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{manifest['id']}-{manifest['version']}{suffix}.zip"
    partial = target.with_suffix(".zip.part")

    def add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
        info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        archive.writestr(info, data)

    with zipfile.ZipFile(partial, "w") as archive:
        add(archive, MANIFEST, manifest_text(platforms, sorted(wheels)).encode())
        for path in _source_files(ADDON):
            if path.name != MANIFEST:
                add(archive, path.relative_to(ADDON).as_posix(), path.read_bytes())
        add(archive, "vendor/__init__.py", _VENDOR_INIT.encode())
        for path in _source_files(PROTOCOL):
            add(archive, f"{VENDORED_PROTOCOL}/{path.relative_to(PROTOCOL).as_posix()}", path.read_bytes())
        for name, path in sorted(wheels.items()):
            add(archive, f"wheels/{name}", path.read_bytes())
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the TPC Animate Blender extension zip.")
    parser.add_argument(
        "--platforms", default=",".join(PLATFORMS), metavar="LIST",
        help=f"comma-separated Blender platforms to bundle wheels for (default: all of {', '.join(PLATFORMS)})",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="folder for the zip (default: dist)")
    parser.add_argument(
        "--wheel-cache", type=Path, default=ROOT / "build" / "addon-wheels",
        help="where downloaded wheels are kept between builds (default: build/addon-wheels)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    platforms = [name.strip() for name in args.platforms.split(",") if name.strip()]
    unknown = [name for name in platforms if name not in PLATFORMS]
    if unknown or not platforms:
        parser.error(f"unknown platform {', '.join(unknown) or '(none)'}; choose from {', '.join(PLATFORMS)}")
    try:
        target = build(platforms, args.out, args.wheel_cache)
    except BuildError as error:
        print(f"build_addon: error: {error}", file=sys.stderr)
        return 2
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
