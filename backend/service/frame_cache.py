"""Recently finished frames and reports in memory, so streaming them rarely touches the disk.

Frames are always on disk first (that is what makes them durable); this cache only saves reading them
back. The worker puts each frame and report it has just written, and the ROUTER loop puts each one it
had to read, so a live job's followers, several clients on one job, and a client re-attaching are
served from memory. Sending the same bytes object to many clients costs no copy (ZeroMQ sends it in
place). Bounded by bytes, least recently used first out.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

DEFAULT_LIMIT = 256 << 20
_REPORT = -1  # the index a job's report is kept under (frames count from 0)


class FrameCache:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._items: OrderedDict[tuple[str, int], tuple[Any, int]] = OrderedDict()  # value and its size
        self._size = 0
        self._lock = threading.Lock()

    def put(self, job_id: str, index: int, png: bytes) -> None:
        self._put((job_id, index), png, len(png))

    def get(self, job_id: str, index: int) -> bytes | None:
        return self._get((job_id, index))

    def put_report(self, job_id: str, report_json: bytes, report_png: bytes) -> None:
        self._put((job_id, _REPORT), (report_json, report_png), len(report_json) + len(report_png))

    def get_report(self, job_id: str) -> tuple[bytes, bytes] | None:
        return self._get((job_id, _REPORT))

    def drop(self, job_id: str) -> None:
        """Forget a deleted job's frames and report."""
        with self._lock:
            for key in [key for key in self._items if key[0] == job_id]:
                self._size -= self._items.pop(key)[1]

    def _put(self, key: tuple[str, int], value: Any, size: int) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._size -= old[1]
            self._items[key] = (value, size)
            self._size += size
            while self._size > self.limit and self._items:
                self._size -= self._items.popitem(last=False)[1][1]

    def _get(self, key: tuple[str, int]) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]
