"""Jobs run by real `celery -A config worker` processes, with the API served by Django's live server.

The web side and the workers share only the database (a file) and the broker folders,
as separate machines would share PostgreSQL and Redis.
"""

import io
import json
import sqlite3
import threading
import time

import httpx
import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from rest_framework.authtoken.models import Token

from config.celery import app
from distribution.models import CallbackDelivery, PublishJob
from tests.support.callbacks import SECRET, Receiver, verify
from tests.support.cluster import mp4_asset, sha256
from tests.support.processes import peak_rss_mib, reset_peak_rss
from tests.support.samples import CMS_API_KEY, ORCHESTRATOR_KEY, SAMPLE_MP4, install_api_key, publish_request
from tests.support.servers import Route
from tests.support.terminal import FakeTerminal, final_lines
from tests.support.workers import CeleryWorker

pytestmark = pytest.mark.django_db(transaction=True)
HEADERS = {"X-API-Key": ORCHESTRATOR_KEY}


@pytest.fixture
def worker_env(cms, tmp_path, celery_broker_dir, settings):
    """Real workers: .delay() goes to the broker folders; the workers reach the same CMS double."""
    app.conf.task_always_eager = False
    install_api_key("orchestrator", ORCHESTRATOR_KEY)
    return {
        "workdir": tmp_path,
        "broker_dir": celery_broker_dir,
        "PAYLOADCMS_URL": cms.url,
        "PAYLOADCMS_API_KEY": CMS_API_KEY,
        "DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL": "true",
        "DISTRIBUTION_ALLOW_LOOPBACK_DESTINATIONS": "true",  # the asset server is on 127.0.0.1
    }


def start_worker(worker_env, **extra) -> CeleryWorker:
    env = dict(worker_env)
    return CeleryWorker(env.pop("workdir"), env.pop("broker_dir"), **{**env, **extra})


def slow_asset(asset_server, seconds: float) -> str:
    """The sample MP4 dripped out over `seconds`, so a job stays running that long."""
    pieces = [SAMPLE_MP4[i : i + 100] for i in range(0, len(SAMPLE_MP4), 100)]

    def body():
        for piece in pieces:
            time.sleep(seconds / len(pieces))
            yield piece

    return asset_server.add("/slow.mp4", Route(body=body))


def post(live_server, body, **headers) -> httpx.Response:
    return httpx.post(
        f"{live_server.url}/api/distribution/publish", json=body, headers={**HEADERS, **headers}, timeout=60
    )


