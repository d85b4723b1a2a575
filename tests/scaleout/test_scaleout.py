"""Publishing through the production topology (tests/scaleout/cluster.py) under load and a crash.

Every check reads the real stores afterwards: PayloadCMS's documents through its REST API, the
stored file on Payload's disk, the download behind public_url, the mirror and the jobs in
Django's PostgreSQL database.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.cluster import mp4_asset, publish_body, sha256
from tests.support.servers import Route

pytestmark = pytest.mark.scaleout

ASSET_BYTES = 256 * 1024
ANSWERS = {201, 202, 409}  # a caller may be told "published", "still running" or "already running", never a 5xx
ASYNC = {"Prefer": "respond-async"}


def serve(assets, label: str) -> tuple[str, str]:
    """A distinct MP4 on the asset server: its URL and checksum."""
    data = mp4_asset(label, ASSET_BYTES)
    return assets.add(f"/{label}.mp4", Route(body=data)), sha256(data)


def wait_for_job(cluster, job_id: int, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while (job := cluster.job(job_id))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']} after {timeout} s\n{cluster.logs()}"
        time.sleep(0.2)
    return job


def publish_at_once(cluster, bodies: list[dict]) -> list[httpx.Response]:
    """Send every publish at the same moment, each from its own thread."""
    start_line = threading.Barrier(len(bodies))

    def publish(body):
        start_line.wait()
        return cluster.publish(body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(publish, bodies))


def published_checksum(cluster, response: httpx.Response) -> str | None:
    """The checksum a 201, or a 202 whose job then published, put in PayloadCMS; None otherwise."""
    if response.status_code == 201:
        return response.json()["distribution_record"]["metadata"]["checksum"]
    if response.status_code == 202:
        job = wait_for_job(cluster, response.json()["job"]["id"])
        return job["distribution_record"]["metadata"]["checksum"] if job["status"] == "published" else None
    return None


def assert_published_once(cluster, audit_log_id: str, checksum: str) -> None:
    """One media document and one record for the id, agreeing with the stored bytes, the download and the mirror."""
    media = cluster.payload.find("media", audit_log_id=audit_log_id)
    records = cluster.payload.find("distributionRecords", audit_log_id=audit_log_id)
    assert (media["totalDocs"], records["totalDocs"]) == (1, 1), audit_log_id
    [media], [record] = media["docs"], records["docs"]
    assert record["checksum"] == checksum, f"{audit_log_id}: the record is not the last published asset's"
    assert (media["checksum"], media["storage_path"]) == (checksum, record["storage_path"])
    stored = (cluster.payload.media_dir / record["storage_path"]).read_bytes()
    assert sha256(stored) == checksum, f"{audit_log_id}: stored bytes do not hash to the record's checksum"
    assert media["filesize"] == len(stored)
    download = httpx.get(record["public_url"], timeout=60)
    assert download.status_code == 200 and sha256(download.content) == checksum
    assert cluster.mirror(audit_log_id) == [(checksum, record["storage_path"], record["public_url"])]


def assert_every_job_ended(cluster) -> None:
    sql = "SELECT id, audit_log_id, status FROM distribution_publishjob WHERE status IN ('queued', 'running')"
    assert cluster.postgres.query("distribution", sql) == []


def test_fifty_publishes_with_distinct_ids(cluster, assets):
    """Round-robin over both web processes, 8 at a time; every fifth asks for an asynchronous answer (202)."""
    jobs = []
    for number in range(50):
        audit_log_id = f"dist_scaleout_distinct_{number:02d}"
        jobs.append((audit_log_id, publish_body(audit_log_id, *serve(assets, audit_log_id)), number % 5 == 0))

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda job: cluster.publish(job[1], ASYNC if job[2] else None), jobs))

    statuses = [response.status_code for response in responses]
    assert statuses == [202 if asynchronous else 201 for _, _, asynchronous in jobs], cluster.logs()
    for (audit_log_id, body, _), response in zip(jobs, responses, strict=True):
        assert published_checksum(cluster, response) == body["final_edit"]["checksum"]
        assert_published_once(cluster, audit_log_id, body["final_edit"]["checksum"])
    assert_every_job_ended(cluster)


def test_workers_keep_their_database_sessions_from_publish_to_publish(cluster, assets):
    """A new PostgreSQL session per publish cost a backend process each: a worker's pool threads and its lease
    keeper each keep one, as a web process's threads do from request to request."""
    opened_before = cluster.postgres.connections_opened("worker")
    bodies = [publish_body(f"dist_scaleout_sessions_{n}", *serve(assets, f"sessions-{n}")) for n in range(30)]
    with ThreadPoolExecutor(4) as pool:
        statuses = [response.status_code for response in pool.map(cluster.publish, bodies)]
    assert statuses == [201] * len(bodies), cluster.logs()

    opened = cluster.postgres.connections_opened("worker") - opened_before
    threads = len(cluster.workers) * (int(cluster.django_env["CELERY_WORKER_CONCURRENCY"]) + 1)  # + the keeper
    assert opened <= threads, f"the workers opened {opened} database sessions for {len(bodies)} publishes"


