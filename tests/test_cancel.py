"""Cancel: a queued job fails at once, a running one stops at its next piece and leaves nothing in PayloadCMS;
the REST endpoint, the command and the MCP tool (the admin's buttons are clicked in tests/test_browser.py)."""

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from distribution.errors import PublishError
from distribution.jobs import runner
from distribution.mcp import run_tool
from distribution.models import PublishJob
from tests.support.callbacks import SECRET, Receiver, verify
from tests.support.running import RunningPublish
from tests.support.samples import ORCHESTRATOR_KEY, audit_events, install_api_key, make_job

pytestmark = pytest.mark.django_db(transaction=True)


def cancel_url(job_id) -> str:
    return f"/api/distribution/jobs/{job_id}/cancel"


@pytest.fixture
def operator_client(db) -> APIClient:
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="cancel"))
    client = APIClient()
    client.force_authenticate(user)
    return client


def queued_job() -> PublishJob:
    return make_job(
        "queued", None, audit_log_id="dist_waiting", plan={}, storage_path="concept-42/mvp/dist_waiting.mp4"
    )


def test_a_running_job_stops_and_leaves_nothing_in_payloadcms(operator_client, cms, asset_server, settings, caplog):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "CALLBACK_SECRET": SECRET}
    with Receiver() as receiver:
        running = RunningPublish(asset_server, "dist_cancel_api", seconds=60, callback_url=receiver.url)
        with running as job:
            response = operator_client.post(cancel_url(job.pk))

        assert response.status_code == 200, response.content
        body = response.json()["job"]
        assert body["status"] == "failed" and body["error"]["code"] == "cancelled"
        assert body["error"]["message"].startswith("Cancelled by operator. No media document was left in PayloadCMS.")
        assert 0 < body["progress"]["bytes_done"] < 2**20  # stopped mid-transfer
        assert running.error is not None and running.error.code == "cancelled"
        assert cms.state.media == [] and cms.state.records == [] and not cms.state.files
        [event] = [e for e in audit_events(caplog) if e["audit_log_id"] == "dist_cancel_api"]
        assert event["status"] == "failed" and event["error_code"] == "cancelled"
        [(headers, sent)] = receiver.received
        verify(headers, sent)
        assert json.loads(sent)["job"]["error"]["code"] == "cancelled"


def test_a_queued_job_fails_at_once_and_no_worker_runs_it(operator_client, cms):
    job = queued_job()

    response = operator_client.post(cancel_url(job.pk))

    assert response.status_code == 200
    assert response.json()["job"]["error"]["code"] == "cancelled"
    assert runner.run(job.pk) is None  # the worker that takes its message finds nothing queued
    assert not PublishJob.objects.filter(status__in=PublishJob.ACTIVE).exists()  # its audit_log_id is free


def test_an_ended_job_is_409_job_ended_and_an_unknown_one_404(operator_client):
    ended = make_job("published", 40, audit_log_id="dist_done")

    refused = operator_client.post(cancel_url(ended.pk))

    assert refused.status_code == 409 and refused.json()["error"]["code"] == "job_ended"
    assert PublishJob.objects.get(pk=ended.pk).status == "published"
    assert operator_client.post(cancel_url(424242)).json()["error"]["code"] == "job_not_found"


def test_cancel_needs_the_cancel_permission(db):
    job = queued_job()
    install_api_key("orchestrator", ORCHESTRATOR_KEY)
    publisher = User.objects.create_user("publisher", password="pw")
    publisher.user_permissions.add(Permission.objects.get(codename="publish"))
    with_key, with_publish_only = APIClient(), APIClient()
    with_key.credentials(HTTP_X_API_KEY=ORCHESTRATOR_KEY)
    with_publish_only.force_authenticate(publisher)

    for client in (with_key, with_publish_only):
        refused = client.post(cancel_url(job.pk))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    assert PublishJob.objects.get(pk=job.pk).status == "queued"


def test_cancel_job_command(capsys, db):
    job = queued_job()

    call_command("cancel_job", str(job.pk))

    assert json.loads(capsys.readouterr().out)["job"]["error"]["code"] == "cancelled"
    with pytest.raises(CommandError) as ended:
        call_command("cancel_job", str(job.pk))
    assert ended.value.returncode == 1 and "job_ended" in str(ended.value)


def test_cancel_job_tool(db):
    job = queued_job()

    body = run_tool("distribution_cancel_job", {"job_id": job.pk})

    assert body["job"]["status"] == "failed" and body["job"]["error"]["code"] == "cancelled"
    assert PublishJob.objects.get(pk=job.pk).error_message == "Cancelled by mcp."
    with pytest.raises(PublishError) as unknown:
        run_tool("distribution_cancel_job", {"job_id": 424242})
    assert unknown.value.code == "job_not_found"
