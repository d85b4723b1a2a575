"""The admin in a real browser: headless Chromium (Debian's) driven by Selenium against the live server.

Set DISTRIBUTION_SCREENSHOT_DIR to keep the screenshots (the README's come from here).
"""

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from distribution.models import PublishAttempt
from distribution.publishing import publish
from tests.conftest import publish_request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path):
    if not Path(CHROMEDRIVER).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium-driver is missing; scripts/test installs it")
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/test installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
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
        "--window-size=1440,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def screenshot(driver, tmp_path, name: str) -> Path:
    target_dir = Path(os.environ.get("DISTRIBUTION_SCREENSHOT_DIR") or tmp_path)
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10_000  # a rendered page, not a blank
    return path


def log_in(driver, live_server) -> None:
    user = User.objects.create_user("operator", password="s3cret-pass", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_publishattempt", "republish"]))
    driver.get(f"{live_server.url}/admin/login/")
    driver.find_element(By.NAME, "username").send_keys("operator")
    driver.find_element(By.NAME, "password").send_keys("s3cret-pass")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(driver, 10).until(expected_conditions.title_contains("Publishing"))


def add_history() -> None:
    """A few days of realistic attempts so the list and the dashboard have something to show."""
    now = timezone.now()
    for index, (status, latency, code) in enumerate(
        [("published", 1840, ""), ("published", 2210, ""), ("failed", 310, "checksum_mismatch"),
         ("published", 1975, ""), ("failed", 30050, "asset_fetch_failed"), ("published", 2630, "")]
    ):
        PublishAttempt.objects.create(
            audit_log_id=f"dist_01M88{index}DEMO{index:02d}", title=f"Launch teaser v{index + 1}", project_id="proj-7",
            status=status, error_code=code, error_message="See the audit event." if code else "",
            duration_seconds=9.7, asset_size=48_000_000 + index * 1_000_000, latency_ms=latency,
            started_at=now - timedelta(days=5 - index, hours=index), finished_at=now - timedelta(days=5 - index),
            source="api",
        )


def test_operator_republishes_from_the_admin_list(browser, live_server, cms, asset_server, tmp_path):
    publish(publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_browser"))
    add_history()
    log_in(browser, live_server)

    browser.get(f"{live_server.url}/admin/distribution/publishattempt/?q=dist_browser")
    row_checkbox = browser.find_element(By.CSS_SELECTOR, "#result_list input.action-select")
    row_checkbox.click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("republish")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    confirm = browser.find_element(By.ID, "confirm-republish")
    assert "Re-publish 1 record?" in browser.find_element(By.ID, "content-main").text
    confirm.click()

    message = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success").get_attribute("textContent").strip()
    assert message.startswith("Re-published dist_browser to http://127.0.0.1:")
    assert len(cms.state.records) == 1 and len(cms.state.media) == 1
    assert PublishAttempt.objects.filter(audit_log_id="dist_browser", source="admin", status="published").exists()

    browser.get(f"{live_server.url}/admin/distribution/publishattempt/")
    screenshot(browser, tmp_path, "admin-list")


def test_dashboard_renders_in_the_browser(browser, live_server, tmp_path):
    add_history()
    log_in(browser, live_server)

    browser.get(f"{live_server.url}/dashboard/")

    assert browser.find_element(By.ID, "success-rate").text == "67%"
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.failed")) == 14
    assert len(browser.find_elements(By.CSS_SELECTOR, "#latest-failures tbody tr")) == 2
    screenshot(browser, tmp_path, "dashboard")
