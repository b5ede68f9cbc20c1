"""`tpc submit`, `tpc status`, `tpc cancel`, `tpc delete` and `tpc demo` through the installed console scripts."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import zmq.auth

from tests.support.backend import BACKEND, TPC, Backend
from tests.support.example_jobs import job
from tpc.image_io import read_image


def tpc(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([TPC, *args], capture_output=True, text=True, timeout=timeout)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tpc: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory, example) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    arguments = job(example, frames=5, size=128)
    (folder / "reference.jpg").write_bytes(arguments["reference_image"])
    (folder / "poses.json").write_text(json.dumps(arguments["poses"]))
    (folder / "keypoints.json").write_text(json.dumps(arguments["reference_keypoints"]))
    (folder / "mask.png").write_bytes(arguments["reference_mask"])
    return folder


def submit_args(backend, files: Path, out: Path, *extra: str) -> list[str]:
    return [
        "submit", "--backend", backend.address, "--out", str(out), "--reference", str(files / "reference.jpg"),
        "--poses", str(files / "poses.json"), "--reference-keypoints", str(files / "keypoints.json"),
        "--reference-mask", str(files / "mask.png"), *extra,
    ]  # fmt: skip


def test_submit_writes_frames_and_report_and_a_rerun_fetches_nothing(shared_backend, files, tmp_path):
    out = tmp_path / "out"
    first = tpc(*submit_args(shared_backend, files, out))
    assert first.returncode == 0, first.stderr
    assert "render [" in first.stderr and "5 received now, 0 were already there" in first.stderr
    assert sorted(p.name for p in out.glob("0*.png")) == [f"{i:05d}.png" for i in range(5)]
    assert read_image(out / "00004.png").shape == (128, 128, 3)
    assert json.loads((out / "report.json").read_text())["summary"]["frames"] == 5
    job_id = (out / ".tpc-job").read_text().strip()
    assert job_id.startswith("job-")
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("0*.png")}

    again = tpc(*submit_args(shared_backend, files, out))
    assert again.returncode == 0, again.stderr
    assert "0 received now, 5 were already there" in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("0*.png")} == stamps

    other_settings = tpc(*submit_args(shared_backend, files, out, "--seed", "3"))
    assert "holds frames of job " + job_id in one_error_line(other_settings)


def test_status_and_cancel(shared_backend, files, tmp_path):
    done = tpc(*submit_args(shared_backend, files, tmp_path / "a", "--job-id", "cli-status", "--quiet"))
    assert done.returncode == 0 and done.stderr == ""
    listing = tpc("status", "--backend", shared_backend.address)
    assert listing.returncode == 0 and "cli-status" in listing.stdout and "5/5" in listing.stdout
    one = tpc("status", "--backend", shared_backend.address, "cli-status", "--json")
    assert json.loads(one.stdout)["state"] == "done"
    cancelled = tpc("cancel", "--backend", shared_backend.address, "cli-status")
    assert cancelled.returncode == 0 and "was already done (5 of 5 frames done); nothing to cancel" in cancelled.stderr
    unknown = one_error_line(tpc("cancel", "--backend", shared_backend.address, "nobody"))
    assert "this backend has no job nobody" in unknown


def test_delete(shared_backend, files, tmp_path):
    out = tmp_path / "kept"
    assert tpc(*submit_args(shared_backend, files, out, "--job-id", "cli-delete", "--quiet")).returncode == 0
    deleted = tpc("delete", "--backend", shared_backend.address, "cli-delete", "nobody", "cli-delete")
    assert deleted.returncode == 2, deleted.stderr
    lines = deleted.stderr.strip().splitlines()
    assert len(lines) == 2 and re.fullmatch(r"job cli-delete deleted \(done, 5 of 5 frames; \d+\.\d MB freed\)", lines[0])
    assert lines[1].startswith("tpc: error: this backend has no job nobody")
    assert len(list(out.glob("0*.png"))) == 5, "frames written by tpc submit --out stay"
    assert "this backend has no job cli-delete" in one_error_line(tpc("status", "--backend", shared_backend.address, "cli-delete"))


def test_user_errors_are_one_sentence(shared_backend, files, tmp_path):
    assert "unknown engine 'warp'; this backend knows preview" in one_error_line(
        tpc(*submit_args(shared_backend, files, tmp_path / "x", "--engine", "warp"))
    )
    missing = submit_args(shared_backend, files, tmp_path / "y")
    missing[missing.index("--poses") + 1] = str(tmp_path / "nope.json")
    assert re.search("poses file .*nope.json does not exist", one_error_line(tpc(*missing)))
    silent = one_error_line(tpc("status", "--backend", "tcp://127.0.0.1:9", "--timeout", "0.5"))
    assert silent.startswith("tpc: error: no answer from the backend at tcp://127.0.0.1:9 within 0.5 s")
    assert "must be a job id" in one_error_line(tpc(*submit_args(shared_backend, files, tmp_path / "z", "--job-id", "../up")))
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "00000.png").write_bytes(b"someone else's")
    assert "tpc submit did not write" in one_error_line(tpc(*submit_args(shared_backend, files, tmp_path / "foreign")))


def test_a_job_for_an_engine_the_backend_cannot_run_is_refused_and_leaves_the_folder_free(shared_backend, files, tmp_path):
    out = tmp_path / "out"
    refused = one_error_line(tpc(*submit_args(shared_backend, files, out, "--engine", "diffusion")))
    assert refused == "tpc: error: the diffusion engine needs a models folder: start the backend with `tpc-backend serve --models DIR`"
    assert not (out / ".tpc-job").exists()
    corrected = tpc(*submit_args(shared_backend, files, out, "--quiet"))  # the same folder, the default engine
    assert corrected.returncode == 0, corrected.stderr
    assert len(list(out.glob("0*.png"))) == 5


def test_curve_from_the_command_line(tmp_path, files):
    keys = tmp_path / "keys"
    for name in ("server", "farm-client"):
        assert subprocess.run([BACKEND, "keys", name, "--dir", str(keys)], capture_output=True, timeout=60).returncode == 0
    (keys / "allowed").mkdir()
    (keys / "allowed" / "farm-client.key").write_bytes((keys / "farm-client.key").read_bytes())
    backend = Backend(tmp_path / "data", "--secret-key", str(keys / "server.key_secret"), "--allow", str(keys / "allowed")).start()
    try:
        secure = ["--server-key", str(keys / "server.key"), "--client-key", str(keys / "farm-client.key_secret")]
        result = tpc(*submit_args(backend, files, tmp_path / "out", "--quiet", "--timeout", "20", *secure))
        assert result.returncode == 0, result.stderr
        z85 = zmq.auth.load_certificate(keys / "server.key")[0].decode()
        listing = tpc("status", "--backend", backend.address, "--server-key", z85, "--client-key", str(keys / "farm-client.key_secret"))
        assert listing.returncode == 0 and "done" in listing.stdout
        plain = tpc("status", "--backend", backend.address, "--timeout", "1")
        assert "no answer from the backend" in one_error_line(plain)
    finally:
        assert backend.stop() == 0


def test_demo_runs_the_whole_chain_through_a_local_backend(tmp_path):
    result = tpc("demo", "--out", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    assert "render [" in result.stderr and "demo: 48 preview frames in" in result.stderr
    frames = sorted((tmp_path / "demo").glob("0*.png"))
    assert len(frames) == 48 and read_image(frames[-1]).shape == (512, 512, 3)
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert report["summary"]["frames"] == 48 and report["summary"]["mean_score"] > 0.5
    assert read_image(tmp_path / "demo" / "report.png").shape[1] > 800
    before = [p.read_bytes() for p in frames]
    again = tpc("demo", "--out", str(tmp_path / "demo"), "--quiet")  # runs again from scratch, over the old files
    assert again.returncode == 0, again.stderr
    assert [p.read_bytes() for p in sorted((tmp_path / "demo").glob("0*.png"))] == before
