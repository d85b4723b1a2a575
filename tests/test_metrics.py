"""Publish figures as Prometheus and the dashboard read them: /metrics and distribution.operators.metrics."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from distribution.models import PublishJob
from distribution.operators import metrics
from tests.support.pages import scrape
from tests.support.samples import SAMPLE_MP4, make_job, publish_request

SCRAPER = f"Bearer {settings.DISTRIBUTION['METRICS_TOKEN']}"


def test_metrics_count_outcomes_and_bucket_latency_and_size(client, db):
    make_job("published", 200, size=5 * 2**20)
    make_job("published", 800, size=2**20)
    make_job("failed", 20000, error_code="asset_fetch_failed")
    make_job("running", None)  # not finished: not counted

    samples = scrape(client)

    assert samples['distribution_publish_total{code="",status="published"}'] == 2
    assert samples['distribution_publish_total{code="asset_fetch_failed",status="failed"}'] == 1
    assert samples['distribution_publish_duration_seconds_bucket{le="0.25"}'] == 1
    assert samples['distribution_publish_duration_seconds_bucket{le="1"}'] == 2
    assert samples['distribution_publish_duration_seconds_bucket{le="+Inf"}'] == 3
    assert samples["distribution_publish_duration_seconds_sum"] == 21.0
    assert samples["distribution_publish_duration_seconds_count"] == 3
    assert samples['distribution_publish_jobs{status="queued"}'] == 0
    assert samples['distribution_publish_jobs{status="running"}'] == 1
    assert samples['distribution_asset_size_bytes_bucket{le="1048576"}'] == 1
    assert samples['distribution_asset_size_bytes_bucket{le="16777216"}'] == 2
    assert samples["distribution_asset_size_bytes_sum"] == 6 * 2**20


def test_histogram_buckets_are_cumulative_up_to_the_count(client, db):
    for latency in (50, 300, 3000, 400000):
        make_job("published", latency, size=latency * 1000)

    response = client.get("/metrics", HTTP_AUTHORIZATION=SCRAPER)
    families = {family.name: family for family in text_string_to_metric_families(response.content.decode())}

    assert {name: family.type for name, family in families.items()} == {
        "distribution_publish": "counter",
        "distribution_publish_duration_seconds": "histogram",
        "distribution_asset_size_bytes": "histogram",
        "distribution_publish_jobs": "gauge",
        "distribution_verification_runs": "counter",  # the other verification figures wait for a finished run
    }
    for name in ("distribution_publish_duration_seconds", "distribution_asset_size_bytes"):
        buckets = [s.value for s in families[name].samples if s.name.endswith("_bucket")]
        [count] = [s.value for s in families[name].samples if s.name.endswith("_count")]
        assert buckets == sorted(buckets) and buckets[-1] == count == 4


def test_metrics_follow_publishes_through_the_api(api_client, cms, asset_server):
    video = asset_server.url + "/sample.mp4"
    for audit_log_id in ("dist_m1", "dist_m2"):
        assert (
            api_client.post(
                "/api/distribution/publish", publish_request(video, audit_log_id=audit_log_id), format="json"
            ).status_code
            == 201
        )
    refused = publish_request(video, qc_report={"status": "fail"})
    assert api_client.post("/api/distribution/publish", refused, format="json").status_code == 422
    wrong_sum = publish_request(
        video, final_edit={"video_url": video, "duration_seconds": 2.0, "checksum": "sha256:" + "0" * 64}
    )
    assert api_client.post("/api/distribution/publish", wrong_sum, format="json").status_code == 422

    samples = scrape(api_client)

    assert samples['distribution_publish_total{code="",status="published"}'] == 2
    assert samples['distribution_publish_total{code="qc_not_passed",status="failed"}'] == 1
    assert samples['distribution_publish_total{code="checksum_mismatch",status="failed"}'] == 1
    assert samples["distribution_publish_duration_seconds_count"] == 4
    assert samples["distribution_publish_duration_seconds_sum"] == pytest.approx(
        PublishJob.objects.aggregate(total=Sum("latency_ms"))["total"] / 1000
    )
    assert samples["distribution_asset_size_bytes_count"] == 2  # refused and mismatched assets have no size
    assert samples["distribution_asset_size_bytes_sum"] == 2 * len(SAMPLE_MP4)
    assert metrics.summary()["success_rate"] == 2 / 3  # the qc_not_passed refusal is shown apart


def test_metrics_token_when_configured(client, db, settings):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "METRICS_TOKEN": "scrape-me"}
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"distribution_publish_total" not in anonymous.content
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert "distribution_publish_duration_seconds_count" in scrape(client, HTTP_AUTHORIZATION="Bearer scrape-me")


def test_metrics_without_a_token_answer_only_with_debug_or_when_public(client, db, settings):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "METRICS_TOKEN": ""}
    settings.DEBUG = False
    refused = client.get("/metrics")
    assert refused.status_code == 403 and b"DISTRIBUTION_METRICS_TOKEN" in refused.content
    assert b"distribution_publish_total" not in refused.content

    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "METRICS_PUBLIC": True}
    assert "distribution_publish_total" in client.get("/metrics").content.decode()

    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "METRICS_PUBLIC": False}
    settings.DEBUG = True
    assert client.get("/metrics").status_code == 200


def test_summary_percentiles_rate_and_bytes(db):
    for latency in range(10, 201, 10):  # 20 published attempts, 10 ms .. 200 ms
        make_job("published", latency, size=1000)
    make_job("failed", 5000, size=7, error_code="cms_unavailable")
    make_job("failed", 3, error_code="qc_not_passed")  # the caller's refusal: not an attempt
    make_job("failed", 4, error_code="invalid_request")
    make_job("failed", 900, error_code="cancelled")  # an operator's: not an attempt either
    make_job("running", None, size=10**9)

    assert metrics.summary() == {
        "finished": 24,
        "published": 20,
        "failed": 4,
        "attempted": 21,
        "refused": 2,
        "cancelled": 1,
        "success_rate": 20 / 21,
        "latency_p50_ms": 100,  # nearest rank: the 12th of 24 (3, 4, 10, ..., 200, 900, 5000)
        "latency_p95_ms": 900,  # the 23rd of 24
        "bytes_published": 20 * 1000,
    }


def test_summary_without_attempts(db):
    assert metrics.summary() == {
        "finished": 0,
        "published": 0,
        "failed": 0,
        "attempted": 0,
        "refused": 0,
        "cancelled": 0,
        "success_rate": None,
        "latency_p50_ms": None,
        "latency_p95_ms": None,
        "bytes_published": 0,
    }


def test_jobs_per_day_is_zero_filled_oldest_first(db):
    make_job("published", 100)
    make_job("published", 100)
    make_job("running", None)
    make_job("failed", 100, days_ago=3)
    make_job("published", 100, days_ago=7)  # outside a 7-day window

    days = metrics.jobs_per_day(7)

    today = timezone.now().date()
    assert [day["day"] for day in days] == [today - timedelta(days=n) for n in range(6, -1, -1)]
    assert [(day["published"], day["failed"]) for day in days] == [(0, 0)] * 3 + [(0, 1), (0, 0), (0, 0), (2, 0)]


def test_dashboard_and_metrics_show_the_same_figures(admin_client):
    make_job("published", 1200, size=2**20)
    make_job("failed", 300, error_code="qc_not_passed")
    make_job("failed", 900, error_code="cms_unavailable")
    make_job("queued", None, audit_log_id="dist_q")  # one active job per audit_log_id
    make_job("running", None, audit_log_id="dist_r1")
    make_job("running", None, audit_log_id="dist_r2")

    samples = scrape(admin_client)
    html = admin_client.get("/dashboard/").content.decode()

    published = samples['distribution_publish_total{code="",status="published"}']
    failed = sum(
        value
        for name, value in samples.items()
        if name.startswith('distribution_publish_total{code="') and 'status="failed"' in name
    )
    assert (published, failed) == (1, 2)
    assert "publish success rate (1 of 2 attempted)" in html and 'id="refused">1<' in html
    queued, running = (
        samples['distribution_publish_jobs{status="queued"}'],
        samples['distribution_publish_jobs{status="running"}'],
    )
    assert (queued, running) == (1, 2)
    jobs_now_figure = re.search(r'id="jobs-now">(.*?)</div>', html)
    assert jobs_now_figure is not None
    jobs_now = jobs_now_figure.group(1)
    assert re.sub(r"<[^>]+>", "", jobs_now) == "1 / 2"
    assert 'href="/admin/distribution/publishjob/?status__exact=running" id="running-jobs">2</a>' in jobs_now


def test_openmetrics_when_the_scraper_asks_for_it(client, db):
    make_job("published", 100)
    response = client.get(
        "/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0", HTTP_AUTHORIZATION=SCRAPER
    )
    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    body = response.content.decode()
    assert body.endswith("# EOF\n") and 'distribution_publish_total{code="",status="published"} 1.0' in body


def test_a_signed_in_staff_user_reads_metrics_without_the_token(admin_client, client, settings):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "METRICS_TOKEN": "scraper-token"}
    assert client.get("/metrics").status_code == 401
    assert admin_client.get("/metrics").status_code == 200
