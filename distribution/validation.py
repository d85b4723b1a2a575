"""Step 1: validate a publish request and derive everything that follows from it.

Nothing here touches the network: a request refused here (bad fields, QC not
passed, unsafe path) has had no side effect.
"""

import os
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.validators import URLValidator
from rest_framework import serializers

from .conf import app_settings
from .errors import PublishError

CHECKSUM_PATTERN = r"^sha256:[0-9a-fA-F]{64}$"
AUDIT_LOG_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
_UNSAFE_SEGMENT_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_CROCKFORD32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class FinalEditSerializer(serializers.Serializer):
    video_url = serializers.URLField(validators=[URLValidator(schemes=["http", "https"])])
    duration_seconds = serializers.FloatField(min_value=0)
    checksum = serializers.RegexField(
        CHECKSUM_PATTERN, error_messages={"invalid": "Expected 'sha256:' followed by 64 hex digits."}
    )

    def validate_checksum(self, value):
        return value.lower()


class QCReportSerializer(serializers.Serializer):
    status = serializers.CharField()


class MetadataSerializer(serializers.Serializer):
    """title, concept_id and tags are known; any other key is kept as extra metadata."""

    title = serializers.CharField(required=False, allow_blank=True, default="")
    concept_id = serializers.CharField(required=False, allow_blank=True, default="")
    tags = serializers.ListField(child=serializers.CharField(), required=False, default=list)

    def to_internal_value(self, data):
        known = super().to_internal_value(data)
        extra = {key: value for key, value in data.items() if key not in self.fields}
        return {**known, "extra": extra}


class DistributionSettingsSerializer(serializers.Serializer):
    project_id = serializers.CharField(required=False, allow_blank=True, default="")
    storage_prefix = serializers.CharField(required=False, allow_blank=True, default=None)
    url_expiry_hours = serializers.IntegerField(required=False, min_value=1, max_value=24 * 366, default=None)
    metadata = MetadataSerializer(required=False, default=dict)


class PublishRequestSerializer(serializers.Serializer):
    final_edit = FinalEditSerializer()
    qc_report = QCReportSerializer()
    distribution_settings = DistributionSettingsSerializer(required=False, default=dict)
    audit_log_id = serializers.RegexField(
        AUDIT_LOG_ID_PATTERN,
        required=False,
        allow_null=True,
        default=None,
        error_messages={"invalid": "Use letters, digits, '_' or '-' only (at most 128)."},
    )


@dataclass(frozen=True)
class PublishPlan:
    """A validated request plus everything derived from it before any I/O."""

    video_url: str
    duration_seconds: float
    checksum: str
    project_id: str
    storage_prefix: str
    audit_log_id: str
    url_expiry_hours: int
    title: str
    tags: list
    extra_metadata: dict

    @property
    def storage_path(self) -> str:
        return "/".join(filter(None, [self.project_id, self.storage_prefix, f"{self.audit_log_id}.mp4"]))


def new_audit_log_id() -> str:
    """`dist_` + a ULID: 48-bit millisecond time then 80 random bits, so ids sort by creation."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_CROCKFORD32[index])
    return "dist_" + "".join(reversed(chars))


def sanitise_path(raw: str, field: str) -> str:
    """Normalise slashes and unsafe characters; refuse traversal ('.' or '..' segments)."""
    segments = [segment.strip() for segment in raw.replace("\\", "/").split("/")]
    segments = [segment for segment in segments if segment]
    if any(segment in (".", "..") for segment in segments):
        raise PublishError(
            "invalid_request",
            "Invalid request.",
            http_status=400,
            details={field: ["Path segments '.' and '..' are not allowed."]},
        )
    return "/".join(_UNSAFE_SEGMENT_CHARS.sub("-", segment) for segment in segments)


def build_plan(payload) -> PublishPlan:
    """Validate the request and derive project, path and audit id; raise PublishError on refusal."""
    if not isinstance(payload, dict):
        raise PublishError("invalid_request", "The request body must be a JSON object.", http_status=400)
    serializer = PublishRequestSerializer(data=payload)
    if not serializer.is_valid():
        raise PublishError("invalid_request", "Invalid request.", http_status=400, details=serializer.errors)
    data = serializer.validated_data
    audit_log_id = data["audit_log_id"]
    if data["qc_report"]["status"] != "pass":
        error = PublishError(
            "qc_not_passed",
            f"QC status is {data['qc_report']['status']!r}; only 'pass' may be published.",
            http_status=422,
        )
        error.audit_log_id = audit_log_id
        raise error

    config = app_settings()
    dist = data["distribution_settings"]
    metadata = dist.get("metadata") or {"title": "", "concept_id": "", "tags": [], "extra": {}}
    project_id = sanitise_path(
        dist.get("project_id") or metadata["concept_id"] or config.default_project_id,
        "distribution_settings.project_id",
    ) or sanitise_path(config.default_project_id, "project_id")
    prefix = dist.get("storage_prefix")
    storage_prefix = sanitise_path(
        config.default_storage_prefix if prefix is None else prefix, "distribution_settings.storage_prefix"
    )
    expiry = dist.get("url_expiry_hours") or config.default_url_expiry_hours
    extra_metadata = dict(metadata["extra"])
    if metadata["concept_id"]:
        extra_metadata["concept_id"] = metadata["concept_id"]
    return PublishPlan(
        video_url=data["final_edit"]["video_url"],
        duration_seconds=data["final_edit"]["duration_seconds"],
        checksum=data["final_edit"]["checksum"],
        project_id=project_id,
        storage_prefix=storage_prefix,
        audit_log_id=audit_log_id or new_audit_log_id(),
        url_expiry_hours=expiry,
        title=metadata["title"],
        tags=list(metadata["tags"]),
        extra_metadata=extra_metadata,
    )


def check_public_url(url: str) -> str:
    """public_url must be a non-empty absolute HTTPS URL (http only when explicitly allowed)."""
    allowed = {"https", "http"} if app_settings().allow_http_public_url else {"https"}
    parts = urlsplit(url or "")
    if parts.scheme not in allowed or not parts.netloc:
        raise PublishError(
            "invalid_public_url",
            f"PayloadCMS returned a public URL that is not {' or '.join(sorted(allowed)).upper()}: {url!r}.",
            http_status=502,
        )
    return url
