"""Management commands as release checks run them: exit codes, --json output, effects."""

import hashlib
import io
import json
import re
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from distribution.jobs.runner import publish
from distribution.management.progress import TerminalProgress
from distribution.models import MirroredRecord, PublishJob
from tests.support.samples import SAMPLE_CHECKSUM, SAMPLE_MP4, publish_request
from tests.support.servers import Route
from tests.support.terminal import FakeTerminal, final_lines


def run_json(*args) -> dict:
    out = io.StringIO()
    call_command(*args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


@pytest.fixture
def request_file(tmp_path, asset_server):
    def write(**overrides) -> str:
        path = tmp_path / "request.json"
        path.write_text(json.dumps(publish_request(asset_server.url + "/sample.mp4", **overrides)))
        return str(path)

    return write


def test_dry_run_prints_the_record_and_writes_nothing(db, cms, request_file):
    body = run_json("publish", request_file(audit_log_id="dist_dry"), "--dry-run")

    assert body["dry_run"] is True and body["asset_size"] == 3200
    assert body["distribution_record"]["storage_location"] == "payloadcms://media/concept-42/mvp/dist_dry.mp4"
    assert body["distribution_record"]["metadata"]["checksum"] == SAMPLE_CHECKSUM
    assert cms.requests == []
    assert not PublishJob.objects.exists() and not MirroredRecord.objects.exists()


def test_publish_writes_the_cms_and_the_mirror(db, cms, request_file):
    body = run_json("publish", request_file(audit_log_id="dist_cmd"))

    assert body["distribution_record"]["audit_log_id"] == "dist_cmd"
    assert [r["audit_log_id"] for r in cms.state.records] == ["dist_cmd"]
    assert MirroredRecord.objects.get().audit_log_id == "dist_cmd"
    assert PublishJob.objects.get().source == "command"


def test_failures_raise_with_exit_code_1_and_json_error(db, cms, request_file):
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("publish", request_file(qc_report={"status": "fail"}), "--json", stdout=out)
    assert caught.value.returncode == 1
    assert json.loads(out.getvalue())["error"]["code"] == "qc_not_passed"


def test_publish_reads_the_request_from_stdin(db, cms, asset_server, monkeypatch):
    request = publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_stdin")
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(request)))

    body = run_json("publish", "-")

    assert body["distribution_record"]["audit_log_id"] == "dist_stdin"
    assert [r["audit_log_id"] for r in cms.state.records] == ["dist_stdin"]


def test_unreadable_request_is_exit_code_2(db, tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CommandError) as caught:
        call_command("publish", str(tmp_path / "bad.json"))
    assert caught.value.returncode == 2


def test_republish_by_audit_log_id(db, cms, request_file):
    call_command("publish", request_file(audit_log_id="dist_again"), stdout=io.StringIO())
    body = run_json("republish", "dist_again")

    assert body["distribution_record"]["audit_log_id"] == "dist_again"
    assert len(cms.state.records) == 1 and len(cms.state.media) == 1
    assert PublishJob.objects.filter(source="command", status="published").count() == 2
    with pytest.raises(CommandError, match="record_not_found"):
        call_command("republish", "dist_nope", stdout=io.StringIO())


def cms_record(index: int) -> dict:
    """A distributionRecords document as PayloadCMS stores it."""
    return {
        "id": index + 1,
        "audit_log_id": f"dist_{index}",
        "project_id": "p",
        "title": f"Cut {index}",
        "checksum": SAMPLE_CHECKSUM,
        "storage_path": f"p/mvp/dist_{index}.mp4",
        "public_url": f"https://cdn.example.com/p/mvp/dist_{index}.mp4",
        "tags": ["x"],
        "published_at": "2026-11-20T10:00:00.000Z",
        "expires_at": None,
        "duration_seconds": 3.5,
    }


