"""The admin in a real browser: headless Chromium (Debian's) driven by Selenium against the live server.

Set DISTRIBUTION_SCREENSHOT_DIR to keep the screenshots (`scripts/screenshots` retakes those of docs/operators.md).
"""

import time
from datetime import timedelta

import httpx
import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from distribution.jobs.runner import publish
from distribution.models import MirroredRecord, PublishJob, VerificationRun
from tests.support.browsing import Operator
from tests.support.running import RunningPublish
from tests.support.samples import SAMPLE_MP4, make_job, publish_request, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AUDIT_LOG_ID = "dist_01KAXQ3V9Y8WJ6N0D2S4T7R5PC"

# (hours ago, audit_log_id suffix, title, project, source, size MB, latency ms, error code, error message)
HISTORY = [
    (2, "7K", "Launch teaser", "proj-7", "api", 48, 2210, "", ""),
    (5, "6Q", "Spring campaign 15s", "spring-campaign", "api", 21, 1480, "", ""),
    (
        9,
        "5D",
        "Founder interview",
        "brand-film",
        "mcp",
        0,
        950,
        "asset_fetch_failed",
        "The asset server answered HTTP 503 for https://assets.example.com/cuts/founder-interview.mp4.",
    ),
    (27, "4M", "Product demo cut", "proj-7", "command", 96, 4630, "", ""),
    (30, "3X", "Behind the scenes", "brand-film", "api", 134, 6890, "", ""),
    (
        52,
        "2B",
        "Holiday spot 30s",
        "spring-campaign",
        "api",
        0,
        3120,
        "checksum_mismatch",
        "The asset's checksum is sha256:9f2c41d07be1c86a5e0f4b7d2a83c6e15f90d4a2b7c3e8f1a6d5b09c4e7f2a13, "
        "not the expected sha256:563516773e87654f53dd05706fcb232cc543755006e88474c38887a57bc2a36c.",
    ),
    (75, "1H", "Launch teaser (alt)", "proj-7", "api", 52, 2380, "", ""),
    (101, "0T", "Spring campaign 6s", "spring-campaign", "admin", 9, 1190, "", ""),
    (
        124,
        "ZR",
        "Brand film master",
        "brand-film",
        "api",
        0,
        30050,
        "cms_upload_failed",
        "PayloadCMS answered HTTP 413 for POST /api/media: File size limit has been reached.",
    ),
    (150, "YE", "Brand film master", "brand-film", "api", 412, 18420, "", ""),
    (198, "XW", "Product demo teaser", "proj-7", "api", 33, 1760, "", ""),
    (246, "W5", "Founder interview", "brand-film", "command", 77, 3940, "", ""),
]


PASSWORD = "s3cret-pass"
OPERATOR_PERMISSIONS = [
    "view_publishjob",
    "view_mirroredrecord",
    "view_verificationrun",
    "republish",
    "cancel",
    "unpublish",
]


@pytest.fixture
def operator(browser, live_server) -> Operator:
    """Logged in to the admin, having reached it from the landing page by clicking."""
    user = User.objects.create_user("operator", password=PASSWORD, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=OPERATOR_PERMISSIONS))
    operator = Operator(browser, live_server.url)
    operator.open_landing()
    operator.click_link("Admin")
    operator.log_in("operator", PASSWORD)
    assert browser.title.startswith("Publishing")
    return operator


def add_history() -> None:
    """Ten days of realistic attempts so the list and the dashboard have something to show."""
    now = timezone.now()
    for hours_ago, suffix, title, project, source, size_mb, latency, code, message in HISTORY:
        audit_log_id = f"dist_01KAW{suffix}8H2C5N7QJ4V6X9RTB3"
        started = now - timedelta(hours=hours_ago, minutes=17)
        PublishJob.objects.create(
            audit_log_id=audit_log_id,
            title=title,
            project_id=project,
            source=source,
            status="failed" if code else "published",
            error_code=code,
            error_message=message,
            duration_seconds=round(6 + size_mb / 9, 1),
            asset_size=size_mb * 1_000_000 if size_mb else None,
            public_url="" if code else f"https://media.example.com/{project}/mvp/{audit_log_id}.mp4",
            latency_ms=latency,
            started_at=started,
            finished_at=started + timedelta(milliseconds=latency),
        )


