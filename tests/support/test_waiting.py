"""wait_until, which every waiting test relies on: it returns what it waited for, and fails in time."""

from __future__ import annotations

import time

import pytest

from tests.support.waiting import wait_until


def test_returns_the_conditions_first_truthy_value():
    answers = iter([None, 0, [], "ready", "later"])
    assert wait_until(lambda: next(answers), 5, "never ready", interval=0.0) == "ready"


def test_fails_with_the_message_once_the_deadline_passes_and_builds_it_only_then():
    built = []
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"waited 0.2 s in vain: still nothing after 1 message"):
        wait_until(lambda: False, 0.2, lambda: built.append(1) or f"still nothing after {len(built)} message")
    assert time.monotonic() - started >= 0.2, "it gave up before its deadline"


def test_an_error_inside_the_condition_ends_the_wait_at_once():
    def exited():
        raise RuntimeError("the process exited")

    with pytest.raises(RuntimeError, match="exited"):
        wait_until(exited, 60, "unused")
