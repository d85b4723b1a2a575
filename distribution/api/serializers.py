"""The publish contract, written once as DRF serializers.

The request is `publishing.plan.PublishRequestSerializer` (every surface validates through it); here are
the answers: the `distribution_record` (built by `records.distribution_record()`), the error body (every
code with its HTTP status, `ERRORS`) and the job. The OpenAPI 3.1 document (drf-spectacular, /api/schema/)
and the MCP tools' schemas are generated from these serializers.
"""

from functools import cache
from typing import Any

from rest_framework import serializers

from distribution.errors import ERROR_CODES
from distribution.publishing.catalog import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from distribution.publishing.links import MAX_REASON_LENGTH
from distribution.publishing.plan import AUDIT_LOG_ID_PATTERN, CHECKSUM_PATTERN, URLExpiryHoursField

JOB_STATUSES = ("queued", "running", "published", "failed")
JOB_STAGES = ("download", "upload", "record")
JOB_SOURCES = ("api", "admin", "command", "mcp")


class RecordMetadataSerializer(serializers.Serializer):
    """title, duration_seconds, checksum and tags, then the request's other metadata keys as given."""

    title = serializers.CharField(allow_blank=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    checksum = serializers.RegexField(CHECKSUM_PATTERN)
    tags = serializers.ListField(child=serializers.CharField())


class DistributionRecordSerializer(serializers.Serializer):
    storage_location = serializers.CharField(
        help_text="payloadcms://media/<project_id>/<storage_prefix>/<audit_log_id>.mp4"
    )
    public_url = serializers.URLField(
        allow_null=True,
        help_text="The download link PayloadCMS signed; null once unpublished, and in a dry run (not signed yet).",
    )
    expires_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When public_url stops serving, UTC, e.g. 2026-11-28T12:00:00Z; null: it does not expire "
        "(PayloadCMS with PUBLIC_LINKS=true), it is unpublished, or a dry run.",
    )
    url_expiry_hours = serializers.FloatField(
        allow_null=True, help_text="The lifetime the record's links are signed for, in hours."
    )
    published_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was last published; null in a dry run."
    )
    unpublished_at = serializers.DateTimeField(allow_null=True, help_text="Set once unpublished (the file is gone).")
    unpublish_reason = serializers.CharField(allow_null=True, help_text="Why it was unpublished, if said.")
    metadata = RecordMetadataSerializer()
    audit_log_id = serializers.RegexField(AUDIT_LOG_ID_PATTERN)


class PublishResponseSerializer(serializers.Serializer):
    distribution_record = DistributionRecordSerializer()


class RenewLinkRequestSerializer(serializers.Serializer):
    url_expiry_hours = URLExpiryHoursField(
        required=False, allow_null=True, default=None, help_text="1/60 to 168; omitted: the record's own lifetime."
    )


class UnpublishRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=MAX_REASON_LENGTH, help_text="Why (kept)."
    )


class RecordListQuerySerializer(serializers.Serializer):
    project_id = serializers.CharField(required=False, allow_blank=True, help_text="Only this project's records.")
    published_after = serializers.DateTimeField(
        required=False, help_text="Only records published at or after this ISO 8601 moment."
    )
    include_unpublished = serializers.BooleanField(
        required=False, default=False, help_text="Also list unpublished records (tombstones)."
    )
    limit = serializers.IntegerField(required=False, default=DEFAULT_PAGE_SIZE, min_value=1, max_value=MAX_PAGE_SIZE)
    cursor = serializers.CharField(required=False, help_text="From the previous page's `next`.")


class RecordListSerializer(serializers.Serializer):
    results = DistributionRecordSerializer(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next page; null on the last one.")


class ErrorSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=ERROR_CODES)
    message = serializers.CharField()
    audit_log_id = serializers.CharField(allow_null=True)
    # Serializer's own `fields` and Field's `source` are shadowed in the class body only: DRF's metaclass moves
    # declared fields out of it, so the instances keep theirs (hence the ignores).
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="invalid_request only: the field errors, by field path"
    )
    job_id = serializers.IntegerField(required=False, allow_null=True, help_text="publish_in_progress only")
    status_url = serializers.CharField(required=False, allow_null=True, help_text="publish_in_progress only")


class ErrorResponseSerializer(serializers.Serializer):
    error = ErrorSerializer()


class ProgressSerializer(serializers.Serializer):
    bytes_done = serializers.IntegerField()
    bytes_total = serializers.IntegerField(allow_null=True, help_text="null while the asset host does not say")


class JobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status_url = serializers.CharField(help_text="/api/distribution/jobs/<id>")
    status = serializers.ChoiceField(choices=JOB_STATUSES)
    stage = serializers.ChoiceField(choices=JOB_STAGES, allow_null=True)
    progress = ProgressSerializer()
    audit_log_id = serializers.CharField(allow_null=True)
    source = serializers.ChoiceField(choices=JOB_SOURCES)  # type: ignore[assignment]  # see ErrorSerializer
    caller = serializers.CharField(allow_blank=True)
    started_at = serializers.DateTimeField(help_text="when it was asked for")
    run_started_at = serializers.DateTimeField(allow_null=True, help_text="when a worker took it")
    finished_at = serializers.DateTimeField(allow_null=True)
    distribution_record = DistributionRecordSerializer(allow_null=True, help_text="once published")
    error = ErrorSerializer(allow_null=True, help_text="once failed")


class JobResponseSerializer(serializers.Serializer):
    job = JobSerializer()


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document /api/schema/ serves."""
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def component_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of one OpenAPI component, `$ref`s to other components written out in place."""
    schemas = openapi_document()["components"]["schemas"]

    def inline(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                return inline(schemas[ref.rsplit("/", 1)[1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return inline(schemas[name])
