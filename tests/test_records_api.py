"""After publish, over REST against the PayloadCMS double: renew, unpublish, the records API and Idempotency-Key.

Links are fetched as a viewer would (httpx, no credentials); the asset server's request log shows what was
downloaded. tests/integration/test_links.py proves the same promises against a real PayloadCMS.
"""

import threading
import time
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.celery import app
from distribution.models import PublishJob
from tests.support.samples import CMS_API_KEY, ORCHESTRATOR_KEY, SAMPLE_MP4, install_api_key, publish_request
from tests.support.servers import Route
from tests.support.workers import CeleryWorker

API = "/api/distribution"


def publish(client, source: str, audit_log_id: str, *, project: str = "p1", hours: float = 72, **headers):
    body = publish_request(source, audit_log_id=audit_log_id)
    body["distribution_settings"].update(project_id=project, url_expiry_hours=hours)
    return client.post(f"{API}/publish", body, format="json", **headers)


def record_of(response) -> dict:
    assert response.status_code in (200, 201), response.content
    return response.json()["distribution_record"]


def error_of(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def downloads(asset_server, path: str = "/sample.mp4") -> int:
    return [requested for _, requested in asset_server.requests].count(path)


def token_client(name: str, *codenames: str) -> APIClient:
    """A REST client of a user holding these distribution permissions (a DRF token)."""
    user = User.objects.create_user(name)
    granted = Permission.objects.filter(content_type__app_label="distribution", codename__in=codenames)
    user.user_permissions.add(*granted)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def source(asset_server):
    return asset_server.url + "/sample.mp4"


@pytest.fixture
def editor(db):
    """A user allowed to publish and unpublish."""
    return token_client("editor", "publish", "unpublish")


# -- renew ---------------------------------------------------------------------------------


def test_renew_answers_a_fresh_link_that_serves_with_no_transfer(api_client, cms, asset_server, source):
    record = record_of(publish(api_client, source, "dist_renew", hours=1))
    [media_before] = [dict(media) for media in cms.state.media]
    downloads_before, cms_requests_before = downloads(asset_server), len(cms.requests)

    response = api_client.post(f"{API}/records/dist_renew/link", {"url_expiry_hours": 5}, format="json")

    renewed = record_of(response)
    assert response.status_code == 200
    assert renewed["public_url"] != record["public_url"] and renewed["expires_at"] > record["expires_at"]
    assert renewed["url_expiry_hours"] == 5 and renewed["published_at"] == record["published_at"]
    assert httpx.get(renewed["public_url"]).content == SAMPLE_MP4
    assert downloads(asset_server) == downloads_before  # nothing downloaded again
    new_requests = cms.requests[cms_requests_before:]
    assert ("PUT", "/api/media/upsert") not in {(method, path.split("?")[0]) for method, path in new_requests}
    assert cms.state.media == [media_before]  # nor uploaded
    [stored] = cms.state.records
    assert (stored["public_url"], stored["url_expiry_hours"]) == (renewed["public_url"], 5)

    assert error_of(api_client.post(f"{API}/records/dist_unknown/link", {}, format="json")) == (
        404,
        "record_not_found",
    )


# -- unpublish -----------------------------------------------------------------------------


def test_unpublish_leaves_a_tombstone_kills_the_link_and_answers_the_same_again(api_client, editor, cms, source):
    record = record_of(publish(api_client, source, "dist_down"))
    assert httpx.get(record["public_url"]).status_code == 200

    response = editor.delete(f"{API}/records/dist_down?reason=legal+takedown")

    tombstone = record_of(response)
    assert response.status_code == 200
    assert (tombstone["public_url"], tombstone["expires_at"]) == (None, None)
    assert tombstone["unpublished_at"] and tombstone["unpublish_reason"] == "legal takedown"
    assert tombstone["audit_log_id"] == "dist_down" and tombstone["published_at"] == record["published_at"]
    assert httpx.get(record["public_url"]).status_code in (403, 404, 410)  # the link given out serves no more
    assert cms.state.media == [] and cms.state.files == {}
    assert PublishJob.objects.count() == 1  # an unpublish is no publish job

    again = editor.delete(f"{API}/records/dist_down", {"reason": "another reason"}, format="json")
    assert again.status_code == 200 and record_of(again) == tombstone  # its first reason and moment kept
    assert record_of(api_client.get(f"{API}/records/dist_down")) == tombstone
    assert error_of(api_client.post(f"{API}/records/dist_down/link", {}, format="json")) == (409, "record_unpublished")
    assert error_of(editor.delete(f"{API}/records/dist_unknown")) == (404, "record_not_found")


def test_only_callers_with_the_unpublish_permission_may_unpublish(api_client, cms, source):
    record = record_of(publish(api_client, source, "dist_kept"))
    publisher = token_client("publisher", "publish")

    for caller in (api_client, publisher):  # an API key, and a user allowed only to publish
        assert error_of(caller.delete(f"{API}/records/dist_kept")) == (403, "permission_denied")

    assert httpx.get(record["public_url"]).content == SAMPLE_MP4
    assert [(method, path) for method, path in cms.requests if "unpublish" in path] == []


# -- read and list -------------------------------------------------------------------------


def test_get_one_record_and_404(api_client, cms, source):
    record = record_of(publish(api_client, source, "dist_read"))

    assert record_of(api_client.get(f"{API}/records/dist_read")) == record
    assert error_of(api_client.get(f"{API}/records/dist_never_published")) == (404, "record_not_found")


def page_through(client, query: dict) -> tuple[list[str], int]:
    """The audit_log_ids of every page, following `next` to the end; and the number of pages."""
    seen: list[str] = []
    pages = 0
    url: str | None = f"{API}/records?{urlencode(query)}"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"results", "next"} and len(body["results"]) <= query.get("limit", 50)
        seen += [record["audit_log_id"] for record in body["results"]]
        pages += 1
        url = body["next"] and urlsplit(body["next"])._replace(scheme="", netloc="").geturl()
    return seen, pages


