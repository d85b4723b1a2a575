"""Who may publish: the distribution.publish permission for session, token and API-key callers;
per-caller API keys (djangorestframework-api-key) that are hashed, named, revocable and expire."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework_api_key.models import APIKey

from distribution.models import PublishJob
from tests.support.samples import ORCHESTRATOR_KEY, publish_request

PUBLISH = "/api/distribution/publish"


@pytest.fixture
def body(asset_server):
    return publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_callers")


def user(name: str, *, publish: bool, staff: bool = False) -> User:
    account = User.objects.create_user(name, password="pw-" + name, is_staff=staff)
    if publish:
        account.user_permissions.add(Permission.objects.get(codename="publish"))
    return account


def token_client(account: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=account).key}")
    return client


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code


def test_token_callers_need_the_publish_permission(db, cms, body):
    refused(token_client(user("reader", publish=False)).post(PUBLISH, body, format="json"), 403, "permission_denied")
    assert cms.requests == [] and PublishJob.objects.count() == 0
    assert token_client(user("publisher", publish=True)).post(PUBLISH, body, format="json").status_code == 201


def test_a_staff_session_without_the_permission_cannot_overwrite_a_record(db, cms, body, api_client):
    """The admin's Re-publish guard cannot be sidestepped through the API with the session cookie."""
    assert api_client.post(PUBLISH, body, format="json").status_code == 201
    staff = APIClient(enforce_csrf_checks=False)
    staff.force_login(user("staff", publish=False, staff=True))
    refused(staff.post(PUBLISH, {**body, "audit_log_id": "dist_callers"}, format="json"), 403, "permission_denied")
    assert len(cms.state.media) == 1 and PublishJob.objects.count() == 1

    granted = APIClient()
    granted.force_login(user("editor", publish=True, staff=True))
    assert granted.post(PUBLISH, body, format="json").status_code == 201


def test_superusers_have_the_permission(db, cms, body):
    admin = User.objects.create_superuser("root", password="pw")
    assert token_client(admin).post(PUBLISH, body, format="json").status_code == 201


def test_api_keys_are_hashed_named_and_revocable(db, cms, body, api_client):
    key = APIKey.objects.get(name="orchestrator")
    assert ORCHESTRATOR_KEY not in (key.hashed_key, key.id) and ORCHESTRATOR_KEY.split(".")[1] not in key.id
    assert api_client.post(PUBLISH, body, format="json").status_code == 201

    key.revoked = True
    key.save()
    refused(api_client.post(PUBLISH, body, format="json"), 401, "authentication_failed")


def test_a_verified_key_is_not_looked_up_again_for_a_few_seconds_but_its_revocation_counts_at_once(db, api_client):
    qc_refused = {**publish_request("http://127.0.0.1:9/a.mp4"), "qc_report": {"status": "fail"}}
    api_client.post(PUBLISH, qc_refused, format="json")
    with CaptureQueriesContext(connection) as queries:
        refused(api_client.post(PUBLISH, qc_refused, format="json"), 422, "qc_not_passed")
    assert not [query for query in queries if "rest_framework_api_key_apikey" in query["sql"]]

    APIKey.objects.filter(name="orchestrator").get().delete()  # in this process: forgotten at once
    refused(api_client.post(PUBLISH, qc_refused, format="json"), 401, "authentication_failed")


def test_expired_api_keys_are_refused(db, cms, body):
    _, raw = APIKey.objects.create_key(name="old", expiry_date=timezone.now() - timedelta(minutes=1))
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    refused(client.post(PUBLISH, body, format="json"), 401, "authentication_failed")


def test_create_api_key_command_prints_a_working_key_once(db, cms, body, capsys):
    call_command("create_api_key", "nightly-release", "--expires-in-days", "30")
    raw = capsys.readouterr().out.strip()
    key = APIKey.objects.get(name="nightly-release")
    assert key.expiry_date is not None and key.expiry_date > timezone.now() + timedelta(days=29)
    assert raw not in key.hashed_key
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.post(PUBLISH, body, format="json").status_code == 201


def test_environment_keys_work_only_in_development(db, cms, body, settings):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "API_KEYS": ["dev-orchestrator-key"]}
    client = APIClient()
    client.credentials(HTTP_X_API_KEY="dev-orchestrator-key")
    settings.DEBUG = False
    refused(client.post(PUBLISH, body, format="json"), 401, "authentication_failed")
    settings.DEBUG = True
    assert client.post(PUBLISH, body, format="json").status_code == 201


def test_api_keys_are_managed_in_the_admin(admin_client):
    page = admin_client.get("/admin/rest_framework_api_key/apikey/add/")
    assert page.status_code == 200
    response = admin_client.post(
        "/admin/rest_framework_api_key/apikey/add/",
        {"name": "orchestrator-eu", "expiry_date_0": "", "expiry_date_1": ""},
    )
    assert response.status_code == 302
    assert APIKey.objects.get(name="orchestrator-eu").revoked is False
    listing = admin_client.get("/admin/rest_framework_api_key/apikey/").content.decode()
    assert "orchestrator-eu" in listing


def test_every_job_records_its_caller(db, cms, body, api_client):
    assert api_client.post(PUBLISH, body, format="json").status_code == 201
    assert token_client(user("publisher", publish=True)).post(PUBLISH, body, format="json").status_code == 201
    token_client(user("reader", publish=False)).post(PUBLISH, body, format="json")  # refused: no job at all
    callers = list(PublishJob.objects.order_by("started_at").values_list("caller", flat=True))
    assert callers == ["api-key:orchestrator", "publisher"]


def test_following_a_job_needs_the_publish_permission_too(db, cms, body, api_client):
    assert api_client.post(PUBLISH, body, format="json").status_code == 201
    job_url = PublishJob.objects.get().status_url
    assert api_client.get(job_url).status_code == 200
    refused(token_client(user("reader", publish=False)).get(job_url), 403, "permission_denied")
