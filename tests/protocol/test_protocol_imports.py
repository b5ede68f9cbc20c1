"""The protocol runs inside Blender's Python: the add-on vendors this folder under its own name.

So it may import the standard library, ZeroMQ and msgpack (both ship in the add-on as wheels) and
itself by relative imports only: an absolute ``tpc_protocol`` import would load the installed copy
beside the add-on's, and anything else is missing from Blender.
"""

from __future__ import annotations

from tests.support.imports import ROOT, imports_outside, modules_loaded_by, python_files

PROTOCOL = ROOT / "protocol"
ALLOWED = {"zmq", "msgpack"}


def test_the_protocol_imports_only_the_standard_library_zmq_msgpack_and_itself_relatively():
    files = python_files(PROTOCOL)
    assert PROTOCOL / "client.py" in files and PROTOCOL / "codec.py" in files
    assert imports_outside(files, ALLOWED) == []


def test_importing_every_protocol_module_loads_nothing_beyond_zmq_and_msgpack():
    modules = [f"tpc_protocol.{path.stem}" for path in python_files(PROTOCOL) if path.stem != "__init__"]
    assert modules_loaded_by(modules) <= ALLOWED | {"tpc_protocol"}
