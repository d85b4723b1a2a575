"""POST /api/distribution/publish through the whole pipeline, over real HTTP on 127.0.0.1:
an asset server serving the sample MP4 and a PayloadCMS double."""

import hashlib
import json
import logging
import re
import socket
import ssl

import pytest
from rest_framework.test import APIClient

from distribution.models import MirroredRecord, PublishJob
from tests.support.samples import CMS_API_KEY, SAMPLE_CHECKSUM, SAMPLE_MP4, audit_events, publish_request
from tests.support.servers import LocalServer, Route

PUBLISH = "/api/distribution/publish"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def post(client, body):
    return client.post(PUBLISH, body, format="json")


@pytest.fixture
def sample_url(asset_server):
    return asset_server.url + "/sample.mp4"


def test_publish_returns_distribution_record_and_writes_cms(api_client, cms, sample_url, caplog):
    caplog.set_level(logging.INFO, logger="distribution.audit")
    response = post(api_client, publish_request(sample_url))

    assert response.status_code == 201, response.content
    record = response.json()["distribution_record"]
    audit_log_id = record["audit_log_id"]
    path = f"concept-42/mvp/{audit_log_id}.mp4"
    assert set(record) == {
        "storage_location",
        "public_url",
        "expires_at",
        "url_expiry_hours",
        "published_at",
        "unpublished_at",
        "unpublish_reason",
        "metadata",
        "audit_log_id",
    }
    assert record["storage_location"] == f"payloadcms://media/{path}"
    assert record["public_url"].startswith(f"{cms.url}/api/media/download/{path}?expires=")  # signed by the CMS
    assert ISO_UTC.match(record["expires_at"]) and ISO_UTC.match(record["published_at"])
    assert (record["url_expiry_hours"], record["unpublished_at"], record["unpublish_reason"]) == (72, None, None)
    assert record["metadata"] == {
        "title": "Sample cut",
        "duration_seconds": 2.0,
        "checksum": SAMPLE_CHECKSUM,
        "tags": ["demo", "test"],
        "concept_id": "concept-42",
    }
    # the bytes in the CMS are the asset's, at the deterministic path
    assert cms.state.files[path] == SAMPLE_MP4
    [media] = cms.state.media
    assert media["storage_path"] == path and media["audit_log_id"] == audit_log_id
    assert media["checksum"] == SAMPLE_CHECKSUM
    [stored] = cms.state.records
    assert stored["public_url"] == record["public_url"] and stored["url_expiry_hours"] == 72
    assert stored["tags"] == ["demo", "test"] and stored["title"] == "Sample cut"
    assert stored["metadata"] == {"concept_id": "concept-42"}
    # the audit event and the local attempt
    [event] = audit_events(caplog)
    assert event["status"] == "published" and event["audit_log_id"] == audit_log_id
    assert event["storage_path"] == path and event["checksum"] == SAMPLE_CHECKSUM
    assert ISO_UTC.match(event["published_at"])
    attempt = PublishJob.objects.get()
    assert event == attempt.audit_event  # what the admin shows is what went out
    assert attempt.status == "published" and attempt.asset_size == len(SAMPLE_MP4)
    assert attempt.latency_ms is not None and attempt.distribution_record == record
    mirrored = MirroredRecord.objects.get()
    assert (mirrored.audit_log_id, mirrored.public_url, mirrored.tags) == (
        audit_log_id,
        record["public_url"],
        ["demo", "test"],
    )
    assert CMS_API_KEY not in response.content.decode() + caplog.text


def test_republish_same_audit_log_id_overwrites(api_client, cms, asset_server, sample_url):
    first = post(api_client, publish_request(sample_url, audit_log_id="dist_fixed"))
    assert first.status_code == 201
    other = b"\x00\x00\x00\x18ftypmp42" + b"new cut" * 100
    body = publish_request(asset_server.add("/v2.mp4", Route(body=other)), audit_log_id="dist_fixed")
    body["final_edit"]["checksum"] = "sha256:" + hashlib.sha256(other).hexdigest()
    body["distribution_settings"]["metadata"]["title"] = "Second cut"

    second = post(api_client, body)

    assert second.status_code == 201
    assert len(cms.state.media) == 1 and len(cms.state.records) == 1
    assert cms.state.records[0]["title"] == "Second cut"
    assert cms.state.files["concept-42/mvp/dist_fixed.mp4"] == other
    assert MirroredRecord.objects.get(audit_log_id="dist_fixed").title == "Second cut"
    assert PublishJob.objects.filter(audit_log_id="dist_fixed", status="published").count() == 2


