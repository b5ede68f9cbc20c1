"""Hostile input against a live backend: every message gets a well-formed ERROR where a reply is possible,
the backend stays up, and the next real job succeeds.

The messages come from a raw DEALER socket, so nothing of the client's own checking stands between
them and the backend.
"""

from __future__ import annotations

import json
import math
import re

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.example_jobs import collect, job
from tpc_protocol import PROTOCOL_VERSION, codec
from tpc_protocol.limits import MAX_HEADER_BYTES, MAX_PART_BYTES, MAX_PARTS
from tpc_protocol.messages import Attach, Cancel, Delete, Frames, Heartbeat, Hello, JobError, Status, Submit


@pytest.fixture(scope="module")
def tiny_submit(example) -> list[bytes]:
    arguments = job(example, frames=1, size=64)
    submit = Submit(
        "tiny", arguments["reference_image"], json.dumps(arguments["poses"]).encode(), {},
        json.dumps(arguments["reference_keypoints"]).encode(), arguments["reference_mask"],
    )  # fmt: skip
    return codec.encode(submit, 1)


def error_of(peer, parts: list[bytes]) -> JobError:
    peer.send(parts)
    envelope = peer.reply()
    assert isinstance(envelope.message, JobError), envelope
    return envelope.message


def test_targeted_hostile_messages_get_error_replies(peer, tiny_submit, example):
    assert error_of(peer, [b"\x00\xffrandom bytes"]).code == "bad_message"
    assert error_of(peer, [b""]).code == "bad_message"
    truncated = error_of(peer, tiny_submit[:-1])
    assert truncated.code == "bad_message" and "truncated" in truncated.message
    assert error_of(peer, [msgpack.packb({"v": PROTOCOL_VERSION, "type": "cancel", "job": 12, "req": 2})]).code == "bad_job_id"
    assert error_of(peer, [msgpack.packb({"v": PROTOCOL_VERSION, "type": "attach", "job": "x", "start": "0"})]).code == "bad_message"
    absurd = msgpack.packb({"v": PROTOCOL_VERSION, "type": "submit", "job": "x", "settings": {}, "start": 0,
                            "buffers": {"reference_image": [2**60], "poses": [1]}})  # fmt: skip
    assert error_of(peer, [absurd, b"a", b"b"]).code == "too_large"
    assert error_of(peer, [b"\x80" * (MAX_HEADER_BYTES + 1)]).code == "too_large"
    many = error_of(peer, [codec.encode(Status(), 77)[0], *[b""] * MAX_PARTS])
    assert many.code == "too_large"
    mismatch = error_of(peer, [msgpack.packb({"v": PROTOCOL_VERSION + 1, "type": "hello", "req": 3, "client": ""})])
    assert mismatch.code == "version_mismatch"
    assert f"version {PROTOCOL_VERSION + 1}" in mismatch.message and f"version {PROTOCOL_VERSION}" in mismatch.message
    assert error_of(peer, codec.encode(Frames("x", 0, (b"png",)), 4)).message == "a client cannot send frames messages"
    assert error_of(peer, codec.encode(Heartbeat("never-submitted", 0), 5)).code == "unknown_job"
    assert peer.probe() == []


def test_hostile_job_contents_get_error_replies(peer, example):
    arguments = job(example, frames=2, size=64)
    nan_poses = json.loads(json.dumps(arguments["poses"]))
    nan_poses["frames"][1]["people"][0]["keypoints"][3][1] = math.nan

    def with_parts(**parts) -> bytes:
        document = json.loads(json.dumps(arguments["poses"]))
        document["frames"][0]["people"][0].update(parts)
        return json.dumps(document).encode()

    hand, face = [[10.0, 20.0, 0.9]] * 21, [[10.0, 20.0, 0.9]] * 68
    cases = {
        "nan keypoints": (json.dumps(nan_poses).encode(), arguments["reference_image"], "keypoint 3"),
        "short hand": (
            with_parts(hands={"left": hand[:20], "right": hand}),
            arguments["reference_image"],
            r"frame 0, person 0: left hand points must be a list of 21 \[x, y, confidence\] triples, got 20",
        ),
        "nan face": (
            with_parts(face=face[:3] + [[math.nan, 1.0, 1.0]] + face[4:]),
            arguments["reference_image"],
            r"face point 3 \(jaw 3\) has a value that is not a finite number",
        ),
        "far hand": (
            with_parts(hands={"right": hand[:5] + [[1e12, 1.0, 1.0]] + hand[6:]}),
            arguments["reference_image"],
            r"right hand point 5 \(index_mcp\) lies more than 1000000 pixels off the canvas",
        ),
        "face confidence": (
            with_parts(face=face[:67] + [[1.0, 1.0, 3.0]]),
            arguments["reference_image"],
            r"face point 67 \(inner_lips 7\) has confidence 3.0, outside 0..1",
        ),
        "hands not an object": (with_parts(hands=[hand, hand]), arguments["reference_image"], r"hands must be an object"),
        "empty image": (json.dumps(arguments["poses"]).encode(), b"", "empty"),
        "undecodable image": (json.dumps(arguments["poses"]).encode(), b"\xff\xd8\xff" + b"\x00" * 500, "not an image"),
        "poses not json": (b"\xff\xfe not json", arguments["reference_image"], "not UTF-8"),
        "deep json": (b"[" * 100000 + b"]" * 100000, arguments["reference_image"], "nested too deeply|expected a JSON object"),
    }
    for req, (name, (poses, image, sentence)) in enumerate(cases.items(), start=100):
        submit = Submit(
            f"hostile-{req}", image, poses, {}, json.dumps(arguments["reference_keypoints"]).encode(), arguments["reference_mask"]
        )
        error = error_of(peer, codec.encode(submit, req))
        assert error.code == "bad_input" and error.job_id == f"hostile-{req}", name
        assert re.search(sentence, error.message), (name, error.message)