def test_list_filters_by_project_and_tombstones_and_pages_with_next_to_the_end(api_client, editor, cms, source):
    # 12 records in p1 (PayloadCMS ids 1..13, past 9 and 10), one in p2 between them, one p1 record unpublished.
    in_p1 = [f"dist_list{index:02d}" for index in range(12)]
    for audit_log_id in in_p1[:6]:
        record_of(publish(api_client, source, audit_log_id))
    record_of(publish(api_client, source, "dist_other", project="p2"))
    for audit_log_id in in_p1[6:]:
        record_of(publish(api_client, source, audit_log_id))
    record_of(editor.delete(f"{API}/records/{in_p1[3]}"))
    published = [audit_log_id for audit_log_id in in_p1 if audit_log_id != in_p1[3]]

    assert page_through(api_client, {"project_id": "p1"}) == (published, 1)
    assert page_through(api_client, {"project_id": "p1", "include_unpublished": "true"}) == (in_p1, 1)
    assert page_through(api_client, {"project_id": "p2"}) == (["dist_other"], 1)
    assert page_through(api_client, {"project_id": "p1", "limit": 4}) == (published, 3)
    assert page_through(api_client, {"limit": 4, "include_unpublished": "true"}) == (
        [*in_p1[:6], "dist_other", *in_p1[6:]],
        4,
    )
    assert page_through(api_client, {"published_after": "2999-01-01T00:00:00Z"}) == ([], 1)

    first = api_client.get(f"{API}/records?limit=1").json()
    assert first["results"][0]["public_url"].startswith(cms.url + "/api/media/download/")
    assert first["results"][0]["published_at"] and first["next"]
    assert error_of(api_client.get(f"{API}/records?cursor=not-ours")) == (400, "invalid_request")
    assert error_of(api_client.get(f"{API}/records?limit=0")) == (400, "invalid_request")


# -- Idempotency-Key -----------------------------------------------------------------------


def test_the_same_key_and_body_is_answered_from_the_first_job_with_one_download(api_client, cms, asset_server, source):
    first = publish(api_client, source, "dist_idem", HTTP_IDEMPOTENCY_KEY="key-1")
    retry = publish(api_client, source, "dist_idem", HTTP_IDEMPOTENCY_KEY="key-1")

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert PublishJob.objects.count() == 1 and downloads(asset_server) == 1


