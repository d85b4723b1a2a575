"""One contract: the OpenAPI document generated from the serializers, and everything checked against it."""

import json
import re

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate

from distribution.api.serializers import component_schema, openapi_document
from distribution.errors import ERRORS
from distribution.models import MirroredRecord, PublishJob
from tests.support.samples import ROOT, publish_request

# The docs whose examples and error table are checked: the README's publish, the API reference, the MCP page.
DOCS = "\n".join((ROOT / name).read_text() for name in ("README.md", "docs/api.md", "docs/mcp.md"))
PUBLISH = "/api/distribution/publish"


def assert_valid(component: str, body) -> None:
    validator = Draft202012Validator(component_schema(component), format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(body), key=str)
    assert not errors, f"{component}: {[error.message for error in errors]}"


def test_the_served_document_is_valid_openapi_3_1(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    document = json.loads(response.content)
    assert document["openapi"] == "3.1.0"
    validate(document)
    assert document == openapi_document()
    publish = document["paths"][PUBLISH]["post"]
    request_schema = publish["requestBody"]["content"]["application/json"]["schema"]
    assert request_schema == {"$ref": "#/components/schemas/PublishRequest"}
    assert set(publish["responses"]) >= {"201", "202", "400", "401", "409", "415", "422", "500", "502", "503"}
    assert {"apiKeyAuth": []} in publish["security"]
    assert document["components"]["securitySchemes"]["apiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }


def readme_bodies() -> list[tuple[str, object]]:
    """(component, body) for every request or answer body the docs show."""
    blocks = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOCS, re.S)]
    blocks += [json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", DOCS, re.S)]
    found: list[tuple[str, object]] = []
    for body in blocks:
        if "final_edit" in body:
            found.append(("PublishRequest", body))
        elif set(body) == {"distribution_record"}:
            found.append(("PublishResponse", body))
        elif set(body) == {"error"}:
            found.append(("ErrorResponse", body))
        elif set(body) == {"job"}:
            found.append(("JobResponse", body))
        elif "structuredContent" in body:  # an MCP tool result
            found.append(("DistributionRecord", body["structuredContent"]))
    return found


def test_every_readme_example_body_follows_the_contract():
    bodies = readme_bodies()
    assert {component for component, _ in bodies} == {
        "PublishRequest",
        "PublishResponse",
        "ErrorResponse",
        "JobResponse",
        "DistributionRecord",
    }
    assert len(bodies) >= 8
    for component, body in bodies:
        assert_valid(component, body)


def readme_error_table() -> dict[str, int]:
    table = {}
    for status, codes in re.findall(r"^\| (\d{3}) \| (`[a-z0-9_]+`(?:, `[a-z0-9_]+`)*) \|", DOCS, re.M):
        for code in re.findall(r"`([a-z0-9_]+)`", codes):
            table[code] = int(status)
    return table


def test_error_codes_are_one_list_with_their_statuses():
    """docs/api.md's table, the ErrorSerializer's enum, and every PublishError raised in the code agree."""
    assert readme_error_table() == {code: status for code, (status, _) in ERRORS.items()}
    assert component_schema("Error")["properties"]["code"]["enum"] == list(ERRORS)
    code = "".join(path.read_text() for path in (ROOT / "distribution").rglob("*.py"))
    raised = set(re.findall(r'PublishError\(\s*"([a-z_]+)"', code))
    assert raised - set(ERRORS) == set()  # every code any surface raises is in the published contract


@pytest.mark.django_db
def test_answers_follow_the_contract(api_client, cms, asset_server):
    """What the code builds, not only what the docs say: records, jobs, errors of each kind."""
    sample = asset_server.url + "/sample.mp4"
    published = api_client.post(PUBLISH, publish_request(sample), format="json")
    assert published.status_code == 201
    assert_valid("PublishResponse", published.json())
    record = published.json()["distribution_record"]
    mirrored = MirroredRecord.objects.get(audit_log_id=record["audit_log_id"]).as_distribution_record()
    assert mirrored == record  # one builder: the mirror answers what the publish answered

    job = api_client.get(PublishJob.objects.get(audit_log_id=record["audit_log_id"]).status_url)
    assert job.status_code == 200
    assert_valid("JobResponse", job.json())

    refusals = [
        api_client.post(PUBLISH, {"final_edit": {}}, format="json"),
        api_client.post(PUBLISH, publish_request(sample, qc_report={"status": "fail"}), format="json"),
        api_client.post(PUBLISH, "{oops", content_type="application/json"),
        api_client.post(PUBLISH, "a=b", content_type="application/x-www-form-urlencoded"),
        api_client.get(PUBLISH),
        api_client.get(PUBLISH, HTTP_ACCEPT="text/csv"),
        api_client.get("/api/distribution/jobs/999999"),
    ]
    failed_job = api_client.get(PublishJob.objects.get(error_code="qc_not_passed").status_url)
    assert_valid("JobResponse", failed_job.json())
    for response in refusals:
        body = response.json()
        assert_valid("ErrorResponse", body)
        assert ERRORS[body["error"]["code"]][0] == response.status_code


@pytest.mark.parametrize(("path", "bundle"), [("/api/docs/", "swagger-ui-bundle"), ("/api/redoc/", "redoc.standalone")])
def test_api_docs_are_served_from_the_app_without_a_cdn(client, path, bundle):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    scripts = re.findall(r'src="([^"]+)"', html)
    assert scripts and all(src.startswith("/") and not src.startswith("//") for src in scripts), scripts
    assert "https://" not in html and "http://" not in html  # no font, script or image from outside
    [script] = [src for src in scripts if bundle in src]
    served = client.get(script)
    assert served.status_code == 200
    body = b"".join(served.streaming_content) if served.streaming else served.content
    assert b"cdn.redoc.ly" not in body
    assert "/api/schema/" in html
