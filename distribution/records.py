"""A publish's record, mapped once.

The record has one shape: the `distributionRecords` document PayloadCMS keeps, the only store of
distribution data. Everything else is derived from it here: the document a plan writes, the API's
`distribution_record`, the operators' mirror, the request a re-publish sends, and the record fields
of an audit event.
"""

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

# Fields of a record document the mirror copies under the same names (besides audit_log_id).
MIRRORED_FIELDS = (
    "project_id",
    "title",
    "duration_seconds",
    "checksum",
    "tags",
    "storage_path",
    "public_url",
    "expires_at",
    "url_expiry_hours",
    "published_at",
    "unpublished_at",
    "unpublish_reason",
    "metadata",
)
DATE_FIELDS = ("expires_at", "published_at", "unpublished_at")
# The record fields an audit event carries, read from the job that wrote (or failed to write) the record.
EVENT_RECORD_FIELDS = ("audit_log_id", "project_id", "storage_path", "public_url", "duration_seconds", "checksum")


def iso(moment: datetime) -> str:
    """UTC, to the second, with a Z: the timestamp format of events and records."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def moment(value: datetime | str | None) -> datetime | None:
    """A record's date as a datetime, whether it comes as one (the mirror) or as ISO 8601 text (PayloadCMS)."""
    if value is None or isinstance(value, datetime):
        return value
    return parse_datetime(value) if value else None


def record_document(plan, *, published_at: datetime | None) -> dict:
    """The `distributionRecords` document a publish of `plan` (a PublishPlan) writes.

    No `public_url` nor `expires_at`: PayloadCMS signs the link for `url_expiry_hours` and sets both itself.
    """
    return {
        "project_id": plan.project_id,
        "audit_log_id": plan.audit_log_id,
        "title": plan.title,
        "duration_seconds": plan.duration_seconds,
        "checksum": plan.checksum,
        "tags": plan.tags,
        "storage_path": plan.storage_path,
        "storage_prefix": plan.storage_prefix,
        "url_expiry_hours": plan.url_expiry_hours,
        "published_at": iso(published_at) if published_at else None,
        "metadata": plan.extra_metadata,
    }


def distribution_record(doc: dict) -> dict:
    """The API's `distribution_record` (api.serializers.DistributionRecordSerializer) of a record document."""
    expires_at, published_at, unpublished_at = (moment(doc.get(name)) for name in DATE_FIELDS)
    return {
        "storage_location": f"payloadcms://media/{doc.get('storage_path') or ''}",
        "public_url": doc.get("public_url") or None,
        "expires_at": iso(expires_at) if expires_at else None,
        "url_expiry_hours": doc.get("url_expiry_hours"),
        "published_at": iso(published_at) if published_at else None,
        "unpublished_at": iso(unpublished_at) if unpublished_at else None,
        "unpublish_reason": (doc.get("unpublish_reason") or None) if unpublished_at else None,
        "metadata": {
            "title": doc.get("title") or "",
            "duration_seconds": doc.get("duration_seconds"),
            "checksum": doc.get("checksum") or "",
            "tags": list(doc.get("tags") or []),
            **(doc.get("metadata") or {}),
        },
        "audit_log_id": doc.get("audit_log_id") or "",
    }


def mirror_fields(doc: dict) -> dict:
    """The MirroredRecord field values of a record document."""
    fields = {name: doc.get(name) for name in MIRRORED_FIELDS}
    for name in DATE_FIELDS:
        fields[name] = moment(fields[name])
    for name in ("project_id", "title", "checksum", "storage_path", "public_url", "unpublish_reason"):
        fields[name] = fields[name] or ""
    fields["tags"] = fields["tags"] or []
    fields["metadata"] = fields["metadata"] or {}
    return {"cms_id": str(doc.get("id") or ""), **fields, "missing_from_cms": False}


def publish_request(doc: dict) -> dict:
    """The publish request that reproduces a record document: a re-publish of its published copy.

    The record keeps its own link lifetime (`url_expiry_hours`; the default only for a record without
    one). The storage prefix is the one stored with the record; only records written before it was
    stored have it recovered from their storage_path. `video_url` is the record's `public_url`, which
    must still serve: a caller re-publishing an expired link renews it first (publishing/links.py).
    """
    audit_log_id, project_id = doc.get("audit_log_id") or "", doc.get("project_id") or ""
    prefix = doc.get("storage_prefix")
    if prefix is None:
        path = doc.get("storage_path") or ""
        prefix = path.removeprefix(f"{project_id}/").removesuffix(f"{audit_log_id}.mp4")
    return {
        "final_edit": {
            "video_url": doc.get("public_url"),
            "duration_seconds": doc.get("duration_seconds"),
            "checksum": doc.get("checksum"),
        },
        "qc_report": {"status": "pass"},
        "distribution_settings": {
            "project_id": project_id,
            "storage_prefix": prefix,
            **({"url_expiry_hours": doc["url_expiry_hours"]} if doc.get("url_expiry_hours") is not None else {}),
            "metadata": {"title": doc.get("title") or "", "tags": doc.get("tags") or [], **(doc.get("metadata") or {})},
        },
        "audit_log_id": audit_log_id,
    }


def event_record_fields(job) -> dict:
    """The record fields of a job's audit event, None where a failed job never got that far."""
    values = {name: getattr(job, name) for name in EVENT_RECORD_FIELDS}
    return {name: None if value == "" else value for name, value in values.items()}
