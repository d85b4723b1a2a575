"""The staff dashboard: staff only, figures from the attempts, the SVG chart and the latest failures."""

import re
from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from distribution.jobs.runner import publish
from distribution.models import MirroredRecord, PublishJob
from tests.support.pages import result_rows
from tests.support.samples import make_job, publish_request


def test_dashboard_is_staff_only(client, db):
    anonymous = client.get("/dashboard/")
    assert anonymous.status_code == 302 and anonymous["Location"] == "/admin/login/?next=/dashboard/"

    client.force_login(User.objects.create_user("viewer", password="pw"))
    not_staff = client.get("/dashboard/")
    assert not_staff.status_code == 302 and not_staff["Location"].startswith("/admin/login/")


def test_dashboard_shows_the_figures_chart_and_failures(admin_client):
    for latency in (100, 200, 300):
        make_job("published", latency, size=1000)
    failure = make_job(
        "failed",
        12_500,
        days_ago=2,
        audit_log_id="dist_broken",
        error_code="checksum_mismatch",
        error_message="sha256 of the downloaded bytes does not match final_edit.checksum.",
    )
    make_job("failed", 3, days_ago=3, error_code="qc_not_passed")  # the caller's refusal, shown apart
    running = make_job("running", None)  # not finished: left out of every figure, linked

    html = admin_client.get("/dashboard/").content.decode()

    assert 'id="success-rate">75%<' in html
    assert "publish success rate (3 of 4 attempted)" in html
    assert 'id="refused">1<' in html
    assert f'href="/admin/distribution/publishjob/{running.pk}/change/" id="running-jobs">1</a>' in html
    assert 'id="latency-p50">200 ms<' in html
    assert 'id="latency-p95">12.5 s<' in html  # the 5th of 5 finished
    assert 'id="bytes-published">2.9 KiB<' in html
    assert html.count('<rect class="published"') == 14
    # today's 3 published fill the chart's height (160); the failure two days ago is a third of it
    assert re.search(r'<rect class="published" x="[\d.]+" y="0.0" width="[\d.]+" height="160.0"/>', html)
    assert re.search(r'<rect class="failed" x="[\d.]+" y="106.7" width="[\d.]+" height="53.3"/>', html)
    assert "3 published, 0 failed" in html and "0 published, 1 failed" in html
    assert f'href="/admin/distribution/publishjob/{failure.pk}/change/">dist_broken</a>' in html
    assert "<code>checksum_mismatch</code>" in html and "does not match final_edit.checksum" in html
    assert 'href="/dashboard/" class="dashboard-link">Dashboard</a>' in html and "Log out" in html  # the admin header


def test_dashboard_lists_the_ten_latest_failures_newest_first(admin_client):
    for age in range(12):
        make_job("failed", 10, days_ago=age, audit_log_id=f"dist_fail{age:02d}", error_code="asset_fetch_failed")

    html = admin_client.get("/dashboard/").content.decode()
    table = html[html.index('id="latest-failures"') : html.index("</table>")]

    assert re.findall(r">(dist_fail\d+)</a>", table) == [f"dist_fail{age:02d}" for age in range(10)]


def test_dashboard_without_attempts(admin_client):
    html = admin_client.get("/dashboard/").content.decode()

    assert 'id="success-rate">\u2013<' in html and 'id="latency-p50">—<' in html
    assert "No failed jobs." in html and html.count('height="0.0"') == 28


def test_dashboard_counts_a_real_publish(admin_client, cms, asset_server):
    result = publish(publish_request(asset_server.url + "/sample.mp4"))

    html = admin_client.get("/dashboard/").content.decode()

    assert 'id="success-rate">100%<' in html and "(1 of 1 attempted)" in html
    assert f'id="bytes-published">{result.asset_size / 1024:.1f} KiB<' in html
    assert PublishJob.objects.get().status == "published"


def test_dashboard_counts_links_expiring_within_a_day_and_links_them(admin_client):
    now = timezone.now()
    MirroredRecord.objects.create(audit_log_id="dist_soon", expires_at=now + timedelta(hours=2))
    MirroredRecord.objects.create(audit_log_id="dist_soon_too", expires_at=now + timedelta(hours=23))
    MirroredRecord.objects.create(audit_log_id="dist_later", expires_at=now + timedelta(days=2))
    MirroredRecord.objects.create(audit_log_id="dist_down", expires_at=now + timedelta(hours=2), unpublished_at=now)

    html = admin_client.get("/dashboard/").content.decode()

    link = re.search(r'id="links-expiring"><a href="([^"]+)">(\d+)</a>', html)
    assert link and link.group(2) == "2"
    listed = result_rows(admin_client.get(link.group(1).replace("&amp;", "&")).content.decode())
    assert {name for name in ("dist_soon", "dist_soon_too", "dist_later", "dist_down") if name in listed} == {
        "dist_soon",
        "dist_soon_too",
    }


def test_landing_links_payloads_admin_when_it_runs(client, settings):
    assert "Payload's admin" not in client.get("/").content.decode()

    settings.PAYLOADCMS_ADMIN_URL = "http://127.0.0.1:3011/admin"

    assert '<a href="http://127.0.0.1:3011/admin">Payload\'s admin</a>' in client.get("/").content.decode()
