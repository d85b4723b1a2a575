"""Job callbacks over real HTTP: a receiver on 127.0.0.1 gets the ended job's body, signed, retried when it fails.

Tasks run eagerly here, so retries follow at once; tests/test_workers.py waits out real delays.
"""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from distribution.jobs import lifecycle
from distribution.models import CallbackDelivery, PublishJob
from tests.support.callbacks import SECRET, Receiver, verify
from tests.support.samples import publish_request
from tests.support.servers import LocalServer

PUBLISH = "/api/distribution/publish"


@pytest.fixture
def callbacks_on(settings):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "CALLBACK_SECRET": SECRET, "CALLBACK_RETRY_DELAYS": [0, 0]}


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


def test_the_ended_job_is_posted_signed_to_the_callback_url(api_client, cms, asset_server, callbacks_on, receiver):
    hook = receiver.url + "/hook"
    body = publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_cb", callback_url=hook)
    response = api_client.post(PUBLISH, body, format="json")
    assert response.status_code == 201

    [(headers, sent)] = receiver.received
    assert abs(verify(headers, sent) - time.time()) < 60
    job = PublishJob.objects.get()
    assert json.loads(sent) == api_client.get(job.status_url).json()  # the job's final body
    assert json.loads(sent)["job"]["distribution_record"] == response.json()["distribution_record"]
    assert headers["Content-Type"] == "application/json" and headers["Distribution-Delivery-Attempt"] == "1"
    delivery = CallbackDelivery.objects.get()
    assert (delivery.job, delivery.attempt, delivery.delivered, delivery.status_code) == (job, 1, True, 204)
    assert delivery.url == hook and delivery.next_attempt_at is None
    with pytest.raises(AssertionError):
        verify(headers, sent, secret="another-secret")


def test_a_failed_job_is_posted_too(api_client, cms, asset_server, callbacks_on, receiver):
    body = publish_request(asset_server.url + "/sample.mp4", callback_url=receiver.url)
    body["final_edit"]["checksum"] = "sha256:" + "0" * 64
    assert api_client.post(PUBLISH, body, format="json").status_code == 422

    [(headers, sent)] = receiver.received
    verify(headers, sent)
    job = json.loads(sent)["job"]
    assert job["status"] == "failed" and job["error"]["code"] == "checksum_mismatch"


def test_a_failing_receiver_gets_retries_and_the_publish_runs_once(api_client, cms, asset_server, callbacks_on, caplog):
    with Receiver(500, 503) as receiver:
        body = publish_request(asset_server.url + "/sample.mp4", callback_url=receiver.url)
        assert api_client.post(PUBLISH, body, format="json").status_code == 201

    assert [headers["Distribution-Delivery-Attempt"] for headers, _ in receiver.received] == ["1", "2", "3"]
    assert len({sent for _, sent in receiver.received}) == 1  # the same body each time
    deliveries = CallbackDelivery.objects.order_by("attempt")
    assert [(d.delivered, d.status_code) for d in deliveries] == [(False, 500), (False, 503), (True, 204)]
    assert deliveries[0].error == "The receiver answered HTTP 500." and deliveries[0].next_attempt_at
    assert asset_server.requests == [("GET", "/sample.mp4")] and len(cms.state.media) == 1
    assert PublishJob.objects.count() == 1


def test_delivery_gives_up_after_the_configured_retries(api_client, cms, asset_server, callbacks_on):
    with LocalServer() as closed:
        url = closed.url + "/gone"
    body = publish_request(asset_server.url + "/sample.mp4", callback_url=url)
    assert api_client.post(PUBLISH, body, format="json").status_code == 201

    deliveries = list(CallbackDelivery.objects.order_by("attempt"))
    assert [d.attempt for d in deliveries] == [1, 2, 3]  # the first try and two retries
    assert all(not d.delivered and d.error.startswith("No answer from the receiver") for d in deliveries)
    assert deliveries[-1].next_attempt_at is None
    assert PublishJob.objects.get().status == "published"


def test_a_callback_to_a_non_public_address_is_refused_and_recorded(api_client, cms, asset_server, callbacks_on):
    """The destination checks guard callbacks as they guard video_url: the metadata address is never contacted."""
    body = publish_request(asset_server.url + "/sample.mp4", callback_url="http://169.254.169.254/latest/meta-data")
    assert api_client.post(PUBLISH, body, format="json").status_code == 201

    deliveries = list(CallbackDelivery.objects.order_by("attempt"))
    assert deliveries and all(not d.delivered and d.status_code is None for d in deliveries)
    assert all(d.error.startswith("The callback URL is not a destination this service may contact") for d in deliveries)


def test_a_reaped_job_is_posted_as_worker_lost(db, callbacks_on, receiver, loopback_allowed):
    now = timezone.now()
    PublishJob.objects.create(
        audit_log_id="dist_lost_cb",
        status="running",
        started_at=now,
        lease_expires_at=now - timedelta(seconds=1),
        callback_url=receiver.url,
    )
    assert lifecycle.reap_expired() == 1

    [(headers, sent)] = receiver.received
    verify(headers, sent)
    assert json.loads(sent)["job"]["error"]["code"] == "worker_lost"


def test_callback_url_needs_a_secret_and_an_http_url(api_client, cms, asset_server, receiver, settings):
    body = publish_request(asset_server.url + "/sample.mp4", callback_url=receiver.url)
    response = api_client.post(PUBLISH, body, format="json")
    assert response.status_code == 400
    assert "DISTRIBUTION_CALLBACK_SECRET" in response.json()["error"]["fields"]["callback_url"][0]

    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "CALLBACK_SECRET": SECRET}
    body["callback_url"] = "ftp://127.0.0.1/hook"
    assert api_client.post(PUBLISH, body, format="json").status_code == 400
    assert asset_server.requests == [] and receiver.received == []


def test_deliveries_show_on_the_job_page_and_in_their_list(admin_client, api_client, cms, asset_server, callbacks_on):
    with Receiver(500) as receiver:
        body = publish_request(asset_server.url + "/sample.mp4", callback_url=receiver.url + "/hook")
        api_client.post(PUBLISH, body, format="json")
    job = PublishJob.objects.get()

    page = admin_client.get(f"/admin/distribution/publishjob/{job.pk}/change/").content.decode()
    assert "Callback deliveries" in page and "The receiver answered HTTP 500." in page
    assert receiver.url + "/hook" in page
    listing = admin_client.get("/admin/distribution/callbackdelivery/").content.decode()
    assert f'href="/admin/distribution/publishjob/{job.pk}/change/">job {job.pk}</a>' in listing
