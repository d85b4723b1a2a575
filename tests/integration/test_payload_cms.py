"""End to end through our REST endpoint (Django live server) into a real PayloadCMS."""

import hashlib
import io
import json
import secrets
import struct
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command

from distribution.models import MirroredRecord
from tests.support.payload import IT_KEY, PayloadServer, payload_s3_env
from tests.support.processes import moto_client
from tests.support.samples import SAMPLE_CHECKSUM, SAMPLE_MP4, publish_request
from tests.support.servers import Route

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SAMPLE_V2 = (Path(__file__).parents[1] / "fixtures" / "sample-v2.mp4").read_bytes()
SAMPLE_V2_CHECKSUM = "sha256:" + hashlib.sha256(SAMPLE_V2).hexdigest()


def publish(live_server, body) -> httpx.Response:
    return httpx.post(
        f"{live_server.url}/api/distribution/publish", json=body, headers={"X-API-Key": IT_KEY}, timeout=60
    )


def new_id() -> str:
    return "dist_it_" + secrets.token_hex(6)


@pytest.fixture
def cms(payload_server, use_payload):
    use_payload(payload_server)
    return payload_server


@pytest.fixture
def sample_url(asset_server):
    return asset_server.url + "/sample.mp4"


def test_publish_writes_one_media_and_one_record(live_server, cms, sample_url):
    audit_log_id = new_id()
    response = publish(live_server, publish_request(sample_url, audit_log_id=audit_log_id))

    assert response.status_code == 201, response.text
    record = response.json()["distribution_record"]
    path = f"concept-42/mvp/{audit_log_id}.mp4"
    assert record["storage_location"] == f"payloadcms://media/{path}"
    [media] = cms.find("media", audit_log_id=audit_log_id)["docs"]
    assert (media["storage_path"], media["checksum"], media["project_id"]) == (path, SAMPLE_CHECKSUM, "concept-42")
    assert (media["filename"], media["mimeType"], media["filesize"]) == (
        f"{audit_log_id}.mp4",
        "video/mp4",
        len(SAMPLE_MP4),
    )
    assert (cms.media_dir / path).read_bytes() == SAMPLE_MP4
    [stored] = cms.find("distributionRecords", audit_log_id=audit_log_id)["docs"]
    assert stored["project_id"] == "concept-42"
    assert stored["title"] == "Sample cut"
    assert stored["duration_seconds"] == 2.0
    assert stored["checksum"] == SAMPLE_CHECKSUM
    assert stored["tags"] == ["demo", "test"]
    assert stored["storage_path"] == path
    assert stored["public_url"] == record["public_url"]
    assert stored["metadata"] == {"concept_id": "concept-42"}
    assert stored["expires_at"].startswith(record["expires_at"][:19])
    assert stored["published_at"]


def test_public_url_serves_the_published_bytes(live_server, cms, sample_url):
    record = publish(live_server, publish_request(sample_url, audit_log_id=new_id())).json()["distribution_record"]
    download = httpx.get(record["public_url"])
    assert download.status_code == 200
    assert "sha256:" + hashlib.sha256(download.content).hexdigest() == SAMPLE_CHECKSUM


def test_republish_overwrites_the_record_and_the_file(live_server, cms, asset_server, sample_url):
    audit_log_id = new_id()
    assert publish(live_server, publish_request(sample_url, audit_log_id=audit_log_id)).status_code == 201
    body = publish_request(asset_server.add("/v2.mp4", Route(body=SAMPLE_V2)), audit_log_id=audit_log_id)
    body["final_edit"]["checksum"] = SAMPLE_V2_CHECKSUM
    body["distribution_settings"]["metadata"]["title"] = "Second cut"

    response = publish(live_server, body)

    assert response.status_code == 201, response.text
    [stored] = cms.find("distributionRecords", audit_log_id=audit_log_id)["docs"]
    assert (stored["title"], stored["checksum"]) == ("Second cut", SAMPLE_V2_CHECKSUM)
    [media] = cms.find("media", audit_log_id=audit_log_id)["docs"]
    assert media["filename"] == f"{audit_log_id}.mp4"  # replaced in place, not renamed
    assert httpx.get(response.json()["distribution_record"]["public_url"]).content == SAMPLE_V2


@pytest.mark.parametrize("breakage", ["qc_fail", "checksum_mismatch"])
def test_refused_publishes_leave_payload_untouched(live_server, cms, sample_url, breakage):
    before = (cms.total("media"), cms.total("distributionRecords"))
    body = publish_request(sample_url, audit_log_id=new_id())
    if breakage == "qc_fail":
        body["qc_report"]["status"] = "fail"
    else:
        body["final_edit"]["checksum"] = "sha256:" + "f" * 64

    response = publish(live_server, body)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == ("qc_not_passed" if breakage == "qc_fail" else "checksum_mismatch")
    assert (cms.total("media"), cms.total("distributionRecords")) == before


