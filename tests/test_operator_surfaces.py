"""Admin and dashboard as operators see them (/metrics: tests/test_metrics.py)."""

import re

import pytest
from django.contrib.auth.models import Permission, User

from distribution.models import MirroredRecord, PublishAttempt
from distribution.publishing import publish
from tests.conftest import make_attempt, publish_request

ATTEMPTS = "/admin/distribution/publishattempt/"
RECORDS = "/admin/distribution/mirroredrecord/"


def staff(client, *permissions: str) -> User:
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return user


@pytest.fixture
def published(db, cms, asset_server):
    return publish(publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_ops")).distribution_record


# -- dashboard -----------------------------------------------------------------------------


def test_dashboard_is_staff_only(client, db):
    response = client.get("/dashboard/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_dashboard_shows_the_figures_chart_and_failures(client, db):
    for latency in (100, 200, 300):
        make_attempt("published", latency, size=1000)
    failure = make_attempt("failed", 400, days_ago=2, audit_log_id="dist_broken", error_code="checksum_mismatch")
    staff(client)

    html = client.get("/dashboard/").content.decode()

    assert re.search(r'id="success-rate">75%<', html)
    assert 'id="latency-p50">200 ms<' in html
    assert 'id="latency-p95">400 ms<' in html
    assert 'id="bytes-published">2.9\xa0KB<' in html
    assert html.count('<rect class="published"') == 14
    assert "3 published, 0 failed" in html and "0 published, 1 failed" in html
    assert f'href="/admin/distribution/publishattempt/{failure.pk}/change/">dist_broken</a>' in html
    assert "checksum_mismatch" in html


# -- admin ---------------------------------------------------------------------------------


def test_attempt_list_search_and_filter(admin_client, published):
    make_attempt("failed", 50, audit_log_id="dist_other", title="Other cut", error_code="asset_fetch_failed")

    listing = admin_client.get(ATTEMPTS).content.decode()
    assert "dist_ops" in listing and "dist_other" in listing and "3.1\xa0KB" in listing

    found = admin_client.get(ATTEMPTS, {"q": "Other cut"}).content.decode()
    assert "dist_other" in found and "dist_ops" not in found
    failed_only = admin_client.get(ATTEMPTS, {"status__exact": "failed"}).content.decode()
    assert "dist_other" in failed_only and "dist_ops" not in failed_only


def test_attempt_detail_is_read_only_with_event_link_and_preview(admin_client, published):
    attempt = PublishAttempt.objects.get(audit_log_id="dist_ops")
    html = admin_client.get(f"{ATTEMPTS}{attempt.pk}/change/").content.decode()

    assert "&quot;status&quot;: &quot;published&quot;" in html  # pretty-printed audit event
    assert f'<a href="{published["public_url"]}" target="_blank"' in html
    assert f'<video controls preload="metadata" width="480" src="{published["public_url"]}">' in html
    assert 'name="_save"' not in html


def test_records_list_shows_mirror(admin_client, published):
    html = admin_client.get(RECORDS).content.decode()
    assert "dist_ops" in html and "present" in html


def test_republish_needs_the_permission(client, published):
    staff(client, "view_publishattempt")
    attempt = PublishAttempt.objects.get()
    assert 'value="republish"' not in client.get(ATTEMPTS).content.decode()
    response = client.post(ATTEMPTS, {"action": "republish", "_selected_action": [attempt.pk], "confirm": "yes"})
    assert PublishAttempt.objects.count() == 1  # nothing ran
    assert response.status_code in (200, 302)


def test_republish_asks_for_confirmation_then_overwrites(client, published, cms):
    staff(client, "view_publishattempt", "republish")
    attempt = PublishAttempt.objects.get()
    selection = {"action": "republish", "_selected_action": [attempt.pk]}

    confirmation = client.post(ATTEMPTS, selection)
    assert confirmation.status_code == 200
    assert "Yes, re-publish" in confirmation.content.decode() and PublishAttempt.objects.count() == 1

    done = client.post(ATTEMPTS, {**selection, "confirm": "yes"}, follow=True)
    messages = [str(message) for message in done.context["messages"]]
    assert messages == [f"Re-published dist_ops to {published['public_url']}"]
    assert PublishAttempt.objects.filter(source="admin", status="published", audit_log_id="dist_ops").count() == 1
    assert len(cms.state.media) == 1 and len(cms.state.records) == 1


def test_republish_failure_is_reported_and_recorded(client, published, cms):
    staff(client, "view_mirroredrecord", "republish")
    record = MirroredRecord.objects.get()
    cms.fail_next["PATCH media"] = 500

    done = client.post(
        RECORDS, {"action": "republish", "_selected_action": [record.pk], "confirm": "yes"}, follow=True
    )

    [message] = [str(message) for message in done.context["messages"]]
    assert message.startswith("Re-publish of dist_ops failed (cms_upload_failed): PayloadCMS answered HTTP 500")
    assert PublishAttempt.objects.filter(source="admin", status="failed", error_code="cms_upload_failed").count() == 1
