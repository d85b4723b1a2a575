"""Property-based: generated bodies thrown at POST /api/distribution/publish (hypothesis).

Whatever the body, the answer is never a 5xx, always JSON, an error always has the
error shape, and a refused request leaves the PayloadCMS double (documents and files)
and the temp folder exactly as they were. Bodies are random JSON, random mutations of
a valid request (any field replaced, hostile metadata keys, overflowing numbers, lone
surrogates) and random bytes. DNS is replaced: every name but 127.0.0.1 "resolves" to a
private address, which the destination checks refuse before connecting, so a generated URL
never sends a packet anywhere.
"""

import json
import tempfile

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from distribution.publishing.plan import RESERVED_METADATA_KEYS
from tests.support.samples import publish_request

PUBLISH = "/api/distribution/publish"
HOSTILE_TEXT = ["\ud800", "a\udfffb", "\x00", "\u202e", "..", "../../etc", "a/" * 40, "\U0001d4fd\U0001d4f2", " ", ""]

text = st.text(max_size=40) | st.sampled_from(HOSTILE_TEXT) | st.text(min_size=200, max_size=600)
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=True)
    | text
)
any_json = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
FIELD_PATHS = [
    ("final_edit",),
    ("final_edit", "video_url"),
    ("final_edit", "duration_seconds"),
    ("final_edit", "checksum"),
    ("qc_report",),
    ("qc_report", "status"),
    ("distribution_settings",),
    ("distribution_settings", "project_id"),
    ("distribution_settings", "storage_prefix"),
    ("distribution_settings", "url_expiry_hours"),
    ("distribution_settings", "metadata"),
    ("distribution_settings", "metadata", "title"),
    ("distribution_settings", "metadata", "concept_id"),
    ("distribution_settings", "metadata", "tags"),
    ("audit_log_id",),
]
metadata_keys = st.sampled_from(sorted(RESERVED_METADATA_KEYS)) | text


@st.composite
def mutated_request(draw, video_url: str) -> dict:
    body = publish_request(video_url)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(FIELD_PATHS))
        parent: object = body
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        if draw(st.booleans()):
            parent[path[-1]] = draw(any_json)
        else:
            parent.pop(path[-1], None)
    if draw(st.booleans()):
        settings = body.get("distribution_settings")
        metadata = settings.get("metadata") if isinstance(settings, dict) else None
        if isinstance(metadata, dict):
            metadata[draw(metadata_keys)] = draw(any_json)
    return body


def encode(value) -> bytes:
    """JSON text as a client could send it: overflowing numbers instead of the non-JSON Infinity."""
    return json.dumps(value).replace("-Infinity", "-1e999").replace("Infinity", "1e999").encode()


@pytest.fixture
def temp_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.mark.django_db
def test_generated_bodies_never_break_the_endpoint(api_client, cms, asset_server, no_dns, temp_dir):
    sample_url = asset_server.url + "/sample.mp4"
    bodies = (
        any_json.map(encode)
        | mutated_request(sample_url).map(encode)
        | st.binary(max_size=300)
        | st.sampled_from([b"null", b"[]", b"{}", b"1e999", b'"\\ud800"', b"[" * 5000 + b"]" * 5000])
    )
    seen = {"refused": 0, "published": 0}

    @hypothesis_settings(
        max_examples=250,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=bodies)
    def check(body: bytes):
        before = (len(cms.state.media), len(cms.state.records), dict(cms.state.files))
        response = api_client.generic("POST", PUBLISH, body, content_type="application/json")

        assert response.status_code < 500, (response.status_code, response.content[:500])
        assert response["Content-Type"] == "application/json"
        answer = response.json()
        if response.status_code >= 400:
            error = answer["error"]
            assert set(error) <= {"code", "message", "audit_log_id", "fields"}
            assert isinstance(error["code"], str) and isinstance(error["message"], str)
            assert (len(cms.state.media), len(cms.state.records), dict(cms.state.files)) == before
            seen["refused"] += 1
        else:
            assert response.status_code == 201 and "distribution_record" in answer
            seen["published"] += 1
        assert list(temp_dir.iterdir()) == []

    check()
    assert seen["refused"] > 100 and seen["published"] > 0, seen
