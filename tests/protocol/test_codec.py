"""The wire format: every message survives a round trip, and every broken one is refused with a sentence."""

from __future__ import annotations

import math

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tpc_protocol import PROTOCOL_VERSION, codec
from tpc_protocol.errors import ErrorCode, MessageError
from tpc_protocol.limits import MAX_HEADER_BYTES, MAX_MESSAGE_BYTES, MAX_PART_BYTES, MAX_POSE_DOCUMENT_BYTES
from tpc_protocol.messages import (
    MESSAGE_TYPES,
    Accepted,
    Attach,
    Cancel,
    Delete,
    Done,
    Frame,
    Frames,
    Heartbeat,
    Hello,
    JobError,
    Progress,
    Report,
    Status,
    Submit,
    check_job_id,
    check_settings,
)

EXAMPLES = [
    Hello("blender 5.0"),
    Submit("shot010-take3", b"\x89PNG...", b'{"frames": []}', {"engine": "preview", "seed": 7, "tpc": False}),
    Submit("a", b"img", b"{}", {}, b'{"kp": 1}', b"mask", (b"m0", b"", b"m2"), start_frame=2),
    Submit(
        "b",
        b"img",
        pose_documents=(("clip_2_keypoints.json", b'{"people": []}'), ("clip_10.json", b"")),
        pose_canvas=(1920, 1080),
        pose_fps=23.976,
    ),
    Submit("c", b"img", pose_documents=(("person_keypoints_val.json", b"{}"),)),
    Attach("job_1.2", 12),
    Cancel("x"),
    Delete("x"),
    Status(None),
    Status("x"),
    Heartbeat(),
    Heartbeat("x", 40),
    Accepted("x", 48),
    Progress("x", 0.25, "frame 12 of 48"),
    Frames("x", 11, (b"\x89PNG" + bytes(range(256)) * 100, b"\x89PNG")),
    Report("x", b'{"summary": {}}', b"png"),
    Done("x"),
    Done(None, {"version": 1, "engines": ["preview"]}),
    JobError(None, "bad_message", "the header is not a msgpack map"),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message):
    parts = codec.encode(message, req=7)
    envelope = codec.decode(parts)
    assert envelope == codec.Envelope(PROTOCOL_VERSION, 7, message)


def test_every_message_type_has_an_example():
    assert {type(m) for m in EXAMPLES} == set(MESSAGE_TYPES.values())
    assert Frame not in MESSAGE_TYPES.values()  # an event the client makes from Frames, not a message


def test_buffers_travel_as_raw_parts_without_copies():
    png = bytes(1000)
    parts = codec.encode(Frames("x", 0, (png, png)))
    assert len(parts) == 3 and parts[1] is png and parts[2] is png
    assert msgpack.unpackb(parts[0])["buffers"] == {"png": [1000, 1000]}


def test_received_buffers_can_stay_in_zeromq_memory():
    parts = [memoryview(part) for part in codec.encode(Frames("x", 4, (b"a", b"bc")))]
    frames = codec.decode(parts).message
    assert frames.first == 4 and [bytes(png) for png in frames.pngs] == [b"a", b"bc"]
    assert all(isinstance(png, memoryview) for png in frames.pngs)


def test_report_json_is_parsed_on_demand():
    report = codec.decode(codec.encode(Report("x", b'{"frames": [1, 2]}', b"p"))).message
    assert report.report_json == {"frames": [1, 2]}


@pytest.mark.parametrize("job_id", ["a", "shot010-take3", "A_b.c-d", "_x", "9" * 64])
def test_valid_job_ids(job_id):
    assert check_job_id(job_id) == job_id


@pytest.mark.parametrize("job_id", ["", ".", "..", ".hidden", "-x", "a/b", "../etc", "a\\b", "a b", "é", "a\n", "9" * 65, 5, None])
def test_job_ids_that_could_escape_a_folder_are_refused(job_id):
    with pytest.raises(ValueError, match="must be a job id"):
        check_job_id(job_id)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"colour": 1}, "unknown setting 'colour'"),
        ({"seed": -1}, "setting 'seed' must be a whole number"),
        ({"seed": True}, "setting 'seed' must be a whole number"),
        ({"steps": 0}, "setting 'steps'"),
        ({"guidance": math.nan}, "setting 'guidance' must be a number"),
        ({"guidance": math.inf}, "setting 'guidance'"),
        ({"tpc": 1}, "setting 'tpc' must be true or false"),
        ({"engine": "../x"}, "setting 'engine' must be an engine name"),
        ({"width": 512}, "width and height together"),
        ({"width": 8, "height": 8}, "setting 'width' must be 0"),
        ("seed=1", "must be a map"),
    ],
)
def test_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        check_settings(settings)


def header(**fields) -> bytes:
    return msgpack.packb({"v": PROTOCOL_VERSION, "req": 3, **fields})


