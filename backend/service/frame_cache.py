"""Recently finished frames in memory, so streaming them rarely touches the disk.

Frames are always on disk first (that is what makes them durable); this cache only saves reading them
back. The worker puts each frame it has just written, and the ROUTER loop puts each frame it had to
read, so a live job's followers, several clients on one job, and a client re-attaching are served
from memory. Sending the same bytes object to many clients costs no copy (ZeroMQ sends it in place).
Bounded by bytes, least recently used first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

DEFAULT_LIMIT = 256 << 20


class FrameCache:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._frames: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def put(self, job_id: str, index: int, png: bytes) -> None:
        with self._lock:
            old = self._frames.pop((job_id, index), None)
            if old is not None:
                self._size -= len(old)
            self._frames[(job_id, index)] = png
            self._size += len(png)
            while self._size > self.limit and self._frames:
                self._size -= len(self._frames.popitem(last=False)[1])

    def get(self, job_id: str, index: int) -> bytes | None:
        with self._lock:
            png = self._frames.get((job_id, index))
            if png is not None:
                self._frames.move_to_end((job_id, index))
            return png