def test_the_same_key_with_another_body_is_refused_and_does_nothing(api_client, cms, asset_server, source):
    record_of(publish(api_client, source, "dist_idem", HTTP_IDEMPOTENCY_KEY="key-1"))

    other = publish(api_client, source, "dist_idem", hours=5, HTTP_IDEMPOTENCY_KEY="key-1")

    assert error_of(other) == (422, "idempotency_key_reused")
    assert PublishJob.objects.count() == 1 and downloads(asset_server) == 1
    assert cms.state.records[0]["url_expiry_hours"] == 72


def test_keys_are_per_caller(api_client, cms, asset_server, source):
    install_api_key("other-orchestrator", "otherorc.another-orchestrator-secret-012345")
    other_caller = APIClient()
    other_caller.credentials(HTTP_X_API_KEY="otherorc.another-orchestrator-secret-012345")
    record_of(publish(api_client, source, "dist_idem", HTTP_IDEMPOTENCY_KEY="key-1"))

    same_body = publish(other_caller, source, "dist_idem", HTTP_IDEMPOTENCY_KEY="key-1")
    other_body = publish(other_caller, source, "dist_idem2", HTTP_IDEMPOTENCY_KEY="key-2")
    reused = publish(other_caller, source, "dist_idem3", HTTP_IDEMPOTENCY_KEY="key-1")

    assert same_body.status_code == 201 and record_of(other_body)["audit_log_id"] == "dist_idem2"
    assert error_of(reused) == (422, "idempotency_key_reused")  # the other caller's own key-1 now holds
    callers = list(PublishJob.objects.order_by("pk").values_list("caller", flat=True))
    assert callers == ["api-key:orchestrator", "api-key:other-orchestrator", "api-key:other-orchestrator"]
    assert downloads(asset_server) == 3


@pytest.mark.django_db(transaction=True)
def test_a_retry_while_the_first_job_runs_answers_202_with_that_job(cms, asset_server, tmp_path, celery_broker_dir):
    """A real worker runs the job; the asset holds its bytes back until the retry has been answered."""
    install_api_key("orchestrator", ORCHESTRATOR_KEY)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=ORCHESTRATOR_KEY)
    release = threading.Event()

    def held_back():
        yield SAMPLE_MP4[:100]
        assert release.wait(60), "the test never released the asset"
        yield SAMPLE_MP4[100:]

    source = asset_server.add("/held.mp4", Route(body=held_back))
    app.conf.task_always_eager = False  # .delay() goes to the broker folders, where the worker takes it
    environment = {
        "PAYLOADCMS_URL": cms.url,
        "PAYLOADCMS_API_KEY": CMS_API_KEY,
        "DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL": "true",
        "DISTRIBUTION_ALLOW_LOOPBACK_DESTINATIONS": "true",
    }
    with CeleryWorker(tmp_path, celery_broker_dir, **environment):
        try:
            accepted = publish(
                client, source, "dist_running", HTTP_IDEMPOTENCY_KEY="key-running", HTTP_PREFER="respond-async"
            )
            assert accepted.status_code == 202, accepted.content
            job_id = accepted.json()["job"]["id"]
            wait_for(lambda: downloads(asset_server, "/held.mp4") == 1, "the worker's download")
            assert PublishJob.objects.get(pk=job_id).status == "running"

            retry = publish(
                client, source, "dist_running", HTTP_IDEMPOTENCY_KEY="key-running", HTTP_PREFER="respond-async"
            )

            assert retry.status_code == 202, retry.content
            assert retry.json()["job"]["id"] == job_id and retry.json()["job"]["status"] == "running"
            assert retry.headers["Location"] == accepted.headers["Location"]
        finally:
            release.set()
        done = publish(client, source, "dist_running", HTTP_IDEMPOTENCY_KEY="key-running")  # waits for the job

    assert record_of(done)["audit_log_id"] == "dist_running"
    assert PublishJob.objects.count() == 1 and downloads(asset_server, "/held.mp4") == 1
    assert cms.state.files["p1/mvp/dist_running.mp4"] == SAMPLE_MP4


def wait_for(condition, what: str, timeout: float = 60) -> None:
    until = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < until, f"timed out waiting for {what}"
        time.sleep(0.05)
