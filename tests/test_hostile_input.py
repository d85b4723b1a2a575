"""Malformed and hostile requests: each answers 4xx in the JSON error shape, before any side effect.

"No side effect" is asserted the way a user would see it: the asset host and the
PayloadCMS double received no request, the CMS holds no file, and whatever the
attempt stored is safe to store and show.
"""

import json
from pathlib import Path

import pytest

from distribution.jobs.runner import run, submit
from distribution.models import PublishJob
from distribution.publishing.plan import build_plan
from tests.support.samples import publish_request

PUBLISH = "/api/distribution/publish"


@pytest.fixture
def sample_url(asset_server):
    return asset_server.url + "/sample.mp4"


@pytest.fixture
def send(api_client, cms, asset_server):
    """POST a raw body; assert a 4xx JSON error and that nothing went out. Returns the error."""

    def post(body: bytes | str, status: int | None = None, content_type: str = "application/json") -> dict:
        response = api_client.generic("POST", PUBLISH, body, content_type=content_type)
        assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
        assert response["Content-Type"] == "application/json"
        error = response.json()["error"]
        assert set(error) <= {"code", "message", "audit_log_id", "fields"} and error["code"] and error["message"]
        if status is not None:
            assert response.status_code == status, error
        assert asset_server.requests == [] and cms.requests == [] and cms.state.files == {}
        for attempt in PublishJob.objects.all():  # what was recorded can be stored, shown and re-read
            json.dumps(attempt.request, allow_nan=False).encode("utf-8")
        return error

    return post


def body_with(sample_url, *, final_edit=None, settings=None, metadata=None, **top) -> str:
    body = publish_request(sample_url, **top)
    body["final_edit"].update(final_edit or {})
    body["distribution_settings"].update(settings or {})
    body["distribution_settings"]["metadata"].update(metadata or {})
    return json.dumps(body)


def fields(error: dict, *path: str):
    value = error["fields"]
    for key in path:
        value = value[key]
    return value


def test_null_and_non_object_bodies(send):
    for body in ("null", "[]", '"text"', "42", "true"):
        error = send(body, 400)
        assert error["code"] == "invalid_request"
    assert {a.request["not_stored"] for a in PublishJob.objects.all()} == {"The request body was not a JSON object."}


def test_empty_and_unparseable_bodies(send):
    assert send("", 400)["code"] == "invalid_request"
    assert send("{", 400)["code"] == "parse_error"
    assert send(b"\xff\xfe{}", 400)["message"] == "The request body is not UTF-8."
    for constant in ("NaN", "Infinity", "-Infinity"):
        assert send(f'{{"final_edit": {{"duration_seconds": {constant}}}}}', 400)["code"] == "parse_error"


@pytest.mark.parametrize("duration", ["0", "-0.0", "-1", "true", "false", '"9.7"', "null", "1e999", "-1e999", "1e400"])
def test_durations_must_be_finite_positive_numbers(send, sample_url, duration):
    body = body_with(sample_url).replace('"duration_seconds": 2.0', f'"duration_seconds": {duration}')
    error = send(body, 400)
    assert fields(error, "final_edit", "duration_seconds")


@pytest.mark.parametrize("depth", [17, 950, 100_000])
def test_deep_nesting_is_a_400(send, sample_url, depth):
    nested = "[" * depth + "]" * depth
    body = body_with(sample_url).replace('"tags": [', f'"deep": {nested}, "tags": [')
    error = send(body, 400)
    assert "nested" in error["message"]


def test_twenty_megabyte_body_is_413_json(send, sample_url):
    body = body_with(sample_url, metadata={"title": "x" * (20 * 1024 * 1024)})
    error = send(body, 413)
    assert error["code"] == "request_too_large"


def test_lone_surrogates_are_refused_anywhere(send, sample_url):
    for place in ('"title": "\\ud800"', '"note": "a\\udfffb"', '"\\udc00key": 1'):
        body = body_with(sample_url).replace('"tags": [', f"{place}, " + '"tags": [')
        error = send(body, 400)
        assert "well-formed Unicode" in error["message"]
    body = body_with(sample_url).replace('"checksum": "sha256:', '"checksum": "\\ud800sha256:')
    send(body, 400)


def test_text_limits(send, sample_url):
    cases: list[tuple[dict, tuple[str, ...]]] = [
        ({"metadata": {"title": "t" * 501}}, ("distribution_settings", "metadata", "title")),
        ({"metadata": {"concept_id": "c" * 256}}, ("distribution_settings", "metadata", "concept_id")),
        ({"metadata": {"tags": ["x"] * 51}}, ("distribution_settings", "metadata", "tags")),
        ({"metadata": {"tags": ["x" * 101]}}, ("distribution_settings", "metadata", "tags")),
        ({"settings": {"project_id": "p" * 256}}, ("distribution_settings", "project_id")),
        ({"settings": {"storage_prefix": "s" * 256}}, ("distribution_settings", "storage_prefix")),
        ({"qc_report": {"status": "x" * 1000}}, ("qc_report", "status")),
        ({"final_edit": {"video_url": "https://cdn.example.com/" + "v" * 2100}}, ("final_edit", "video_url")),
    ]
    for change, path in cases:
        error = send(body_with(sample_url, **change), 400)
        assert fields(error, *path), change


