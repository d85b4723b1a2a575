"""Payload's own admin (payload/start.sh --admin) in headless Chromium, after a publish through our API.

The operator's way in: Payload's admin home (the one URL the test opens), its login with the admin start-up created
user's credentials, then clicks only: the records list, searched by audit_log_id, the record, the media
document that plays the video. The Django admin's mirrored record links to the same record page. Every page
loads nothing from a host other than 127.0.0.1 and logs no script error.
"""

import json
import secrets
import stat
import time
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.contrib.auth.models import User
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from distribution.models import MirroredRecord
from tests.support.payload import IT_KEY, PayloadServer
from tests.support.samples import SAMPLE_CHECKSUM, publish_request, screenshot

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGE_TIMEOUT_SECONDS = 60  # the first render of an admin page compiles nothing, but the machine may be busy
BROWSER_ZONE = "Europe/Berlin"  # not UTC, so the dates' zone shows it is the browser's: +01:00 in December


@pytest.fixture(scope="module")
def payload_admin(tmp_path_factory):
    server = PayloadServer(tmp_path_factory.mktemp("payload-admin"), admin=True)
    yield server
    server.stop()


def wait_for(driver, css: str):
    return WebDriverWait(driver, PAGE_TIMEOUT_SECONDS).until(lambda driver: driver.find_element(By.CSS_SELECTOR, css))


def click_link_to(driver, path: str) -> None:
    """Clicks the first visible link to `path` (a nav entry or a dashboard card) and waits for the page.

    A click that lands while React re-renders the list (after a search) or before it hydrated the page is
    lost with the replaced element, so the link is found again and clicked until the page changes.
    """

    def arrived(driver) -> bool:
        if urlsplit(driver.current_url).path == path:
            return True
        links = [a for a in driver.find_elements(By.CSS_SELECTOR, f"a[href='{path}']") if a.is_displayed()]
        if links:
            links[0].click()
            time.sleep(1)  # give the navigation a moment before looking again
        return urlsplit(driver.current_url).path == path

    # A link replaced by a re-render between being found, checked and clicked: look again.
    WebDriverWait(driver, PAGE_TIMEOUT_SECONDS, ignored_exceptions=[StaleElementReferenceException]).until(arrived)


def field_value(driver, name: str) -> str:
    return driver.find_element(By.ID, f"field-{name}").get_attribute("value")


def date_value(driver, name: str) -> str:
    """The text of a date field, once Payload's lazily loaded date picker has replaced its placeholder."""
    return wait_for(driver, f"#field-{name} input").get_attribute("value")


def shown(moment: str) -> str:
    """How the admin shows a date: to the second, with the browser's zone."""
    local = datetime.fromisoformat(moment).astimezone(ZoneInfo(BROWSER_ZONE))
    return local.strftime("%Y-%m-%d %H:%M:%S ") + local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]


def assert_create_offered_nowhere(driver) -> None:
    """A collection only the pipeline writes: no Create New, no Bulk Upload, and a word on how to change one."""
    wait_for(driver, "#search-filter-input")
    page = driver.find_element(By.TAG_NAME, "body").text
    assert "Create New" not in page and "Bulk Upload" not in page
    assert not driver.find_elements(By.CSS_SELECTOR, "a[href$='/create']")
    assert "re-publish, renew its link or unpublish it from the distribution admin (Django)" in page


def requested_hosts(driver) -> set[str]:
    """Hosts of every request the pages made so far (Chrome's performance log: CDP Network events)."""
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            url = message["params"].get("request", {}).get("url") or message["params"].get("url", "")
            if urlsplit(url).scheme in ("http", "https", "ws", "wss"):
                hosts.add(urlsplit(url).hostname)
    return hosts


