"""Validate a publish request and derive everything that follows from it.

Nothing here touches the network: a request refused here (bad fields, QC not
passed, unsafe path, a limit exceeded) has had no side effect. Every limit is
checked here, before the download and the upload, so PayloadCMS never sees a
request it would refuse half-way (and no file is left behind by one).
"""

import copy
import dataclasses
import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.validators import URLValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from distribution.conf import MAX_URL_EXPIRY_HOURS, MIN_URL_EXPIRY_HOURS, app_settings, url_expiry_hours_valid
from distribution.errors import PublishError
from distribution.outbound import destinations
from distribution.outbound.redaction import redact_url

CHECKSUM_PATTERN = r"^sha256:[0-9a-fA-F]{64}$"
AUDIT_LOG_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
_UNSAFE_SEGMENT_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_CROCKFORD32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# Limits, all well inside what PayloadCMS, SQL columns, S3 keys and file systems accept.
MAX_JSON_DEPTH = 16  # a publish request needs 4 levels; metadata values get the rest
MAX_STORED_REQUEST_BYTES = 64 * 1024
MAX_DURATION_SECONDS = 7 * 24 * 3600
MAX_TITLE_LENGTH = 500
MAX_TEXT_LENGTH = 255  # concept_id, project_id, storage_prefix, QC status
MAX_TAGS = 50
MAX_TAG_LENGTH = 100
MAX_METADATA_KEY_LENGTH = 64
MAX_METADATA_BYTES = 16 * 1024  # the extra metadata, as UTF-8 JSON
MAX_PATH_SEGMENTS = 4  # each of project_id and storage_prefix
MAX_SEGMENT_LENGTH = 64
MAX_STORAGE_PATH_LENGTH = 300
# The record's own fields: extra metadata may not shadow them in the record or the answer.
RESERVED_METADATA_KEYS = frozenset(
    {
        "audit_log_id",
        "checksum",
        "duration_seconds",
        "expires_at",
        "id",
        "metadata",
        "project_id",
        "public_url",
        "published_at",
        "storage_location",
        "storage_path",
        "storage_prefix",
        "createdAt",
        "updatedAt",
    }
)


def json_problem(value, *, finite: bool = False, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why a parsed JSON value is unsafe to validate, store or echo, or None (iterative: no RecursionError)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return f"JSON nested deeper than {max_depth} levels."
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "Text must be well-formed Unicode (no lone surrogates)."
        elif finite and isinstance(item, float) and not math.isfinite(item):
            return "Numbers must be finite."
        elif isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return None


class NumberInRangeField(serializers.Field):
    """A finite JSON number within the field's range; booleans and strings are refused."""

    def in_range(self, value: float) -> bool:
        raise NotImplementedError

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        try:
            value = float(data)
        except OverflowError:
            self.fail("range")
        if not (math.isfinite(value) and self.in_range(value)):
            self.fail("range")
        return value

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "number", "exclusiveMinimum": 0, "maximum": MAX_DURATION_SECONDS})
class DurationField(NumberInRangeField):
    """A number of seconds: above 0, at most a week."""

    default_error_messages = {
        "invalid": "A number of seconds is required.",
        "range": f"Must be a finite number above 0 and at most {MAX_DURATION_SECONDS}.",
    }

    def in_range(self, value: float) -> bool:
        return 0 < value <= MAX_DURATION_SECONDS


@extend_schema_field(
    {"type": "number", "minimum": MIN_URL_EXPIRY_HOURS, "maximum": MAX_URL_EXPIRY_HOURS, "examples": [72, 0.5]}
)
class URLExpiryHoursField(NumberInRangeField):
    """A link's lifetime in hours, fractions allowed: from one minute (1/60) to MAX_URL_EXPIRY_HOURS."""

    default_error_messages = {
        "invalid": "A number of hours is required.",
        "range": f"Must be from 1/60 (one minute) to {MAX_URL_EXPIRY_HOURS} (7 days, the longest a signed link lives).",
    }

    def in_range(self, value: float) -> bool:
        return url_expiry_hours_valid(value)


