"""A small progress bar on stderr: redrawn in place on a terminal, a line per tenth otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Call with (done, total); prints rate and remaining time, and a final line when done."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 28) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.start = time.monotonic()
        self._last_draw = 0.0
        self._last_tenth = -1
        self._interactive = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        finished = done >= total
        if self._interactive:
            if not finished and now - self._last_draw < 0.1:
                return
        else:
            tenth = int(10 * done / max(1, total))
            if tenth == self._last_tenth and not finished:
                return
            self._last_tenth = tenth
        self._last_draw = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        remaining = (total - done) / rate if rate > 0 else float("inf")
        filled = int(self.width * done / max(1, total))
        bar = "#" * filled + "-" * (self.width - filled)
        eta = f"{remaining:5.1f}s left" if not finished and remaining != float("inf") else f"{elapsed:5.1f}s"
        line = f"{self.label} [{bar}] {done}/{total} {rate:6.1f}/s {eta}"
        end = "\n" if finished or not self._interactive else ""
        self.stream.write(("\r" if self._interactive else "") + line + end)
        self.stream.flush()
