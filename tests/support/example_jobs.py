"""Small jobs made from the bundled example, and what a job's event stream delivered.

Shared by the service, CLI, add-on and diffusion tests and by the service benchmarks: every job is
the bundled astronaut example (reference photo, keypoints, mask, 48 poses) looped and scaled.
"""

from __future__ import annotations

import json
from typing import Any

from tpc_backend.examples import ASTRONAUT
from tpc_protocol.messages import Accepted, Done, Frame, Progress, Report


def example_files() -> dict[str, Any]:
    """The bundled example's files: reference photo, keypoints, mask and 48 poses at 512x512."""
    return {
        "reference_image": (ASTRONAUT / "reference.jpg").read_bytes(),
        "poses": json.loads((ASTRONAUT / "poses.json").read_text()),
        "reference_keypoints": json.loads((ASTRONAUT / "reference_keypoints.json").read_text()),
        "reference_mask": (ASTRONAUT / "reference_mask.png").read_bytes(),
    }


def make_poses(example: dict, frames: int, size: int = 128, shift: float = 0.0) -> dict:
    """The example motion, looped to ``frames`` frames on a ``size`` canvas, moved ``shift`` px right."""
    source = example["poses"]
    zoom = size / source["width"]
    chosen = [source["frames"][i % len(source["frames"])] for i in range(frames)]
    return {
        "format": "coco17",
        "width": size,
        "height": size,
        "fps": source["fps"],
        "frames": [{"people": [_moved(person, zoom, shift) for person in frame["people"]]} for frame in chosen],
    }


def _moved(person: dict, zoom: float, shift: float) -> dict:
    return {"keypoints": [[x * zoom + shift, y * zoom, c] for x, y, c in person["keypoints"]]}


def job(example: dict, frames: int = 6, size: int = 128, shift: float = 0.0, **settings: Any) -> dict:
    """Keyword arguments of JobClient.submit for a small job made from the example."""
    return {
        "reference_image": example["reference_image"],
        "poses": make_poses(example, frames, size, shift),
        "settings": settings,
        "reference_keypoints": example["reference_keypoints"],
        "reference_mask": example["reference_mask"],
    }


def collect(events) -> dict[str, Any]:
    """Consume a job's events: frames by index (each must come once), report, and the event order."""
    result: dict[str, Any] = {"frames": {}, "report": None, "accepted": None, "progress": 0, "done": False, "order": []}
    for event in events:
        result["order"].append(type(event).__name__)
        if isinstance(event, Accepted):
            result["accepted"] = event
        elif isinstance(event, Frame):
            if event.index in result["frames"]:
                raise AssertionError(f"frame {event.index} arrived twice")
            result["frames"][event.index] = event.png
        elif isinstance(event, Report):
            result["report"] = event
        elif isinstance(event, Progress):
            result["progress"] += 1
        elif isinstance(event, Done):
            result["done"] = True
    return result
