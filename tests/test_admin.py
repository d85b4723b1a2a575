"""The operator admin as operators see it: lists, read-only details, and the guarded actions (Re-publish, Renew links,
Unpublish)."""

import html
import json
import re
from datetime import timedelta

import httpx
import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone
from django.utils.html import escape

from distribution.jobs.runner import publish
from distribution.models import MirroredRecord, PublishJob
from distribution.publishing import links
from tests.support.pages import result_rows
from tests.support.samples import SAMPLE_CHECKSUM, SAMPLE_MP4, make_job, publish_request

ATTEMPTS = "/admin/distribution/publishjob/"
RECORDS = "/admin/distribution/mirroredrecord/"
STORAGE_PATH = "concept-42/mvp/dist_ops.mp4"


def staff(client, *codenames: str) -> User:
    user = User.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return user


def messages_of(response) -> list[str]:
    """The messages as the operator reads them (they are HTML: the job links)."""
    return [html.unescape(str(message)) for message in response.context["messages"]]


def job_anchor(job: PublishJob) -> str:
    return f'<a href="{ATTEMPTS}{job.pk}/change/">job {job.pk}</a>'


def job_link(job: PublishJob) -> str:
    return f" ({job_anchor(job)})"


@pytest.fixture
def published(db, cms, asset_server):
    return publish(publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_ops")).distribution_record


@pytest.fixture
def stale_cms(cms, published):
    """Mark the CMS documents so an overwrite is visible: re-publishing must replace these values in place."""
    cms.state.records[0]["published_at"] = "2000-01-01T00:00:00Z"
    cms.state.media[0]["filesize"] = 0
    return cms


def assert_overwritten(cms) -> None:
    assert len(cms.state.media) == 1 and len(cms.state.records) == 1  # updated, not duplicated
    assert cms.state.records[0]["published_at"] != "2000-01-01T00:00:00Z"
    assert cms.state.media[0]["filesize"] == len(SAMPLE_MP4)
    assert cms.state.files[STORAGE_PATH] == SAMPLE_MP4


# -- lists ---------------------------------------------------------------------------------


def test_attempt_list_shows_readable_columns(admin_client, published):
    make_job("failed", 30050, audit_log_id="dist_broken", title="Broken cut", error_code="asset_fetch_failed")

    rows = result_rows(admin_client.get(ATTEMPTS).content.decode())

    assert rows.index("dist_broken") < rows.index("dist_ops")  # newest first
    assert '<span class="badge badge-published">Published</span>' in rows
    assert '<span class="badge badge-failed">Failed</span><code class="error-code">asset_fetch_failed</code>' in rows
    assert "3.1 KiB" in rows and "2.0 s" in rows and "30.1 s" in rows
    started = PublishJob.objects.get(audit_log_id="dist_ops").started_at  # UTC, the settings' time zone
    assert f'{started:%Y-%m-%d}<br><span class="quiet">{started:%H:%M:%S} UTC</span>' in rows


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"q": "dist_ops"}, {"dist_ops"}),
        ({"q": "Broken cut"}, {"dist_broken"}),
        ({"q": SAMPLE_CHECKSUM.removeprefix("sha256:")[:16]}, {"dist_ops"}),
        ({"status__exact": "failed"}, {"dist_broken"}),
        ({"project_id": "proj-7"}, {"dist_broken"}),
        ({"source__exact": "api"}, {"dist_ops", "dist_old"}),
        ({"audit_log_id__exact": "dist_old"}, {"dist_old"}),
    ],
)
def test_attempt_search_and_filters(admin_client, published, query, expected):
    make_job("failed", 50, audit_log_id="dist_broken", title="Broken cut", project_id="proj-7", source="mcp")
    make_job("published", 90, days_ago=40, audit_log_id="dist_old", title="Old cut", source="api")

    rows = result_rows(admin_client.get(ATTEMPTS, query).content.decode())

    assert {name for name in ("dist_ops", "dist_broken", "dist_old") if name in rows} == expected


def test_attempt_date_drill_down(admin_client, db):
    old = make_job("published", 90, days_ago=40, audit_log_id="dist_old")
    make_job("published", 90, audit_log_id="dist_new")
    day = old.started_at

    rows = result_rows(
        admin_client.get(
            ATTEMPTS, {"started_at__year": day.year, "started_at__month": day.month, "started_at__day": day.day}
        ).content.decode()
    )

    assert "dist_old" in rows and "dist_new" not in rows


