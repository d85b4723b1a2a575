"""The WSGI application, warmed up: gunicorn (config/gunicorn.conf.py) loads it once, before forking its workers."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()


def _warm_up() -> None:
    """Import and compile now what a first request would: the URLconf with every view behind it (~90 modules)
    and the publish request's validators (their regexes compile on first use). A fresh worker took ~140 ms
    over its first request, and its imports took CPU from the requests its siblings were serving."""
    from django.urls import get_resolver

    from distribution.publishing.plan import PublishRequestSerializer

    get_resolver().resolve("/api/distribution/publish")
    sample = {
        "final_edit": {"video_url": "https://cdn.example.com/a.mp4", "duration_seconds": 1, "checksum": "x"},
        "qc_report": {"status": "pass"},
        "distribution_settings": {"url_expiry_hours": 1, "metadata": {"title": "", "tags": ["a"], "extra": 1}},
        "audit_log_id": "dist_warm_up",
        "callback_url": "https://hooks.example.com/",
    }
    PublishRequestSerializer(data=sample).is_valid()


_warm_up()