def test_wrong_api_key_is_a_clear_502(live_server, payload_server, use_payload, sample_url):
    use_payload(payload_server, api_key="not-the-key-" + secrets.token_hex(4))
    before = payload_server.total("media")

    response = publish(live_server, publish_request(sample_url, audit_log_id=new_id()))

    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "cms_auth_failed"
    assert "not-the-key" not in response.text
    assert payload_server.total("media") == before


@pytest.fixture(scope="module")
def s3_payload(tmp_path_factory, moto_endpoint):
    """Payload with @payloadcms/storage-s3 pointed at a local moto S3 server."""
    s3 = moto_client(moto_endpoint)
    s3.create_bucket(Bucket="distribution-media")
    server = PayloadServer(tmp_path_factory.mktemp("payload-s3"), admin=False, **payload_s3_env(moto_endpoint))
    yield server, s3
    server.stop()


def test_r2_storage_keys_objects_by_the_deterministic_path(live_server, s3_payload, use_payload, sample_url):
    server, s3 = s3_payload
    use_payload(server)
    audit_log_id = new_id()

    response = publish(live_server, publish_request(sample_url, audit_log_id=audit_log_id))

    assert response.status_code == 201, response.text
    key = f"concept-42/mvp/{audit_log_id}.mp4"
    keys = [obj["Key"] for obj in s3.list_objects_v2(Bucket="distribution-media")["Contents"]]
    assert key in keys
    assert s3.get_object(Bucket="distribution-media", Key=key)["Body"].read() == SAMPLE_MP4
    assert not server.media_dir.exists()  # nothing went to local disk
    assert httpx.get(response.json()["distribution_record"]["public_url"]).content == SAMPLE_MP4


def test_sync_and_republish_against_payload(live_server, cms, sample_url):
    audit_log_id = new_id()
    assert publish(live_server, publish_request(sample_url, audit_log_id=audit_log_id)).status_code == 201
    MirroredRecord.objects.filter(audit_log_id=audit_log_id).delete()
    total = cms.total("distributionRecords")

    counts = json.loads(_call("sync_distribution_records", "--page-size", "2", "--json"))

    assert counts["created"] + counts["updated"] + counts["unchanged"] == total
    assert MirroredRecord.objects.get(audit_log_id=audit_log_id).storage_path == f"concept-42/mvp/{audit_log_id}.mp4"
    republished = json.loads(_call("republish", audit_log_id, "--json"))["distribution_record"]
    assert republished["audit_log_id"] == audit_log_id
    assert len(cms.find("distributionRecords", audit_log_id=audit_log_id)["docs"]) == 1
    assert httpx.get(republished["public_url"]).content == SAMPLE_MP4