def refused(parts, code=ErrorCode.BAD_MESSAGE) -> MessageError:
    with pytest.raises(MessageError) as caught:
        codec.decode(parts)
    assert caught.value.code == code, str(caught.value)
    return caught.value


def test_hostile_headers_are_refused_with_a_sentence():
    assert "not a msgpack map" in str(refused([b"\xc1 definitely not msgpack"]))
    assert "must be a msgpack map" in str(refused([msgpack.packb([1, 2, 3])]))
    assert "empty" in str(refused([]))
    assert "unknown message type 'launch'" in str(refused([header(type="launch")]))
    assert "no field 'path'" in str(refused([header(type="cancel", job="x", path="/etc/passwd")]))
    assert "'req' must be" in str(refused([header(type="status", req="three")]))
    error = refused([header(type="cancel", job="../../etc")], ErrorCode.BAD_JOB_ID)
    assert error.req == 3 and error.job_id is None
    error = refused([header(type="progress", job="x", fraction=math.nan, message="")])
    assert error.job_id == "x" and "'fraction' must be a number" in str(error)
    refused([header(type="attach", job="x", start=True)])
    refused([header(type="frames", job="x", first=-1, buffers={"png": [0]}), b""])
    refused([msgpack.packb({"v": PROTOCOL_VERSION, "type": "hello", "client": msgpack.ExtType(5, b"12345")})])
    refused([b"\x91" * 5000])  # nested arrays deeper than the unpacker allows
    refused([msgpack.packb({"v": PROTOCOL_VERSION, "type": "hello", 1: 2})])  # non-text keys


def test_sizes_are_checked_before_anything_is_decoded():
    assert "at most" in str(refused([b"\x80" * (MAX_HEADER_BYTES + 1)], ErrorCode.TOO_LARGE))
    absurd = header(type="frames", job="x", first=0, buffers={"png": [2**62]})
    assert "declares" in str(refused([absurd, b"tiny"], ErrorCode.TOO_LARGE))
    many = header(
        type="submit",
        job="x",
        settings={},
        start=0,
        buffers={"reference_image": [MAX_PART_BYTES], "poses": [MAX_PART_BYTES], "target_masks": [MAX_PART_BYTES] * 4},
    )
    refused([many, *[b""] * 6], ErrorCode.TOO_LARGE)
    assert MAX_PART_BYTES * 6 > MAX_MESSAGE_BYTES


def test_truncated_padded_and_mislabelled_buffers_are_refused():
    parts = codec.encode(Submit("x", b"image", b"{}", {}, target_masks=(b"a", b"b")))
    assert "3" in str(refused(parts[:-1]))  # truncated
    refused([*parts, b"extra"])  # padded
    refused([parts[0], b"imagE!", *parts[2:]])  # a size that does not match
    refused([header(type="frames", job="x", first=0, buffers={"png": [1], "jpeg": [1]}), b"a", b"b"])
    refused([header(type="frames", job="x", first=0, buffers=[1]), b"a"])
    refused([header(type="frames", job="x", first=0, buffers={"png": [-1]}), b""])
    refused([header(type="frames", job="x", first=0, buffers={"png": [1, 1]}), b"a"])
    refused([header(type="report", job="x", buffers={"json": [1]}), b"a"])  # a required buffer missing
    refused([header(type="frames", job="x", first=0), b"a"])  # buffer not declared


def test_another_protocol_version_is_refused_naming_both():
    error = refused([msgpack.packb({"v": 99, "type": "hello", "req": 1, "client": ""})], ErrorCode.VERSION_MISMATCH)
    assert f"speaks protocol version 99 but this backend speaks version {PROTOCOL_VERSION}" in str(error)
    assert error.req == 1
    on_client = pytest.raises(MessageError, codec.decode, [msgpack.packb({"v": 0, "type": "done"})], side="client")
    assert "the backend speaks protocol version 0 but this client" in str(on_client.value)


def test_an_error_from_another_version_still_reads():
    other = PROTOCOL_VERSION + 1
    envelope = codec.decode([msgpack.packb({"v": other, "type": "error", "req": 4, "code": "version_mismatch", "message": "old client"})])
    assert envelope.version == other and envelope.message == JobError(None, "version_mismatch", "old client")


