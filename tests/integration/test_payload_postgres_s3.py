"""PayloadCMS as production runs it: PostgreSQL for its documents and an S3 bucket (moto) for the files, together.

payload/start.sh with DATABASE_URI=postgres://... (a throwaway cluster; start.sh's development mode pushes the
schema to the new database) and S3_BUCKET on moto. A publish through the Django API must leave the object, the
media document, the record and the signed link in agreement, both on Payload's upload path (Payload streams
the file to the bucket, in a Postgres transaction) and on the direct path (the app puts the object, Payload
registers it); the rows are in Postgres, nothing on local disk.
"""

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.payload import IT_KEY, PayloadServer, payload_s3_env
from tests.support.processes import moto_client
from tests.support.samples import SAMPLE_CHECKSUM, SAMPLE_MP4, publish_request
from tests.support.services import PG_BIN_DIRS, PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BUCKET = "distribution-media"


@pytest.fixture(scope="module")
def postgres():
    if not PG_BIN_DIRS:
        pytest.skip("PostgreSQL (Debian package postgresql) is not installed; scripts/test installs it")
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pg_s3_payload(tmp_path_factory, postgres, moto_endpoint):
    s3 = moto_client(moto_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    database = postgres.create_database("payload_s3")
    server = PayloadServer(
        tmp_path_factory.mktemp("payload-pg-s3"), admin=False, DATABASE_URI=database, **payload_s3_env(moto_endpoint)
    )
    yield server, s3
    server.stop()


@pytest.mark.parametrize("path", ["payload_upload", "direct_to_bucket"])
def test_publish_agrees_across_bucket_media_record_and_link(
    path, live_server, pg_s3_payload, postgres, use_payload, asset_server, settings
):
    server, s3 = pg_s3_payload
    use_payload(server)
    if path == "direct_to_bucket":  # the app puts the object itself, then registers it
        settings.DISTRIBUTION = {
            **settings.DISTRIBUTION,
            **payload_s3_env(s3.meta.endpoint_url),  # Payload's bucket, as the app's settings name it
            "S3_FORCE_PATH_STYLE": True,
            "DIRECT_UPLOAD_MIN_BYTES": 0,
        }
    audit_log_id = f"dist_pg_s3_{path}"
    key = f"concept-42/mvp/{audit_log_id}.mp4"

    response = httpx.post(
        f"{live_server.url}/api/distribution/publish",
        json=publish_request(asset_server.url + "/sample.mp4", audit_log_id=audit_log_id),
        headers={"X-API-Key": IT_KEY},
        timeout=60,
    )

    assert response.status_code == 201, response.text
    answer = response.json()["distribution_record"]
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == SAMPLE_MP4
    [media] = server.find("media", audit_log_id=audit_log_id)["docs"]
    assert (media["storage_path"], media["prefix"], media["filename"]) == (key, "concept-42/mvp", f"{audit_log_id}.mp4")
    assert (media["checksum"], media["filesize"], media["mimeType"]) == (SAMPLE_CHECKSUM, len(SAMPLE_MP4), "video/mp4")
    [record] = server.find("distributionRecords", audit_log_id=audit_log_id)["docs"]
    assert (record["storage_path"], record["checksum"], record["public_url"]) == (
        key,
        SAMPLE_CHECKSUM,
        answer["public_url"],
    )
    # The signed link: a presigned GET of that object for the record's lifetime, serving its bytes; the object
    # itself stays private.
    link = urlsplit(record["public_url"])
    assert f"{link.scheme}://{link.netloc}{link.path}" == f"{s3.meta.endpoint_url}/{BUCKET}/{key}"
    assert parse_qs(link.query)["X-Amz-Expires"] == [str(72 * 3600)]
    assert httpx.get(record["public_url"]).content == SAMPLE_MP4
    assert httpx.get(f"{s3.meta.endpoint_url}/{BUCKET}/{key}").status_code == 403
    # Documents in Postgres, files in the bucket only.
    assert postgres.query("payload_s3", "SELECT storage_path FROM media WHERE audit_log_id = %s", audit_log_id) == [
        (key,)
    ]
    assert postgres.query(
        "payload_s3", "SELECT public_url FROM distribution_records WHERE audit_log_id = %s", audit_log_id
    ) == [(record["public_url"],)]
    assert not server.media_dir.exists()