def test_sync_pages_through_the_cms_and_flags_missing(db, cms):
    for index in range(5):
        cms.state.records.append(cms_record(index))
    MirroredRecord.objects.create(audit_log_id="dist_gone", storage_path="p/mvp/dist_gone.mp4")

    first = run_json("sync_distribution_records", "--page-size", "2")
    assert first == {"created": 5, "updated": 0, "unchanged": 0, "missing": 1}
    assert sum(1 for method, path in cms.requests if path.startswith("/api/distributionRecords")) == 3  # 3 pages
    assert MirroredRecord.objects.get(audit_log_id="dist_gone").missing_from_cms
    assert MirroredRecord.objects.get(audit_log_id="dist_3").title == "Cut 3"

    cms.state.records[0]["title"] = "Renamed"
    assert run_json("sync_distribution_records") == {"created": 0, "updated": 1, "unchanged": 4, "missing": 1}


def test_sync_refuses_a_page_size_below_1(db, cms):
    with pytest.raises(CommandError, match="expected a whole number of at least 1, got '0'"):
        call_command("sync_distribution_records", "--page-size", "0")
    assert cms.requests == []


def test_failed_sync_exits_1_and_flags_nothing(db, cms):
    cms.state.records.append(cms_record(0))
    MirroredRecord.objects.create(audit_log_id="dist_kept", storage_path="p/mvp/dist_kept.mp4")
    cms.fail_next["GET distributionRecords"] = 500

    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("sync_distribution_records", "--json", stdout=out, stderr=io.StringIO())

    assert caught.value.returncode == 1
    assert json.loads(out.getvalue())["error"]["code"] == "cms_read_failed"
    assert list(MirroredRecord.objects.values_list("audit_log_id", "missing_from_cms")) == [("dist_kept", False)]


def test_progress_is_drawn_on_a_terminal_only():
    terminal = FakeTerminal()
    progress = TerminalProgress(terminal, interval=0)
    progress.bytes("download", 5 * 2**20, 10 * 2**20)
    progress.bytes("upload", 10 * 2**20, 10 * 2**20)
    progress.bytes("download", 3 * 2**29, None)  # no Content-Length: no total, no percentage
    progress.close()
    assert terminal.getvalue() == (
        "\rdownload         5.0 MiB / 10.0 MiB   50%\n\rupload          10.0 MiB / 10.0 MiB  100%\n"
        "\rdownload         1.5 GiB\n"
    )

    piped = io.StringIO()
    TerminalProgress(piped).bytes("download", 1, 2)
    assert piped.getvalue() == ""


def test_publish_draws_download_and_upload_progress_on_a_terminal(db, cms, request_file):
    terminal = FakeTerminal()
    call_command("publish", request_file(audit_log_id="dist_tty"), stdout=io.StringIO(), stderr=terminal)

    assert final_lines(terminal) == [
        "upload           3.1 KiB / 3.1 KiB  100%",  # the 3200-byte sample, streamed from its host to PayloadCMS
        "Published dist_tty",  # the headline, on stderr too
    ]
    assert cms.state.files["concept-42/mvp/dist_tty.mp4"] == SAMPLE_MP4

    piped = io.StringIO()
    call_command("publish", request_file(audit_log_id="dist_pipe"), stdout=io.StringIO(), stderr=piped)
    assert piped.getvalue() == "Published dist_pipe\n"  # no progress when piped


def test_large_assets_report_progress_chunk_by_chunk(db, cms, asset_server, request_file):
    """The asset streams from its host to PayloadCMS: many growing reports, none near the whole file at once."""
    asset = SAMPLE_MP4 + bytes(3 * 2**20)
    asset_server.add("/large.mp4", Route(body=asset))
    request = publish_request(asset_server.url + "/large.mp4", audit_log_id="dist_large")
    request["final_edit"]["checksum"] = "sha256:" + hashlib.sha256(asset).hexdigest()
    reports = []

    publish(request, source="command", progress=lambda stage, done, total: reports.append((stage, done, total)))

    assert {stage for stage, _, _ in reports} == {"upload"}
    done = [d for _, d, total in reports if total == len(asset)]
    assert len(done) >= 4 and done == sorted(done) and done[-1] == len(asset)
    assert max(b - a for a, b in zip([0, *done[:-1]], done, strict=True)) <= 2**20
    assert cms.state.files["concept-42/mvp/dist_large.mp4"] == asset


