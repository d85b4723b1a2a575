"""Publish figures for /metrics (Prometheus) and the dashboard, computed from PublishAttempt.

Computed from the database rather than kept in process memory, so every worker
process reports the same numbers and a restart loses nothing.
"""

import math
from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from . import verification
from .models import PublishAttempt, VerificationRun

LATENCY_BUCKETS_MS = (100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000)
SIZE_BUCKETS_BYTES = tuple(2**power for power in (20, 24, 26, 28, 30, 32, 34))  # 1 MiB .. 16 GiB

_FINISHED = Q(status__in=[PublishAttempt.Status.PUBLISHED, PublishAttempt.Status.FAILED])


def _percentile(latencies, count: int, fraction: float) -> int | None:
    """Nearest-rank percentile, picked by the database rather than loading every row."""
    if not count:
        return None
    return latencies.order_by("latency_ms").values_list("latency_ms", flat=True)[
        max(1, math.ceil(fraction * count)) - 1
    ]


def summary() -> dict:
    counts = PublishAttempt.objects.aggregate(
        published=Count("id", filter=Q(status=PublishAttempt.Status.PUBLISHED)),
        failed=Count("id", filter=Q(status=PublishAttempt.Status.FAILED)),
        bytes_published=Sum("asset_size", filter=Q(status=PublishAttempt.Status.PUBLISHED)),
    )
    attempts = counts["published"] + counts["failed"]
    latencies = PublishAttempt.objects.filter(_FINISHED, latency_ms__isnull=False)
    latency_count = latencies.count()
    return {
        "attempts": attempts,
        "published": counts["published"],
        "failed": counts["failed"],
        "success_rate": counts["published"] / attempts if attempts else None,
        "latency_p50_ms": _percentile(latencies, latency_count, 0.50),
        "latency_p95_ms": _percentile(latencies, latency_count, 0.95),
        "bytes_published": counts["bytes_published"] or 0,
    }


def attempts_per_day(days: int = 14) -> list[dict]:
    """Published/failed counts per UTC day for the last `days` days, oldest first, zero-filled."""
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    rows = (
        PublishAttempt.objects.filter(_FINISHED, started_at__date__gte=first)
        .annotate(day=TruncDate("started_at"))
        .values("day")
        .annotate(
            published=Count("id", filter=Q(status=PublishAttempt.Status.PUBLISHED)),
            failed=Count("id", filter=Q(status=PublishAttempt.Status.FAILED)),
        )
    )
    by_day: dict = {row["day"]: row for row in rows}
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = by_day.get(day, {})
        result.append({"day": day, "published": row.get("published", 0), "failed": row.get("failed", 0)})
    return result


def _histogram(name: str, help_text: str, field: str, buckets: tuple[int, ...]) -> list[str]:
    observed = PublishAttempt.objects.filter(_FINISHED, **{f"{field}__isnull": False})
    counts = observed.aggregate(
        total=Count("id"),
        sum=Sum(field),
        **{f"le_{bound}": Count("id", filter=Q(**{f"{field}__lte": bound})) for bound in buckets},
    )
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} histogram"]
    lines += [f'{name}_bucket{{le="{bound}"}} {counts[f"le_{bound}"]}' for bound in buckets]
    lines += [
        f'{name}_bucket{{le="+Inf"}} {counts["total"]}',
        f"{name}_sum {counts['sum'] or 0}",
        f"{name}_count {counts['total']}",
    ]
    return lines


def prometheus_text() -> str:
    figures = summary()
    lines = [
        "# HELP distribution_publish_total Finished publish attempts by outcome.",
        "# TYPE distribution_publish_total counter",
        f'distribution_publish_total{{status="published"}} {figures["published"]}',
        f'distribution_publish_total{{status="failed"}} {figures["failed"]}',
    ]
    lines += _histogram(
        "distribution_publish_latency_ms", "Wall time of finished publish attempts.", "latency_ms", LATENCY_BUCKETS_MS
    )
    lines += _histogram("distribution_asset_size_bytes", "Size of downloaded assets.", "asset_size", SIZE_BUCKETS_BYTES)
    lines += _verification_lines()
    return "\n".join(lines) + "\n"


def _verification_lines() -> list[str]:
    """verify_distribution: runs by status, and what the latest finished run found (absent before any)."""
    runs = dict(VerificationRun.objects.values_list("status").annotate(n=Count("id")).order_by())
    lines = [
        "# HELP distribution_verification_runs_total verify_distribution runs by status.",
        "# TYPE distribution_verification_runs_total counter",
    ]
    lines += [
        f'distribution_verification_runs_total{{status="{status}"}} {runs.get(status, 0)}'
        for status in VerificationRun.Status.values
    ]
    run = verification.latest_finished_run()
    if run is None or run.finished_at is None:
        return lines
    lines += [
        "# HELP distribution_verification_last_run_timestamp_seconds When the latest finished verification run ended.",
        "# TYPE distribution_verification_last_run_timestamp_seconds gauge",
        f"distribution_verification_last_run_timestamp_seconds {int(run.finished_at.timestamp())}",
        "# HELP distribution_verification_records Records checked by the latest finished verification run, by outcome.",
        "# TYPE distribution_verification_records gauge",
        f'distribution_verification_records{{outcome="sound"}} {run.records_checked - run.records_with_problems}',
        f'distribution_verification_records{{outcome="problems"}} {run.records_with_problems}',
        "# HELP distribution_verification_problems Problems found by the latest finished verification run, by code.",
        "# TYPE distribution_verification_problems gauge",
    ]
    lines += [
        f'distribution_verification_problems{{code="{code}"}} {n}'
        for code, n in verification.problem_counts(run).items()
    ]
    return lines
