"""Atomic writes: whole files or none, and durable ones flushed through their folder too."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tpc.files import write_atomic


def test_durable_writes_replace_whole_files_and_also_open_the_folder_to_flush_it(tmp_path):
    target = tmp_path / "jobs" / "frame.png"
    write_atomic(target, b"old", durable=True)
    write_atomic(target, b"new", durable=True)
    assert target.read_bytes() == b"new" and [p.name for p in target.parent.iterdir()] == ["frame.png"]
    (tmp_path / "jobs" / "taken").mkdir()
    with pytest.raises(OSError):  # a folder where the file should go: the rename fails, nothing is left behind
        write_atomic(tmp_path / "jobs" / "taken", b"data", durable=True)
    assert sorted(p.name for p in target.parent.iterdir()) == ["frame.png", "taken"]
    # Which paths each kind of write opens, seen through Python's audit events in a fresh interpreter.
    script = (
        "import json, sys; from tpc.files import write_atomic\n"
        "opened = []\n"
        "sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == 'open' else None)\n"
        f"write_atomic({str(tmp_path / 'a.bin')!r}, b'x')\n"
        "plain = list(opened); opened.clear()\n"
        f"write_atomic({str(tmp_path / 'b.bin')!r}, b'x', durable=True)\n"
        "print(json.dumps([plain, opened]))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    plain, durable = json.loads(result.stdout)
    assert str(tmp_path) not in plain and durable[-1] == str(tmp_path)