class OutboundURLField(serializers.URLField):
    """An http(s) URL this service will contact (video_url, callback_url): checked again per address when used."""

    def __init__(self, **kwargs):
        super().__init__(
            max_length=destinations.MAX_URL_LENGTH, validators=[URLValidator(schemes=["http", "https"])], **kwargs
        )

    def to_internal_value(self, data):
        url = super().to_internal_value(data)
        try:
            destinations.check_url(url)  # syntax only here; the host allow-list and addresses at download
        except destinations.DestinationRefused:
            self.fail("invalid")
        return url


class FinalEditSerializer(serializers.Serializer):
    video_url = OutboundURLField()
    duration_seconds = DurationField()
    checksum = serializers.RegexField(
        CHECKSUM_PATTERN, error_messages={"invalid": "Expected 'sha256:' followed by 64 hex digits."}
    )

    def validate_checksum(self, value):
        return value.lower()


class QCReportSerializer(serializers.Serializer):
    status = serializers.CharField(max_length=MAX_TEXT_LENGTH)


class MetadataSerializer(serializers.Serializer):
    """title, concept_id and tags are known; any other key is kept as extra metadata."""

    title = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_TITLE_LENGTH)
    concept_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_TEXT_LENGTH)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=MAX_TAG_LENGTH), required=False, default=list, max_length=MAX_TAGS
    )

    def to_internal_value(self, data):
        known = super().to_internal_value(data)
        extra = {key: value for key, value in data.items() if key not in self.fields}
        errors = {}
        for key in extra:
            if key in RESERVED_METADATA_KEYS:
                errors[key] = [f"'{key}' is a field of the record itself and cannot be set as metadata."]
            elif len(key) > MAX_METADATA_KEY_LENGTH:
                errors[key[:MAX_METADATA_KEY_LENGTH] + "..."] = [
                    f"Metadata keys are at most {MAX_METADATA_KEY_LENGTH} characters."
                ]
        problem = json_problem(extra, finite=True)
        if problem:
            errors["non_field_errors"] = [problem]
        elif len(json.dumps(extra, ensure_ascii=False).encode()) > MAX_METADATA_BYTES:
            errors["non_field_errors"] = [f"Extra metadata is at most {MAX_METADATA_BYTES} bytes as JSON."]
        if errors:
            raise serializers.ValidationError(errors)
        return {**known, "extra": extra}


class DistributionSettingsSerializer(serializers.Serializer):
    project_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_TEXT_LENGTH)
    storage_prefix = serializers.CharField(required=False, allow_blank=True, default=None, max_length=MAX_TEXT_LENGTH)
    url_expiry_hours = URLExpiryHoursField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The download link's lifetime (default DISTRIBUTION_URL_EXPIRY_HOURS; 1/60 to 168).",
    )
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
    callback_url = OutboundURLField(required=False, default="")

    def validate_callback_url(self, value):
        if value and not app_settings().callback_secret:
            raise serializers.ValidationError(
                "Callbacks are not enabled here (DISTRIBUTION_CALLBACK_SECRET is not set)."
            )
        return value


@dataclass(frozen=True)
class PublishPlan:
    """A validated request plus everything derived from it before any I/O."""

    video_url: str
    duration_seconds: float
    checksum: str
    project_id: str
    storage_prefix: str
    audit_log_id: str
    url_expiry_hours: float
    title: str
    tags: list
    extra_metadata: dict
    callback_url: str = ""

    @property
    def storage_path(self) -> str:
        return "/".join(filter(None, [self.project_id, self.storage_prefix, f"{self.audit_log_id}.mp4"]))

    def stored(self) -> dict:
        """The plan as a job keeps it, without video_url (its credentials live only while the job runs)."""
        return {name: value for name, value in dataclasses.asdict(self).items() if name != "video_url"}

    @classmethod
    def from_stored(cls, stored: dict, video_url: str) -> "PublishPlan":
        return cls(video_url=video_url, **stored)


