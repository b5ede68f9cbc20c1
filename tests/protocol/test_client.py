"""JobClient on its own: argument checks, timeouts, close() from another thread, and how it reads a stream.

The stream tests put a scripted ROUTER socket on the other end (real sockets on loopback) to produce
what a healthy backend never sends: other protocol versions, repeated and missing frames. The client
against the real backend is tested in tests/backend.
"""

from __future__ import annotations

import threading

import msgpack
import pytest
import zmq

from tests.support.waiting import wait_until
from tpc_protocol import codec
from tpc_protocol.client import BackendUnreachable, JobClient, JobFailed, ProtocolError, VersionMismatch
from tpc_protocol.limits import ACK_EVERY
from tpc_protocol.messages import Accepted, Done, Frame, Frames, Heartbeat, JobError, Progress

POSES = {"format": "coco17", "width": 64, "height": 64, "fps": 24, "frames": [{"people": []}]}


def free_address() -> str:
    with zmq.Context() as context, context.socket(zmq.ROUTER) as probe:
        probe.bind("tcp://127.0.0.1:*")
        return probe.getsockopt_string(zmq.LAST_ENDPOINT)


class ScriptedPeer(threading.Thread):
    """A ROUTER that answers the first request with ``replies`` and records what the client sends."""

    def __init__(self, replies: list) -> None:
        super().__init__(daemon=True)
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.bind("tcp://127.0.0.1:*")
        self.address = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.replies = replies
        self.received: list = []
        self.stop = threading.Event()

    def run(self) -> None:
        identity = None
        while not self.stop.is_set():
            if not self.socket.poll(50):
                continue
            identity, *parts = self.socket.recv_multipart()
            envelope = codec.decode(parts)
            self.received.append(envelope.message)
            if len(self.received) == 1:
                for reply in self.replies:
                    payload = reply if isinstance(reply, list) else codec.encode(reply, envelope.req)
                    self.socket.send_multipart([identity, *payload])
        self.socket.close(0)
        self.context.term()


@pytest.fixture
def peer():
    peers = []

    def start(replies):
        p = ScriptedPeer(replies)
        p.start()
        peers.append(p)
        return p

    yield start
    for p in peers:
        p.stop.set()
        p.join(5)


def test_arguments_are_checked_before_anything_is_sent():
    with pytest.raises(ValueError, match="tcp://HOST:PORT"):
        JobClient("localhost:5555")
    with pytest.raises(ValueError, match="both the server's public key"):
        JobClient("tcp://127.0.0.1:1", server_public_key="x" * 40)
    public, secret = zmq.curve_keypair()
    for not_z85 in ("~" * 40, "#" * 40):  # 40 characters, but not a key: refused here, not inside ZeroMQ later
        with pytest.raises(ValueError, match="40-character Z85 CURVE key"):
            JobClient("tcp://127.0.0.1:1", server_public_key=not_z85, client_keypair=(public, secret))
    with JobClient("tcp://127.0.0.1:1") as client:
        with pytest.raises(ValueError, match="must be a job id"):
            client.submit("../../etc", b"img", POSES)
        with pytest.raises(ValueError, match="unknown setting"):
            client.submit("ok", b"img", POSES, {"resolution": 4})
        with pytest.raises(ValueError, match="PoseSequence document"):
            client.submit("ok", b"img", "poses.json")
        with pytest.raises(ValueError, match="must be bytes"):
            client.submit("ok", "not bytes", POSES)
        with pytest.raises(ValueError, match="it carries both"):
            client.submit("ok", b"img", POSES, pose_documents=[("a.json", b"{}")])
        with pytest.raises(ValueError, match="it carries neither"):
            client.submit("ok", b"img")
        with pytest.raises(ValueError, match="file names"):
            client.submit("ok", b"img", pose_documents=[("folder/a.json", b"{}")], canvas=(64, 64))
        with pytest.raises(ValueError, match="pose_canvas must be"):
            client.submit("ok", b"img", pose_documents=[("a.json", b"{}")], canvas=(64, -1))
        many = [(f"video_{i:012d}_keypoints.json", b"{}") for i in range(40_000)]  # names beyond the 1 MiB header
        with pytest.raises(ValueError, match=r"header takes \d+ bytes, more than the \d+ allowed \(the names of pose files travel in it"):
            client.submit("ok", b"img", pose_documents=many, canvas=(64, 64))


