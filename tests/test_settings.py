"""The PayloadCMS base URL resolution, read by a fresh process as the app would at start."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
URL_VARIABLES = ("PAYLOADCMS_URL", "PAYLOAD_PUBLIC_SERVER_URL", "AUTO_MOVIE_URL")


def resolved_cms_url(**variables) -> str:
    env = {name: value for name, value in os.environ.items() if name not in URL_VARIABLES}
    env.update(variables, DJANGO_SETTINGS_MODULE="config.settings", DJANGO_ENV_FILE=os.devnull)
    code = "from django.conf import settings; print(settings.PAYLOADCMS_URL)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, "http://localhost:3010"),
        ({"AUTO_MOVIE_URL": "http://auto-movie:3000/"}, "http://auto-movie:3000"),
        ({"AUTO_MOVIE_URL": "http://c", "PAYLOAD_PUBLIC_SERVER_URL": "https://b"}, "https://b"),
        (
            {"AUTO_MOVIE_URL": "http://c", "PAYLOAD_PUBLIC_SERVER_URL": "https://b", "PAYLOADCMS_URL": "https://a"},
            "https://a",
        ),
        ({"PAYLOADCMS_URL": "", "PAYLOAD_PUBLIC_SERVER_URL": "https://b"}, "https://b"),
    ],
)
def test_cms_url_resolution_order(variables, expected):
    assert resolved_cms_url(**variables) == expected
