"""Publish figures for /metrics (Prometheus) and the dashboard, computed from the database.

Computed from PublishJob and VerificationRun rather than kept in process memory, so every web
process and worker reports the same numbers and a restart loses nothing. `summary()`,
`jobs_per_day()` and `jobs_now()` feed the dashboard; `DatabaseCollector` turns the same figures
into Prometheus metric families, and prometheus_client writes the exposition format.
"""

import math
from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from distribution.models import PublishJob, VerificationRun
from distribution.operators import verification

LATENCY_BUCKETS_SECONDS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
SIZE_BUCKETS_BYTES = tuple(2**power for power in (20, 24, 26, 28, 30, 32, 34))  # 1 MiB .. 16 GiB

Status = PublishJob.Status
_FINISHED = Q(status__in=[Status.PUBLISHED, Status.FAILED])
# Failures that are the caller's own refusals, answered before anything was downloaded: not the service failing.
REFUSAL_CODES = frozenset(
    {"invalid_request", "parse_error", "qc_not_passed", "request_too_large", "unsupported_media_type", "bad_request"}
)


def outcomes() -> dict[tuple[str, str], int]:
    """Finished jobs by (status, error code); the code is "" for published ones."""
    rows = PublishJob.objects.filter(_FINISHED).values_list("status", "error_code").annotate(n=Count("id"))
    return {(status, code): n for status, code, n in rows.order_by()}


def jobs_now() -> dict[str, int]:
    """Jobs waiting for a worker and jobs running, now."""
    counts = dict(
        PublishJob.objects.filter(status__in=[Status.QUEUED, Status.RUNNING])
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {status: counts.get(status, 0) for status in (Status.QUEUED, Status.RUNNING)}


def _percentile(latencies, count: int, fraction: float) -> int | None:
    """Nearest-rank percentile, picked by the database rather than loading every row."""
    if not count:
        return None
    return latencies.order_by("latency_ms").values_list("latency_ms", flat=True)[
        max(1, math.ceil(fraction * count)) - 1
    ]


def summary() -> dict:
    """The finished jobs' figures; the success rate is of the publishes the service attempted (refusals and
    operators' cancels apart)."""
    by_status: dict[str, int] = {Status.PUBLISHED: 0, Status.FAILED: 0}
    refused = cancelled = 0
    for (status, code), n in outcomes().items():
        by_status[status] += n
        refused += n if code in REFUSAL_CODES else 0
        cancelled += n if code == "cancelled" else 0
    finished = by_status[Status.PUBLISHED] + by_status[Status.FAILED]
    attempted = finished - refused - cancelled
    latencies = PublishJob.objects.filter(_FINISHED, latency_ms__isnull=False)
    latency_count = latencies.count()
    bytes_published = PublishJob.objects.filter(status=Status.PUBLISHED).aggregate(total=Sum("asset_size"))
    return {
        "finished": finished,
        "published": by_status[Status.PUBLISHED],
        "failed": by_status[Status.FAILED],
        "attempted": attempted,
        "refused": refused,
        "cancelled": cancelled,
        "success_rate": by_status[Status.PUBLISHED] / attempted if attempted else None,
        "latency_p50_ms": _percentile(latencies, latency_count, 0.50),
        "latency_p95_ms": _percentile(latencies, latency_count, 0.95),
        "bytes_published": bytes_published["total"] or 0,
    }


def jobs_per_day(days: int = 14) -> list[dict]:
    """Published/failed counts per UTC day for the last `days` days, oldest first, zero-filled."""
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    rows = (
        PublishJob.objects.filter(_FINISHED, started_at__date__gte=first)
        .annotate(day=TruncDate("started_at"))
        .values("day")
        .annotate(
            published=Count("id", filter=Q(status=Status.PUBLISHED)),
            failed=Count("id", filter=Q(status=Status.FAILED)),
        )
    )
    by_day: dict = {row["day"]: row for row in rows}
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = by_day.get(day, {})
        result.append({"day": day, "published": row.get("published", 0), "failed": row.get("failed", 0)})
    return result


def _histogram(name: str, documentation: str, field: str, buckets, scale: float = 1) -> HistogramMetricFamily:
    """Finished jobs' `field` (divided by `scale`) as cumulative buckets, counted by the database."""
    observed = PublishJob.objects.filter(_FINISHED, **{f"{field}__isnull": False})
    counts = observed.aggregate(
        total=Count("id"),
        sum=Sum(field),
        **{
            f"le_{index}": Count("id", filter=Q(**{f"{field}__lte": bound * scale}))
            for index, bound in enumerate(buckets)
        },
    )
    return HistogramMetricFamily(
        name,
        documentation,
        buckets=[(str(bound), counts[f"le_{index}"]) for index, bound in enumerate(buckets)]
        + [("+Inf", counts["total"])],
        sum_value=(counts["sum"] or 0) / scale,
    )


class DatabaseCollector(Collector):
    """Every figure read from the database at scrape time."""

    def collect(self):
        publishes = CounterMetricFamily(
            "distribution_publish", "Finished publish jobs by status and error code.", labels=["status", "code"]
        )
        for (status, code), n in sorted(outcomes().items()):
            publishes.add_metric([status, code], n)
        yield publishes
        yield _histogram(
            "distribution_publish_duration_seconds",
            "Wall time of finished publish jobs, from request to answer.",
            "latency_ms",
            LATENCY_BUCKETS_SECONDS,
            scale=1000,
        )
        yield _histogram(
            "distribution_asset_size_bytes", "Size of downloaded and verified assets.", "asset_size", SIZE_BUCKETS_BYTES
        )
        jobs = GaugeMetricFamily("distribution_publish_jobs", "Publish jobs queued or running now.", labels=["status"])
        for status, n in jobs_now().items():
            jobs.add_metric([status], n)
        yield jobs
        yield from _verification_families()


def _verification_families():
    """verify_distribution: runs by status, and what the latest finished run found (absent before any)."""
    runs = dict(VerificationRun.objects.values_list("status").annotate(n=Count("id")).order_by())
    family = CounterMetricFamily(
        "distribution_verification_runs", "verify_distribution runs by status.", labels=["status"]
    )
    for status in VerificationRun.Status.values:
        family.add_metric([status], runs.get(status, 0))
    yield family
    run = verification.latest_finished_run()
    if run is None or run.finished_at is None:
        return
    yield GaugeMetricFamily(
        "distribution_verification_last_run_timestamp_seconds",
        "When the latest finished verification run ended.",
        value=int(run.finished_at.timestamp()),
    )
    records = GaugeMetricFamily(
        "distribution_verification_records",
        "Records checked by the latest finished verification run, by outcome.",
        labels=["outcome"],
    )
    records.add_metric(["sound"], run.records_checked - run.records_with_problems)
    records.add_metric(["problems"], run.records_with_problems)
    yield records
    problems = GaugeMetricFamily(
        "distribution_verification_problems",
        "Problems found by the latest finished verification run, by code.",
        labels=["code"],
    )
    for code, n in verification.problem_counts(run).items():
        problems.add_metric([code], n)
    yield problems


registry = CollectorRegistry(auto_describe=False)
registry.register(DatabaseCollector())


def exposition() -> bytes:
    """The Prometheus text format of every figure, written by prometheus_client."""
    return generate_latest(registry)
