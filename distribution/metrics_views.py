"""The Prometheus /metrics endpoint, optionally behind a bearer token."""

import hmac

from django.http import HttpResponse
from prometheus_client.exposition import choose_encoder

from . import metrics
from .conf import app_settings


def metrics_view(request):
    token = app_settings().metrics_token
    given = request.headers.get("Authorization", "")
    if token and not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # Prometheus text format, or OpenMetrics when the scraper's Accept asks for it.
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(metrics.registry), content_type=content_type)
