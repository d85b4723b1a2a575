import re
import time

import pytest

from distribution.errors import PublishError
from distribution.publishing.plan import build_plan, check_public_url, new_audit_log_id, sanitise_path
from tests.support.samples import SAMPLE_CHECKSUM, publish_request

URL = "https://assets.example.com/cut.mp4"


def refusal(payload) -> PublishError:
    with pytest.raises(PublishError) as caught:
        build_plan(payload)
    return caught.value


def test_deterministic_storage_path():
    plan = build_plan(publish_request(URL, audit_log_id="dist_abc"))
    assert plan.project_id == "concept-42"  # falls back to metadata.concept_id
    assert plan.storage_path == "concept-42/mvp/dist_abc.mp4"


def test_project_id_precedence_and_default(settings):
    body = publish_request(URL)
    body["distribution_settings"]["project_id"] = "proj-7"
    assert build_plan(body).project_id == "proj-7"

    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "DEFAULT_PROJECT_ID": "fallback"}
    body = publish_request(URL, distribution_settings={})
    plan = build_plan(body)
    assert plan.project_id == "fallback"
    assert plan.storage_prefix == settings.DISTRIBUTION["DEFAULT_STORAGE_PREFIX"]
    assert plan.url_expiry_hours == settings.DISTRIBUTION["DEFAULT_URL_EXPIRY_HOURS"]


def test_project_id_that_sanitises_to_nothing_uses_the_default(settings):
    body = publish_request(URL, audit_log_id="dist_x")
    body["distribution_settings"]["project_id"] = "///"
    assert build_plan(body).storage_path == f"{settings.DISTRIBUTION['DEFAULT_PROJECT_ID']}/mvp/dist_x.mp4"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/abs//nested///", "abs/nested"),
        ("mvp/", "mvp"),
        ("a b/c?d", "a-b/c-d"),
        ("win\\style", "win/style"),
        ("", ""),
    ],
)
def test_sanitise_path_normalises(raw, expected):
    assert sanitise_path(raw, "field") == expected


@pytest.mark.parametrize("raw", ["../etc", "a/../../b", "./x"])
def test_sanitise_path_refuses_traversal(raw):
    with pytest.raises(PublishError) as caught:
        sanitise_path(raw, "distribution_settings.storage_prefix")
    assert caught.value.http_status == 400
    assert "distribution_settings.storage_prefix" in caught.value.fields


def test_traversal_in_request_is_a_400():
    body = publish_request(URL)
    body["distribution_settings"]["storage_prefix"] = "../../secrets"
    error = refusal(body)
    assert (error.code, error.http_status) == ("invalid_request", 400)


def test_generated_audit_log_ids_are_unique_and_sortable():
    ids = [new_audit_log_id() for _ in range(200)]
    assert len(set(ids)) == 200
    assert all(re.fullmatch(r"dist_[0-9A-HJKMNP-TV-Z]{26}", i) for i in ids)
    first = new_audit_log_id()
    time.sleep(0.002)
    assert new_audit_log_id()[:15] > first[:15]  # the 10-char time part sorts by creation


def test_given_audit_log_id_is_kept():
    assert build_plan(publish_request(URL, audit_log_id="dist_given-1")).audit_log_id == "dist_given-1"


def test_missing_and_ill_typed_fields_give_field_errors():
    error = refusal({"final_edit": {"video_url": "ftp://x/y", "duration_seconds": "long", "checksum": "md5:1"}})
    assert (error.code, error.http_status) == ("invalid_request", 400)
    assert set(error.fields["final_edit"]) == {"video_url", "duration_seconds", "checksum"}
    assert "qc_report" in error.fields


def test_validations_one_after_another_in_a_thread_share_nothing():
    """The serializer a thread reuses keeps no errors, data or defaults from the request before."""
    first = refusal({"final_edit": {"video_url": "ftp://x/y"}, "qc_report": {"status": "pass"}})
    plan = build_plan(publish_request(URL, audit_log_id="dist_one"))
    second = refusal({"qc_report": {"status": "pass"}})
    without_settings = publish_request(URL)
    del without_settings["distribution_settings"]
    plain = build_plan(without_settings)

    assert set(first.fields) == {"final_edit"} and set(second.fields) == {"final_edit"}
    assert set(first.fields["final_edit"]) == {"video_url", "duration_seconds", "checksum"}
    assert second.fields["final_edit"] == ["This field is required."]
    assert (plan.audit_log_id, plan.title, plan.tags) == ("dist_one", "Sample cut", ["demo", "test"])
    assert plain.audit_log_id != "dist_one" and (plain.title, plain.tags) == ("", [])


def test_non_object_body_is_refused():
    assert refusal(["not", "an", "object"]).http_status == 400


def test_bad_audit_log_id_is_refused():
    error = refusal(publish_request(URL, audit_log_id="../../etc/passwd"))
    assert "audit_log_id" in error.fields


def test_qc_status_other_than_pass_is_422():
    error = refusal(publish_request(URL, qc_report={"status": "fail"}))
    assert (error.code, error.http_status) == ("qc_not_passed", 422)


def test_checksum_is_normalised_to_lowercase():
    body = publish_request(URL)
    body["final_edit"]["checksum"] = SAMPLE_CHECKSUM.upper().replace("SHA256", "sha256")
    assert build_plan(body).checksum == SAMPLE_CHECKSUM


def test_extra_metadata_is_kept():
    body = publish_request(URL)
    body["distribution_settings"]["metadata"]["language"] = "en"
    assert build_plan(body).extra_metadata == {"concept_id": "concept-42", "language": "en"}


@pytest.mark.parametrize("url", ["", "ftp://host/x", "/relative/path", "https://", "http://cdn.example.com/a.mp4"])
def test_public_url_must_be_https(url):
    with pytest.raises(PublishError) as caught:
        check_public_url(url)
    assert caught.value.code == "invalid_public_url"


def test_public_url_http_allowed_only_when_configured(settings):
    assert check_public_url("https://cdn.example.com/a.mp4") == "https://cdn.example.com/a.mp4"
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "ALLOW_HTTP_PUBLIC_URL": True}
    assert check_public_url("http://127.0.0.1:3010/a.mp4") == "http://127.0.0.1:3010/a.mp4"


def test_expiry_hours_bounds():
    body = publish_request(URL)
    body["distribution_settings"]["url_expiry_hours"] = 0
    assert "distribution_settings" in refusal(body).fields