def test_operator_finds_the_published_record_in_payloads_admin(
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
    assert cms_record["tags"] and cms_record["metadata"]  # something for the record page to show

    # Payload's admin home asks for its own login, with the credentials start-up saved.
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": BROWSER_ZONE})
    browser.set_page_load_timeout(PAGE_TIMEOUT_SECONDS)
    browser.get(payload_admin.admin_url)
    credentials = json.loads(payload_admin.admin_credentials_file.read_text())
    assert stat.S_IMODE(payload_admin.admin_credentials_file.stat().st_mode) == 0o600
    assert credentials["password"] not in payload_admin.log.read_text()  # saved, never logged
    wait_for(browser, "input[name=email]").send_keys(credentials["email"])
    browser.find_element(By.NAME, "password").send_keys(credentials["password"])
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    # The records list: searched by audit_log_id, the columns an operator scans fit the window.
    admin_path = urlsplit(payload_admin.admin_url).path
    click_link_to(browser, f"{admin_path}/collections/distributionRecords")
    assert_create_offered_nowhere(browser)
    browser.find_element(By.ID, "search-filter-input").send_keys(audit_log_id[-6:], Keys.ENTER)
    row = WebDriverWait(browser, PAGE_TIMEOUT_SECONDS).until(
        lambda driver: driver.find_element(By.XPATH, f"//tbody/tr[.//*[text()='{audit_log_id}']]")
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, "tbody tr")) == 1  # the search narrowed the list
    for text in ("Sample cut", "concept-42", shown(cms_record["published_at"]), shown(record["expires_at"])):
        assert text in row.text
    expires_cell = row.find_elements(By.CSS_SELECTOR, "td")[-1]
    assert expires_cell.text == shown(record["expires_at"])
    assert expires_cell.rect["x"] + expires_cell.rect["width"] <= 1280  # not cut off
    public_link = row.find_element(By.CSS_SELECTOR, "a.distribution-public-url")
    assert (public_link.text, public_link.get_attribute("href")) == (f"{audit_log_id}.mp4", record["public_url"])
    screenshot(browser, tmp_path, "payload-admin-records")

    # The record: its fields, Tags and Metadata rendered (not loading skeletons), dates with seconds and zone.
    record_path = f"{admin_path}/collections/distributionRecords/{cms_record['id']}"
    click_link_to(browser, record_path)
    wait_for(browser, "#field-audit_log_id")
    assert field_value(browser, "title") == "Sample cut"
    assert field_value(browser, "project_id") == "concept-42"
    assert field_value(browser, "audit_log_id") == audit_log_id
    assert field_value(browser, "checksum") == SAMPLE_CHECKSUM
    public_link = browser.find_element(By.CSS_SELECTOR, "#field-public_url a, a.distribution-public-url")
    assert (public_link.text, public_link.get_attribute("href")) == (record["public_url"], record["public_url"])
    assert date_value(browser, "expires_at") == shown(record["expires_at"])
    assert date_value(browser, "published_at") == shown(cms_record["published_at"])
    for name in ("tags", "metadata"):
        assert json.loads(browser.find_element(By.CSS_SELECTOR, f"#field-{name} pre").text) == cms_record[name]
    assert not browser.find_elements(By.CSS_SELECTOR, ".shimmer-effect")
    assert "Create New" not in browser.find_element(By.TAG_NAME, "body").text
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", browser.find_element(By.ID, "field-tags"))
    screenshot(browser, tmp_path, "payload-admin-record")

    # The media document, from the home page: sizes in binary units, the video plays, served by Payload.
    click_link_to(browser, admin_path)
    click_link_to(browser, f"{admin_path}/collections/media")
    assert_create_offered_nowhere(browser)
    row = browser.find_element(By.XPATH, f"//tbody/tr[.//*[text()='{audit_log_id}']]")
    assert f"{media['filesize'] / 1024:.1f} KiB" in row.text
    click_link_to(browser, f"{admin_path}/collections/media/{media['id']}")
    video = wait_for(browser, ".distribution-video-preview video")
    duration = WebDriverWait(browser, PAGE_TIMEOUT_SECONDS).until(
        lambda driver: driver.execute_script("return arguments[0].duration", video)
    )
    assert duration == pytest.approx(2.0, abs=0.1)
    assert field_value(browser, "storage_path") == f"concept-42/mvp/{audit_log_id}.mp4"
    screenshot(browser, tmp_path, "payload-admin-media")

    # Nothing came from outside the machine, and no page logged a script error.
    assert requested_hosts(browser) == {"127.0.0.1"}
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []

    # The Django admin's mirrored record links to the same record page.
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