def test_silence_raises_backend_unreachable_naming_the_address():
    address = free_address()
    with JobClient(address, timeout=0.5) as client:
        with pytest.raises(BackendUnreachable, match=f"no answer from the backend at {address} within 0.5 s"):
            client.hello()
        with pytest.raises(BackendUnreachable):
            list(client.attach("job"))


def test_close_from_another_thread_ends_a_waiting_generator(peer):
    silent = peer([])  # takes the request and never answers: the generator waits
    client = JobClient(silent.address, timeout=60)
    outcome = []

    def consume():
        outcome.extend(client.attach("job"))
        outcome.append("ended")

    worker = threading.Thread(target=consume)
    worker.start()
    wait_until(lambda: silent.received, 10, "the attach request never reached the peer")
    client.close()
    worker.join(5)
    assert not worker.is_alive() and outcome == ["ended"]
    with pytest.raises(ProtocolError, match="closed"):
        client.status()


def test_frames_come_once_in_order_and_errors_raise(peer):
    replies = [Accepted("j", 3), Frames("j", 0, (b"a",)), Accepted("j", 3), Frames("j", 0, (b"a", b"b")),
               Progress("j", 0.5, "half"), Frames("j", 2, (b"c",)), JobError("j", "cancelled", "job j was cancelled")]  # fmt: skip
    server = peer(replies)
    with JobClient(server.address, timeout=5) as client:
        seen = []
        with pytest.raises(JobFailed) as failure:
            for event in client.attach("j"):
                seen.append(event)
    assert [type(e).__name__ for e in seen] == ["Accepted", "Frame", "Frame", "Progress", "Frame"]
    assert [e.index for e in seen if isinstance(e, Frame)] == [0, 1, 2]
    assert failure.value.code == "cancelled" and failure.value.job_id == "j"


def test_a_missing_frame_or_another_jobs_frame_is_a_protocol_error(peer):
    with JobClient(peer([Accepted("j", 3), Frames("j", 1, (b"b",))]).address, timeout=5) as client:
        with pytest.raises(ProtocolError, match="frame 1 while frame 0 was due"):
            list(client.attach("j"))
    with JobClient(peer([Frames("other", 0, (b"b",))]).address, timeout=5) as client:
        with pytest.raises(ProtocolError, match="job 'other' on the stream of job 'j'"):
            list(client.attach("j"))


def test_other_protocol_versions_raise_version_mismatch(peer):
    old_error = [msgpack.packb({"v": 7, "type": "error", "code": "version_mismatch", "message": "backend speaks 7"})]
    with JobClient(peer([old_error]).address, timeout=5) as client:
        with pytest.raises(VersionMismatch, match="backend speaks 7"):
            client.hello()
    newer = [msgpack.packb({"v": 7, "type": "done", "job": None, "result": {}})]
    with JobClient(peer([newer]).address, timeout=5) as client:
        with pytest.raises(VersionMismatch, match="the backend speaks protocol version 7"):
            client.status()
    with JobClient(peer([Done(None, {"version": 7})]).address, timeout=5) as client:
        with pytest.raises(VersionMismatch, match="speaks protocol version 7"):
            client.hello()


def test_heartbeats_acknowledge_received_frames(peer):
    total = 2 * ACK_EVERY + 4
    frames = [Frames("j", i, (b"x",)) for i in range(total)]
    server = peer([Accepted("j", total), *frames, Done("j")])
    with JobClient(server.address, timeout=5) as client:
        for event in client.attach("j", start_frame=0):
            if isinstance(event, Frame) and event.index == 2 * ACK_EVERY - 1:
                # The client closes its socket without lingering once the job is done, so wait, while
                # the stream is still open, for the acknowledgements to reach the peer.
                wait_until(
                    lambda: sum(isinstance(m, Heartbeat) for m in server.received) >= 2, 5, "the acknowledgements never reached the peer"
                )
    acks = [m.ack for m in server.received if isinstance(m, Heartbeat)]
    assert (
        acks[:2] == [ACK_EVERY, 2 * ACK_EVERY]
        and acks == sorted(acks)
        and all(m.job_id == "j" for m in server.received if isinstance(m, Heartbeat))
    )
