"""verify_distribution as a release check sees it: usage errors, the JSON report, exit codes, bounded work.

The integration tests (tests/integration/test_verification.py) prove the checks against a real PayloadCMS;
these use the PayloadCMS double on 127.0.0.1 and, for server behaviour the double lacks, httpx.MockTransport.
"""

import hashlib
import io
import json
import threading
import time
import tracemalloc

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from distribution.models import MirroredRecord, RecordCheck, VerificationFinding, VerificationRun
from distribution.operators import verification
from tests.support.pages import result_rows, scrape
from tests.support.samples import SAMPLE_CHECKSUM, SAMPLE_MP4, publish_request
from tests.support.servers import Route
from tests.support.terminal import FakeTerminal, final_lines

# The public URLs verified are the CMS double's, on 127.0.0.1.
pytestmark = pytest.mark.usefixtures("loopback_allowed")


def add_record(cms, audit_log_id: str, *, with_media: bool = True, **fields) -> dict:
    """A published record as the pipeline leaves it in the double: file, media document, distribution record."""
    path = f"p/mvp/{audit_log_id}.mp4"
    cms.state.files[path] = SAMPLE_MP4
    if with_media:
        media = {"audit_log_id": audit_log_id, "storage_path": path, "checksum": SAMPLE_CHECKSUM}
        cms.state.media.append({"id": len(cms.state.media) + 1, **media, "filesize": len(SAMPLE_MP4)})
    record = {
        "id": len(cms.state.records) + 1,
        "audit_log_id": audit_log_id,
        "project_id": "p",
        "checksum": SAMPLE_CHECKSUM,
        "storage_path": path,
        "url_expiry_hours": 24,
        "published_at": timezone.now().isoformat(),
    }
    cms.state.records.append(record)
    cms.sign(record)  # the link the CMS signs: serves for a day
    record.update(fields)
    return record


