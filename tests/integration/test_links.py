"""After publish, against a real PayloadCMS: links that expire, renew and unpublish, the records API, retries.

Every link is fetched as a viewer would (no credentials); a takedown is checked by fetching the old links.
"""

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token

from tests.integration.test_verification import verify
from tests.support.payload import IT_KEY
from tests.support.samples import SAMPLE_MP4, publish_request

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("loopback_allowed"),
]
API = "/api/distribution"


@pytest.fixture
def cms(payload_server, use_payload):
    use_payload(payload_server)
    return payload_server


@pytest.fixture
def api(live_server):
    """Calls to the REST API as the integration API key (publish only), or with other headers."""

    def call(method: str, path: str, headers: dict | None = None, **kwargs) -> httpx.Response:
        return httpx.request(
            method, live_server.url + API + path, headers=headers or {"X-API-Key": IT_KEY}, timeout=60, **kwargs
        )

    return call


@pytest.fixture
def editor():
    """The header of a user allowed to publish and unpublish (a DRF token)."""
    user = User.objects.create_user("takedown-editor")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["publish", "unpublish"]))
    return {"Authorization": f"Token {Token.objects.create(user=user).key}"}


def publish(
    api, url: str, audit_log_id: str | None = None, project: str = "links", hours: float = 72, key: str | None = None
) -> httpx.Response:
    body = publish_request(url, audit_log_id=audit_log_id or "dist_ln_" + secrets.token_hex(6))
    body["distribution_settings"].update(project_id=project, url_expiry_hours=hours)
    return api(
        "POST",
        "/publish",
        json=body,
        headers={"X-API-Key": IT_KEY, **({"Idempotency-Key": key} if key else {})},
    )


def record_of(response: httpx.Response) -> dict:
    assert response.status_code in (200, 201), response.text
    return response.json()["distribution_record"]


def tampered(url: str, **changes) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode({**dict(parse_qsl(parts.query)), **changes})))


def test_a_link_serves_until_its_expiry_then_stops_and_the_release_check_calls_it_expired_not_broken(
    api, cms, asset_server
):
    project = "expiry-" + secrets.token_hex(4)
    lasting = record_of(publish(api, asset_server.url + "/sample.mp4", project=project))
    brief = record_of(publish(api, asset_server.url + "/sample.mp4", project=project, hours=1 / 60))
    url = brief["public_url"]

    served = httpx.get(url)
    assert (served.status_code, served.headers["content-type"], served.content) == (200, "video/mp4", SAMPLE_MP4)
    expires = int(dict(parse_qsl(urlsplit(url).query))["expires"])
    assert brief["expires_at"].startswith(time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(expires)))
    assert 55 <= expires - time.time() <= 61
    assert httpx.get(tampered(url, expires=str(expires + 3600))).status_code == 403  # a longer life, forged
    signature = dict(parse_qsl(urlsplit(url).query))["signature"]
    assert httpx.get(tampered(url, signature=signature[::-1])).status_code == 403
    unsigned = f"{cms.url}/api/media/file/{brief['audit_log_id']}.mp4?prefix={project}%2Fmvp"
    assert httpx.get(unsigned).status_code in (401, 403)  # the file's own path serves no viewer

    time.sleep(max(0.0, expires - time.time()) + 1.5)  # the one wait of the suite: past the link's expiry

    assert httpx.get(url).status_code in (403, 410)
    assert httpx.get(lasting["public_url"]).content == SAMPLE_MP4
    code, report = verify("--project", project)
    assert (code, report["status"], report["records_sound"], report["records_expired"]) == (0, "sound", 2, 1)
    assert report["expired"] == [brief["audit_log_id"]] and report["problems"] == []
    code, report = verify("--project", project, "--expired-is-problem")
    assert code == 1 and [(p["audit_log_id"], p["code"]) for p in report["problems"]] == [
        (brief["audit_log_id"], "expired")
    ]