def test_qc_failure_is_422_with_no_outbound_request(api_client, cms, asset_server, sample_url, caplog):
    caplog.set_level(logging.INFO, logger="distribution.audit")
    response = post(api_client, publish_request(sample_url, qc_report={"status": "fail"}))

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "qc_not_passed"
    assert asset_server.requests == [] and cms.requests == []
    assert PublishJob.objects.get().error_code == "qc_not_passed"
    assert audit_events(caplog)[0]["status"] == "failed"


def test_checksum_mismatch_uploads_nothing(api_client, cms, sample_url):
    body = publish_request(sample_url)
    body["final_edit"]["checksum"] = "sha256:" + "0" * 64
    response = post(api_client, body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "checksum_mismatch" and error["audit_log_id"].startswith("dist_")
    assert error["message"] == "The asset's sha256 is not the expected sha256:" + "0" * 64 + "."
    # PayloadCMS hashed the body and refused it: nothing kept, so nothing to look up or remove afterwards.
    assert cms.kept_nothing() and [method for method, _ in cms.requests] == ["PUT"]
    attempt = PublishJob.objects.get()
    assert (attempt.status, attempt.audit_log_id) == ("failed", error["audit_log_id"])
    assert attempt.error_detail == f"PayloadCMS: checksum mismatch: the body's digest is {SAMPLE_CHECKSUM}."


def test_non_mp4_is_refused(api_client, cms, asset_server):
    html = b"<html>not a video</html>"
    body = publish_request(asset_server.add("/page.html", Route(body=html, content_type="text/html")))
    body["final_edit"]["checksum"] = "sha256:" + hashlib.sha256(html).hexdigest()
    response = post(api_client, body)
    assert (response.status_code, response.json()["error"]["code"]) == (422, "not_mp4")
    assert cms.kept_nothing()


def test_asset_over_the_size_limit_is_refused(api_client, cms, settings, sample_url):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "MAX_ASSET_BYTES": 1000}
    response = post(api_client, publish_request(sample_url))
    assert (response.status_code, response.json()["error"]["code"]) == (422, "asset_too_large")
    assert cms.requests == []


@pytest.mark.parametrize("path", ["/missing.mp4", "/error.mp4"])
def test_upstream_errors_are_502(api_client, cms, asset_server, path):
    asset_server.add("/error.mp4", Route(status=500, body=b"boom"))
    response = post(api_client, publish_request(asset_server.url + path))
    assert (response.status_code, response.json()["error"]["code"]) == (502, "asset_fetch_failed")
    assert cms.requests == []


def test_unreachable_asset_host_is_502_without_saying_why(api_client, cms, loopback_allowed):
    with LocalServer() as closed:
        url = closed.url + "/gone.mp4"
    response = post(api_client, publish_request(url))
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (502, "asset_fetch_failed")
    assert error["message"] == f"Could not download the asset from {url}."
    assert "ConnectError" in PublishJob.objects.get().error_detail  # operators see what happened


def test_cms_upload_error_is_502_and_recorded(api_client, cms, sample_url):
    cms.fail_next["PUT media"] = 500
    response = post(api_client, publish_request(sample_url))
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (502, "cms_upload_failed")
    assert "HTTP 500" in error["message"]
    assert cms.state.records == []
    assert PublishJob.objects.get().error_code == "cms_upload_failed"


def test_cms_record_error_is_502(api_client, cms, sample_url):
    cms.fail_next["PUT distributionRecords"] = 500
    response = post(api_client, publish_request(sample_url))
    assert (response.status_code, response.json()["error"]["code"]) == (502, "cms_record_failed")


def test_wrong_cms_key_is_a_clear_502_without_the_key(api_client, cms, settings, sample_url, caplog):
    settings.PAYLOADCMS_API_KEY = "wrong-secret-key-xyz"
    response = post(api_client, publish_request(sample_url))
    assert (response.status_code, response.json()["error"]["code"]) == (502, "cms_auth_failed")
    everything = response.content.decode() + caplog.text + json.dumps(PublishJob.objects.get().audit_event)
    assert "wrong-secret-key-xyz" not in everything


