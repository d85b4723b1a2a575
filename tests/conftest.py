import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from distribution.outbound import destinations
from tests.support.processes import moto_s3
from tests.support.samples import CMS_API_KEY, ORCHESTRATOR_KEY, ROOT, SAMPLE_MP4, install_api_key
from tests.support.servers import AssetServer, PayloadDouble, Route

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="session")
def celery_broker_dir(tmp_path_factory):
    """The test session's own broker folders, so a running `scripts/dev` worker never sees test jobs."""
    from config.celery import app

    folder = tmp_path_factory.mktemp("broker")
    for name in ("queue", "control"):
        (folder / name).mkdir()
    app.conf.broker_url = "filesystem://"
    app.conf.broker_transport_options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
        "polling_interval": 0.1,
    }
    return folder


@pytest.fixture(autouse=True)
def celery_eager(celery_broker_dir):
    """Jobs run inside .delay() unless a test starts real workers (tests/support/workers.py)."""
    from config.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def no_dns(monkeypatch):
    """Every host but 127.0.0.1 resolves to a private address (refused), without asking DNS."""

    def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "127.0.0.1" else ["10.255.255.1"]

    monkeypatch.setattr(destinations, "system_resolver", resolve)


@pytest.fixture
def loopback_allowed(settings):
    """Allow loopback destinations, as only local development does: the test servers are on 127.0.0.1."""
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "ALLOW_LOOPBACK_DESTINATIONS": True}


@pytest.fixture
def asset_server(loopback_allowed):
    """The sample MP4 on 127.0.0.1."""
    with AssetServer() as server:
        server.add("/sample.mp4", Route(body=SAMPLE_MP4))
        yield server


@pytest.fixture
def cms(settings):
    """A PayloadCMS double on 127.0.0.1 wired into the settings."""
    with PayloadDouble(CMS_API_KEY) as server:
        settings.PAYLOADCMS_URL = server.url
        settings.PAYLOADCMS_API_KEY = CMS_API_KEY
        settings.DISTRIBUTION = {**settings.DISTRIBUTION, "ALLOW_HTTP_PUBLIC_URL": True}
        yield server


@pytest.fixture
def manage(tmp_path, cms):
    """The real `manage.py` process (exit codes as release checks see them), a fresh database, the CMS double."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PAYLOADCMS_URL": cms.url,
        "PAYLOADCMS_API_KEY": CMS_API_KEY,
        "DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL": "true",
        "DISTRIBUTION_ALLOW_LOOPBACK_DESTINATIONS": "true",  # the asset server is on 127.0.0.1
    }

    def run(*args) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)

    assert run("migrate", "--noinput").returncode == 0
    return run


@pytest.fixture
def api_client(db):
    """A REST client holding an API key named 'orchestrator' (recorded as api-key:orchestrator)."""
    from rest_framework.test import APIClient

    install_api_key("orchestrator", ORCHESTRATOR_KEY)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=ORCHESTRATOR_KEY)
    return client


@pytest.fixture
def browser(tmp_path):
    if not (Path(CHROMEDRIVER).exists() and Path(CHROMIUM).exists()):
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium and chromium-driver are missing; scripts/test installs them")
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/test installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    # The browser's console and its network events (CDP), for tests that check errors and requested hosts.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)  # no Selenium Manager download
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**VIEWPORT, "deviceScaleFactor": 1, "mobile": False})
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory) -> Iterator[str]:
    """moto's S3 server for the session, in a folder of its own."""
    with moto_s3(tmp_path_factory.mktemp("moto-s3")) as endpoint:
        yield endpoint