def test_ten_rounds_of_ten_concurrent_publishes_of_one_id(cluster, assets):
    """Each id is raced twice: a first publish, then a re-publish over it; every caller has a different asset."""
    for round_number in range(10):
        audit_log_id = f"dist_scaleout_race_{round_number // 2}"
        bodies = [publish_body(audit_log_id, *serve(assets, f"race-{round_number}-{n}")) for n in range(10)]
        responses = publish_at_once(cluster, bodies)

        statuses = [response.status_code for response in responses]
        assert set(statuses) <= ANSWERS, f"round {round_number}: {statuses}\n{cluster.logs()}"
        assert 409 in statuses, f"round {round_number}: the publishes did not overlap: {statuses}"
        for response in responses:
            if response.status_code == 409:
                error = response.json()["error"]
                assert (error["code"], error["audit_log_id"]) == ("publish_in_progress", audit_log_id)
                assert error["status_url"] == f"/api/distribution/jobs/{error['job_id']}"
        published = {published_checksum(cluster, response) for response in responses} - {None}
        assert published, f"round {round_number}: no caller's publish went through: {statuses}"
        # Jobs of one id never overlap, so the record is the one of the job that finished last.
        [(last,)] = cluster.postgres.query(
            "distribution",
            "SELECT checksum FROM distribution_publishjob WHERE audit_log_id = %s AND status = 'published' "
            "ORDER BY finished_at DESC LIMIT 1",
            audit_log_id,
        )
        assert last in published
        assert_published_once(cluster, audit_log_id, last)
    assert_every_job_ended(cluster)


def drip_fed(assets, label: str, size: int) -> tuple[str, str]:
    """An MP4 the asset server sends 64 KiB at a time, one chunk every 0.1 s: its URL and checksum."""
    data = mp4_asset(label, size)

    def drip():
        for offset in range(0, len(data), 64 * 1024):
            yield data[offset : offset + 64 * 1024]
            time.sleep(0.1)

    return assets.add(f"/{label}.mp4", Route(body=drip, declare_length=False)), sha256(data)


def test_worker_killed_in_the_middle_of_a_transfer(cluster, assets):
    """SIGKILL a worker (and its pool) mid-transfer, with more jobs queued than the workers can run at once.

    The jobs it ran end worker_lost once their lease runs out, with nothing in PayloadCMS (the uploads it
    was streaming were cut off); every other job, queued ones included, is run by the surviving worker;
    none stays active.
    """
    bodies = {}
    for number in range(7):
        audit_log_id = f"dist_scaleout_crash_{number}"
        bodies[audit_log_id] = publish_body(audit_log_id, *drip_fed(assets, audit_log_id, 2 * 1024 * 1024))
    jobs = {}
    for audit_log_id, body in bodies.items():
        accepted = cluster.publish(body, ASYNC)
        assert accepted.status_code == 202, accepted.text
        jobs[audit_log_id] = accepted.json()["job"]["id"]
    first = next(iter(jobs.values()))
    deadline = time.monotonic() + 60
    while not ((job := cluster.job(first))["stage"] == "upload" and job["progress"]["bytes_done"] > 0):
        assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
        time.sleep(0.05)

    sql = "SELECT worker FROM distribution_publishjob WHERE id = %s"
    [(worker,)] = cluster.postgres.query("distribution", sql, first)
    [victim] = [process for process in cluster.workers if process.owns(int(worker.rsplit(":", 1)[1]))]
    victim.crash()
    cluster.workers.remove(victim)
    [survivor] = cluster.workers

    lost = []
    for audit_log_id, job_id in jobs.items():
        job = wait_for_job(cluster, job_id, timeout=90)  # a dead worker's lease runs out; beat's reaper fails it
        if job["status"] == "published":
            assert_published_once(cluster, audit_log_id, bodies[audit_log_id]["final_edit"]["checksum"])
            continue
        assert job["error"]["code"] == "worker_lost", job
        [(worker,)] = cluster.postgres.query("distribution", sql, job_id)
        assert not survivor.owns(int(worker.rsplit(":", 1)[1])), "only the killed worker's jobs are lost"
        assert cluster.payload.find("media", audit_log_id=audit_log_id)["totalDocs"] == 0
        assert cluster.payload.find("distributionRecords", audit_log_id=audit_log_id)["totalDocs"] == 0
        lost.append(audit_log_id)
    assert "dist_scaleout_crash_0" in lost

    # Nothing is retried by itself; the operator re-publishes, and the surviving worker takes it.
    for audit_log_id in lost:
        url, checksum = serve(assets, audit_log_id + "-again")
        response = cluster.publish(publish_body(audit_log_id, url, checksum))
        assert response.status_code == 201, response.text
        assert_published_once(cluster, audit_log_id, checksum)
    assert_every_job_ended(cluster)
