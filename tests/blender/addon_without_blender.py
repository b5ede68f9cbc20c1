"""The add-on's bpy-free modules, imported without Blender, as parts of the add-on package.

Modules such as ``job_worker`` or ``bone_mapping`` import their siblings relatively and the protocol
as ``.vendor.tpc_protocol`` (scripts/build_addon.py vendors it there). Here the package is assembled
the same way -- ``blender_addon/`` as the package, ``protocol/`` as its vendored protocol -- without
running the package's ``__init__`` (which registers with bpy).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "tpc_addon_without_blender"


def addon_module(name: str) -> types.ModuleType:
    if PACKAGE not in sys.modules:
        package = types.ModuleType(PACKAGE)
        package.__path__ = [str(ROOT / "blender_addon")]
        vendor = types.ModuleType(f"{PACKAGE}.vendor")
        vendor.__path__ = []
        sys.modules[PACKAGE], sys.modules[vendor.__name__] = package, vendor
        spec = importlib.util.spec_from_file_location(
            f"{PACKAGE}.vendor.tpc_protocol", ROOT / "protocol" / "__init__.py", submodule_search_locations=[str(ROOT / "protocol")]
        )
        protocol = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = protocol
        spec.loader.exec_module(protocol)
    return importlib.import_module(f"{PACKAGE}.{name}")