def test_a_renewed_link_serves_with_no_transfer(api, cms, asset_server):
    record = record_of(publish(api, asset_server.url + "/sample.mp4", hours=1))
    audit_log_id = record["audit_log_id"]
    [media_before] = cms.find("media", audit_log_id=audit_log_id)["docs"]
    downloads = len(asset_server.requests)

    renewed = record_of(api("POST", f"/records/{audit_log_id}/link", json={"url_expiry_hours": 5}))

    assert renewed["public_url"] != record["public_url"] and renewed["expires_at"] > record["expires_at"]
    assert renewed["url_expiry_hours"] == 5
    assert httpx.get(renewed["public_url"]).content == SAMPLE_MP4
    assert len(asset_server.requests) == downloads  # nothing downloaded again
    assert cms.find("media", audit_log_id=audit_log_id)["docs"] == [media_before]  # nor uploaded
    [stored] = cms.find("distributionRecords", audit_log_id=audit_log_id)["docs"]
    assert (stored["public_url"], stored["url_expiry_hours"]) == (renewed["public_url"], 5)
    assert record_of(api("GET", f"/records/{audit_log_id}")) == renewed

    refused = api("POST", f"/records/{audit_log_id}/link", json={"url_expiry_hours": 169})
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_request")
    assert api("POST", "/records/dist_never_published/link", json={}).json()["error"]["code"] == "record_not_found"


def test_an_unpublished_video_is_gone_from_every_earlier_link_and_from_storage(api, cms, asset_server, editor):
    first = record_of(publish(api, asset_server.url + "/sample.mp4"))
    audit_log_id = first["audit_log_id"]
    renewed = record_of(api("POST", f"/records/{audit_log_id}/link", json={}))
    earlier = [first["public_url"], renewed["public_url"]]
    stored_file = cms.media_dir / "links" / "mvp" / f"{audit_log_id}.mp4"
    assert stored_file.exists() and all(httpx.get(url).status_code == 200 for url in earlier)

    refused = api("DELETE", f"/records/{audit_log_id}")  # the API key may publish, not unpublish
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")
    response = api("DELETE", f"/records/{audit_log_id}", headers=editor, params={"reason": "legal takedown"})

    tombstone = record_of(response)
    assert (tombstone["public_url"], tombstone["expires_at"]) == (None, None)
    assert tombstone["unpublished_at"] and tombstone["unpublish_reason"] == "legal takedown"
    assert [httpx.get(url).status_code for url in earlier] in ([404, 404], [410, 410])
    assert not stored_file.exists() and cms.find("media", audit_log_id=audit_log_id)["docs"] == []
    assert record_of(api("GET", f"/records/{audit_log_id}")) == tombstone  # the tombstone stays readable
    assert record_of(api("DELETE", f"/records/{audit_log_id}", headers=editor)) == tombstone  # idempotent
    assert api("DELETE", "/records/dist_never_published", headers=editor).json()["error"]["code"] == "record_not_found"
    assert api("POST", f"/records/{audit_log_id}/link", json={}).json()["error"]["code"] == "record_unpublished"

    again = record_of(publish(api, asset_server.url + "/sample.mp4", audit_log_id=audit_log_id))
    assert again["unpublished_at"] is None and httpx.get(again["public_url"]).content == SAMPLE_MP4
    assert all(httpx.get(url).status_code != 200 for url in earlier)  # links of the first publish stay dead


def test_paging_through_a_project_while_others_publish_repeats_and_skips_nothing(api, cms, asset_server):
    project = "paging-" + secrets.token_hex(4)
    source = asset_server.url + "/sample.mp4"
    existing = [record_of(publish(api, source, project=project))["audit_log_id"] for _ in range(4)]
    added: list[str] = []
    seen: list[str] = []
    url = f"{API}/records?" + urlencode({"project_id": project, "limit": 2})
    while url:
        page = api("GET", url.split(API, 1)[1])
        assert page.status_code == 200, page.text
        seen += [record["audit_log_id"] for record in page.json()["results"]]
        url = page.json()["next"]
        if url and len(added) < 3:  # between two pages: a new record, and re-publishes of a seen and an unseen one
            added.append(record_of(publish(api, source, project=project))["audit_log_id"])
            record_of(publish(api, source, audit_log_id=seen[-1], project=project))
            record_of(publish(api, source, audit_log_id=existing[-1], project=project))

    assert len(seen) == len(set(seen))  # none repeated
    assert sorted(seen) == sorted(existing + added)  # none missing, those published meanwhile included
    ids = {doc["audit_log_id"]: doc["id"] for doc in cms.find("distributionRecords", project_id=project)["docs"]}
    assert [ids[audit_log_id] for audit_log_id in seen] == sorted(ids.values())  # in PayloadCMS's id order