def _call(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_upload_over_payloads_limit_is_refused_and_payload_keeps_serving(
    live_server, use_payload, asset_server, tmp_path
):
    padding = 8 * 1024 * 1024  # a valid MP4 followed by a top-level 'free' box
    big = SAMPLE_MP4 + struct.pack(">I", padding + 8) + b"free" + bytes(padding)
    body = publish_request(asset_server.add("/big.mp4", Route(body=big)), audit_log_id=new_id())
    body["final_edit"]["checksum"] = "sha256:" + hashlib.sha256(big).hexdigest()
    small = PayloadServer(tmp_path, MAX_UPLOAD_BYTES=str(1024 * 1024))
    try:
        use_payload(small)
        response = publish(live_server, body)

        assert response.status_code == 502
        error = response.json()["error"]
        assert error["code"] == "cms_upload_failed" and "HTTP 413" in error["message"]
        assert small.total("media") == 0 and small.total("distributionRecords") == 0
    finally:
        small.stop()


def app_bucket_settings(settings, s3, **extra) -> None:
    """Give the app Payload's bucket for the direct path."""
    settings.DISTRIBUTION = {
        **settings.DISTRIBUTION,
        "S3_BUCKET": "distribution-media",
        "S3_ENDPOINT": s3.meta.endpoint_url,
        "S3_REGION": "us-east-1",
        "S3_ACCESS_KEY_ID": "test",
        "S3_SECRET_ACCESS_KEY": "test",
        "S3_FORCE_PATH_STYLE": True,
        **extra,
    }


@pytest.fixture
def direct_to_bucket(s3_payload, use_payload, settings):
    """The app uploads every asset straight to Payload's bucket (threshold 0), then registers it."""
    server, s3 = s3_payload
    use_payload(server)
    app_bucket_settings(settings, s3, DIRECT_UPLOAD_MIN_BYTES=0)
    return server, s3


def publish_to_bucket(live_server, server, s3, sample_url) -> tuple[httpx.Response, dict]:
    """Publish the sample; check it is published and stored in the bucket at its key: (answer, media document)."""
    audit_log_id = new_id()
    response = publish(live_server, publish_request(sample_url, audit_log_id=audit_log_id))
    assert response.status_code == 201, response.text
    key = f"concept-42/mvp/{audit_log_id}.mp4"
    assert s3.get_object(Bucket="distribution-media", Key=key)["Body"].read() == SAMPLE_MP4
    [media] = server.find("media", audit_log_id=audit_log_id)["docs"]
    return response, media


def test_direct_upload_registers_the_object_as_the_media_document(live_server, direct_to_bucket, sample_url):
    server, s3 = direct_to_bucket

    response, media = publish_to_bucket(live_server, server, s3, sample_url)

    audit_log_id = media["audit_log_id"]
    key = f"concept-42/mvp/{audit_log_id}.mp4"
    assert (media["filename"], media["prefix"], media["filesize"]) == (f"{audit_log_id}.mp4", "concept-42/mvp", 3200)
    assert (media["mimeType"], media["checksum"], media["storage_path"]) == ("video/mp4", SAMPLE_CHECKSUM, key)
    [record] = server.find("distributionRecords", audit_log_id=audit_log_id)["docs"]
    assert (
        record["storage_path"] == key and record["public_url"] == response.json()["distribution_record"]["public_url"]
    )
    assert httpx.get(record["public_url"]).content == SAMPLE_MP4  # served by Payload from the registered object


def test_direct_upload_with_a_bad_checksum_leaves_no_object_and_no_document(live_server, direct_to_bucket, sample_url):
    server, s3 = direct_to_bucket
    audit_log_id = new_id()
    body = publish_request(sample_url, audit_log_id=audit_log_id)
    body["final_edit"]["checksum"] = "sha256:" + "0" * 64

    response = publish(live_server, body)

    assert (response.status_code, response.json()["error"]["code"]) == (422, "checksum_mismatch")
    listing = s3.list_objects_v2(Bucket="distribution-media", Prefix=f"concept-42/mvp/{audit_log_id}")
    assert listing.get("KeyCount", 0) == 0
    assert not any(
        u["Key"].endswith(audit_log_id + ".mp4")
        for u in s3.list_multipart_uploads(Bucket="distribution-media").get("Uploads", [])
    )
    assert server.find("media", audit_log_id=audit_log_id)["totalDocs"] == 0
    assert server.find("distributionRecords", audit_log_id=audit_log_id)["totalDocs"] == 0


def test_direct_upload_refused_by_payload_deletes_the_object(live_server, direct_to_bucket, sample_url, settings):
    """The object is stored but PayloadCMS refuses to register it (wrong key): the object goes again."""
    server, s3 = direct_to_bucket
    settings.PAYLOADCMS_API_KEY = "not-the-key"
    audit_log_id = new_id()

    response = publish(live_server, publish_request(sample_url, audit_log_id=audit_log_id))

    assert (response.status_code, response.json()["error"]["code"]) == (502, "cms_auth_failed")
    listing = s3.list_objects_v2(Bucket="distribution-media", Prefix=f"concept-42/mvp/{audit_log_id}")
    assert listing.get("KeyCount", 0) == 0
    assert server.find("media", audit_log_id=audit_log_id)["totalDocs"] == 0


@pytest.fixture(scope="module")
def small_limit_s3_payload(tmp_path_factory, s3_payload):
    """A second Payload on the same bucket whose REST uploads are limited to 1000 bytes."""
    _, s3 = s3_payload
    env = payload_s3_env(s3.meta.endpoint_url)
    server = PayloadServer(tmp_path_factory.mktemp("payload-s3-small"), admin=False, MAX_UPLOAD_BYTES="1000", **env)
    yield server, s3
    server.stop()


def test_an_asset_payload_refuses_for_its_size_goes_to_the_bucket(
    live_server, small_limit_s3_payload, use_payload, settings, asset_server, sample_url
):
    """Below the direct threshold, but over Payload's limit: 413 from the upsert, then the direct path."""
    server, s3 = small_limit_s3_payload
    use_payload(server)
    app_bucket_settings(settings, s3)  # the default threshold (256 MiB): the 3200-byte sample goes to Payload first

    _, media = publish_to_bucket(live_server, server, s3, sample_url)

    assert media["filesize"] == len(SAMPLE_MP4) > 1000
    assert [path for _, path in asset_server.requests].count("/sample.mp4") == 2  # read again for the bucket