def test_a_part_above_the_transport_limit_drops_only_that_connection(shared_backend, peer):
    peer.send([codec.encode(Status(), 9)[0], bytes(MAX_PART_BYTES + 1)])
    with shared_backend.client() as client:
        assert client.hello()["version"] == PROTOCOL_VERSION


# -- fuzzing ------------------------------------------------------------------------------------------
msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=12) | st.binary(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)


@st.composite
def fuzzed_messages(draw, seeds: list[list[bytes]]) -> list[bytes]:
    how = draw(st.sampled_from(["random", "field", "parts", "bytes"]))
    if how == "random":
        return draw(st.lists(st.binary(max_size=200), min_size=1, max_size=6))
    parts = list(draw(st.sampled_from(seeds)))
    if how == "field":
        header = msgpack.unpackb(parts[0])
        key = draw(st.sampled_from([*header, "extra", "buffers"]))
        if draw(st.booleans()):
            header[key] = draw(msgpack_values)
        else:
            header.pop(key, None)
        parts[0] = msgpack.packb(header, use_bin_type=True)
    elif how == "parts":
        at = draw(st.integers(0, len(parts)))
        operation = draw(st.sampled_from(["drop", "insert", "replace"]))
        if operation == "drop" and len(parts) > 1:
            del parts[min(at, len(parts) - 1)]
        elif operation == "insert":
            parts.insert(at, draw(st.binary(max_size=64)))
        else:
            parts[min(at, len(parts) - 1)] = draw(st.binary(max_size=64))
    else:
        header = bytearray(parts[0])
        for position, value in draw(st.lists(st.tuples(st.integers(0, len(header) - 1), st.integers(0, 255)), min_size=1, max_size=4)):
            header[position] = value
        parts[0] = bytes(header)
    return parts


def test_thousands_of_fuzzed_messages_then_a_real_job(shared_backend, peer, example, tiny_submit):
    seeds = [
        tiny_submit,
        codec.encode(Hello("fuzz"), 2),
        codec.encode(Attach("tiny", 0), 3),
        codec.encode(Cancel("fuzz-target"), 4),
        codec.encode(Delete("fuzz-target"), 9),
        codec.encode(Status("tiny"), 5),
        codec.encode(Heartbeat("tiny", 0), 6),
        codec.encode(Frames("tiny", 0, (b"png",)), 7),
        codec.encode(
            Submit(
                "fuzz-files",
                b"img",
                pose_documents=(("a_0.json", b'{"people": []}'), ("a_1.json", b"{}")),
                pose_canvas=(64, 64),
                pose_fps=24.0,
            ),
            8,
        ),
    ]
    replies = {"error": 0, "other": 0}

    @settings(max_examples=2000, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(fuzzed_messages(seeds))
    def send_one(parts):
        peer.send(parts)
        for envelope in peer.probe():
            replies["error" if isinstance(envelope.message, JobError) else "other"] += 1

    send_one()
    assert shared_backend.alive, shared_backend.log()
    assert replies["error"] > 1000, replies
    with shared_backend.client() as client:
        result = collect(client.submit("after-the-fuzz", **job(example, frames=3)))
    assert result["done"] and sorted(result["frames"]) == [0, 1, 2]