def test_paging_25_records_4_at_a_time_while_publishes_run_concurrently_repeats_and_skips_nothing(
    api, cms, asset_server
):
    project = "paging25-" + secrets.token_hex(4)
    source = asset_server.url + "/sample.mp4"
    with ThreadPoolExecutor(4) as pool:  # created by four callers at once
        existing = list(pool.map(lambda _: record_of(publish(api, source, project=project))["audit_log_id"], range(25)))
    ids = {doc["id"]: doc["audit_log_id"] for doc in cms.find("distributionRecords", project_id=project)["docs"]}
    assert len(ids) == 25

    added: list[str] = []
    paging = threading.Event()
    published = threading.Condition()

    def publish_meanwhile():  # new records of the project and of another, re-publishes of existing ones
        index = 0
        while not paging.is_set():
            new = record_of(publish(api, source, project=project))["audit_log_id"]
            record_of(publish(api, source, project="paging-other-" + secrets.token_hex(4)))
            record_of(publish(api, source, audit_log_id=existing[index % 25], project=project))
            index += 1
            with published:
                added.append(new)
                published.notify_all()

    def published_for(records_read: int) -> bool:  # a new record for every page of 4 read
        return len(added) * 4 >= records_read

    seen: list[str] = []
    with ThreadPoolExecutor(1) as pool:
        publisher = pool.submit(publish_meanwhile)
        try:
            url = f"{API}/records?" + urlencode({"project_id": project, "limit": 4})
            while url:
                page = api("GET", url.split(API, 1)[1])
                assert page.status_code == 200, page.text
                assert len(page.json()["results"]) <= 4
                seen += [record["audit_log_id"] for record in page.json()["results"]]
                url = page.json()["next"]
                with published:  # every page boundary sees publishes; the publisher never waits for the pages
                    assert published.wait_for(partial(published_for, len(seen)), timeout=60)
        finally:
            paging.set()
        publisher.result()

    assert len(seen) == len(set(seen))  # none repeated
    assert set(existing) <= set(seen) <= set(existing + added)  # none missing
    now = {doc["audit_log_id"]: doc["id"] for doc in cms.find("distributionRecords", project_id=project)["docs"]}
    assert [now[audit_log_id] for audit_log_id in seen] == sorted(now[audit_log_id] for audit_log_id in seen)


def test_payload_compares_and_sorts_record_ids_as_numbers(api, cms, asset_server):
    """The cursor's `where[id][greater_than]` and `sort=id` across a change of digits: 10 comes after 9 ("10" < "9")."""

    def record_ids(**params) -> list[int]:
        response = httpx.get(
            f"{cms.url}/api/distributionRecords", params={"limit": 1000, "depth": 0, **params}, headers=cms.auth
        )
        assert response.status_code == 200, response.text
        return [doc["id"] for doc in response.json()["docs"]]

    while cms.total("distributionRecords") < 12:
        record_of(publish(api, asset_server.url + "/sample.mp4"))
    every = sorted(record_ids())
    below = 10 ** (len(str(every[-1])) - 1) - 1  # 9, 99, ...: the largest id with fewer digits than the last
    assert all(isinstance(id_, int) for id_ in every) and every[0] <= below < every[-1]

    assert record_ids(sort="id", **{"where[id][greater_than]": str(below)}) == [i for i in every if i > below]
    assert record_ids(sort="-id") == every[::-1]


def test_an_idempotent_retry_is_answered_from_the_first_job_with_one_download(api, cms, asset_server):
    key = secrets.token_hex(8)
    audit_log_id = "dist_ln_" + secrets.token_hex(6)

    first = publish(api, asset_server.url + "/sample.mp4", audit_log_id=audit_log_id, key=key)
    retry = publish(api, asset_server.url + "/sample.mp4", audit_log_id=audit_log_id, key=key)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert [path for _, path in asset_server.requests].count("/sample.mp4") == 1
    other = publish(api, asset_server.url + "/sample.mp4", audit_log_id=audit_log_id, hours=5, key=key)
    assert (other.status_code, other.json()["error"]["code"]) == (422, "idempotency_key_reused")


def test_the_catalog_is_closed_to_anonymous_readers(cms):
    assert httpx.get(f"{cms.url}/api/distributionRecords").status_code == 403
    assert httpx.get(f"{cms.url}/api/media").status_code == 403
    assert httpx.get(f"{cms.url}/api/distributionRecords", headers=cms.auth).status_code == 200
