"""Payload's own admin (payload/start.sh --admin) in headless Chromium, after a publish through our API.

The operator's way in: the Django admin's mirrored record links to the document in Payload's admin,
which asks for the seeded admin user's credentials and then shows the record; the media document
plays the video.
"""

import json
import secrets
import stat
from datetime import datetime

import httpx
import pytest
from django.contrib.auth.models import User
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from distribution.models import MirroredRecord
from tests.support.payload import IT_KEY, PayloadServer
from tests.support.samples import SAMPLE_CHECKSUM, publish_request, screenshot

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGE_TIMEOUT_SECONDS = 60  # the first render of an admin page compiles nothing, but the machine may be busy


@pytest.fixture(scope="module")
def payload_admin(tmp_path_factory):
    server = PayloadServer(tmp_path_factory.mktemp("payload-admin"), admin=True)
    yield server
    server.stop()


def field_value(driver, name: str) -> str:
    return driver.find_element(By.ID, f"field-{name}").get_attribute("value")


def date_value(driver, name: str) -> str:
    """The text of a date field, once Payload's lazily loaded date picker has replaced its placeholder."""
    inputs = WebDriverWait(driver, PAGE_TIMEOUT_SECONDS).until(
        lambda driver: driver.find_elements(By.CSS_SELECTOR, f"#field-{name} input")
    )
    return inputs[0].get_attribute("value")


def test_operator_opens_the_published_record_in_payloads_admin(
    browser, live_server, payload_admin, use_payload, asset_server, settings, tmp_path
):
    use_payload(payload_admin)
    settings.PAYLOADCMS_ADMIN_URL = payload_admin.admin_url
    audit_log_id = "dist_admin_" + secrets.token_hex(4)
    published = httpx.post(
        f"{live_server.url}/api/distribution/publish",
        json=publish_request(asset_server.url + "/sample.mp4", audit_log_id=audit_log_id),
        headers={"X-API-Key": IT_KEY},
        timeout=60,
    )
    assert published.status_code == 201, published.text
    record = published.json()["distribution_record"]
    [cms_record] = payload_admin.find("distributionRecords", audit_log_id=audit_log_id)["docs"]
    [media] = payload_admin.find("media", audit_log_id=audit_log_id)["docs"]

    # The Django admin's mirrored record links to the same document in Payload's admin.
    User.objects.create_superuser("lead", password="lead-pass-1234")
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("lead")
    browser.find_element(By.NAME, "password").send_keys("lead-pass-1234")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda driver: "/admin/login/" not in driver.current_url)  # logged in
    mirrored = MirroredRecord.objects.get(audit_log_id=audit_log_id)
    browser.get(f"{live_server.url}/admin/distribution/mirroredrecord/{mirrored.pk}/change/")
    link = browser.find_element(By.LINK_TEXT, "Open in Payload's admin").get_attribute("href")
    assert link == f"{payload_admin.admin_url}/collections/distributionRecords/{cms_record['id']}"

    # Payload asks for its own login, with the credentials start-up saved, then shows the record.
    browser.set_page_load_timeout(PAGE_TIMEOUT_SECONDS)
    browser.get(link)
    credentials = json.loads(payload_admin.admin_credentials_file.read_text())
    assert stat.S_IMODE(payload_admin.admin_credentials_file.stat().st_mode) == 0o600
    assert credentials["password"] not in payload_admin.log.read_text()  # saved, never logged
    WebDriverWait(browser, PAGE_TIMEOUT_SECONDS).until(lambda driver: driver.find_elements(By.NAME, "email"))
    browser.find_element(By.NAME, "email").send_keys(credentials["email"])
    browser.find_element(By.NAME, "password").send_keys(credentials["password"])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, PAGE_TIMEOUT_SECONDS).until(lambda driver: driver.find_elements(By.ID, "field-audit_log_id"))
    assert browser.current_url.startswith(link)
    assert field_value(browser, "title") == "Sample cut"
    assert field_value(browser, "project_id") == "concept-42"
    assert field_value(browser, "audit_log_id") == audit_log_id
    assert field_value(browser, "checksum") == SAMPLE_CHECKSUM
    public_link = browser.find_element(By.CSS_SELECTOR, "#field-public_url a, a.distribution-public-url")
    assert (public_link.text, public_link.get_attribute("href")) == (record["public_url"], record["public_url"])
    expires_at = datetime.fromisoformat(record["expires_at"])
    assert f"{expires_at:%b} {expires_at.day}, {expires_at.year}" in date_value(browser, "expires_at")  # Nov 28, 2026
    published_at = datetime.fromisoformat(cms_record["published_at"])
    assert f"{published_at:%b} {published_at.day}, {published_at.year}" in date_value(browser, "published_at")
    screenshot(browser, tmp_path, "payload-admin-record")

    # The list shows the columns an operator scans, the public URL as a link.
    browser.get(f"{payload_admin.admin_url}/collections/distributionRecords")
    row = WebDriverWait(browser, PAGE_TIMEOUT_SECONDS).until(
        lambda driver: driver.find_element(By.XPATH, f"//tr[.//*[text()='{audit_log_id}']]")
    )
    for text in ("Sample cut", "concept-42", f"{SAMPLE_CHECKSUM[:19]}…{SAMPLE_CHECKSUM[-4:]}"):
        assert text in row.text
    assert row.find_element(By.CSS_SELECTOR, f"code[title='{SAMPLE_CHECKSUM}']")
    public_link = row.find_element(By.CSS_SELECTOR, "a.distribution-public-url")
    assert (public_link.text, public_link.get_attribute("href")) == (f"{audit_log_id}.mp4", record["public_url"])
    screenshot(browser, tmp_path, "payload-admin-records")

    # The media document plays the published file, served by Payload.
    browser.get(f"{payload_admin.admin_url}/collections/media/{media['id']}")
    video = WebDriverWait(browser, PAGE_TIMEOUT_SECONDS).until(
        lambda driver: driver.find_element(By.CSS_SELECTOR, ".distribution-video-preview video")
    )
    duration = WebDriverWait(browser, PAGE_TIMEOUT_SECONDS).until(
        lambda driver: driver.execute_script("return arguments[0].duration", video)
    )
    assert duration == pytest.approx(2.0, abs=0.1)
    assert field_value(browser, "storage_path") == f"concept-42/mvp/{audit_log_id}.mp4"
    screenshot(browser, tmp_path, "payload-admin-media")
