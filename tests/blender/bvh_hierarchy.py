"""Reading a BVH file's HIERARCHY in tests: each joint's name, parent, offset and channels, in file order."""

from __future__ import annotations

from typing import NamedTuple


class Joint(NamedTuple):
    name: str
    parent: str | None
    offset: tuple[float, float, float]
    channels: list[str]


def joints(text: str) -> list[Joint]:
    found, open_blocks, name, offset = [], [], None, (0.0, 0.0, 0.0)
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "MOTION":
            break
        if words[0] in ("ROOT", "JOINT"):
            name = words[1]
        elif words[0] == "End":
            name = None
        elif words[0] == "{":
            open_blocks.append(name)
        elif words[0] == "}":
            open_blocks.pop()
        elif words[0] == "OFFSET" and name is not None:
            offset = tuple(float(value) for value in words[1:4])
        elif words[0] == "CHANNELS":
            parent = next((joint for joint in reversed(open_blocks[:-1]) if joint is not None), None)
            found.append(Joint(name, parent, offset, words[2:]))
    return found
