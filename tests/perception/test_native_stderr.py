"""MediaPipe's muted stderr: hidden while a muted call runs, back for good however threads interleave."""

from __future__ import annotations

import os
import threading

import pytest

from tpc_backend.perception.mediapipe_estimators import _quiet_native_stderr

WAIT = 30.0  # seconds; only reached when something is broken


def stderr_file() -> tuple[int, int]:
    status = os.fstat(2)
    return status.st_dev, status.st_ino


def devnull() -> tuple[int, int]:
    status = os.stat(os.devnull)
    return status.st_dev, status.st_ino


class MutedCall(threading.Thread):
    """A thread that enters a muted region, says so, and leaves it only when told."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.inside = threading.Event()
        self.may_leave = threading.Event()
        self.left = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with _quiet_native_stderr(True):
                self.inside.set()
                assert self.may_leave.wait(WAIT)
            self.left.set()
        except BaseException as error:  # reported by the test thread
            self.error = error

    def enter(self) -> None:
        self.start()
        assert self.inside.wait(WAIT)

    def leave(self) -> None:
        self.may_leave.set()
        assert self.left.wait(WAIT), self.error
        self.join(WAIT)
        assert self.error is None, self.error


@pytest.mark.parametrize("first_to_leave", ["first_in", "last_in"])
def test_interleaved_muted_calls_give_stderr_back(capfd, first_to_leave):
    original = stderr_file()
    assert original != devnull()
    first, second = MutedCall(), MutedCall()
    first.enter()
    second.enter()  # while the first is still muted
    assert stderr_file() == devnull()
    os.write(2, b"native noise\n")
    leaving = [first, second] if first_to_leave == "first_in" else [second, first]
    leaving[0].leave()
    assert stderr_file() == devnull()  # the other call's native code is still running
    leaving[1].leave()
    assert stderr_file() == original
    os.write(2, b"a later traceback\n")
    assert capfd.readouterr().err == "a later traceback\n"


def test_muted_calls_on_one_thread_nest(capfd):
    original = stderr_file()
    with _quiet_native_stderr(True):
        with _quiet_native_stderr(True):
            os.write(2, b"hidden\n")
        assert stderr_file() == devnull()
        with _quiet_native_stderr(False):
            assert stderr_file() == devnull()
    assert stderr_file() == original
    os.write(2, b"shown\n")
    assert capfd.readouterr().err == "shown\n"
