"""Publish jobs through the REST API, with tasks run eagerly (tests/test_workers.py runs real workers):
the one-active-job lock, the jobs endpoint, the overall deadline, the reaper and progress writes."""

import logging
import threading
import time
from contextlib import ExitStack
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.celery import app
from distribution.jobs import dispatch, ends, lifecycle
from distribution.models import PublishJob
from distribution.outbound.deadline import Deadline
from tests.support.samples import SAMPLE_MP4, audit_events, publish_request
from tests.support.servers import Route
from tests.support.services import RedisServer

PUBLISH = "/api/distribution/publish"


def post(client, body, **headers):
    return client.post(PUBLISH, body, format="json", headers=headers)


def active_job(audit_log_id: str, status="running", lease_seconds: float = 60, **fields) -> PublishJob:
    """A job another process holds, as the database shows it."""
    now = timezone.now()
    return PublishJob.objects.create(
        audit_log_id=audit_log_id,
        status=status,
        started_at=now,
        lease_expires_at=now + timedelta(seconds=lease_seconds),
        **fields,
    )


@pytest.fixture
def sample_url(asset_server):
    return asset_server.url + "/sample.mp4"


def test_the_database_allows_one_active_job_per_audit_log_id(db):
    active_job("dist_one")
    with pytest.raises(IntegrityError), transaction.atomic():
        active_job("dist_one", status="queued")
    PublishJob.objects.create(audit_log_id="dist_one", status="failed", started_at=timezone.now())
    PublishJob.objects.create(audit_log_id="dist_one", status="published", started_at=timezone.now())
    assert PublishJob.objects.filter(audit_log_id="dist_one").count() == 3


def test_publish_of_an_active_id_is_409_with_no_side_effect(api_client, cms, asset_server, sample_url, caplog):
    caplog.set_level(logging.INFO, logger="distribution.audit")
    holder = active_job("dist_busy")

    response = post(api_client, publish_request(sample_url, audit_log_id="dist_busy"))

    assert response.status_code == 409
    assert response.json() == {
        "error": {
            "code": "publish_in_progress",
            "message": "A publish of dist_busy is already queued or running; follow it at its status URL.",
            "audit_log_id": "dist_busy",
            "job_id": holder.pk,
            "status_url": f"/api/distribution/jobs/{holder.pk}",
        }
    }
    assert asset_server.requests == [] and cms.requests == []
    assert list(PublishJob.objects.all()) == [holder]
    assert audit_events(caplog) == []


def test_a_finished_publish_is_readable_as_a_job(api_client, cms, sample_url):
    record = post(api_client, publish_request(sample_url, audit_log_id="dist_job")).json()["distribution_record"]
    job_id = PublishJob.objects.get().pk

    response = api_client.get(f"/api/distribution/jobs/{job_id}")

    assert response.status_code == 200
    job = response.json()["job"]
    assert job["id"] == job_id and job["status_url"] == f"/api/distribution/jobs/{job_id}"
    assert (job["status"], job["stage"], job["audit_log_id"]) == ("published", "record", "dist_job")
    assert job["progress"] == {"bytes_done": len(SAMPLE_MP4), "bytes_total": len(SAMPLE_MP4)}
    assert (job["source"], job["caller"]) == ("api", "api-key:orchestrator")
    assert job["started_at"] <= job["run_started_at"] <= job["finished_at"]
    assert job["distribution_record"] == record and job["error"] is None


def test_a_failed_job_carries_the_error_body(api_client, cms, sample_url):
    body = publish_request(sample_url)
    body["final_edit"]["checksum"] = "sha256:" + "0" * 64
    error = post(api_client, body).json()["error"]

    job = api_client.get(PublishJob.objects.get().status_url).json()["job"]

    assert (job["status"], job["distribution_record"]) == ("failed", None)
    assert job["error"] == error and error["code"] == "checksum_mismatch"


def test_refusals_are_failed_jobs_without_a_queue(api_client, cms, sample_url):
    response = post(api_client, publish_request(sample_url, qc_report={"status": "fail"}))
    job = PublishJob.objects.get()
    assert response.status_code == 422
    assert (job.status, job.error_code, job.error_status, job.run_started_at) == ("failed", "qc_not_passed", 422, None)


def test_unknown_job_is_404_and_jobs_need_authentication(api_client, db):
    response = api_client.get("/api/distribution/jobs/999999")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "job_not_found"
    api_client.credentials()
    assert api_client.get("/api/distribution/jobs/1").status_code == 401


