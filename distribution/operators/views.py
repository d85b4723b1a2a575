"""The operators' pages beside the admin: the landing page (GET /), the staff dashboard and Prometheus /metrics."""

import hmac
from functools import cache
from pathlib import Path

import drf_spectacular_sidecar
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static
from prometheus_client.exposition import choose_encoder

from distribution.conf import app_settings
from distribution.models import PublishJob
from distribution.operators import metrics, verification
from distribution.operators.admin import links_expiring_soon

CHART_DAYS = 14
CHART_WIDTH, CHART_HEIGHT = 640, 160
LATEST_FAILURES = 10


def landing_view(request):
    """GET /: a small page linking what runs on this port (and Payload's admin when it runs), instead of a 404."""
    return render(request, "distribution/landing.html", {"payload_admin_url": settings.PAYLOADCMS_ADMIN_URL})


def favicon_view(request):
    """GET /favicon.ico, which browsers ask for on pages that link no icon (the API docs): the static icon."""
    return HttpResponseRedirect(static("distribution/favicon.svg"))


REDOC_BUNDLE = (
    Path(drf_spectacular_sidecar.__file__).parent / "static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
)
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"  # the one outside URL in Redoc's bundle


@cache
def _redoc_bundle(local_logo: str) -> bytes:
    return REDOC_BUNDLE.read_text(encoding="utf-8").replace(REDOCLY_LOGO, local_logo).encode()


def redoc_bundle_view(request):
    """drf-spectacular-sidecar's Redoc, its Redocly logo (fetched from a CDN) replaced by the local icon."""
    response = HttpResponse(_redoc_bundle(static("distribution/favicon.svg")), content_type="text/javascript")
    response["Cache-Control"] = "public, max-age=86400"
    return response


def chart_bars(days: list[dict]) -> tuple[int, list[dict]]:
    """The chart's scale (the busiest day's total) and stacked bar geometry, published under failed."""
    peak = max([day["published"] + day["failed"] for day in days] + [1])
    slot = CHART_WIDTH / len(days)
    bars = []
    for index, day in enumerate(days):
        published_height = CHART_HEIGHT * day["published"] / peak
        failed_height = CHART_HEIGHT * day["failed"] / peak
        top = CHART_HEIGHT - published_height - failed_height
        bars.append(
            {
                **day,
                "total": day["published"] + day["failed"],
                "x": round(index * slot + 3, 1),
                "width": round(slot - 6, 1),
                "published_y": round(CHART_HEIGHT - published_height, 1),
                "published_height": round(published_height, 1),
                "failed_y": round(top, 1),
                "failed_height": round(failed_height, 1),
                "label_x": round(index * slot + slot / 2, 1),
                "total_y": round(top - 4, 1),
            }
        )
    return peak, bars


@staff_member_required
def dashboard_view(request):
    """Publish figures, the latest verification, a server-rendered SVG chart, the latest failures."""
    peak, bars = chart_bars(metrics.jobs_per_day(CHART_DAYS))
    context = {
        **admin.site.each_context(request),
        "title": "Distribution dashboard",
        "figures": metrics.summary(),
        "jobs": metrics.jobs_now(),
        "running_job": PublishJob.objects.filter(status=PublishJob.Status.RUNNING).first(),
        "refusal_codes": ",".join(sorted(metrics.REFUSAL_CODES)),
        "verification": verification.latest_finished_run(),
        "links_expiring": links_expiring_soon().count(),
        "chart_days": CHART_DAYS,
        "chart_peak": peak,
        "bars": bars,
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "failures": PublishJob.objects.filter(status=PublishJob.Status.FAILED).order_by("-started_at")[
            :LATEST_FAILURES
        ],
    }
    return render(request, "distribution/dashboard.html", context)


def metrics_view(request):
    """The Prometheus /metrics endpoint: behind its bearer token; without one, open only with DEBUG or when public.

    A signed-in staff user (the dashboard links it) reads it too.
    """
    token = app_settings().metrics_token
    staff = request.user.is_authenticated and request.user.is_staff
    if not (token or staff or settings.DEBUG or app_settings().metrics_public):
        return HttpResponse(
            "Forbidden: set DISTRIBUTION_METRICS_TOKEN (or DISTRIBUTION_METRICS_PUBLIC=true).\n",
            status=403,
            content_type="text/plain",
        )
    given = request.headers.get("Authorization", "")
    if token and not staff and not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # Prometheus text format, or OpenMetrics when the scraper's Accept asks for it.
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(metrics.registry), content_type=content_type)
