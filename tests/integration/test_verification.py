"""verify_distribution against a real PayloadCMS: records published by the real pipeline, then broken."""

import io
import json
import secrets
from datetime import timedelta

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from distribution.jobs.runner import publish
from distribution.models import RecordCheck, VerificationRun
from tests.support.samples import publish_request

# The public URLs verified are the local PayloadCMS's, on 127.0.0.1.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("loopback_allowed"),
]


@pytest.fixture
def payload(payload_server, use_payload):
    use_payload(payload_server)
    return payload_server


@pytest.fixture
def publish_records(payload, asset_server):
    """Publish `count` records into a project of their own (the Payload server is shared by the session)."""

    def publish_into(project: str, count: int) -> list[dict]:
        records = []
        for _ in range(count):
            body = publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_vf_" + secrets.token_hex(6))
            body["distribution_settings"]["project_id"] = project
            records.append(publish(body, source="command").distribution_record)
        return records

    return publish_into


def verify(*args) -> tuple[int, dict]:
    """Exit code and JSON report of `verify_distribution --json`."""
    out = io.StringIO()
    try:
        call_command("verify_distribution", *args, "--json", stdout=out, stderr=io.StringIO())
        code = 0
    except CommandError as error:
        code = error.returncode
    return code, json.loads(out.getvalue())


def edit_record(server, audit_log_id: str, **changes) -> None:
    """Change a distributionRecords document through Payload's REST API, as an editor in the CMS would."""
    [doc] = server.find("distributionRecords", audit_log_id=audit_log_id)["docs"]
    response = httpx.patch(
        f"{server.url}/api/distributionRecords/{doc['id']}",
        json=changes,
        headers=auth(server),
    )
    response.raise_for_status()


def auth(server) -> dict:
    return {"Authorization": f"users API-Key {server.api_key}"}


def new_project() -> str:
    return "verify-" + secrets.token_hex(4)


@pytest.mark.parametrize("extra", [[], ["--checksum", "--concurrency", "1"]], ids=["range", "checksum"])
def test_a_sound_set_passes(publish_records, extra):
    project = new_project()
    published = publish_records(project, 3)

    code, report = verify("--project", project, *extra)

    assert code == 0
    assert (report["status"], report["records_checked"], report["records_sound"]) == ("sound", 3, 3)
    assert report["problems"] == [] and set(report["problem_counts"].values()) == {0}
    assert report["options"]["checksum"] == bool(extra)
    run = VerificationRun.objects.get(pk=report["run_id"])
    assert run.status == "sound" and run.finished_at
    assert sorted(run.checks.values_list("audit_log_id", "codes")) == sorted(
        (record["audit_log_id"], "") for record in published
    )


def test_broken_records_are_reported_with_their_codes(payload, publish_records):
    project = new_project()
    ids = [record["audit_log_id"] for record in publish_records(project, 6)]
    sound, deleted, edited, media_gone, moved, grown = ids
    files = payload.media_dir / project / "mvp"
    (files / f"{deleted}.mp4").unlink()
    edit_record(payload, edited, checksum="sha256:" + "0" * 64)
    [media] = payload.find("media", audit_log_id=media_gone)["docs"]
    httpx.delete(f"{payload.url}/api/media/{media['id']}", headers=auth(payload)).raise_for_status()
    edit_record(payload, moved, storage_path=f"{project}/elsewhere/{moved}.mp4")
    with (files / f"{grown}.mp4").open("ab") as file:
        file.write(b"\0" * 100)

    code, report = verify("--project", project)

    assert code == 1
    assert report["status"] == "problems"
    assert (report["records_checked"], report["records_sound"], report["records_with_problems"]) == (6, 1, 5)
    assert {(p["audit_log_id"], p["code"]) for p in report["problems"]} == {
        (deleted, "url_unreachable"),
        (edited, "checksum_mismatch"),
        (media_gone, "media_missing"),
        (media_gone, "url_unreachable"),
        (moved, "path_mismatch"),
        (grown, "size_mismatch"),
    }
    assert report["problem_counts"] == {
        "url_unreachable": 2,
        "size_mismatch": 1,
        "checksum_mismatch": 1,
        "media_missing": 1,
        "expired": 0,
        "path_mismatch": 1,
        "expiry_not_enforced": 0,
        "takedown_incomplete": 0,
    }
    messages = {(p["audit_log_id"], p["code"]): p["message"] for p in report["problems"]}
    assert messages[deleted, "url_unreachable"] == "public_url answered HTTP 404."
    assert messages[grown, "size_mismatch"] == "public_url serves 3300 bytes; the media document has 3200."
    checks = dict(RecordCheck.objects.filter(run_id=report["run_id"]).values_list("audit_log_id", "codes"))
    assert checks[sound] == "" and checks[media_gone] == "media_missing,url_unreachable"

    # Streaming the files also finds that the served bytes no longer hash to the edited checksum.
    code, report = verify("--project", project, "--checksum")
    assert code == 1
    edited_messages = sorted(p["message"] for p in report["problems"] if p["audit_log_id"] == edited)
    assert len(edited_messages) == 2 and edited_messages[1].startswith("The served file hashes to sha256:563516")
    assert {p["code"] for p in report["problems"] if p["audit_log_id"] == grown} == {
        "size_mismatch",
        "checksum_mismatch",
    }


def test_project_since_and_sample_select_records(publish_records):
    project = new_project()
    publish_records(project, 3)

    assert verify("--project", project, "--sample", "2")[1]["records_checked"] == 2
    assert verify("--project", project, "--sample", "10")[1]["records_checked"] == 3
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert verify("--project", project, "--since", tomorrow)[1]["records_checked"] == 0
    an_hour_ago = (timezone.now() - timedelta(hours=1)).isoformat()
    assert verify("--project", project, "--since", an_hour_ago)[1]["records_checked"] == 3