def publish_sample(asset_server) -> None:
    settings_part = {"project_id": "proj-7", "storage_prefix": "mvp", "metadata": {"title": "Launch teaser v2"}}
    publish(
        publish_request(
            asset_server.url + "/sample.mp4", audit_log_id=AUDIT_LOG_ID, distribution_settings=settings_part
        )
    )


def message_job_link(operator: Operator) -> PublishJob:
    """The job the success message links; checked against the newest admin job for the id."""
    message = operator.driver.find_element(By.CSS_SELECTOR, "ul.messagelist li.success")
    rerun = PublishJob.objects.filter(source="admin", audit_log_id=AUDIT_LOG_ID).latest("started_at")
    assert message.text.endswith(f"(job {rerun.pk})")
    operator.click(message.find_element(By.LINK_TEXT, f"job {rerun.pk}"))
    return rerun


def test_operator_republishes_from_the_admin_list(operator, cms, asset_server, tmp_path):
    publish_sample(asset_server)
    add_history()
    browser = operator.driver

    operator.click_link("Publish jobs")
    browser.find_element(By.XPATH, f"//tr[.//a[text()='{AUDIT_LOG_ID}']]//input[@name='_selected_action']").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("republish")
    operator.click(browser.find_element(By.CSS_SELECTOR, "button[name=index]"))
    assert "Re-publish 1 record?" in browser.find_element(By.ID, "content-main").text
    operator.click(browser.find_element(By.ID, "confirm-republish"))

    message = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success")
    rerun = PublishJob.objects.get(source="admin", audit_log_id=AUDIT_LOG_ID)
    assert message.text == f"Re-published {AUDIT_LOG_ID} to {rerun.public_url} (job {rerun.pk})"
    assert rerun.public_url.startswith(f"{cms.url}/api/media/download/proj-7/mvp/{AUDIT_LOG_ID}.mp4?expires=")
    assert len(cms.state.records) == 1 and len(cms.state.media) == 1  # overwritten in place
    assert cms.state.files[f"proj-7/mvp/{AUDIT_LOG_ID}.mp4"] == SAMPLE_MP4
    assert rerun.status == "published"
    newest = browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr th a").get_attribute("href")
    assert newest.endswith(f"/admin/distribution/publishjob/{rerun.pk}/change/")  # the new job heads the list

    message_job_link(operator)
    video = browser.find_element(By.TAG_NAME, "video")
    duration = WebDriverWait(browser, 10).until(
        lambda driver: driver.execute_script("return arguments[0].duration", video)
    )
    assert duration == pytest.approx(2.0, abs=0.1)  # the preview loads the published file from the CMS
    operator.check()


def test_republish_button_of_a_job_page(operator, cms, asset_server):
    publish_sample(asset_server)
    first = PublishJob.objects.get()
    browser = operator.driver

    operator.click_link("Publish jobs")
    operator.click_link(AUDIT_LOG_ID)
    assert browser.current_url.endswith(f"/publishjob/{first.pk}/change/")
    operator.click(browser.find_element(By.CSS_SELECTOR, "a.republish-link"))
    assert "Re-publish 1 record?" in browser.find_element(By.ID, "content-main").text
    operator.click(browser.find_element(By.ID, "confirm-republish"))

    assert browser.current_url.endswith(f"/publishjob/{first.pk}/change/")  # back where the button was
    rerun = message_job_link(operator)
    assert browser.current_url.endswith(f"/publishjob/{rerun.pk}/change/")
    assert "Published" in browser.find_element(By.CSS_SELECTOR, ".field-status_label").text
    assert rerun.status == "published" and len(cms.state.records) == 1


def test_republish_button_of_a_mirrored_record(operator, cms, asset_server):
    publish_sample(asset_server)
    browser = operator.driver

    operator.click_link("Mirrored records")
    operator.click_link(AUDIT_LOG_ID)
    operator.click(browser.find_element(By.CSS_SELECTOR, "a.republish-link"))
    operator.click(browser.find_element(By.ID, "confirm-republish"))

    assert "/mirroredrecord/" in browser.current_url
    rerun = message_job_link(operator)
    assert browser.current_url.endswith(f"/publishjob/{rerun.pk}/change/")
    assert "Published" in browser.find_element(By.CSS_SELECTOR, ".field-status_label").text


