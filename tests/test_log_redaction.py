"""No secret of a video_url reaches any log: publishes through a real gunicorn and a real Celery worker (beat
embedded), with httpx and httpcore at DEBUG, then every log file those processes wrote is searched.

The unit tests below pin down what the logging filter (distribution/outbound/redaction.py) does to a record.
"""

import logging
import os

import httpx
import pytest
from django.db import connection

from distribution.models import PublishJob
from distribution.outbound.redaction import RedactingFilter, redact_text
from tests.support.processes import VENV_BIN, Process, free_port
from tests.support.samples import CMS_API_KEY, ORCHESTRATOR_KEY, install_api_key, publish_request
from tests.support.workers import CeleryWorker

PASSWORD, TOKEN, SIGNATURE = "pa55-W0rd-x7", "tok-5ecret-81", "sig0a1b2c3d4e5f"
SECRETS = (PASSWORD, TOKEN, SIGNATURE)


def secret_url(base: str, path: str) -> str:
    userinfo = base.replace("http://", f"http://uploader:{PASSWORD}@")
    return f"{userinfo}{path}?token={TOKEN}&X-Amz-Signature={SIGNATURE}&expires=3600"


@pytest.mark.django_db(transaction=True)
def test_no_log_of_web_worker_or_beat_holds_a_secret_of_the_video_url(cms, asset_server, celery_broker_dir, tmp_path):
    from config.celery import app

    app.conf.task_always_eager = False
    install_api_key("orchestrator", ORCHESTRATOR_KEY)
    env = {
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "CELERY_BROKER_DIR": str(celery_broker_dir),
        "PAYLOADCMS_URL": cms.url,
        "PAYLOADCMS_API_KEY": CMS_API_KEY,
        "DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL": "true",
        "DISTRIBUTION_ALLOW_LOOPBACK_DESTINATIONS": "true",
        "LOG_LEVEL": "DEBUG",  # httpx and httpcore (and every other library) at DEBUG
    }
    port = free_port()
    web_env = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("DJANGO_", "GUNICORN_"))},
        **env,
        "DJANGO_ENV_FILE": os.devnull,
        "DJANGO_SECRET_KEY": "redaction-" + "x" * 50,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_LOG_LEVEL": "debug",
    }
    web = Process(
        "gunicorn", [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.conf.py"], tmp_path / "web.log", web_env
    )
    try:
        url = f"http://127.0.0.1:{port}"
        web.wait_for_http(url + "/api/schema/")
        with CeleryWorker(tmp_path, celery_broker_dir, beat=True, pool="threads", loglevel="DEBUG", **env):
            published = httpx.post(
                url + "/api/distribution/publish",
                json=publish_request(secret_url(asset_server.url, "/sample.mp4"), audit_log_id="dist_secret_ok"),
                headers={"X-API-Key": ORCHESTRATOR_KEY},
                timeout=60,
            )
            failed = httpx.post(
                url + "/api/distribution/publish",
                json=publish_request(secret_url(asset_server.url, "/gone.mp4"), audit_log_id="dist_secret_404"),
                headers={"X-API-Key": ORCHESTRATOR_KEY},
                timeout=60,
            )
    finally:
        web.stop()

    assert published.status_code == 201, published.text
    assert failed.status_code == 502 and failed.json()["error"]["code"] == "asset_fetch_failed"
    assert PublishJob.objects.filter(status="published").count() == 1
    logs = {path.name: path.read_text(errors="replace") for path in tmp_path.iterdir() if path.suffix == ".log"}
    assert set(logs) == {"web.log", "worker.log"}  # beat runs inside the worker and writes there
    for name, text in logs.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} in {name}"
    worker_log = logs["worker.log"]
    # The URLs were logged (httpx's INFO line, httpcore's DEBUG trace, beat's schedule), only redacted.
    assert "HTTP Request: GET http://127.0.0.1:" in worker_log and "/sample.mp4?[redacted]" in worker_log
    assert "httpcore.connection" in worker_log and "beat" in worker_log.lower()


def test_redact_text_strips_credentials_and_queries_and_keeps_other_urls():
    text = (
        'HTTP Request: GET http://u:pw@cdn.example.com/a.mp4?token=t&sig=s "HTTP/1.1 200 OK"; '
        "args=('https://x.example.com/b?X-Amz-Signature=abc',) see https://docs.example.com/page and "
        '"GET /api/distribution/jobs?key=k HTTP/1.1"'
    )
    assert redact_text(text) == (
        'HTTP Request: GET http://cdn.example.com/a.mp4?[redacted] "HTTP/1.1 200 OK"; '
        "args=('https://x.example.com/b?[redacted]',) see https://docs.example.com/page and "
        '"GET /api/distribution/jobs?[redacted] HTTP/1.1"'
    )


def test_the_filter_rewrites_message_arguments_and_traceback():
    url = httpx.URL("http://u:pw@cdn.example.com/a.mp4?token=t")
    try:
        raise ValueError(f"could not fetch {url}")
    except ValueError:
        record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: %s %s", ("GET", url), None)
        record.exc_info = __import__("sys").exc_info()
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "HTTP Request: GET http://cdn.example.com/a.mp4?[redacted]"
    assert record.exc_text and "pw" not in record.exc_text and "token=t" not in record.exc_text