def run(*args) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of verify_distribution as call_command runs it."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_distribution", *args, stdout=out, stderr=err)
        code = 0
    except CommandError as error:
        code, err = error.returncode, io.StringIO(err.getvalue() + str(error))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sample", "0"], "argument --sample: expected a whole number of at least 1, got '0'"),
        (["--concurrency", "33"], "argument --concurrency: expected at most 32, got '33'"),
        (["--concurrency", "x"], "argument --concurrency: expected a whole number of at least 1, got 'x'"),
        (["--since", "last week"], "argument --since: expected a date (2026-11-01) or an ISO 8601 date-time"),
        (["--since", "2026-13-01"], "argument --since: expected a date"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_usage_errors_name_the_argument_and_touch_nothing(db, cms, args, message):
    with pytest.raises(CommandError, match="Error: " + message.replace("(", r"\(").replace(")", r"\)")):
        call_command("verify_distribution", *args)
    assert cms.requests == [] and not VerificationRun.objects.exists()


def test_json_report_shape(db, cms):
    add_record(cms, "dist_ok")
    add_record(cms, "dist_nomedia", with_media=False)

    code, out, _ = run("--json", "--concurrency", "2")

    assert code == 1
    report = json.loads(out)
    assert set(report) == {
        "run_id",
        "status",
        "options",
        "started_at",
        "finished_at",
        "records_checked",
        "records_sound",
        "records_with_problems",
        "records_expired",
        "problem_counts",
        "problems",
        "expired",
    }
    assert report["status"] == "problems"
    assert report["options"] == {
        "project": None,
        "since": None,
        "sample": None,
        "checksum": False,
        "concurrency": 2,
        "expired_is_problem": False,
    }
    assert (report["records_checked"], report["records_sound"], report["records_with_problems"]) == (2, 1, 1)
    assert report["problems"] == [
        {
            "audit_log_id": "dist_nomedia",
            "code": "media_missing",
            "message": "PayloadCMS has no media document for this audit_log_id.",
        }
    ]
    assert list(report["problem_counts"]) == list(verification.CODES)
    assert report["started_at"].endswith("Z") and report["finished_at"].endswith("Z")
    run_row = VerificationRun.objects.get(pk=report["run_id"])
    assert run_row.status == "problems" and run_row.records_checked == 2
    assert list(VerificationFinding.objects.values_list("audit_log_id", "code")) == [("dist_nomedia", "media_missing")]
    # The verified records are refreshed in the local mirror, where the admin shows them with their results.
    assert set(MirroredRecord.objects.values_list("audit_log_id", flat=True)) == {"dist_ok", "dist_nomedia"}


def test_options_reach_the_report_and_payloads_query(db, cms):
    add_record(cms, "dist_ok")

    code, out, _ = run("--json", "--project", "p", "--since", "2026-11-01", "--sample", "5", "--checksum")

    assert code == 0
    assert json.loads(out)["options"] == {
        "project": "p",
        "since": "2026-11-01T00:00:00Z",
        "sample": 5,
        "checksum": True,
        "concurrency": 4,
        "expired_is_problem": False,
    }
    [listing] = [path for method, path in cms.requests if path.startswith("/api/distributionRecords")]
    assert "where%5Bproject_id%5D%5Bequals%5D=p" in listing
    assert "where%5Bpublished_at%5D%5Bgreater_than_equal%5D=2026-11-01T00%3A00%3A00Z" in listing


def expired_link(cms, record: dict) -> str:
    """Sign the record's link as PayloadCMS did two hours ago for one hour: expired an hour ago; its expires_at."""
    cms.sign(record, 1, signed_at=time.time() - 2 * 3600)
    return record["expires_at"]


def test_text_output_lists_problems_then_the_summary(db, cms):
    add_record(cms, "dist_ok")
    add_record(cms, "dist_nomedia", with_media=False)

    code, out, err = run()

    assert code == 1
    assert out == "dist_nomedia  media_missing  PayloadCMS has no media document for this audit_log_id.\n"
    assert "Verified 2 records: 1 sound, 1 with problems (run #" in err

    cms.state.records.pop()
    code, out, err = run()
    assert code == 0 and out.startswith("Verified 1 records: 1 sound, 0 with problems") and err == ""


def test_a_link_expired_by_design_is_sound_unless_expired_is_a_problem(db, cms):
    add_record(cms, "dist_ok")
    expires_at = expired_link(cms, add_record(cms, "dist_old"))
    assert httpx.get(cms.state.records[1]["public_url"]).status_code == 410  # the CMS enforces the expiry

    code, out, err = run()

    assert (code, err) == (0, "")
    assert out.startswith("Verified 2 records: 2 sound, 0 with problems, 1 past their link's expiry (run #")
    report = json.loads(run("--json")[1])
    assert (report["status"], report["records_sound"], report["records_expired"]) == ("sound", 2, 1)
    assert report["expired"] == ["dist_old"] and report["problems"] == []

    code, out, err = run("--expired-is-problem")

    assert code == 1
    stamp = expires_at.replace(".000Z", "Z")
    assert out == f"dist_old  expired  The record's link expired at {stamp}.\n"
    assert "Verified 2 records: 1 sound, 1 with problems, 1 past their link's expiry (run #" in err
    assert VerificationRun.objects.latest("pk").options["expired_is_problem"] is True


def test_a_link_serving_after_its_expiry_is_expiry_not_enforced(db, cms):
    expires_at = expired_link(cms, add_record(cms, "dist_late"))
    add_record(cms, "dist_ok")
    cms.enforce_expiry = False  # a CMS (or a cache in front of it) serving links past their expiry
    assert httpx.get(cms.state.records[0]["public_url"]).content == SAMPLE_MP4

    code, out, _ = run("--json")

    assert code == 1
    report = json.loads(out)
    assert (report["status"], report["records_sound"], report["records_expired"]) == ("problems", 1, 1)
    assert report["problems"] == [
        {
            "audit_log_id": "dist_late",
            "code": "expiry_not_enforced",
            "message": f"public_url still serves the file after its expiry ({expires_at.replace('.000Z', 'Z')}).",
        }
    ]
    assert report["problem_counts"]["expiry_not_enforced"] == 1


def test_an_unpublished_record_whose_file_still_serves_is_takedown_incomplete(db, cms, api_client, asset_server):
    for audit_log_id in ("dist_gone", "dist_half"):
        body = publish_request(asset_server.url + "/sample.mp4", audit_log_id=audit_log_id)
        assert api_client.post("/api/distribution/publish", body, format="json").status_code == 201
    call_command("unpublish", "dist_gone", "--json", stdout=io.StringIO())  # the whole takedown
    # A takedown that stopped half way: the record is a tombstone, but the media document and its file stay.
    half = next(record for record in cms.state.records if record["audit_log_id"] == "dist_half")
    earlier_link = half["public_url"]
    half.update(public_url=None, expires_at=None, unpublished_at="2026-12-01T00:00:00.000Z")
    assert httpx.get(earlier_link).content == SAMPLE_MP4

    code, out, _ = run("--json")

    assert code == 1
    report = json.loads(out)
    assert (report["records_checked"], report["records_sound"]) == (2, 1)
    assert sorted((problem["audit_log_id"], problem["code"], problem["message"]) for problem in report["problems"]) == [
        ("dist_half", "takedown_incomplete", "Unpublished, but 1 link(s) given out earlier still serve the file."),
        ("dist_half", "takedown_incomplete", "Unpublished, but PayloadCMS still has its media document."),
    ]


def test_a_run_that_selects_no_record_says_nothing_was_verified_and_exits_1(db, cms):
    add_record(cms, "dist_ok")

    code, out, err = run("--project", "no-such-project")

    assert (code, out) == (1, "")  # a release check that checked nothing has not passed
    assert "No record matched the selection: nothing was verified (run #" in err
    report = json.loads(run("--json", "--project", "no-such-project")[1])
    assert (report["status"], report["records_checked"], report["problems"]) == ("nothing", 0, [])
    assert list(VerificationRun.objects.values_list("status", flat=True)) == ["nothing", "nothing"]


def test_plain_http_is_refused_outside_development_and_not_fetched(db, cms, settings):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "ALLOW_HTTP_PUBLIC_URL": False}
    add_record(cms, "dist_http")

    code, out, _ = run("--json")

    assert code == 1
    [problem] = json.loads(out)["problems"]
    assert problem["code"] == "url_unreachable"
    assert problem["message"] == "public_url is not an absolute HTTPS URL; nothing was fetched."
    assert not any(path.startswith("/api/media/file/") for _, path in cms.requests)


