"""ErrorCode: every code the product gives is a member, and members cross the wire as plain strings."""

from __future__ import annotations

import ast
from pathlib import Path

import msgpack
import pytest

from tpc_protocol import codec
from tpc_protocol.errors import ErrorCode
from tpc_protocol.messages import JobError

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("backend", "protocol", "blender_addon")
# Callables that take a machine code, and the position of its argument.
CODE_ARGUMENT = {"UserError": 1, "MessageError": 1, "fail": 1, "JobError": 1, "JobFailed": 0, "RenderEnded": 0,
                 "RequestRefused": 3, "_send_error": 3}  # fmt: skip


def _product_trees() -> list[tuple[Path, ast.Module]]:
    paths = sorted(path for folder in PRODUCT for path in (ROOT / folder).rglob("*.py"))
    return [(path, ast.parse(path.read_text(), str(path))) for path in paths]


def _code_arguments(call: ast.Call) -> list[ast.expr]:
    """The expressions a call gives as a code: its code argument, or the first item of ``error=(code, sentence)``."""
    name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", None)
    found = [keyword.value for keyword in call.keywords if keyword.arg == "code"]
    if name in CODE_ARGUMENT and len(call.args) > CODE_ARGUMENT[name]:
        found.append(call.args[CODE_ARGUMENT[name]])
    found += [kw.value.elts[0] for kw in call.keywords if kw.arg == "error" and isinstance(kw.value, ast.Tuple)]
    return found


def _outcomes(expression: ast.expr) -> list[ast.expr]:
    """What an expression can evaluate to: both branches of ``a if c else b``, each operand of ``a or b``."""
    if isinstance(expression, ast.IfExp):
        return _outcomes(expression.body) + _outcomes(expression.orelse)
    if isinstance(expression, ast.BoolOp):
        return [outcome for value in expression.values for outcome in _outcomes(value)]
    return [expression]


def test_the_product_names_every_code_by_a_member_of_the_enum_and_uses_every_member():
    given, literals, unknown, used = 0, [], [], set()
    for path, tree in _product_trees():
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ErrorCode":
                (used.add(node.attr) if node.attr in ErrorCode.__members__ else unknown.append(f"{where}:{node.lineno}"))
            if isinstance(node, ast.Call):
                for argument in _code_arguments(node):
                    given += 1
                    strings = [part for part in _outcomes(argument) if isinstance(part, ast.Constant)]
                    literals += [f"{where}:{part.lineno} {part.value!r}" for part in strings if part.value is not None]
    assert given > 60, "the scan found too few places that give a code: has the code's shape changed?"
    assert literals == [], "codes are ErrorCode members, not string literals"
    assert unknown == [], "ErrorCode has no such member"
    assert used == set(ErrorCode.__members__), "codes nothing gives belong out of the enum"


def test_the_default_code_of_a_user_error_is_bad_input():
    from tpc_backend.errors import UserError

    assert UserError("x").code is ErrorCode.BAD_INPUT


@pytest.mark.parametrize("code", list(ErrorCode))
def test_a_code_goes_over_the_wire_as_a_plain_string_and_comes_back_equal_to_its_member(code: ErrorCode):
    parts = codec.encode(JobError("job-1", code, "one sentence"), req=3)
    header = msgpack.unpackb(parts[0], raw=False)
    assert type(header["code"]) is str and header["code"] == code.value
    assert parts[0] == codec.encode(JobError("job-1", code.value, "one sentence"), req=3)[0]
    received = codec.decode(parts, side="client").message
    assert received.code == code and type(received.code) is str