def test_record_list_shows_the_mirror_with_size_and_latency_of_its_latest_publish(admin_client, published):
    MirroredRecord.objects.create(audit_log_id="dist_gone", title="Gone cut", missing_from_cms=True)
    attempt = PublishJob.objects.get(audit_log_id="dist_ops")

    rows = result_rows(admin_client.get(RECORDS).content.decode())

    assert "dist_ops" in rows and "dist_gone" in rows
    assert '<span class="badge badge-published">Present</span>' in rows
    assert '<span class="badge badge-failed">Missing</span>' in rows
    assert "3.1 KiB" in rows and f"{attempt.latency_ms} ms" in rows
    missing_only = result_rows(admin_client.get(RECORDS, {"missing_from_cms__exact": "1"}).content.decode())
    assert "dist_gone" in missing_only and "dist_ops" not in missing_only
    found = result_rows(admin_client.get(RECORDS, {"q": "Gone"}).content.decode())
    assert "dist_gone" in found and "dist_ops" not in found


# -- details -------------------------------------------------------------------------------


def test_attempt_detail_is_read_only_with_pretty_json_link_and_preview(admin_client, published):
    attempt = PublishJob.objects.get(audit_log_id="dist_ops")

    html = admin_client.get(f"{ATTEMPTS}{attempt.pk}/change/").content.decode()

    event = escape(json.dumps(attempt.audit_event, indent=2, sort_keys=True))
    assert f"<pre>{event}</pre>" in html
    assert "&quot;final_edit&quot;: {\n" in html  # the request, indented
    assert "&quot;storage_location&quot;: &quot;payloadcms://media/concept-42/mvp/dist_ops.mp4&quot;" in html
    link = escape(published["public_url"])
    assert f'<a href="{link}" target="_blank" rel="noopener">{link}</a>' in html
    assert f'<video controls preload="metadata" width="480" src="{escape(published["public_url"])}">' in html
    assert f'href="{ATTEMPTS}?audit_log_id__exact=dist_ops"' in html
    assert 'name="_save"' not in html
    assert admin_client.get(f"{ATTEMPTS}add/").status_code == 403
    assert admin_client.post(f"{ATTEMPTS}{attempt.pk}/change/", {"title": "edited"}).status_code == 403
    assert admin_client.get(f"{ATTEMPTS}{attempt.pk}/delete/").status_code == 403


def test_record_detail_shows_the_record_and_the_latest_audit_event(admin_client, published):
    record = MirroredRecord.objects.get()

    html = admin_client.get(f"{RECORDS}{record.pk}/change/").content.decode()

    pretty_record = escape(json.dumps(record.as_distribution_record(), indent=2, sort_keys=True))
    assert f"<pre>{pretty_record}</pre>" in html
    assert "&quot;event&quot;: &quot;distribution.publish&quot;" in html
    assert f'<video controls preload="metadata" width="480" src="{escape(published["public_url"])}">' in html
    assert 'name="_save"' not in html


def test_record_detail_links_to_payloads_admin_when_configured(admin_client, published, settings):
    record = MirroredRecord.objects.get()
    page = f"{RECORDS}{record.pk}/change/"
    assert record.cms_id

    assert "/collections/distributionRecords/" not in admin_client.get(page).content.decode()  # not configured

    settings.PAYLOADCMS_ADMIN_URL = "https://cms.example.com/admin"
    html = admin_client.get(page).content.decode()

    link = f"https://cms.example.com/admin/collections/distributionRecords/{record.cms_id}"
    assert f'<a href="{link}" target="_blank" rel="noopener">Open in Payload\'s admin</a>' in html


# -- re-publish ----------------------------------------------------------------------------


def test_republish_needs_the_permission(client, published):
    staff(client, "view_publishjob", "view_mirroredrecord")
    attempt = PublishJob.objects.get()

    assert 'value="republish"' not in client.get(ATTEMPTS).content.decode()
    detail = client.get(f"{ATTEMPTS}{attempt.pk}/change/").content.decode()
    assert "Re-publish" not in detail
    refused = client.post(ATTEMPTS, {"action": "republish", "_selected_action": [attempt.pk], "confirm": "yes"})
    assert refused.status_code == 200 and "Select publish job to view" in refused.content.decode()
    assert client.get(f"{ATTEMPTS}{attempt.pk}/republish/").status_code == 403
    assert client.post(f"{RECORDS}{MirroredRecord.objects.get().pk}/republish/").status_code == 403
    assert PublishJob.objects.count() == 1  # nothing ran


