"""Waiting on a condition with a deadline: the one way tests (and benchmarks) wait for something to happen.

A bare ``time.sleep`` guesses how long something takes and is either too short on a loaded machine
or too long everywhere else; a loop that polls without a deadline hangs the run when the thing never
happens. :func:`wait_until` polls until the condition holds and fails with the caller's sentence when
the deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, message: str | Callable[[], str], interval: float = 0.02) -> T:
    """Poll ``condition()`` every ``interval`` seconds until it is truthy, and return that value.

    After ``timeout`` seconds fails (``AssertionError``) with ``message``; give a callable to build
    the message only then, e.g. from a log file written meanwhile. ``condition`` may itself assert or
    raise to stop the wait early (a process that exited, a stream that ended).
    """
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"waited {timeout:g} s in vain: {text}")
        time.sleep(interval)
    return value
