"""Publishing through the production topology (tests/scaleout/conftest.py) under load.

Every check reads the real stores afterwards: PayloadCMS's documents through its REST API, the
stored file on Payload's disk, the download behind public_url, and the mirror in Django's
PostgreSQL database.
"""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.scaleout.cluster import mp4_asset, publish_body, sha256
from tests.servers import Route

pytestmark = pytest.mark.scaleout

ASSET_BYTES = 256 * 1024


def assert_published_once(cluster, audit_log_id: str, candidates: set[str]) -> None:
    """One media document and one record for the id, agreeing with the stored bytes, the download and the mirror."""
    media = cluster.payload.find("media", audit_log_id=audit_log_id)
    records = cluster.payload.find("distributionRecords", audit_log_id=audit_log_id)
    assert (media["totalDocs"], records["totalDocs"]) == (1, 1), audit_log_id
    [media], [record] = media["docs"], records["docs"]
    checksum = record["checksum"]
    assert checksum in candidates, f"{audit_log_id}: the record's checksum is none of the accepted assets'"
    assert (media["checksum"], media["storage_path"]) == (checksum, record["storage_path"])
    stored = (cluster.payload.media_dir / record["storage_path"]).read_bytes()
    assert sha256(stored) == checksum, f"{audit_log_id}: stored bytes do not hash to the record's checksum"
    assert media["filesize"] == len(stored)
    download = httpx.get(record["public_url"], timeout=60)
    assert download.status_code == 200 and sha256(download.content) == checksum
    assert cluster.mirror(audit_log_id) == [(checksum, record["storage_path"], record["public_url"])]


def serve(assets, label: str) -> tuple[str, str]:
    """A distinct MP4 on the asset server: its URL and checksum."""
    data = mp4_asset(label, ASSET_BYTES)
    return assets.add(f"/{label}.mp4", Route(body=data)), sha256(data)


def test_fifty_publishes_with_distinct_ids_across_two_web_processes(cluster, assets):
    jobs = []
    for number in range(50):
        audit_log_id = f"dist_scaleout_distinct_{number:02d}"
        jobs.append((audit_log_id, publish_body(audit_log_id, *serve(assets, audit_log_id))))

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda job: cluster.publish(job[1]), jobs))

    statuses = [response.status_code for response in responses]
    assert statuses == [201] * 50, f"{statuses}\n{cluster.logs()}"
    for (audit_log_id, body), response in zip(jobs, responses, strict=True):
        assert response.json()["distribution_record"]["audit_log_id"] == audit_log_id
        assert_published_once(cluster, audit_log_id, {body["final_edit"]["checksum"]})