def test_cms_unreachable_is_502(api_client, cms, settings, sample_url):
    with LocalServer() as closed:
        settings.PAYLOADCMS_URL = closed.url
    response = post(api_client, publish_request(sample_url))
    assert (response.status_code, response.json()["error"]["code"]) == (502, "cms_unavailable")


def test_http_public_url_is_refused_unless_allowed(api_client, cms, settings, sample_url):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "ALLOW_HTTP_PUBLIC_URL": False}
    response = post(api_client, publish_request(sample_url))
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (502, "invalid_public_url")
    assert "PAYLOAD_PUBLIC_SERVER_URL" in error["message"] and "renew the link" in error["message"]


def test_validation_errors_are_400_field_errors(api_client, cms):
    response = post(api_client, {"final_edit": {"video_url": "not a url"}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert "video_url" in error["fields"]["final_edit"] and "qc_report" in error["fields"]
    assert cms.requests == []


def test_non_json_body_is_415(api_client, cms):
    response = api_client.post(PUBLISH, {"final_edit": "x"})  # multipart form
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert cms.requests == []


def test_anonymous_gets_401(db, cms, sample_url):
    response = post(APIClient(), publish_request(sample_url))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert cms.requests == []


def test_wrong_api_key_gets_401(api_client):
    api_client.credentials(HTTP_X_API_KEY="nope")
    response = post(api_client, {})
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "authentication_failed",
        "message": "Invalid API key.",
        "audit_log_id": None,
    }


def test_webhook_audit_sink_receives_the_event(api_client, cms, settings, sample_url):
    class Webhook(LocalServer):
        events = []

        def handle(self, handler):
            self.events.append(json.loads(handler.rfile.read(int(handler.headers["Content-Length"]))))
            self.send(handler, 204, b"")

    with Webhook() as hook:
        settings.DISTRIBUTION = {**settings.DISTRIBUTION, "AUDIT_SINK": "webhook", "AUDIT_WEBHOOK_URL": hook.url}
        response = post(api_client, publish_request(sample_url))
    [event] = hook.events
    assert event["status"] == "published"
    assert event["audit_log_id"] == response.json()["distribution_record"]["audit_log_id"]


def test_failed_webhook_falls_back_to_the_log(api_client, cms, settings, sample_url, caplog):
    caplog.set_level(logging.INFO, logger="distribution.audit")
    with LocalServer() as closed:
        settings.DISTRIBUTION = {**settings.DISTRIBUTION, "AUDIT_SINK": "webhook", "AUDIT_WEBHOOK_URL": closed.url}
    assert post(api_client, publish_request(sample_url)).status_code == 201
    assert audit_events(caplog)[0]["status"] == "published"


def test_publishes_share_one_tls_context(api_client, cms, sample_url, monkeypatch):
    """Loading the CA bundle into a new SSL context costs ~65 ms: a process does it once, not per publish."""
    loaded = []
    real = ssl.SSLContext.load_verify_locations

    def counted(context, *args, **kwargs):
        loaded.append(context)
        return real(context, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    for _ in range(3):
        assert post(api_client, publish_request(sample_url)).status_code == 201
    assert len(loaded) <= 1


def test_publishes_share_their_connections_to_payloadcms(api_client, cms, sample_url):
    """A new connection cost PayloadCMS ~1.3 ms of CPU: the process's publishes keep theirs open for the next."""
    for number in range(3):
        assert post(api_client, publish_request(sample_url, audit_log_id=f"dist_kept_{number}")).status_code == 201
    assert len(cms.state.records) == 3
    assert cms.httpd.connections_accepted == 1


def test_a_connection_payloadcms_closed_is_not_used_again(api_client, cms, sample_url):
    assert post(api_client, publish_request(sample_url, audit_log_id="dist_before")).status_code == 201
    for connection in list(cms.httpd.open_connections):  # the server drops the idle connection, as at its timeout
        connection.shutdown(socket.SHUT_RDWR)

    assert post(api_client, publish_request(sample_url, audit_log_id="dist_after")).status_code == 201
    assert cms.httpd.connections_accepted == 2