@pytest.mark.parametrize("url", ["ftp://cdn.example.com/a.mp4", "http://cdn.example.com:99999/a.mp4", "//x/a.mp4"])
def test_video_url_syntax(send, sample_url, url):
    assert fields(send(body_with(sample_url, final_edit={"video_url": url}), 400), "final_edit", "video_url")


@pytest.mark.parametrize(
    ("project_id", "message"),
    [
        ("a/" * 2000, "no more than 255 characters"),
        ("a/" * 5, "At most 4 path segments"),
        ("s" * 65, "at most 64 characters"),
        ("ok/" + "s" * 300, "no more than 255 characters"),
        ("a/../b", "may not start with '.'"),
    ],
)
def test_path_limits(send, sample_url, project_id, message):
    error = send(body_with(sample_url, settings={"project_id": project_id}), 400)
    assert message in json.dumps(error["fields"])


def test_total_storage_path_length(send, sample_url):
    long = "/".join(["s" * 60] * 4)
    error = send(body_with(sample_url, settings={"project_id": long, "storage_prefix": long}), 400)
    assert "would exceed 300 characters" in json.dumps(error["fields"])


@pytest.mark.parametrize(
    "key", ["checksum", "duration_seconds", "storage_path", "public_url", "audit_log_id", "expires_at", "project_id"]
)
def test_extra_metadata_cannot_shadow_record_fields(send, sample_url, key):
    error = send(body_with(sample_url, metadata={key: "forged"}), 400)
    assert fields(error, "distribution_settings", "metadata", key)


def test_extra_metadata_limits(send, sample_url):
    for extra in ({"big": "x" * 17000}, {"k" * 65: 1}, {"n": 1e999}, {"n": [1, {"x": -1e999}]}):
        body = body_with(sample_url, metadata=extra).replace("Infinity", "1e999")  # a JSON number that overflows
        assert fields(send(body, 400), "distribution_settings", "metadata")


def test_the_job_keeps_the_signed_url_only_while_it_runs(api_client, cms, asset_server, sample_url, admin_client):
    signed = sample_url.replace("http://", "http://user:hunter2@") + "?X-Amz-Signature=deadbeef"
    queued = submit(json.loads(body_with(sample_url, final_edit={"video_url": signed})), source="api")
    assert PublishJob.objects.get(pk=queued.pk).fetch_url == signed  # what the worker will fetch

    run(queued.pk)

    assert ("GET", "/sample.mp4?X-Amz-Signature=deadbeef") in asset_server.requests  # fetched in full
    job = PublishJob.objects.get()
    assert (job.status, job.fetch_url) == ("published", "")
    stored = json.dumps(job.request) + json.dumps(job.audit_event) + json.dumps(job.distribution_record)
    assert "hunter2" not in stored and "deadbeef" not in stored
    assert job.request["final_edit"]["video_url"] == sample_url + "?[redacted]"
    page = admin_client.get(f"/admin/distribution/publishjob/{job.pk}/change/").content.decode()
    assert "hunter2" not in page and "deadbeef" not in page and "?[redacted]" in page


def test_a_failed_job_forgets_the_signed_url_too(api_client, cms, sample_url):
    signed = sample_url.replace("/sample.mp4", "/missing.mp4") + "?token=s3cret"
    response = api_client.post(PUBLISH, json.loads(body_with(sample_url, final_edit={"video_url": signed})), "json")
    assert response.json()["error"]["code"] == "asset_fetch_failed"
    job = PublishJob.objects.get()
    assert job.fetch_url == "" and "s3cret" not in json.dumps(job.request) + job.error_message + job.error_detail


PATH_CASES = json.loads((Path(__file__).parent / "fixtures" / "path-segments.json").read_text())


@pytest.mark.parametrize("field", ["project_id", "storage_prefix"])
@pytest.mark.parametrize("value", PATH_CASES["refused"])
def test_a_path_segment_payload_would_refuse_is_a_400_before_any_transfer(send, sample_url, field, value):
    """The cases PayloadCMS's own suite reads too: each refused value is answered 400 with nothing fetched or sent."""
    error = send(body_with(sample_url, settings={field: value}), 400)
    assert error["code"] == "invalid_request"
    assert error["fields"][f"distribution_settings.{field}"]


@pytest.mark.parametrize("field", ["project_id", "storage_prefix"])
@pytest.mark.parametrize(
    ("value", "written"),
    [(value, value) for value in PATH_CASES["accepted"]] + list(PATH_CASES["normalised"].items()),
)
def test_an_accepted_path_is_written_as_the_shared_cases_say(sample_url, field, value, written):
    body = publish_request(sample_url, audit_log_id="dist_path")
    body["distribution_settings"].update({"project_id": "proj", "storage_prefix": "mvp", field: value})
    expected = {"project_id": "proj", "storage_prefix": "mvp", field: written}
    assert build_plan(body).storage_path == f"{expected['project_id']}/{expected['storage_prefix']}/dist_path.mp4"