def test_encoding_checks_fields_too():
    with pytest.raises(ValueError, match="submit job_id must be a job id"):
        codec.encode(Submit("../x", b"", b"{}"))
    with pytest.raises(ValueError, match="must be bytes"):
        codec.encode(Frames("x", 0, ("not bytes",)))
    with pytest.raises(ValueError, match="must be a list of bytes"):
        codec.encode(Frames("x", 0, b"bytes, not a list"))
    with pytest.raises(ValueError, match="request id"):
        codec.encode(Hello(), req=-1)
    with pytest.raises(ValueError, match="not a tpc_protocol message"):
        codec.encode(object())


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=5))
def test_random_bytes_only_ever_raise_message_error(parts):
    try:
        codec.decode(parts)
    except MessageError as error:
        assert str(error) and error.code in {ErrorCode.BAD_MESSAGE, ErrorCode.TOO_LARGE, ErrorCode.BAD_JOB_ID, ErrorCode.VERSION_MISMATCH}


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=20) | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "v",
        "type",
        "req",
        "job",
        "start",
        "settings",
        "buffers",
        "first",
        "fraction",
        "ack",
        "code",
        "message",
        "result",
        "client",
        "pose_documents",
        "pose_canvas",
        "pose_fps",
    ]
)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(field_names, msgpack_values, max_size=8),
    st.sampled_from(list(MESSAGE_TYPES)),
    st.lists(st.binary(max_size=16), max_size=4),
)
def test_fuzzed_headers_only_ever_raise_message_error(fields, kind, buffers):
    fields = {"v": PROTOCOL_VERSION, "type": kind, **fields}
    try:
        envelope = codec.decode([msgpack.packb(fields, use_bin_type=True), *buffers])
    except MessageError as error:
        assert str(error)
    else:  # whatever got through is a well-formed message that encodes back to the same
        assert codec.decode(codec.encode(envelope.message, envelope.req)) == envelope


def test_pose_files_travel_with_their_names_in_the_header_and_their_bytes_as_buffers():
    documents = (("frame 0.json", b"{}"), ("frame 1.json", b"[]"))
    parts = codec.encode(Submit("x", b"img", pose_documents=documents, pose_canvas=(640, 480), pose_fps=24))
    header = msgpack.unpackb(parts[0])
    assert header["pose_documents"] == ["frame 0.json", "frame 1.json"] and header["pose_canvas"] == [640, 480]
    assert header["buffers"]["pose_documents"] == [2, 2] and parts[2:] == [b"{}", b"[]"]
    assert codec.decode(parts).message.pose_documents == documents


@pytest.mark.parametrize(
    "fields, message",
    [
        ({}, "either as a PoseSequence document .* it carries neither"),
        ({"poses": b"{}", "pose_documents": (("a.json", b"{}"),)}, "it carries both"),
        ({"poses": b"{}", "pose_canvas": (64, 64)}, "sets pose_canvas or pose_fps, which only pose files use"),
        ({"pose_documents": ()}, "must name 1 to"),
        ({"pose_documents": (("../a.json", b"{}"),)}, "file names of 1 to 255 characters without control characters"),
        ({"pose_documents": (("a\nb.json", b"{}"),)}, "without control characters"),
        ({"pose_documents": (("..", b"{}"),)}, "file names"),
        ({"pose_documents": (("x" * 256, b"{}"),)}, "file names of 1 to 255"),
        ({"pose_documents": (("a.json", "text"),)}, "must be bytes"),
        ({"pose_documents": (b"a.json",)}, "list of \\(file name, bytes\\) pairs"),
        ({"pose_documents": (("a.json", b"{}"),), "pose_canvas": (0, 10)}, "pose_canvas must be \\[width, height\\]"),
        ({"pose_documents": (("a.json", b"{}"),), "pose_canvas": (10,)}, "pose_canvas must be"),
        ({"pose_documents": (("a.json", b"{}"),), "pose_fps": 0}, "pose_fps must be a frame rate above 0"),
        ({"pose_documents": (("a.json", b"{}"),), "pose_fps": math.nan}, "pose_fps must be a frame rate"),
    ],
)
def test_pose_files_are_checked_before_sending(fields, message):
    with pytest.raises(ValueError, match=message):
        codec.encode(Submit("x", b"img", **fields))


def test_received_pose_files_are_checked_before_anything_is_decoded():
    good = codec.encode(Submit("x", b"img", pose_documents=(("a.json", b"{}"), ("b.json", b"[]"))))
    fields = msgpack.unpackb(good[0])

    def variant(**changes):
        return [msgpack.packb({**fields, **changes}), *good[1:]]

    assert "names 3 'pose_documents' but declares 2 buffers" in str(refused(variant(pose_documents=["a.json", "b.json", "c.json"])))
    assert "file names" in str(refused(variant(pose_documents=["a.json", "/etc/passwd"])))
    assert "file names" in str(refused(variant(pose_documents=["a.json", 5])))
    assert "names 0" in str(refused(variant(pose_documents=None)))
    over = MAX_POSE_DOCUMENT_BYTES // 2 + 1
    assert "together" in str(refused(variant(buffers={"reference_image": [3], "pose_documents": [over, over]}), ErrorCode.TOO_LARGE))
    both = variant(buffers={**fields["buffers"], "poses": [2]})
    assert "carries both" in str(refused([both[0], good[1], b"{}", *good[2:]]))
    neither = {**fields, "pose_documents": None, "buffers": {"reference_image": [3]}}
    assert "carries neither" in str(refused([msgpack.packb(neither), b"img"]))
    canvas_alone = {**neither, "pose_fps": 25.0, "buffers": {"reference_image": [3], "poses": [2]}}
    assert "only pose files use" in str(refused([msgpack.packb(canvas_alone), b"img", b"{}"]))
