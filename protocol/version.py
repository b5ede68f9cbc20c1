"""The protocol version both sides must share.

It changes whenever a message's fields or meaning change. Every message carries it, and a side that
receives another version answers with an ERROR naming both, so an old add-on and a new backend fail
with a sentence instead of misreading each other.
"""

PROTOCOL_VERSION = 3  # 2: submit carries pose files as they are (pose_documents, pose_canvas, pose_fps); 3: delete
