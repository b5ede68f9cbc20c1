"""Many clients at once: every job completes, and no client ever sees another job's frames."""

from __future__ import annotations

import hashlib
import threading

from tests.support.example_jobs import collect, job

CLIENTS = 8
JOBS_PER_CLIENT = 3


def test_eight_clients_submitting_several_jobs_each_at_once(shared_backend, example):
    results: dict[str, dict] = {}
    foreign: list[str] = []
    errors: list[BaseException] = []
    clients = [shared_backend.client(timeout=120) for _ in range(CLIENTS)]
    start = threading.Barrier(CLIENTS * JOBS_PER_CLIENT)

    def follow(client, job_id: str, arguments: dict) -> None:
        try:
            start.wait(timeout=60)
            events = []
            for event in client.submit(job_id, **arguments):
                if getattr(event, "job_id", job_id) != job_id:
                    foreign.append(f"{job_id} got an event of {event.job_id}")
                events.append(event)
            results[job_id] = collect(events)
        except BaseException as error:  # reported below, with the job it belongs to
            errors.append(error)

    threads = []
    for c, client in enumerate(clients):
        for j in range(JOBS_PER_CLIENT):
            # Every job has its own motion (shifted), so any two jobs' frames differ.
            arguments = job(example, frames=3 + (c + j) % 3, size=96, shift=3.0 * (c * JOBS_PER_CLIENT + j))
            threads.append(threading.Thread(target=follow, args=(client, f"many-{c}-{j}", arguments)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    for client in clients:
        client.close()

    assert not errors, errors
    assert not foreign, foreign
    assert len(results) == CLIENTS * JOBS_PER_CLIENT
    digests: dict[str, str] = {}
    for job_id, result in results.items():
        total = result["accepted"].total_frames
        assert result["done"] and sorted(result["frames"]) == list(range(total)), job_id
        on_disk = shared_backend.frame_files(job_id)
        assert [path.read_bytes() for path in on_disk] == [result["frames"][i] for i in range(total)], job_id
        for png in result["frames"].values():
            digest = hashlib.sha256(png).hexdigest()
            assert digests.setdefault(digest, job_id) == job_id, f"{job_id} received a frame of {digests[digest]}"
        assert result["report"].report_json["summary"]["frames"] == total
