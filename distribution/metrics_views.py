"""The Prometheus /metrics endpoint, optionally behind a bearer token."""

import hmac

from django.http import HttpResponse

from . import metrics
from .conf import app_settings


def metrics_view(request):
    token = app_settings().metrics_token
    given = request.headers.get("Authorization", "")
    if token and not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.prometheus_text(), content_type="text/plain; version=0.0.4; charset=utf-8")
