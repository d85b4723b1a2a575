"""Faults against the real PayloadCMS: a publish that fails after the upload leaves no orphan.

The record write is made to fail inside the real Payload (its own validation refuses a
field), after a real media upload: the media document must be gone, its file deleted from
Payload's media folder, and the would-be public URL must not serve anything.
"""

import secrets

import httpx
import pytest

from distribution.cms.client import PayloadCMSClient
from tests.support.payload import IT_KEY
from tests.support.samples import publish_request

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cms(payload_server, use_payload):
    use_payload(payload_server)
    return payload_server


def publish(live_server, body) -> httpx.Response:
    return httpx.post(
        f"{live_server.url}/api/distribution/publish", json=body, headers={"X-API-Key": IT_KEY}, timeout=60
    )


@pytest.fixture
def record_refused_by_payload(monkeypatch):
    """Send Payload a record its own validation refuses (a required field left empty)."""
    original = PayloadCMSClient.upsert_distribution_record

    def refused(self, record):
        return original(self, {**record, "checksum": None})

    monkeypatch.setattr(PayloadCMSClient, "upsert_distribution_record", refused)


def test_record_refused_after_upload_leaves_no_media_and_no_file(
    live_server, cms, asset_server, record_refused_by_payload
):
    audit_log_id = "dist_it_" + secrets.token_hex(6)
    path = f"concept-42/mvp/{audit_log_id}.mp4"
    before = (cms.total("media"), cms.total("distributionRecords"))

    response = publish(live_server, publish_request(asset_server.url + "/sample.mp4", audit_log_id=audit_log_id))

    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "cms_record_failed"
    assert error["message"].endswith("The new media document and its file were deleted from PayloadCMS.")
    assert (cms.total("media"), cms.total("distributionRecords")) == before
    assert cms.find("media", audit_log_id=audit_log_id)["docs"] == []
    assert not (cms.media_dir / path).exists()
    assert httpx.get(f"{cms.url}/api/media/file/{path}").status_code == 404


def test_failed_republish_keeps_the_published_media(live_server, cms, asset_server, request):
    audit_log_id = "dist_it_" + secrets.token_hex(6)
    body = publish_request(asset_server.url + "/sample.mp4", audit_log_id=audit_log_id)
    assert publish(live_server, body).status_code == 201
    request.getfixturevalue("record_refused_by_payload")

    response = publish(live_server, body)

    assert response.status_code == 502 and "deleted" not in response.json()["error"]["message"]
    assert len(cms.find("media", audit_log_id=audit_log_id)["docs"]) == 1
    assert len(cms.find("distributionRecords", audit_log_id=audit_log_id)["docs"]) == 1


def test_republish_takes_payloads_record_over_a_stale_mirror(live_server, cms, asset_server):
    from distribution.jobs.runner import republish
    from distribution.models import MirroredRecord, PublishJob

    audit_log_id = "dist_it_" + secrets.token_hex(6)
    assert publish(live_server, publish_request(asset_server.url + "/sample.mp4", audit_log_id=audit_log_id)).is_success
    [doc] = cms.find("distributionRecords", audit_log_id=audit_log_id)["docs"]
    assert doc["storage_prefix"] == "mvp"
    edited = httpx.patch(
        f"{cms.url}/api/distributionRecords/{doc['id']}",
        json={"title": "Edited in Payload"},
        headers={"Authorization": f"users API-Key {cms.api_key}"},
    )
    assert edited.status_code == 200, edited.text
    MirroredRecord.objects.filter(audit_log_id=audit_log_id).update(title="stale", storage_path="old/x.mp4")

    result = republish(audit_log_id, source=PublishJob.Source.COMMAND)

    assert result.distribution_record["metadata"]["title"] == "Edited in Payload"
    [doc] = cms.find("distributionRecords", audit_log_id=audit_log_id)["docs"]
    assert (doc["title"], doc["storage_path"]) == ("Edited in Payload", f"concept-42/mvp/{audit_log_id}.mp4")
    assert len(cms.find("media", audit_log_id=audit_log_id)["docs"]) == 1
