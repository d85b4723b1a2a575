"""Typed app settings, env files, system checks, and what GET / and malformed calls answer."""

import os
import shutil
import socket
import subprocess
import sys

import environ
import pytest
from django.core.checks import run_checks

from distribution.conf import DistributionSettings, app_settings, from_env
from tests.support.samples import ROOT
from tests.support.services import REDIS_SERVER, RedisServer

PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "p7Vq2m9XkR4tL8wZ1cN6bJ3hF5sD0gY2aE7uQ9iO4rT1yW8eK3xB6",
    "DJANGO_ALLOWED_HOSTS": "distribution.example.com",
    "DJANGO_HTTPS": "true",
    "DJANGO_BEHIND_HTTPS_PROXY": "true",
    "PAYLOADCMS_URL": "https://cms.example.com",
    "PAYLOADCMS_API_KEY": "service-user-key",
    "DISTRIBUTION_API_KEYS": "orchestrator-key",
}


def test_defaults_live_in_the_dataclass_and_the_environment_overrides_them(monkeypatch):
    monkeypatch.setenv("DISTRIBUTION_MAX_ASSET_BYTES", "1000")
    monkeypatch.setenv("DISTRIBUTION_URL_EXPIRY_HOURS", "5")
    monkeypatch.setenv("DISTRIBUTION_API_KEYS", "a,b")
    monkeypatch.setenv("DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL", "true")
    monkeypatch.setenv("DISTRIBUTION_S3_ENDPOINT", "https://s3.example.com/")

    config = DistributionSettings(**{key.lower(): value for key, value in from_env(environ.Env()).items()})

    assert config == DistributionSettings(
        max_asset_bytes=1000,
        default_url_expiry_hours=5,
        api_keys=("a", "b"),
        allow_http_public_url=True,
        s3_endpoint="https://s3.example.com",
    )
    assert DistributionSettings().http_timeout_seconds == 60.0 and DistributionSettings().audit_sink == "log"


def test_app_settings_follow_django_settings(settings):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "MAX_ASSET_BYTES": 123}
    assert app_settings().max_asset_bytes == 123
    settings.DISTRIBUTION = {"AUDIT_SINK": "webhook"}  # keys not given take their defaults
    assert app_settings().audit_sink == "webhook" and app_settings().max_asset_bytes == 5 * 1024**3


def read_settings(checkout, code: str, **variables) -> str:
    """Run `code` in a fresh process of a copy of the app at `checkout`, with no DJANGO_ENV_FILE."""
    names = ("DJANGO_ENV_FILE", "PAYLOADCMS_URL", "PAYLOADCMS_API_KEY", "DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL")
    env = {name: value for name, value in os.environ.items() if name not in names}
    env.update(variables, DJANGO_SETTINGS_MODULE="config.settings", PYTHONPATH=str(checkout))
    return subprocess.run(
        [sys.executable, "-c", f"from django.conf import settings; print({code})"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_env_files_fill_what_the_environment_lacks(tmp_path):
    """var/dev.env (scripts/dev) under .env under the real environment; DJANGO_ENV_FILE replaces both files."""
    for folder in ("config", "distribution"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "dev.env").write_text(
        "PAYLOADCMS_URL=http://127.0.0.1:3999\nPAYLOADCMS_API_KEY=dev-key\nDISTRIBUTION_ALLOW_HTTP_PUBLIC_URL=true\n"
    )
    code = "settings.PAYLOADCMS_URL, settings.PAYLOADCMS_API_KEY, settings.DISTRIBUTION['ALLOW_HTTP_PUBLIC_URL']"

    assert read_settings(tmp_path, code) == "http://127.0.0.1:3999 dev-key True"
    (tmp_path / ".env").write_text("PAYLOADCMS_API_KEY=mine\n")
    assert read_settings(tmp_path, code) == "http://127.0.0.1:3999 mine True"
    assert read_settings(tmp_path, code, PAYLOADCMS_API_KEY="exported") == "http://127.0.0.1:3999 exported True"
    assert read_settings(tmp_path, code, DJANGO_ENV_FILE=os.devnull) == "http://localhost:3010  False"


def distribution_checks(deploy: bool = False) -> dict[str, str]:
    return {
        message.id: message.msg
        for message in run_checks(include_deployment_checks=deploy)
        if message.id and message.id.startswith("distribution.")
    }


def test_checks_pass_on_the_defaults():
    assert distribution_checks() == {}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"AUDIT_SINK": "kafka"}, {"distribution.E002": "Unknown audit sink 'kafka'."}),
        ({"AUDIT_SINK": "webhook"}, {"distribution.E003": "The webhook audit sink has no URL to POST events to."}),
        (
            {"MAX_ASSET_BYTES": "5GB"},
            {"distribution.E001": "DISTRIBUTION['MAX_ASSET_BYTES'] should be int, not '5GB'."},
        ),
        ({"RETRIES": 3}, {"distribution.W001": "Unknown setting DISTRIBUTION['RETRIES'] is ignored."}),
        (
            {"LOW_SPEED_LIMIT_BYTES": 1024, "LOW_SPEED_SECONDS": 0},
            {"distribution.E005": "DISTRIBUTION_LOW_SPEED_SECONDS must be above 0 while the low-speed limit is on."},
        ),
        (
            {"LOW_SPEED_LIMIT_BYTES": -1, "MAX_PUBLISHES_PER_HOST": -2},
            {
                "distribution.E005": "DISTRIBUTION_LOW_SPEED_LIMIT_BYTES must be 0 (off) or more; "
                "DISTRIBUTION_MAX_PUBLISHES_PER_HOST must be 0 (no cap) or more."
            },
        ),
    ],
)
def test_checks_name_the_misconfiguration(settings, given, expected):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, **given}
    assert distribution_checks() == expected