def mock_cms(files: dict[str, httpx.Response], records: list[dict], media: list[dict], delay: float = 0.0):
    """A MockTransport serving Payload's listing and media lookups plus the given file responses."""
    in_flight, peak, lock = [0], [0], threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/distributionRecords":
            return httpx.Response(200, json={"docs": records, "totalDocs": len(records), "hasNextPage": False})
        if request.url.path == "/api/media":
            wanted = request.url.params["where[audit_log_id][equals]"]
            return httpx.Response(200, json={"docs": [m for m in media if m["audit_log_id"] == wanted]})
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(delay)
        with lock:
            in_flight[0] -= 1
        return files[request.url.path]

    return httpx.Client(transport=httpx.MockTransport(handler)), peak


def cdn_record(name: str) -> tuple[dict, dict]:
    path = f"p/mvp/{name}.mp4"
    record = {
        "audit_log_id": name,
        "storage_path": path,
        "checksum": SAMPLE_CHECKSUM,
        "public_url": f"https://cdn.example/{path}",
        "expires_at": None,
    }
    return record, {"audit_log_id": name, "storage_path": path, "checksum": SAMPLE_CHECKSUM, "filesize": 3200}


def test_range_answers_wrong_types_and_missing_sizes(db, settings):
    settings.PAYLOADCMS_URL = "https://cms.example"
    pairs = [cdn_record(name) for name in ("ranged", "html", "unsized", "short")]
    files = {
        "/p/mvp/ranged.mp4": httpx.Response(
            206, headers={"Content-Type": "video/mp4", "Content-Range": "bytes 0-0/3200"}
        ),
        "/p/mvp/html.mp4": httpx.Response(200, headers={"Content-Type": "text/html; charset=utf-8"}, content=b"<html>"),
        "/p/mvp/unsized.mp4": httpx.Response(200, headers={"Content-Type": "video/mp4"}),
        "/p/mvp/short.mp4": httpx.Response(206, headers={"Content-Type": "video/mp4", "Content-Range": "bytes 0-0/10"}),
    }
    files["/p/mvp/unsized.mp4"].headers.pop("Content-Length", None)
    http, _ = mock_cms(files, [record for record, _ in pairs], [media for _, media in pairs])

    run_row = verification.verify(verification.Options(), http=http)

    problems = dict(run_row.findings.values_list("audit_log_id", "message"))
    assert "ranged" not in problems
    assert problems["html"] == "public_url serves text/html, not video/mp4."
    assert problems["unsized"] == (
        "public_url serves no size (neither Content-Length nor Content-Range); the media document has 3200."
    )
    assert problems["short"] == "public_url serves 10 bytes; the media document has 3200."


