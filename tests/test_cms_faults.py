"""A misbehaving PayloadCMS: every fault is a `cms_*` 502 with a clear message, and no orphan remains.

The double stores what it is sent and can then answer nonsense (`garble_next`) or fail
(`fail_next`); after each failure the test asserts what a user of the CMS would see: no new
media document, no new file, no record.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from distribution.jobs import lifecycle
from distribution.models import PublishJob
from tests.support.samples import publish_request

PUBLISH = "/api/distribution/publish"


@pytest.fixture
def publish(api_client, asset_server):
    def send(**overrides):
        body = publish_request(asset_server.url + "/sample.mp4", **overrides)
        response = api_client.post(PUBLISH, body, format="json")
        assert response["Content-Type"] == "application/json"
        return response

    return send


def failed(response, code: str) -> dict:
    assert response.status_code == 502, response.content
    error = response.json()["error"]
    assert error["code"] == code, error
    return error


@pytest.mark.parametrize(
    "answer",
    [
        (201, b"<html>Created</html>"),
        (201, b"[]"),
        (201, b"null"),
        (201, b'{"message": "Created"}'),
        (201, b'{"doc": "media"}'),
        (201, b'{"doc": {"url": "/api/media/file/x.mp4"}}'),
    ],
    ids=["html", "list", "null", "no-doc", "doc-not-object", "doc-without-id"],
)
def test_media_upload_answered_with_nonsense(publish, cms, answer):
    cms.garble_next["PUT media"] = answer
    error = failed(publish(), "cms_bad_response")
    assert "PayloadCMS answered" in error["message"]
    assert "The new media document and its file were deleted from PayloadCMS." in error["message"]
    assert cms.kept_nothing()


@pytest.mark.parametrize("answer", [(200, b"not json"), (200, b'{"docs": null}'), (200, b'{"docs": [1]}')])
def test_cleanup_lookup_answered_with_nonsense_says_what_may_be_left(publish, cms, answer):
    cms.fail_next["PUT distributionRecords"] = 500
    cms.garble_next["GET distributionRecords"] = answer  # the cleanup's "was the record written?" lookup
    error = failed(publish(audit_log_id="dist_garbled"), "cms_record_failed")
    assert "The new media document for dist_garbled could not be deleted (cms_bad_response)" in error["message"]


def test_record_write_failure_removes_the_new_media(publish, cms):
    cms.fail_next["PUT distributionRecords"] = 500
    error = failed(publish(audit_log_id="dist_rec"), "cms_record_failed")
    assert error["message"].endswith("The new media document and its file were deleted from PayloadCMS.")
    assert cms.kept_nothing()
    attempt = PublishJob.objects.get()
    assert "were deleted" in attempt.error_message
    assert ("DELETE", "/api/media/1") in cms.requests


def test_record_stored_but_answered_without_doc_keeps_the_complete_publish(publish, cms):
    """PayloadCMS wrote the record and then answered nonsense: its media and record agree, so both stay."""
    cms.garble_next["PUT distributionRecords"] = (201, b'{"message": "ok"}')
    error = failed(publish(), "cms_bad_response")
    assert "PayloadCMS has its record: the publish completed there, its media document is kept." in error["message"]
    assert len(cms.state.media) == 1 and len(cms.state.records) == 1 and len(cms.state.files) == 1


def test_when_the_cleanup_fails_the_error_says_so(publish, cms):
    cms.fail_next["PUT distributionRecords"] = 500
    cms.fail_next["DELETE media"] = 500
    error = failed(publish(audit_log_id="dist_stuck"), "cms_record_failed")
    assert "The new media document for dist_stuck could not be deleted (cms_delete_failed)" in error["message"]
    assert "could not be deleted" in PublishJob.objects.get().error_message


def test_a_link_that_is_not_https_fails_the_publish_and_says_how_to_fix_it(publish, cms, settings):
    """PayloadCMS makes the link when it writes the record: the record stays, the error names the fix."""
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "ALLOW_HTTP_PUBLIC_URL": False}
    error = failed(publish(), "invalid_public_url")
    assert "set PayloadCMS's PAYLOAD_PUBLIC_SERVER_URL to its public HTTPS origin" in error["message"]
    assert len(cms.state.records) == 1 and PublishJob.objects.get().status == "failed"


def test_a_failed_republish_keeps_the_existing_media(publish, cms):
    assert publish(audit_log_id="dist_keep").status_code == 201
    cms.fail_next["PUT distributionRecords"] = 500
    error = failed(publish(audit_log_id="dist_keep"), "cms_record_failed")
    assert "deleted" not in error["message"]
    assert len(cms.state.media) == 1 and len(cms.state.records) == 1


def test_invalid_cms_url_is_a_clear_502(publish, cms, settings):
    settings.PAYLOADCMS_URL = "http://999.1.1.1:3010"
    error = failed(publish(), "cms_unavailable")
    assert "check PAYLOADCMS_URL" in error["message"]


@pytest.mark.parametrize("record_written", [False, True])
def test_the_reaper_removes_what_a_dead_worker_left(publish, cms, record_written):
    """A worker SIGKILLed after creating a new media document: once its lease runs out, the reaper deletes the
    document and its file, unless the record was written too (that publish completed in the CMS)."""
    assert publish(audit_log_id="dist_dead").status_code == 201
    if not record_written:
        cms.state.records.clear()  # the worker died between the upload and the record write
    now = timezone.now()
    dead = PublishJob.objects.create(
        audit_log_id="dist_dead",
        status="running",
        worker="gone:1",
        started_at=now,
        lease_expires_at=now - timedelta(seconds=1),
    )

    assert lifecycle.reap_expired() == 1

    dead.refresh_from_db()
    assert dead.error_code == "worker_lost"
    if record_written:
        assert "its media document is kept" in dead.error_message
        assert len(cms.state.media) == 1 and cms.state.files
    else:
        assert dead.error_message.endswith("The new media document and its file were deleted from PayloadCMS.")
        assert cms.state.media == [] and cms.state.files == {}


def test_the_reaper_leaves_the_cms_alone_for_a_job_no_worker_started(db, cms):
    now = timezone.now()
    PublishJob.objects.create(
        audit_log_id="dist_never", status="queued", started_at=now, lease_expires_at=now - timedelta(seconds=1)
    )

    assert lifecycle.reap_expired() == 1

    assert PublishJob.objects.get().error_code == "not_started"
    assert cms.requests == []
