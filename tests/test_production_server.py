"""The production web process: gunicorn with config/gunicorn.conf.py, DEBUG off, static files from WhiteNoise.

gunicorn runs as a real process on a free port, with static files it collects into its own folder first.
"""

import gzip
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ROOT, VENV_BIN, Process, collect_static, free_port

GUNICORN = [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.conf.py"]


def production_env(tmp_path, **variables) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DJANGO_", "GUNICORN_"))}
    return {
        **env,
        "DJANGO_ENV_FILE": os.devnull,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        **variables,
    }


@pytest.fixture(scope="module")
def gunicorn_dir(tmp_path_factory) -> Path:
    """The server's folder, with its database and the static files it serves, collected there."""
    folder = tmp_path_factory.mktemp("gunicorn")
    collect_static(folder / "static")
    return folder


@pytest.fixture(scope="module")
def gunicorn(gunicorn_dir):
    tmp_path = gunicorn_dir
    port = free_port()
    env = production_env(tmp_path, DJANGO_SECRET_KEY="test-" + "x" * 50, GUNICORN_BIND=f"127.0.0.1:{port}")
    server = Process("gunicorn", GUNICORN, tmp_path / "gunicorn.log", env)
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_for_http(url + "/admin/login/")
        yield url
    finally:
        server.stop()


def test_admin_page_links_hashed_static_files_that_whitenoise_serves_compressed(gunicorn, gunicorn_dir):
    page = httpx.get(gunicorn + "/admin/login/")
    assert page.status_code == 200
    stylesheet = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page.text)
    assert stylesheet, "the login page links the content-hashed stylesheet from the manifest"

    css = httpx.get(gunicorn + stylesheet.group(1), headers={"Accept-Encoding": "gzip"})
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["content-encoding"] == "gzip"
    assert "immutable" in css.headers["cache-control"]
    source = (gunicorn_dir / "static" / stylesheet.group(1).removeprefix("/static/")).read_bytes()
    assert css.content == source  # httpx undid the gzip: the very bytes collected
    assert int(css.headers["content-length"]) < len(gzip.compress(source)) + 100


def test_debug_is_off_errors_are_plain(gunicorn):
    missing = httpx.get(gunicorn + "/no-such-page")
    assert missing.status_code == 404
    assert "URLconf" not in missing.text and "Traceback" not in missing.text

    refused = httpx.post(gunicorn + "/api/distribution/publish", json={})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({}, "set DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "k" * 50, "DJANGO_DEBUG": "true"}, "DJANGO_DEBUG is on"),
    ],
)
def test_gunicorn_refuses_development_settings(tmp_path, variables, message):
    env = production_env(tmp_path, GUNICORN_BIND=f"127.0.0.1:{free_port()}", **variables)
    result = subprocess.run(GUNICORN, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert message in result.stderr


def test_debug_defaults_to_off(tmp_path):
    code = "from django.conf import settings; print(settings.DEBUG)"
    env = production_env(tmp_path, DJANGO_SETTINGS_MODULE="config.settings")
    read = subprocess.run([str(VENV_BIN / "python"), "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert read.stdout.strip() == "False"
    env["DJANGO_DEBUG"] = "true"
    read = subprocess.run([str(VENV_BIN / "python"), "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert read.stdout.strip() == "True"