def test_operator_unpublishes_from_the_records_list_with_a_reason(operator, cms, asset_server):
    publish_sample(asset_server)
    old_link = MirroredRecord.objects.get().public_url
    browser = operator.driver

    operator.click_link("Mirrored records")
    browser.find_element(By.XPATH, f"//tr[.//a[text()='{AUDIT_LOG_ID}']]//input[@name='_selected_action']").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("unpublish_records")
    operator.click(browser.find_element(By.CSS_SELECTOR, "button[name=index]"))
    assert "Unpublish 1 record?" in browser.find_element(By.ID, "content-main").text
    browser.find_element(By.ID, "unpublish-reason").send_keys("Rights expired")
    operator.click(browser.find_element(By.ID, "confirm-unpublish"))

    message = browser.find_element(By.CSS_SELECTOR, "ul.messagelist li.success")
    assert message.text == f"Unpublished {AUDIT_LOG_ID}: its file is deleted and its links stop serving."
    record = MirroredRecord.objects.get()
    assert record.unpublished_at is not None and record.unpublish_reason == "Rights expired"
    assert cms.state.media == [] and httpx.get(old_link).status_code in (403, 404, 410)


def live_text(browser, job: PublishJob, field: str = "status_label") -> str:
    return browser.find_element(By.CSS_SELECTOR, f"[data-live-job='{job.pk}'][data-live-field='{field}']").text


def test_a_running_job_updates_in_place_keeping_selection_search_and_scroll(operator, cms, asset_server, tmp_path):
    add_history()
    browser = operator.driver
    with RunningPublish(asset_server, "dist_01KAXRUNNING0000000000000", seconds=24) as job:
        operator.click_link("Publish jobs")
        browser.execute_script("window.loadedOnce = 'list'")
        first_progress = live_text(browser, job)
        assert "Running" in first_progress and "MiB" in first_progress
        history_row = "//tr[.//a[text()='dist_01KAW7K8H2C5N7QJ4V6X9RTB3']]//input[@name='_selected_action']"
        browser.find_element(By.XPATH, history_row).click()
        browser.find_element(By.ID, "searchbar").send_keys("Launch tea")
        browser.execute_script("window.scrollTo(0, 120)")
        scrolled = browser.execute_script("return window.scrollY")
        watched_since = time.monotonic()

        WebDriverWait(browser, 15).until(lambda driver: live_text(driver, job) != first_progress)
        time.sleep(max(0.0, 15 - (time.monotonic() - watched_since)))  # what an operator may spend choosing

        assert browser.execute_script("return window.loadedOnce") == "list"  # the page never reloaded
        assert browser.find_element(By.XPATH, history_row).is_selected()
        assert browser.find_element(By.ID, "searchbar").get_attribute("value") == "Launch tea"
        assert browser.execute_script("return window.scrollY") == scrolled
        assert live_text(browser, job) != first_progress
        operator.check()
        browser.execute_script("window.scrollTo(0, 0)")
        screenshot(browser, tmp_path, "admin-list-running")

        operator.click_link(job.audit_log_id)
        browser.execute_script("window.loadedOnce = 'job page'")
        page_progress = live_text(browser, job, "progress")
        WebDriverWait(browser, 15).until(lambda driver: live_text(driver, job, "progress") != page_progress)
        screenshot(browser, tmp_path, "job-running")
        WebDriverWait(browser, 30).until(lambda driver: "Published" in live_text(driver, job))
        assert browser.execute_script("return window.loadedOnce") == "job page"
        assert "transferred" in live_text(browser, job, "progress")
        operator.check()
    assert PublishJob.objects.get(pk=job.pk).status == "published"