def new_audit_log_id() -> str:
    """`dist_` + a ULID: 48-bit millisecond time then 80 random bits, so ids sort by creation."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_CROCKFORD32[index])
    return "dist_" + "".join(reversed(chars))


def _invalid(field: str, message: str) -> PublishError:
    return PublishError("invalid_request", "Invalid request.", fields={field: [message]})


def sanitise_path(raw: str, field: str) -> str:
    """Normalise slashes, surrounding spaces and unsafe characters, then refuse any segment PayloadCMS would refuse.

    The cases both sides test are in tests/fixtures/path-segments.json.
    """
    segments = [segment.strip() for segment in raw.replace("\\", "/").split("/")]
    segments = [_UNSAFE_SEGMENT_CHARS.sub("-", segment) for segment in segments if segment]
    if any(segment.startswith(".") for segment in segments):
        raise _invalid(field, "Path segments may not start with '.' (no '.', '..' or hidden folders).")
    if len(segments) > MAX_PATH_SEGMENTS:
        raise _invalid(field, f"At most {MAX_PATH_SEGMENTS} path segments.")
    if any(len(segment) > MAX_SEGMENT_LENGTH for segment in segments):
        raise _invalid(field, f"Path segments are at most {MAX_SEGMENT_LENGTH} characters.")
    return "/".join(segments)


def storable_request(payload) -> dict:
    """The request as the job keeps it: video_url without credentials or query, nothing unsafe to store."""
    if not isinstance(payload, dict):
        return {"not_stored": "The request body was not a JSON object."}
    problem = json_problem(payload, finite=True)
    if problem is None and len(json.dumps(payload, ensure_ascii=False).encode()) > MAX_STORED_REQUEST_BYTES:
        problem = f"Larger than {MAX_STORED_REQUEST_BYTES} bytes."
    if problem:
        return {"not_stored": problem}
    stored = copy.deepcopy(payload)
    final_edit = stored.get("final_edit")
    if isinstance(final_edit, dict) and isinstance(final_edit.get("video_url"), str):
        final_edit["video_url"] = redact_url(final_edit["video_url"])
    return stored


_per_thread = threading.local()


def _publish_request_serializer(payload) -> PublishRequestSerializer:
    """This thread's PublishRequestSerializer, given `payload` to validate.

    DRF builds a serializer's fields anew for every instance (nested serializers' too: ~10 fields and
    their validators), which took a sixth of a refused request's time. Only what is_valid() and data
    leave behind is per validation, so one instance per thread is reset and reused.
    """
    serializer = getattr(_per_thread, "publish_request", None)
    if serializer is None:
        serializer = _per_thread.publish_request = PublishRequestSerializer(data=payload)
        return serializer
    serializer.initial_data = payload
    for state in ("_validated_data", "_errors", "_data"):
        serializer.__dict__.pop(state, None)
    return serializer


def build_plan(payload) -> PublishPlan:
    """Validate the request and derive project, path and audit id; raise PublishError on refusal."""
    if not isinstance(payload, dict):
        raise PublishError("invalid_request", "The request body must be a JSON object.")
    problem = json_problem(payload)
    if problem:
        raise PublishError("invalid_request", problem)
    serializer = _publish_request_serializer(payload)
    if not serializer.is_valid():
        raise PublishError("invalid_request", "Invalid request.", fields=serializer.errors)
    data = serializer.validated_data
    audit_log_id = data["audit_log_id"]
    if data["qc_report"]["status"] != "pass":
        error = PublishError(
            "qc_not_passed",
            f"QC status is {data['qc_report']['status']!r}; only 'pass' may be published.",
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
    plan = PublishPlan(
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
        callback_url=data["callback_url"],
    )
    if len(plan.storage_path) > MAX_STORAGE_PATH_LENGTH:
        raise _invalid("distribution_settings", f"The storage path would exceed {MAX_STORAGE_PATH_LENGTH} characters.")
    return plan


def check_public_url(url: str) -> str:
    """public_url must be a non-empty absolute HTTPS URL (http only when explicitly allowed)."""
    allowed = {"https", "http"} if app_settings().allow_http_public_url else {"https"}
    parts = urlsplit(url or "")
    if parts.scheme not in allowed or not parts.netloc:
        raise PublishError(
            "invalid_public_url",
            f"PayloadCMS returned a public URL that is not {' or '.join(sorted(allowed)).upper()}: {url!r}.",
        )
    return url