def test_drip_feeding_asset_host_fails_at_the_overall_deadline(api_client, cms, asset_server, settings):
    settings.DISTRIBUTION = {
        **settings.DISTRIBUTION,
        "PUBLISH_DEADLINE_SECONDS": 1.5,
        "HTTP_TIMEOUT_SECONDS": 5,
    }

    def one_byte_every_tenth_of_a_second():
        for byte in SAMPLE_MP4:
            time.sleep(0.1)
            yield bytes([byte])

    url = asset_server.add("/drip.mp4", Route(body=one_byte_every_tenth_of_a_second))
    started = time.monotonic()
    response = post(api_client, publish_request(url))
    elapsed = time.monotonic() - started

    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "asset_fetch_failed"
    assert "1.5 s publish deadline" in error["message"]
    assert 1.4 < elapsed < 4, elapsed  # the 5 s per-read timeout never fires against 1 byte per 0.1 s
    assert cms.kept_nothing()


def test_a_stalled_host_is_cut_at_the_deadline_not_the_longer_read_timeout(api_client, cms, asset_server, settings):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "PUBLISH_DEADLINE_SECONDS": 1, "HTTP_TIMEOUT_SECONDS": 30}

    def stall():
        yield SAMPLE_MP4[:100]
        time.sleep(5)
        yield SAMPLE_MP4[100:]

    started = time.monotonic()
    response = post(api_client, publish_request(asset_server.add("/stall.mp4", Route(body=stall))))
    assert response.json()["error"]["code"] == "asset_fetch_failed"
    assert time.monotonic() - started < 3


def test_reaper_fails_expired_jobs_and_releases_the_id(api_client, cms, sample_url, caplog):
    caplog.set_level(logging.INFO, logger="distribution.audit")
    lost = active_job("dist_lost", lease_seconds=-1, worker="gone:1", project_id="p", checksum="sha256:ab")
    never_started = active_job("dist_queued", status="queued", lease_seconds=-1)
    alive = active_job("dist_alive")

    assert lifecycle.reap_expired() == 2

    lost.refresh_from_db()
    never_started.refresh_from_db()
    alive.refresh_from_db()
    assert (lost.status, lost.error_code, lost.error_status) == ("failed", "worker_lost", 500)
    assert "gone:1" in lost.error_message
    assert (never_started.status, never_started.error_code) == ("failed", "not_started")
    assert alive.status == "running"
    events = {e["audit_log_id"]: e for e in audit_events(caplog)}
    assert events["dist_lost"]["status"] == "failed" and events["dist_lost"]["error_code"] == "worker_lost"
    assert events["dist_lost"]["project_id"] == "p" and events["dist_lost"]["checksum"] == "sha256:ab"
    assert post(api_client, publish_request(sample_url, audit_log_id="dist_lost")).status_code == 201
    assert lifecycle.reap_expired() == 0


def test_a_publish_reaps_an_expired_holder_itself(api_client, cms, sample_url):
    """Without beat running, a crashed publish blocks its id no longer than its lease."""
    holder = active_job("dist_stale", lease_seconds=-1)
    assert post(api_client, publish_request(sample_url, audit_log_id="dist_stale")).status_code == 201
    holder.refresh_from_db()
    assert (holder.status, holder.error_code) == ("failed", "worker_lost")


def test_progress_is_written_a_few_times_a_second_once_the_run_has_lasted_half_a_second(db, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(lifecycle.time, "monotonic", lambda: clock[0])
    job = active_job("dist_progress")
    heartbeat = lifecycle.Heartbeat(job, Deadline(60))  # not started: the lease is not at stake here
    tracker = lifecycle.JobProgress(job, heartbeat)

    def run_for(seconds: float) -> int:
        with CaptureQueriesContext(connection) as queries:
            for step in range(100):
                clock[0] += seconds / 100
                tracker("download" if step < 50 else "upload", step, 100)
        return len(queries)

    assert run_for(0.45) == 0  # a short publish writes no progress (its end writes the figures)
    assert 2 <= run_for(1.0) <= 5  # then at most one write per 0.25 s, and the stage change
    job.refresh_from_db()
    assert (job.stage, job.bytes_total) == ("upload", 100) and job.bytes_done >= 50


def test_a_lost_lease_stops_the_run(db):
    job = active_job("dist_reaped")
    heartbeat = lifecycle.Heartbeat(job, Deadline(60))
    heartbeat.lost = True
    with pytest.raises(Exception, match="lease ran out"):
        lifecycle.JobProgress(job, heartbeat)("upload", 1, 2)


@pytest.mark.django_db(transaction=True)
def test_the_lease_is_renewed_until_the_deadline_then_left_to_run_out(settings):
    """A run stuck past its deadline where nothing can interrupt it stops holding its job: the reaper fails it."""
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "JOB_LEASE_SECONDS": 0.4}
    renewed, stuck = active_job("dist_renewed", lease_seconds=0.4), active_job("dist_stuck", lease_seconds=0.4)
    with lifecycle.Heartbeat(renewed, Deadline(60)), lifecycle.Heartbeat(stuck, Deadline(0.15)) as stuck_heartbeat:
        time.sleep(1.2)
        assert not stuck_heartbeat.renewing  # its renewals ended by themselves at the deadline
    assert lifecycle.reap_expired() == 1
    renewed.refresh_from_db()
    stuck.refresh_from_db()
    assert renewed.status == "running"
    assert (stuck.status, stuck.error_code) == ("failed", "worker_lost")