def test_dashboard_and_its_links(operator, tmp_path):
    add_history()
    make_job("failed", 4, audit_log_id="dist_refused", error_code="qc_not_passed")  # the caller's refusal
    running = make_job("running", None, audit_log_id="dist_01KAXDASHRUNNING0000000000", stage="download")
    run = VerificationRun.objects.create(status="nothing", started_at=timezone.now(), finished_at=timezone.now())
    browser = operator.driver

    def dashboard() -> None:
        operator.click_css("#user-tools a.dashboard-link")

    dashboard()
    failed = sum(1 for entry in HISTORY if entry[7])
    rate = round(100 * (len(HISTORY) - failed) / len(HISTORY))
    assert browser.find_element(By.ID, "success-rate").text == f"{rate}%"  # the refusal is not counted
    assert browser.find_element(By.ID, "refused").text == "1"
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart rect.failed")) == 14
    assert len(browser.find_elements(By.CSS_SELECTOR, "#latest-failures tbody tr")) == failed + 1
    screenshot(browser, tmp_path, "dashboard")

    operator.click(browser.find_element(By.ID, "running-jobs"))
    assert browser.current_url.endswith(f"/publishjob/{running.pk}/change/")
    dashboard()
    operator.click_link("requests refused")
    assert [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody th")] == ["dist_refused"]
    dashboard()
    operator.click_link("verification checked no record")
    assert browser.current_url.endswith(f"/verificationrun/{run.pk}/change/")
    assert "Nothing to check" in browser.find_element(By.ID, "content-main").text
    dashboard()
    operator.click(browser.find_element(By.CSS_SELECTOR, "#latest-failures tbody tr a"))
    assert "/publishjob/" in browser.current_url
    dashboard()
    operator.click_link("All failed jobs")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")) == failed + 1
    dashboard()
    operator.click_link("Prometheus metrics")
    assert "distribution_publish_total" in browser.find_element(By.TAG_NAME, "body").text


def test_operator_cancels_a_running_job_from_its_page(operator, cms, asset_server):
    browser = operator.driver
    with RunningPublish(asset_server, "dist_01KAXCANCELPAGE00000000000", seconds=60) as job:
        operator.click_link("Publish jobs")
        operator.click_link(job.audit_log_id)
        operator.click_css("a.cancel-job-link")
        assert "Cancel 1 job?" in browser.find_element(By.ID, "content-main").text
        operator.click(browser.find_element(By.ID, "confirm-cancel"))

        assert browser.current_url.endswith(f"/publishjob/{job.pk}/change/")
        assert f"job {job.pk}" in browser.find_element(By.CSS_SELECTOR, "ul.messagelist li").text
        WebDriverWait(browser, 20).until(lambda driver: "Failed" in live_text(driver, job))
        assert "cancelled" in live_text(browser, job)
        assert not browser.find_elements(By.CSS_SELECTOR, "a.cancel-job-link")  # gone with the job's end
        operator.check()
    assert_cancelled(job, cms)


def test_operator_cancels_a_running_job_from_the_list(operator, cms, asset_server):
    browser = operator.driver
    with RunningPublish(asset_server, "dist_01KAXCANCELLIST00000000000", seconds=60) as job:
        operator.click_link("Publish jobs")
        browser.find_element(
            By.XPATH, f"//tr[.//a[text()='{job.audit_log_id}']]//input[@name='_selected_action']"
        ).click()
        Select(browser.find_element(By.NAME, "action")).select_by_value("cancel_jobs")
        operator.click(browser.find_element(By.CSS_SELECTOR, "button[name=index]"))
        assert "Cancel 1 job?" in browser.find_element(By.ID, "content-main").text
        operator.click(browser.find_element(By.ID, "confirm-cancel"))

        assert browser.current_url.endswith("/admin/distribution/publishjob/")
        WebDriverWait(browser, 20).until(lambda driver: "Failed" in live_text(driver, job))
        assert "cancelled" in live_text(browser, job)
        operator.check()
    assert_cancelled(job, cms)


def assert_cancelled(job: PublishJob, cms) -> None:
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "cancelled")
    assert job.error_message.startswith("Cancelled by operator.")
    assert job.audit_event is not None and job.audit_event["error_code"] == "cancelled"
    assert cms.state.media == [] and cms.state.records == [] and not cms.state.files  # nothing left in PayloadCMS


@pytest.mark.parametrize(("link", "rendered"), [("Redoc", ".api-content h1"), ("Swagger UI", ".swagger-ui .info")])
def test_api_docs_load_nothing_from_outside(browser, live_server, link, rendered):
    operator = Operator(browser, live_server.url)
    operator.open_landing()

    operator.click_link(link)

    WebDriverWait(browser, 20).until(lambda driver: driver.find_elements(By.CSS_SELECTOR, rendered))
    assert "Distribution API" in browser.find_element(By.CSS_SELECTOR, rendered).text
    operator.check()
