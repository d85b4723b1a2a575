"""Operator pages outside the admin: the staff dashboard and the Prometheus /metrics."""

import hmac

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse
from django.shortcuts import render

from . import metrics
from .models import PublishAttempt

CHART_WIDTH, CHART_HEIGHT = 560, 160


def metrics_view(request):
    token = settings.DISTRIBUTION["METRICS_TOKEN"]
    given = request.headers.get("Authorization", "")
    if token and not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.prometheus_text(), content_type="text/plain; version=0.0.4; charset=utf-8")


def _chart_bars(days: list[dict]) -> list[dict]:
    """Stacked bar geometry (published under failed) for the server-rendered SVG chart."""
    peak = max([day["published"] + day["failed"] for day in days] + [1])
    slot = CHART_WIDTH / len(days)
    bars = []
    for index, day in enumerate(days):
        published_height = CHART_HEIGHT * day["published"] / peak
        failed_height = CHART_HEIGHT * day["failed"] / peak
        bars.append(
            {
                **day,
                "x": round(index * slot + 2, 1),
                "width": round(slot - 4, 1),
                "published_y": round(CHART_HEIGHT - published_height, 1),
                "published_height": round(published_height, 1),
                "failed_y": round(CHART_HEIGHT - published_height - failed_height, 1),
                "failed_height": round(failed_height, 1),
                "label_x": round(index * slot + slot / 2, 1),
            }
        )
    return bars


@staff_member_required
def dashboard_view(request):
    days = metrics.attempts_per_day(14)
    context = {
        "title": "Distribution dashboard",
        "figures": metrics.summary(),
        "bars": _chart_bars(days),
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "failures": PublishAttempt.objects.filter(status=PublishAttempt.Status.FAILED)[:10],
    }
    return render(request, "distribution/dashboard.html", context)