@pytest.mark.django_db(transaction=True)
def test_one_thread_renews_the_leases_of_every_job_running_in_the_process(settings):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "JOB_LEASE_SECONDS": 0.4}
    jobs = [active_job(f"dist_many_{n}", lease_seconds=0.4) for n in range(5)]
    threads_before = threading.active_count()
    with ExitStack() as running:
        heartbeats = [running.enter_context(lifecycle.Heartbeat(job, Deadline(60))) for job in jobs]
        assert threading.active_count() <= threads_before + 1  # the keeper, if this process had none yet
        time.sleep(0.8)  # twice the lease: only renewals keep the jobs
        assert lifecycle.reap_expired() == 0
        assert all(heartbeat.renewing and not heartbeat.lost for heartbeat in heartbeats)
    assert not any(heartbeat.renewing for heartbeat in heartbeats)


def test_broker_down_is_503_and_releases_the_id(api_client, cms, sample_url, settings, celery_broker_dir):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "SYNC_WAIT_SECONDS": 5}
    app.conf.task_always_eager = False
    queue = celery_broker_dir / "queue"
    queue.rename(celery_broker_dir / "away")
    queue.write_text("")  # the broker's message store is not a folder any more: nothing can be enqueued
    try:
        response = post(api_client, publish_request(sample_url, audit_log_id="dist_nobroker"))
    finally:
        queue.unlink()
        (celery_broker_dir / "away").rename(queue)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "queue_unavailable"
    job = PublishJob.objects.get()
    assert (job.status, job.error_code) == ("failed", "queue_unavailable")
    assert cms.requests == []


def test_an_insert_failing_for_another_reason_is_not_reported_as_in_progress(api_client, cms, sample_url, monkeypatch):
    """Only the one-active-job constraint means 409: any other integrity error is a bug, answered 500."""

    def broken_insert(self, *args, **kwargs):
        raise IntegrityError("NOT NULL constraint failed: distribution_publishjob.some_column")

    monkeypatch.setattr(PublishJob, "save", broken_insert)
    response = post(api_client, publish_request(sample_url))
    assert (response.status_code, response.json()["error"]["code"]) == (500, "internal_error")
    assert cms.requests == []


@pytest.fixture
def redis_broker(tmp_path, settings):
    """A real Redis as the broker setting names it (tasks still run eagerly here)."""
    server = RedisServer(tmp_path)
    settings.CELERY_BROKER_URL = server.url
    ends._redis.cache_clear()
    yield server
    ends._redis.cache_clear()
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_with_redis_a_waiting_request_wakes_at_the_jobs_end_without_polling(redis_broker):
    job = active_job("dist_announced")
    finisher = threading.Timer(0.3, lambda: lifecycle.finish(PublishJob.objects.get(pk=job.pk)))
    started = time.monotonic()
    finisher.start()
    with CaptureQueriesContext(connection) as queries:
        ended = dispatch.wait(job, 60)
    elapsed = time.monotonic() - started
    finisher.join()
    assert ended.status == "published" and elapsed < 30
    reads = [query for query in queries if query["sql"].startswith("SELECT")]
    # one read, then one when the end is announced (and one a second if a slow machine delays the announcement);
    # polling the row would read it every 10-30 ms
    assert len(reads) <= 2 + int(elapsed)


def test_without_redis_the_waiting_request_polls(db):
    assert ends.wait_for(1, 0.01) is None  # the test settings' filesystem broker: nothing to wait on
    job = active_job("dist_polled", status="failed")
    assert dispatch.wait(job, 5).status == "failed"