def get_job(live_server, job_id) -> dict:
    response = httpx.get(f"{live_server.url}/api/distribution/jobs/{job_id}", headers=HEADERS, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["job"]


def wait_for(predicate, timeout: float = 60, what: str = "condition"):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_publish_waits_for_the_worker_and_answers_201(live_server, cms, asset_server, worker_env):
    with start_worker(worker_env) as worker:
        response = post(live_server, publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_w1"))

    assert response.status_code == 201, response.text
    assert response.json()["distribution_record"]["audit_log_id"] == "dist_w1"
    assert cms.state.files["concept-42/mvp/dist_w1.mp4"] == SAMPLE_MP4
    job = PublishJob.objects.get(audit_log_id="dist_w1")
    assert job.status == "published" and job.worker.endswith(f":{worker.process.pid}")
    assert (job.stage, job.bytes_done, job.bytes_total) == ("record", len(SAMPLE_MP4), len(SAMPLE_MP4))


def test_respond_async_202_then_409_for_the_same_id_then_the_job_publishes(
    live_server, cms, asset_server, worker_env, caplog
):
    body = publish_request(slow_asset(asset_server, 3), audit_log_id="dist_w2")
    with start_worker(worker_env):
        accepted = post(live_server, body, Prefer="respond-async")
        assert accepted.status_code == 202, accepted.text
        job = accepted.json()["job"]
        assert accepted.headers["Location"] == job["status_url"] == f"/api/distribution/jobs/{job['id']}"
        assert accepted.headers["Preference-Applied"] == "respond-async"
        assert job["status"] in ("queued", "running") and job["audit_log_id"] == "dist_w2"

        running = wait_for(
            lambda: (j := get_job(live_server, job["id"]))["progress"]["bytes_done"] > 0 and j, what="streaming"
        )
        assert running["status"] == "running" and running["stage"] == "upload" and running["run_started_at"]
        requests_before = len(asset_server.requests)  # the worker's GET has arrived: it has bytes
        conflict = post(live_server, publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_w2"))
        assert conflict.status_code == 409
        assert conflict.json()["error"] == {
            "code": "publish_in_progress",
            "message": conflict.json()["error"]["message"],
            "audit_log_id": "dist_w2",
            "job_id": job["id"],
            "status_url": job["status_url"],
        }
        assert len(asset_server.requests) == requests_before  # no side effect at all
        assert PublishJob.objects.filter(audit_log_id="dist_w2").count() == 1

        done = wait_for(lambda: (j := get_job(live_server, job["id"]))["status"] == "published" and j, what="end")
    assert done["distribution_record"]["public_url"].split("?")[0].endswith("/concept-42/mvp/dist_w2.mp4")
    assert done["stage"] == "record"  # the last stage it entered
    # Streamed from a host that declared no length: every byte counted, the total never known.
    assert done["progress"] == {"bytes_done": len(SAMPLE_MP4), "bytes_total": None}
    assert done["error"] is None and done["finished_at"]
    assert len(cms.state.media) == 1


def test_sigkilled_worker_is_reaped_to_worker_lost_and_the_id_is_free_again(live_server, cms, asset_server, worker_env):
    body = publish_request(slow_asset(asset_server, 30), audit_log_id="dist_w3")
    lease = {"DISTRIBUTION_JOB_LEASE_SECONDS": "2", "DISTRIBUTION_REAPER_INTERVAL_SECONDS": "0.5"}
    doomed = start_worker(worker_env, name="doomed", **lease)
    try:
        job_id = post(live_server, body, Prefer="respond-async").json()["job"]["id"]
        wait_for(lambda: PublishJob.objects.get(pk=job_id).status == "running", what="running")
        wait_for(lambda: PublishJob.objects.get(pk=job_id).bytes_done > 0, what="the asset streaming")
    finally:
        doomed.kill()
    assert PublishJob.objects.get(pk=job_id).status == "running"  # nobody has noticed yet

    with start_worker(worker_env, name="survivor", beat=True, **lease) as survivor:
        reaped = wait_for(
            lambda: (j := PublishJob.objects.get(pk=job_id)).status == "failed" and j, timeout=30, what="reaping"
        )
        assert (reaped.error_code, reaped.error_status) == ("worker_lost", 500)
        assert reaped.audit_event["status"] == "failed" and reaped.audit_event["error_code"] == "worker_lost"
        assert cms.kept_nothing()  # the upload it was streaming was cut off: PayloadCMS kept no part of it
        job = get_job(live_server, job_id)
        assert job["status"] == "failed" and job["error"]["code"] == "worker_lost"

        again = post(live_server, publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_w3"))
        assert again.status_code == 201, again.text
    events = [json.loads(line) for line in survivor.log.read_text().splitlines() if line.startswith('{"')]
    assert {(e["audit_log_id"], e["status"], e["error_code"]) for e in events} >= {
        ("dist_w3", "failed", "worker_lost"),
        ("dist_w3", "published", None),
    }
    assert PublishJob.objects.filter(status__in=["queued", "running"]).count() == 0


def test_command_enqueue_wait_follows_the_worker_with_the_progress_line(cms, asset_server, worker_env, tmp_path):
    request = tmp_path / "request.json"
    request.write_text(json.dumps(publish_request(slow_asset(asset_server, 2), audit_log_id="dist_w4")))
    terminal, out = FakeTerminal(), io.StringIO()
    with start_worker(worker_env) as worker:
        call_command("publish", str(request), "--enqueue", "--wait", "--json", stdout=out, stderr=terminal)

    assert json.loads(out.getvalue())["distribution_record"]["audit_log_id"] == "dist_w4"
    job = PublishJob.objects.get(audit_log_id="dist_w4")
    assert job.worker.endswith(f":{worker.process.pid}") and job.source == "command"
    lines = final_lines(terminal)
    # The download streams into the upload: the one transfer stage a job has is "upload", from its claim on
    # (chunked: no total, no percentage), so the line says upload whenever the command's polls happen to fall.
    assert lines and all(line.startswith("upload ") and line.endswith("KiB") for line in lines), lines


def test_worker_retries_a_failed_callback_after_its_delay(live_server, cms, asset_server, worker_env, settings):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "CALLBACK_SECRET": SECRET}
    callbacks = {"DISTRIBUTION_CALLBACK_SECRET": SECRET, "DISTRIBUTION_CALLBACK_RETRY_DELAYS": "1.5"}
    with Receiver(500) as receiver, start_worker(worker_env, **callbacks):
        body = publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_w5", callback_url=receiver.url)
        assert post(live_server, body).status_code == 201
        wait_for(lambda: len(receiver.received) == 2, what="the retried callback")

    first, second = (CallbackDelivery.objects.get(attempt=n) for n in (1, 2))
    assert (first.delivered, first.status_code, second.delivered) == (False, 500, True)
    assert (second.created_at - first.created_at).total_seconds() >= 1.5
    for headers, sent in receiver.received:
        verify(headers, sent)
        assert json.loads(sent)["job"]["status"] == "published"
    assert asset_server.requests == [("GET", "/sample.mp4")]  # the publish itself ran once


def test_cancel_stops_the_job_a_worker_runs_and_leaves_nothing(live_server, cms, asset_server, worker_env):
    operator = User.objects.create_user("operator", password="pw")
    operator.user_permissions.add(Permission.objects.get(codename="cancel"))
    token = Token.objects.create(user=operator)
    body = publish_request(slow_asset(asset_server, 30), audit_log_id="dist_w_cancel")
    with start_worker(worker_env) as worker:
        accepted = post(live_server, body, Prefer="respond-async")
        job_id = accepted.json()["job"]["id"]
        wait_for(lambda: get_job(live_server, job_id)["progress"]["bytes_done"] > 0, what="streaming")

        cancelled = httpx.post(
            f"{live_server.url}/api/distribution/jobs/{job_id}/cancel",
            headers={"Authorization": f"Token {token.key}"},
            timeout=30,
        )

    assert cancelled.status_code == 200, cancelled.text
    job = cancelled.json()["job"]
    assert (job["status"], job["error"]["code"]) == ("failed", "cancelled")
    assert job["error"]["message"].startswith("Cancelled by operator.")
    assert PublishJob.objects.get(pk=job_id).worker.endswith(f":{worker.process.pid}")  # stopped by that process
    assert cms.state.media == [] and cms.state.records == [] and not cms.state.files


def test_a_dripping_host_holds_back_neither_a_healthy_publish_nor_the_worker(
    live_server, cms, asset_server, worker_env
):
    """16 publishes from an asset host that drips and one healthy 8 MiB publish from another, on one threads worker.

    The drips take at most DISTRIBUTION_MAX_PUBLISHES_PER_HOST of the worker's 16 threads and fail at the
    low-speed limit; the healthy publish runs beside them about as fast as alone.
    """
    window, per_host = 2, 8
    healthy = mp4_asset("healthy", 8 * 1024 * 1024)
    healthy_url = asset_server.add("/healthy.mp4", Route(body=healthy)).replace("127.0.0.1", "localhost")
    dripping, lock = 0, threading.Lock()

    def drip():  # 100 bytes each 0.1 s: 1 KB/s, a tenth of the limit, yet never silent for a read timeout
        nonlocal dripping
        with lock:
            dripping += 1
        try:
            yield SAMPLE_MP4[:100]
            for _ in range(600):
                time.sleep(0.1)
                yield b"\0" * 100
        finally:
            with lock:
                dripping -= 1

    drip_url = asset_server.add("/drip.mp4", Route(body=drip))

    def publish_healthy(audit_log_id: str) -> float:
        body = publish_request(healthy_url, audit_log_id=audit_log_id)
        body["final_edit"]["checksum"] = sha256(healthy)
        started = time.monotonic()
        response = post(live_server, body)
        assert response.status_code == 201, response.text
        return time.monotonic() - started

    limits = {"DISTRIBUTION_LOW_SPEED_SECONDS": str(window), "DISTRIBUTION_MAX_PUBLISHES_PER_HOST": str(per_host)}
    with start_worker(worker_env, pool="threads", **limits) as worker:
        solo = min(publish_healthy("dist_solo1"), publish_healthy("dist_solo2"))  # the first one also warms up
        reset_peak_rss(worker.process.pid)
        for number in range(16):
            body = publish_request(drip_url, audit_log_id=f"dist_drip{number}")
            assert post(live_server, body, Prefer="respond-async").status_code == 202
        wait_for(lambda: dripping >= per_host, timeout=30, what="the host's slots to fill")
        beside_the_drips = publish_healthy("dist_beside")
        wait_for(
            lambda: not PublishJob.objects.filter(status__in=["queued", "running"]).exists(),
            timeout=2 * (16 // per_host) * window + 30,
            what="the drips to fail",
        )
        peak_mib = peak_rss_mib(worker.process.pid)

    # Within twice its solo time; a solo time under half a second counts as half a second, since below that
    # the shared machine's scheduling noise decides. Queued behind the drips it would wait a whole 2 s window.
    assert beside_the_drips <= 2 * max(solo, 0.5) < window, (beside_the_drips, solo)
    drips = PublishJob.objects.filter(audit_log_id__startswith="dist_drip")
    assert {(job.status, job.error_code) for job in drips} == {("failed", "asset_fetch_failed")}
    assert len(drips) == 16
    spans = [(job.run_started_at, job.finished_at) for job in drips]
    assert all(started and finished for started, finished in spans)
    runs = sorted((edge, step) for started, finished in spans for edge, step in ((started, 1), (finished, -1)))
    running = [sum(step for _, step in runs[: index + 1]) for index in range(len(runs))]
    assert max(running) == per_host  # the host had its slots, no more, and the other threads stayed free
    for started, finished in spans:  # each fails when its first low-speed window is up, not at the deadline
        assert (finished - started).total_seconds() < window + 1.5  # type: ignore[operator]
    assert "bytes per second" in drips[0].error_message
    # Nothing left behind: no drip's file or record, no job still holding an id, no asset connection open.
    assert set(cms.state.files) == {
        f"concept-42/mvp/{name}.mp4" for name in ("dist_solo1", "dist_solo2", "dist_beside")
    }
    assert {record["audit_log_id"] for record in cms.state.records} == {"dist_solo1", "dist_solo2", "dist_beside"}
    wait_for(lambda: dripping == 0, timeout=5, what="the drips' connections to close")
    assert peak_mib < 120, f"worker peak RSS {peak_mib:.0f} MiB"


def test_the_hard_time_limit_kills_a_prefork_child_stuck_where_the_deadline_cannot_reach(
    live_server, cms, asset_server, worker_env, settings
):
    """A job stuck in a database write (the file locked by another writer) outlives its deadline: no HTTP
    timeout is involved and SQLite waits up to its 30 s busy timeout. Celery's hard time limit (deadline plus
    lease: 3 s here) kills the prefork child; the reaper fails the job as worker_lost; a new child publishes."""
    database = connection.settings_dict["NAME"]
    holder: dict[str, sqlite3.Connection] = {}

    def lock_the_database_then_drip():
        """When the worker's GET arrives (the job is running): take SQLite's write lock, then send bytes."""
        locked = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        locked.execute("BEGIN IMMEDIATE")
        holder["connection"] = locked
        yield SAMPLE_MP4[:100]
        for _ in range(300):  # until the killed child's connection is gone
            time.sleep(0.1)
            yield b"\0"

    url = asset_server.add("/stuck.mp4", Route(body=lock_the_database_then_drip))
    # The process that enqueues the job sets its time limit: here, this one (the live server).
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "PUBLISH_DEADLINE_SECONDS": 2, "JOB_LEASE_SECONDS": 1}
    limits = {
        "CELERY_WORKER_CONCURRENCY": "1",
        "DISTRIBUTION_PUBLISH_DEADLINE_SECONDS": "2",
        "DISTRIBUTION_JOB_LEASE_SECONDS": "1",
        "DISTRIBUTION_REAPER_INTERVAL_SECONDS": "0.5",
    }
    with start_worker(worker_env, pool="prefork", beat=True, **limits) as worker:
        job_id = post(live_server, publish_request(url, audit_log_id="dist_stuck"), Prefer="respond-async").json()
        job_id = job_id["job"]["id"]
        try:
            wait_for(lambda: "connection" in holder, timeout=30, what="the worker's GET")
            locked_at = time.monotonic()
            wait_for(lambda: "Hard time limit (3" in worker.log.read_text(), timeout=25, what="the hard time limit")
            killed_after = time.monotonic() - locked_at
        finally:
            if "connection" in holder:
                holder["connection"].rollback()
                holder["connection"].close()
        reaped = wait_for(
            lambda: (j := PublishJob.objects.get(pk=job_id)).status == "failed" and j, timeout=30, what="reaping"
        )
        again = post(live_server, publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_after"))

    assert killed_after < 10, killed_after  # the time limit ended it, not SQLite's 30 s busy timeout
    assert reaped.error_code == "worker_lost"
    assert again.status_code == 201, again.text  # the worker replaced its child and goes on
    assert set(cms.state.files) == {"concept-42/mvp/dist_after.mp4"}  # nothing of the stuck job was kept


def test_a_worker_stopped_with_sigterm_after_a_publish_logs_no_error(live_server, cms, asset_server, worker_env):
    """A clean stop (scripts/dev's Ctrl-C, a deploy) is no error: the threads pool has no children to lose."""
    with start_worker(worker_env, pool="threads") as worker:
        response = post(live_server, publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_stop"))
        assert response.status_code == 201, response.text
    assert worker.process.returncode == 0
    log = worker.log.read_text()
    assert "Warm shutdown" in log and "ERROR" not in log and "Traceback" not in log, log[-2000:]