def test_concurrency_is_bounded_and_used(db, settings):
    settings.PAYLOADCMS_URL = "https://cms.example"
    pairs = [cdn_record(f"r{index}") for index in range(12)]
    ok = {"Content-Type": "video/mp4", "Content-Range": "bytes 0-0/3200"}
    files = {"/" + record["storage_path"]: httpx.Response(206, headers=ok) for record, _ in pairs}
    http, peak = mock_cms(files, [record for record, _ in pairs], [media for _, media in pairs], delay=0.05)

    run_row = verification.verify(verification.Options(concurrency=3), http=http)

    assert run_row.status == "sound" and run_row.records_checked == 12
    assert peak[0] == 3


def test_streaming_checksums_keeps_memory_flat(db, cms, asset_server):
    """Four 64 MiB files hashed at once (chunked answers, no Content-Length): memory stays far below their size."""
    chunk = SAMPLE_MP4[:1024] * 1024
    size = 64 * len(chunk)
    asset_server.add("/big.mp4", Route(body=lambda: (chunk for _ in range(64))))
    for index in range(4):
        record = add_record(cms, f"dist_big{index}", public_url=asset_server.url + "/big.mp4")
        record["checksum"] = cms.state.media[index]["checksum"] = "sha256:" + hashlib.sha256(chunk * 64).hexdigest()
        cms.state.media[index]["filesize"] = size

    tracemalloc.start()
    try:
        run_row = verification.verify(verification.Options(checksum=True, concurrency=4))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert (run_row.status, run_row.records_checked) == ("sound", 4)
    assert peak < 20 * 2**20, f"peak Python allocation {peak} bytes"


def test_unreachable_cms_fails_the_run_with_exit_1(db, settings):
    settings.PAYLOADCMS_URL = "http://127.0.0.1:9"  # nothing listens on the discard port

    code, out, err = run("--json")

    assert code == 1
    assert json.loads(out)["error"]["code"] == "cms_unavailable"
    assert "cms_unavailable" in err
    failed = VerificationRun.objects.get()
    assert failed.status == "failed" and failed.error.startswith("cms_unavailable: ") and failed.finished_at


def test_a_run_that_checked_no_record_is_a_warning(admin_client, cms):
    with pytest.raises(CommandError, match="nothing was verified"):
        call_command("verify_distribution", "--project", "no-such-project", stdout=io.StringIO())

    run = VerificationRun.objects.get()
    assert (run.status, run.records_checked) == ("nothing", 0)
    html = admin_client.get("/dashboard/").content.decode()
    assert 'class="figure warning"' in html and "verification checked no record" in html
    assert "Nothing to check" in admin_client.get("/admin/distribution/verificationrun/").content.decode()


def test_progress_line_on_a_terminal(db, cms):
    for index in range(3):
        add_record(cms, f"dist_{index}")
    terminal = FakeTerminal()

    call_command("verify_distribution", stdout=io.StringIO(), stderr=terminal)

    assert final_lines(terminal) == ["verified    3/3"]
    assert RecordCheck.objects.count() == 3


def test_exit_codes_of_the_real_process(manage, cms):
    nothing = manage("verify_distribution")
    assert nothing.returncode == 1 and "nothing was verified" in nothing.stderr  # a check of nothing has not passed
    add_record(cms, "dist_ok")
    sound = manage("verify_distribution")
    assert sound.returncode == 0, sound.stderr
    assert "Verified 1 records: 1 sound" in sound.stdout
    add_record(cms, "dist_gone", with_media=False)
    broken = manage("verify_distribution", "--json")
    assert broken.returncode == 1
    assert json.loads(broken.stdout)["problems"][0]["code"] == "media_missing"
    for usage_error in (["--sample", "-1"], ["--project", " "]):
        refused = manage("verify_distribution", *usage_error)
        assert refused.returncode == 2, refused.stderr
        assert "--sample" in refused.stderr or "--project needs a project_id" in refused.stderr