def test_republish_action_confirms_then_overwrites_in_the_cms(client, published, stale_cms):
    staff(client, "view_publishjob", "republish")
    attempt = PublishJob.objects.get()
    selection = {"action": "republish", "_selected_action": [attempt.pk]}

    confirmation = client.post(ATTEMPTS, selection)
    page = confirmation.content.decode()
    assert confirmation.status_code == 200 and "Re-publish 1 record?" in page and "<code>dist_ops</code>" in page
    assert 'id="confirm-republish"' in page and PublishJob.objects.count() == 1
    assert stale_cms.state.records[0]["published_at"] == "2000-01-01T00:00:00Z"  # nothing written yet

    done = client.post(ATTEMPTS, {**selection, "confirm": "yes"}, follow=True)

    rerun = PublishJob.objects.get(source="admin")
    assert messages_of(done) == [f"Re-published dist_ops to {rerun.public_url}{job_link(rerun)}"]
    assert_overwritten(stale_cms)
    assert (rerun.audit_log_id, rerun.status) == ("dist_ops", "published")
    assert rerun.public_url.split("?")[0] == published["public_url"].split("?")[0]  # the same file, a fresh link
    assert rerun.caller == "operator"


def test_republish_action_runs_for_each_selected_record(client, cms, asset_server, published):
    publish(publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_two"))
    staff(client, "view_mirroredrecord", "republish")
    selected = list(MirroredRecord.objects.values_list("pk", flat=True))

    done = client.post(RECORDS, {"action": "republish", "_selected_action": selected, "confirm": "yes"}, follow=True)

    assert [message.split(" to ")[0] for message in messages_of(done)] == [
        "Re-published dist_ops",
        "Re-published dist_two",
    ]
    assert sorted(PublishJob.objects.filter(source="admin").values_list("audit_log_id", flat=True)) == [
        "dist_ops",
        "dist_two",
    ]
    assert len(cms.state.records) == 2 and len(cms.state.media) == 2


def test_republish_failure_in_the_cms_is_reported_and_recorded(client, published, cms):
    staff(client, "view_mirroredrecord", "republish")
    record = MirroredRecord.objects.get()
    cms.fail_next["PUT media"] = 500

    done = client.post(RECORDS, {"action": "republish", "_selected_action": [record.pk], "confirm": "yes"}, follow=True)

    [message] = messages_of(done)
    assert message.startswith("Re-publish of dist_ops failed (cms_upload_failed): PayloadCMS answered HTTP 500")
    assert [m.level_tag for m in done.context["messages"]] == ["error"]
    assert PublishJob.objects.filter(source="admin", status="failed", error_code="cms_upload_failed").count() == 1


def test_republish_of_a_record_gone_everywhere_says_record_not_found(client, db, cms):
    make_job("failed", 40, audit_log_id="dist_gone", error_code="qc_not_passed")
    staff(client, "view_publishjob", "republish")

    done = client.post(
        ATTEMPTS,
        {"action": "republish", "_selected_action": [PublishJob.objects.get().pk], "confirm": "yes"},
        follow=True,
    )

    assert messages_of(done) == [
        "Re-publish of dist_gone failed (record_not_found): No distribution record 'dist_gone'."
    ]
    assert PublishJob.objects.count() == 1  # the lookup failed before any publish ran


def test_rows_without_an_audit_log_id_are_not_republished(client, db, cms):
    make_job("failed", 5, error_code="invalid_request")
    staff(client, "view_publishjob", "republish")

    done = client.post(
        ATTEMPTS, {"action": "republish", "_selected_action": [PublishJob.objects.get().pk]}, follow=True
    )

    assert messages_of(done) == ["None of the selected rows has an audit_log_id to re-publish."]
    assert PublishJob.objects.count() == 1


def test_republish_button_on_the_detail_page(client, published, stale_cms):
    staff(client, "view_mirroredrecord", "republish")
    record = MirroredRecord.objects.get()
    detail_url = f"{RECORDS}{record.pk}/change/"

    republish_url = f"{RECORDS}{record.pk}/republish/"
    assert f'<a href="{republish_url}" class="republish-link">Re-publish</a>' in client.get(detail_url).content.decode()
    confirmation = client.get(f"{RECORDS}{record.pk}/republish/").content.decode()
    assert "Re-publish 1 record?" in confirmation and f'href="{detail_url}"' in confirmation
    assert PublishJob.objects.count() == 1

    done = client.post(f"{RECORDS}{record.pk}/republish/", follow=True)

    assert done.redirect_chain == [(detail_url, 302)]
    rerun = PublishJob.objects.get(source="admin")
    assert messages_of(done) == [f"Re-published dist_ops to {rerun.public_url}{job_link(rerun)}"]
    assert_overwritten(stale_cms)
    assert PublishJob.objects.filter(source="admin", status="published").count() == 1


def test_republish_is_offered_only_where_it_can_work(client, db, cms):
    staff(client, "view_publishjob", "republish")
    first_failed = make_job("failed", 40, audit_log_id="dist_never", error_code="cms_unavailable")
    running = make_job("running", None, audit_log_id="dist_first")

    for job in (first_failed, running):
        assert ">Re-publish</a>" not in client.get(f"{ATTEMPTS}{job.pk}/change/").content.decode()


def test_republish_of_an_id_whose_first_publish_runs_links_that_job(client, db, cms):
    staff(client, "view_publishjob", "republish")
    running = make_job("running", None, audit_log_id="dist_first")

    done = client.post(
        ATTEMPTS, {"action": "republish", "_selected_action": [running.pk], "confirm": "yes"}, follow=True
    )

    assert messages_of(done) == [f"A publish of dist_first is in progress: {job_anchor(running)}."]
    assert PublishJob.objects.count() == 1


# -- jobs ----------------------------------------------------------------------------------


def running_job(**fields) -> PublishJob:
    return make_job(
        "running",
        None,
        audit_log_id="dist_live",
        stage="upload",
        bytes_done=2**20,
        bytes_total=2**21,
        caller="orchestrator",
        worker="worker-host:4242",
        **fields,
    )


def test_running_jobs_show_a_progress_bar_and_the_pages_poll_instead_of_reloading(admin_client, published):
    job = running_job(run_started_at=timezone.now() - timedelta(seconds=4))

    page = admin_client.get(ATTEMPTS).content.decode()
    rows = result_rows(page)
    assert '<progress max="2097152" value="1048576"></progress>' in rows
    assert re.search(r"upload 1.0 MiB of 2.0 MiB \(50%\) · [\d.]+ KiB/s · [\d.]+ s left", rows)
    detail = admin_client.get(f"{ATTEMPTS}{job.pk}/change/").content.decode()
    for shown in ("worker-host:4242", "orchestrator", f'href="/api/distribution/jobs/{job.pk}"', "Lease expires at"):
        assert shown in detail
    for live_page in (page, detail):
        assert "http-equiv" not in live_page and "live-jobs" in live_page and 'data-live-active="1"' in live_page

    live = admin_client.get(f"{ATTEMPTS}live/", {"id": [job.pk, "x"]}).json()["jobs"]
    assert list(live) == [str(job.pk)] and live[str(job.pk)]["active"] is True
    assert "<progress" in live[str(job.pk)]["fields"]["progress"]

    job.status, job.error_code = "failed", "checksum_mismatch"
    job.bytes_done = 2**21  # every byte came, and the checksum did not match
    job.save()
    detail = admin_client.get(f"{ATTEMPTS}{job.pk}/change/").content.decode()
    assert "stopped in upload after 2.0 MiB" in detail and "(100%)" not in detail
    assert "Lease expires at" not in detail and 'data-live-active=""' in detail


def test_republish_of_a_record_with_an_active_job_links_that_job(client, published, cms):
    staff(client, "view_mirroredrecord", "republish")
    holder = make_job("queued", None, audit_log_id="dist_ops")
    record = MirroredRecord.objects.get()

    done = client.post(f"{RECORDS}{record.pk}/republish/", follow=True)

    assert messages_of(done) == [f"A publish of dist_ops is in progress: {job_anchor(holder)}."]
    assert PublishJob.objects.filter(source="admin").count() == 0


def test_republish_handed_to_workers_says_queued_and_links_the_job(client, published, cms):
    from config.celery import app

    staff(client, "view_mirroredrecord", "republish")
    app.conf.task_always_eager = False  # no worker in this test: the job stays queued
    try:
        done = client.post(f"{RECORDS}{MirroredRecord.objects.get().pk}/republish/", follow=True)
    finally:
        app.control.purge()  # no later worker may pick this message up
    job = PublishJob.objects.get(source="admin")
    assert job.status == "queued" and job.caller == "operator"
    assert messages_of(done) == [f"Re-publish of dist_ops queued as {job_anchor(job)}."]


# -- renew links and unpublish -------------------------------------------------------------


def test_renew_links_action_confirms_then_serves_a_fresh_link(client, published, cms):
    staff(client, "view_mirroredrecord", "publish")
    record = MirroredRecord.objects.get()
    selection = {"action": "renew_links", "_selected_action": [record.pk]}
    # An older link (signing within the same second would give the same one): the renewal must replace it.
    cms.state.records[0].update(public_url="http://old.invalid/link", expires_at="2000-01-01T00:00:00Z")

    confirmation = client.post(RECORDS, selection)
    page = confirmation.content.decode()
    assert confirmation.status_code == 200 and "Renew the link of 1 record?" in page and "<code>dist_ops</code>" in page
    assert 'id="confirm-renew-links"' in page
    assert cms.state.records[0]["public_url"] == "http://old.invalid/link"  # nothing renewed yet

    done = client.post(RECORDS, {**selection, "confirm": "yes"}, follow=True)

    record.refresh_from_db()
    [stored] = cms.state.records
    assert record.public_url == stored["public_url"] != "http://old.invalid/link"
    assert record.expires_at is not None and record.expires_at > timezone.now()
    assert record.url_expiry_hours == published["url_expiry_hours"]  # the record's own lifetime kept
    assert messages_of(done) == [
        f"Renewed the link of dist_ops: {record.public_url} (valid until {record.expires_at:%Y-%m-%dT%H:%M:%SZ})."
    ]
    assert [message.level_tag for message in done.context["messages"]] == ["success"]
    assert httpx.get(record.public_url).content == SAMPLE_MP4


def test_renew_links_of_an_unpublished_record_shows_the_error(client, published, cms):
    staff(client, "view_mirroredrecord", "publish")
    links.unpublish("dist_ops", "gone")

    done = client.post(
        RECORDS,
        {"action": "renew_links", "_selected_action": [MirroredRecord.objects.get().pk], "confirm": "yes"},
        follow=True,
    )

    [message] = messages_of(done)
    assert message.startswith("Renewing the link of dist_ops failed (record_unpublished): ")
    assert [m.level_tag for m in done.context["messages"]] == ["error"]


def test_unpublish_action_asks_for_a_reason_then_takes_the_record_down(client, published, cms):
    staff(client, "view_mirroredrecord", "unpublish")
    record = MirroredRecord.objects.get()
    selection = {"action": "unpublish_records", "_selected_action": [record.pk]}

    page = client.post(RECORDS, selection).content.decode()
    assert "Unpublish 1 record?" in page and 'name="reason"' in page and 'id="confirm-unpublish"' in page
    without_reason = client.post(RECORDS, {**selection, "confirm": "yes", "reason": " "}).content.decode()
    assert "Give a reason for the takedown." in without_reason and len(cms.state.media) == 1  # nothing taken down

    done = client.post(RECORDS, {**selection, "confirm": "yes", "reason": "rights expired"}, follow=True)

    assert messages_of(done) == ["Unpublished dist_ops: its file is deleted and its links stop serving."]
    assert [m.level_tag for m in done.context["messages"]] == ["success"]
    record.refresh_from_db()
    assert record.unpublished_at is not None and record.unpublish_reason == "rights expired"
    assert cms.state.media == [] and cms.state.files == {}
    assert httpx.get(published["public_url"]).status_code in (403, 404, 410)


def test_renew_and_unpublish_need_their_permissions(client, published, cms):
    staff(client, "view_mirroredrecord")
    page = client.get(RECORDS).content.decode()
    assert 'value="renew_links"' not in page and 'value="unpublish_records"' not in page

    selected = [MirroredRecord.objects.get().pk]
    for action in ("renew_links", "unpublish_records"):
        client.post(RECORDS, {"action": action, "_selected_action": selected, "confirm": "yes", "reason": "x"})

    assert len(cms.state.media) == 1 and cms.state.records[0]["public_url"] == published["public_url"]


def test_link_expires_within_a_day_filter(admin_client, db):
    soon = timezone.now() + timedelta(hours=3)
    MirroredRecord.objects.create(audit_log_id="dist_soon", expires_at=soon)
    MirroredRecord.objects.create(audit_log_id="dist_later", expires_at=timezone.now() + timedelta(days=3))
    MirroredRecord.objects.create(audit_log_id="dist_down", expires_at=soon, unpublished_at=timezone.now())
    MirroredRecord.objects.create(audit_log_id="dist_forever")

    rows = result_rows(admin_client.get(RECORDS, {"link_expires": "day"}).content.decode())

    assert {name for name in ("dist_soon", "dist_later", "dist_down", "dist_forever") if name in rows} == {"dist_soon"}