def test_deploy_checks_want_a_cms_key_and_https_public_urls(settings):
    settings.DEBUG = False
    settings.PAYLOADCMS_API_KEY = ""
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "ALLOW_HTTP_PUBLIC_URL": True}

    assert set(distribution_checks(deploy=True)) == {"distribution.E010", "distribution.W010"}
    assert distribution_checks() == {}  # neither stops a development command

    settings.DEBUG = True
    settings.PAYLOADCMS_API_KEY = "key"
    assert distribution_checks(deploy=True) == {}


def test_deploy_check_warns_when_metrics_are_public(settings):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "METRICS_PUBLIC": True, "METRICS_TOKEN": ""}
    assert "distribution.W011" in distribution_checks(deploy=True)
    assert "distribution.W011" not in distribution_checks()
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "METRICS_PUBLIC": False}
    assert "distribution.W011" not in distribution_checks(deploy=True)


def test_deploy_check_reaches_the_broker(settings, tmp_path):
    """filesystem:// needs no server; any other broker must answer (a real redis-server, then a closed port)."""
    assert "distribution.E011" not in distribution_checks(deploy=True)

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        settings.CELERY_BROKER_URL = f"redis://:secret@127.0.0.1:{closed.getsockname()[1]}/0"
    message = distribution_checks(deploy=True)["distribution.E011"]
    assert message.startswith("The Celery broker at redis://:**@127.0.0.1:") and "secret" not in message

    if shutil.which(REDIS_SERVER) is None and not os.environ.get("CI"):
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    redis_server = RedisServer(tmp_path)
    try:
        settings.CELERY_BROKER_URL = redis_server.url
        assert "distribution.E011" not in distribution_checks(deploy=True)
    finally:
        redis_server.stop()


def manage_check(*args: str, **variables: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DJANGO_", "DISTRIBUTION_"))}
    env.update(variables, DJANGO_ENV_FILE=os.devnull)
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_check_deploy_is_clean_with_a_production_environment():
    result = manage_check("--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout

    development = manage_check("--deploy", "--fail-level", "WARNING")
    assert development.returncode == 1
    assert "distribution.E010" in development.stderr and "security.W004" in development.stderr


def test_a_misconfiguration_stops_management_commands():
    result = manage_check(DISTRIBUTION_AUDIT_SINK="syslog")
    assert result.returncode == 1
    assert "(distribution.E002) Unknown audit sink 'syslog'." in result.stderr
    assert "DISTRIBUTION_AUDIT_SINK to one of: log, webhook" in result.stderr


def test_landing_page_links_the_operator_pages(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    for link in ('href="/admin/"', 'href="/dashboard/"', 'href="/metrics"'):
        assert link in html


def test_malformed_json_and_wrong_method_answer_in_the_error_shape(api_client):
    malformed = api_client.post("/api/distribution/publish", "{not json", content_type="application/json")
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "parse_error"

    wrong_method = api_client.get("/api/distribution/publish")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {
        "error": {"code": "method_not_allowed", "message": 'Method "GET" not allowed.', "audit_log_id": None}
    }