def test_sync_draws_record_counts_on_a_terminal(db, cms):
    for index in range(3):
        cms.state.records.append(cms_record(index))
    terminal = FakeTerminal()
    call_command("sync_distribution_records", "--page-size", "2", stdout=io.StringIO(), stderr=terminal)
    assert final_lines(terminal) == ["records     3/3"]


def test_exit_codes_as_a_release_check_sees_them(manage, request_file):
    """The real `manage.py` process, against the asset server and the CMS double."""
    ok = manage("publish", request_file(audit_log_id="dist_proc"), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["distribution_record"]["audit_log_id"] == "dist_proc"
    refused = manage("publish", request_file(qc_report={"status": "fail"}), "--json")
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["code"] == "qc_not_passed"
    assert "qc_not_passed" in refused.stderr


def test_stdout_is_always_json_and_audit_events_are_json_lines_on_stderr(manage, request_file):
    """Without --json too: `> out.json` holds the result or the error body; people read stderr."""
    ok = manage("publish", request_file(audit_log_id="dist_redirect"))
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["distribution_record"]["audit_log_id"] == "dist_redirect"
    assert "Published dist_redirect" in ok.stderr

    [event] = [json.loads(line) for line in ok.stderr.splitlines() if line.startswith("{")]
    assert list(event) == [
        "event",
        "event_id",
        "timestamp",
        "audit_log_id",
        "project_id",
        "storage_path",
        "public_url",
        "expires_at",
        "duration_seconds",
        "checksum",
        "published_at",
        "unpublished_at",
        "unpublish_reason",
        "caller",
        "status",
        "error_code",
    ]
    assert event["event"] == "distribution.publish" and event["status"] == "published"
    assert str(uuid.UUID(event["event_id"])) == event["event_id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["timestamp"])
    assert event["audit_log_id"] == "dist_redirect" and event["error_code"] is None

    refused = manage("publish", request_file(qc_report={"status": "fail"}))
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["code"] == "qc_not_passed"
    assert "CommandError: qc_not_passed" in refused.stderr
    [failed] = [json.loads(line) for line in refused.stderr.splitlines() if line.startswith("{")]
    assert failed["status"] == "failed" and failed["error_code"] == "qc_not_passed"
    assert failed["event_id"] != event["event_id"]


def test_enqueue_prints_the_job_and_wait_prints_the_outcome(db, cms, request_file):
    """Tasks run eagerly here; tests/test_workers.py follows a job on a real worker."""
    queued = run_json("publish", request_file(audit_log_id="dist_queue"), "--enqueue")
    job = PublishJob.objects.get()
    assert queued["job"]["id"] == job.pk and queued["job"]["status_url"] == f"/api/distribution/jobs/{job.pk}"
    assert (job.source, job.audit_log_id) == ("command", "dist_queue") and job.caller

    followed = run_json("republish", "dist_queue", "--enqueue", "--wait")
    assert followed["distribution_record"]["audit_log_id"] == "dist_queue"
    assert PublishJob.objects.filter(audit_log_id="dist_queue", status="published").count() == 2


def test_publish_of_an_active_id_exits_1_with_publish_in_progress(db, cms, request_file, asset_server):
    holder = PublishJob.objects.create(audit_log_id="dist_held", status="running", started_at=timezone.now())
    for extra in ([], ["--enqueue"]):
        out = io.StringIO()
        with pytest.raises(CommandError) as caught:
            call_command("publish", request_file(audit_log_id="dist_held"), "--json", *extra, stdout=out)
        assert caught.value.returncode == 1
        error = json.loads(out.getvalue())["error"]
        assert (error["code"], error["job_id"]) == ("publish_in_progress", holder.pk)
    assert asset_server.requests == [] and PublishJob.objects.count() == 1


def test_job_flags_are_usage_errors_where_they_make_no_sense(db, request_file):
    for args in (["--wait"], ["--dry-run", "--enqueue"]):
        with pytest.raises(CommandError) as caught:
            call_command("publish", request_file(), *args, stdout=io.StringIO())
        assert caught.value.returncode == 2
    assert not PublishJob.objects.exists()
