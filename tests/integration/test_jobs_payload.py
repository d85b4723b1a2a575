"""A publish job run by a real `celery -A config worker` into the real PayloadCMS, followed over HTTP."""

import secrets
import time

import httpx
import pytest

from config.celery import app
from distribution.models import PublishJob
from tests.support.payload import IT_KEY
from tests.support.samples import SAMPLE_CHECKSUM, SAMPLE_MP4, publish_request
from tests.support.servers import Route
from tests.support.workers import CeleryWorker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
HEADERS = {"X-API-Key": IT_KEY}


def test_worker_publishes_into_payload_while_a_second_publish_gets_409(
    live_server, payload_server, use_payload, asset_server, tmp_path, celery_broker_dir, loopback_allowed
):
    use_payload(payload_server)
    app.conf.task_always_eager = False
    audit_log_id = "dist_it_job_" + secrets.token_hex(4)
    pieces = [SAMPLE_MP4[i : i + 320] for i in range(0, len(SAMPLE_MP4), 320)]

    def slow():  # about 2 s, so the second publish meets the running job
        for piece in pieces:
            time.sleep(0.2)
            yield piece

    url = asset_server.add("/slow.mp4", Route(body=slow))
    publish_url = f"{live_server.url}/api/distribution/publish"
    env = {
        "PAYLOADCMS_URL": payload_server.url,
        "PAYLOADCMS_API_KEY": payload_server.api_key,
        "DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL": "true",
        "DISTRIBUTION_ALLOW_LOOPBACK_DESTINATIONS": "true",  # the asset server is on 127.0.0.1
    }
    with CeleryWorker(tmp_path, celery_broker_dir, **env):
        accepted = httpx.post(
            publish_url,
            json=publish_request(url, audit_log_id=audit_log_id),
            headers={**HEADERS, "Prefer": "respond-async"},
            timeout=60,
        )
        assert accepted.status_code == 202, accepted.text
        status_url = live_server.url + accepted.headers["Location"]
        second = httpx.post(publish_url, json=publish_request(url, audit_log_id=audit_log_id), headers=HEADERS)
        assert second.status_code == 409 and second.json()["error"]["code"] == "publish_in_progress"

        until = time.monotonic() + 60
        while (job := httpx.get(status_url, headers=HEADERS).json()["job"])["status"] in ("queued", "running"):
            assert time.monotonic() < until, job
            time.sleep(0.2)

    assert job["status"] == "published", job
    record = job["distribution_record"]
    [media] = payload_server.find("media", audit_log_id=audit_log_id)["docs"]
    [stored] = payload_server.find("distributionRecords", audit_log_id=audit_log_id)["docs"]
    assert media["checksum"] == stored["checksum"] == SAMPLE_CHECKSUM
    assert stored["public_url"] == record["public_url"]
    assert httpx.get(record["public_url"]).content == SAMPLE_MP4
    assert PublishJob.objects.filter(audit_log_id=audit_log_id).count() == 1  # the 409 left no job
