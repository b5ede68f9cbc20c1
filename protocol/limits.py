"""Bounds every message is checked against before anything in it is decoded, the timing of a stream,
and the default address.

The backend is a long-running service that anyone who can reach its socket may talk to, so nothing a
peer declares is trusted: header and buffer sizes, counts and numbers are compared with these bounds
first, and ZeroMQ itself drops any message part larger than :data:`MAX_PART_BYTES`
(``ZMQ_MAXMSGSIZE``).
"""

DEFAULT_ADDRESS = "tcp://127.0.0.1:5555"  # where `tpc-backend serve` listens unless told otherwise

MAX_HEADER_BYTES = 1 << 20  # the msgpack header of one message
MAX_PART_BYTES = 256 << 20  # one raw buffer (image, JSON document); also ZMQ_MAXMSGSIZE
MAX_MESSAGE_BYTES = 1 << 30  # all buffers of one message together
MAX_FRAMES = 100_000  # frames of one job (as tpc.pose_sequence.MAX_FRAMES)
MAX_PARTS = MAX_FRAMES + 8  # header + buffers (a target mask per frame, a few inputs)
MAX_TEXT_CHARS = 2000  # error sentences, progress messages, client names
MAX_POSE_DOCUMENTS = MAX_FRAMES  # pose files sent as they are (an OpenPose folder has one per frame)
MAX_POSE_DOCUMENT_BYTES = MAX_PART_BYTES  # all of them together: as much as one PoseSequence may take
MAX_NAME_CHARS = 255  # a pose file's name (a file name, as most file systems allow)
MAX_CANVAS = 16384  # pixels on a side of the canvas pose files are drawn on (as tpc.pose_sequence.MAX_CANVAS)
MAX_STATUS_JOBS = 500  # jobs listed by one status reply, newest first
MAX_REQUEST_ID = (1 << 63) - 1

HEARTBEAT_INTERVAL = 1.0  # seconds between heartbeats on a quiet stream, both ways
SUBSCRIBER_EXPIRY = 10.0  # the backend forgets a silent stream after this; a later heartbeat revives it

# Flow control: frames the backend sends ahead of the client's acknowledgements. Frames wait on
# disk, not in memory, for a client that reads slowly.
# A client acknowledges every ACK_EVERY frames, well inside the window, so on a fast link the backend
# never waits for an acknowledgement (each wait costs both ends a sleep and a wake-up).
WINDOW_FRAMES = 128
WINDOW_BYTES = 64 << 20
ACK_EVERY = WINDOW_FRAMES // 4
