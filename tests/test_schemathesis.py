"""Schemathesis against the published contract: requests generated from the OpenAPI document sent to the app.

For POST /api/distribution/publish (schema-valid bodies, and bodies that break the schema) and
GET /api/distribution/jobs/{id}: never a 5xx, every answer JSON, every error in the error shape
and, for a refusal, the PayloadCMS double's documents and files unchanged. DNS is replaced as in
tests/test_property_publish.py, so a generated URL never sends a packet anywhere.
"""

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.core import NOT_SET
from schemathesis.generation import GenerationMode

from distribution.api.serializers import openapi_document

OPERATIONS = [("/api/distribution/publish", "POST"), ("/api/distribution/jobs/{job_id}", "GET")]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "method"), OPERATIONS)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_follow_the_contract(api_client, cms, asset_server, no_dns, path, method, mode):
    schema = schemathesis.openapi.from_dict(openapi_document())  # what /api/schema/ serves
    operation = schema[path][method]
    seen = {"errors": 0, "answers": 0}

    @hypothesis_settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case):
        before = (len(cms.state.media), len(cms.state.records), dict(cms.state.files))
        # Sent through Django's test client: the WSGI handler would close the test's database connection.
        path = case.operation.path.format(**(case.path_parameters or {}))
        body = case.body if isinstance(case.body, bytes) else b"" if case.body is NOT_SET else json.dumps(case.body)
        response = api_client.generic(case.method, path, body, content_type=case.media_type or "application/json")

        assert response.status_code < 500, (case.body, response.status_code, response.content[:500])
        assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
        body = response.json()
        seen["answers"] += 1
        if response.status_code >= 400:
            assert set(body) == {"error"}
            assert set(body["error"]) <= {"code", "message", "audit_log_id", "fields", "job_id", "status_url"}
            assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
            assert (len(cms.state.media), len(cms.state.records), dict(cms.state.files)) == before
            seen["errors"] += 1

    check()
    assert seen["answers"] >= 10, seen
    if mode == GenerationMode.NEGATIVE:
        assert seen["errors"] == seen["answers"], seen