# -- where operators see the results ------------------------------------------------------


@pytest.fixture
def verified(db, cms):
    """One run over a sound record and one without its media document."""
    add_record(cms, "dist_ok")
    add_record(cms, "dist_nomedia", with_media=False)
    assert run()[0] == 1
    return VerificationRun.objects.get()


def test_admin_shows_the_latest_verification_next_to_the_records(admin_client, verified):
    rows = result_rows(admin_client.get("/admin/distribution/mirroredrecord/").content.decode())

    assert rows.count('<span class="badge badge-published">Sound</span>') == 1
    assert '<span class="badge badge-failed">Problems</span><code class="error-code">media_missing</code>' in rows

    MirroredRecord.objects.create(audit_log_id="dist_unchecked")
    for choice, expected in (("sound", "dist_ok"), ("problems", "dist_nomedia"), ("never", "dist_unchecked")):
        filtered = result_rows(
            admin_client.get(f"/admin/distribution/mirroredrecord/?verification={choice}").content.decode()
        )
        assert [name for name in ("dist_ok", "dist_nomedia", "dist_unchecked") if name in filtered] == [expected]

    record = MirroredRecord.objects.get(audit_log_id="dist_nomedia")
    detail = admin_client.get(f"/admin/distribution/mirroredrecord/{record.pk}/change/").content.decode()
    assert "<li><code>media_missing</code> PayloadCMS has no media document for this audit_log_id.</li>" in detail
    assert (
        f'href="/admin/distribution/verificationrun/{verified.pk}/change/">Verification run #{verified.pk}</a>'
        in detail
    )


def test_admin_lists_runs_with_their_findings(admin_client, verified):
    runs = admin_client.get("/admin/distribution/verificationrun/").content.decode()
    assert '<span class="badge badge-failed">Problems</span>' in runs and "concurrency=4" in runs

    detail = admin_client.get(f"/admin/distribution/verificationrun/{verified.pk}/change/").content.decode()
    assert "dist_nomedia" in detail and "media_missing" in detail and "dist_ok" not in detail
    assert admin_client.post(f"/admin/distribution/verificationrun/{verified.pk}/delete/").status_code == 403


def test_dashboard_and_metrics_count_the_latest_run(admin_client, verified, cms):
    html = admin_client.get("/dashboard/").content.decode()
    assert 'id="verification-problems">1<' in html and "records with problems</a> of 2 verified" in html

    samples = scrape(admin_client)
    assert samples['distribution_verification_runs_total{status="problems"}'] == 1
    assert samples['distribution_verification_records{outcome="sound"}'] == 1
    assert samples['distribution_verification_records{outcome="problems"}'] == 1
    assert samples['distribution_verification_problems{code="media_missing"}'] == 1
    assert samples['distribution_verification_problems{code="expired"}'] == 0
    assert samples["distribution_verification_last_run_timestamp_seconds"] == verified.finished_at.timestamp() // 1

    # A failed run is counted, but the figures stay those of the latest finished run.
    cms.fail_next["GET distributionRecords"] = 500
    assert run()[0] == 1
    samples = scrape(admin_client)
    assert samples['distribution_verification_runs_total{status="failed"}'] == 1
    assert samples['distribution_verification_problems{code="media_missing"}'] == 1


def test_metrics_before_any_verification(client, db):
    samples = scrape(client)
    assert samples['distribution_verification_runs_total{status="sound"}'] == 0
    assert not any(name.startswith("distribution_verification_problems") for name in samples)


def test_a_public_url_on_a_non_public_address_is_reported_not_fetched(db, cms):
    """A record edited in the CMS to point at cloud metadata: verification refuses to request it."""
    add_record(cms, "dist_metadata", public_url="https://169.254.169.254/latest/meta-data.mp4")

    code, out, _ = run("--json")

    assert code == 1
    [problem] = json.loads(out)["problems"]
    assert problem["code"] == "url_unreachable" and problem["message"].startswith("public_url was not fetched")
