"""After a publish: renew a record's download link, and take a record down (unpublish).

Both act on the record PayloadCMS holds, which signs the links and deletes the files; no byte of the
video moves. Each refreshes the mirror and emits an audit event. These are the named actions every
surface calls (REST, MCP, commands, the admin).
"""

import httpx

from distribution.cms import mirror
from distribution.cms.client import DISTRIBUTION_RECORDS, PayloadCMSClient
from distribution.conf import MAX_URL_EXPIRY_HOURS, url_expiry_hours_valid
from distribution.errors import PublishError, publish_in_progress
from distribution.models import PublishJob
from distribution.publishing import audit
from distribution.publishing.pipeline import as_publish_error, check_link, http_client
from distribution.records import distribution_record

MAX_REASON_LENGTH = 1000


def renew_link(
    audit_log_id: str, url_expiry_hours: float | None = None, *, caller: str = "", http: httpx.Client | None = None
) -> dict:
    """A fresh link for a published record, valid `url_expiry_hours` (None: the record's own); its distribution_record.

    Nothing is downloaded or uploaded and the media document is unchanged; the record stores the new
    lifetime. PublishError (with audit_log_id): invalid_request, record_not_found, record_unpublished, cms_*.
    """
    with _as_publish_error(audit_log_id):
        if url_expiry_hours is not None:
            check_url_expiry_hours(url_expiry_hours)
        with http_client(http) as client:
            doc = PayloadCMSClient.from_settings(client).renew_link(audit_log_id, url_expiry_hours)
        mirror.store(doc)
        check_link(doc)
        _emit(doc, "link_renewed", caller)
        return distribution_record(doc)


def unpublish(audit_log_id: str, reason: str = "", *, caller: str = "", http: httpx.Client | None = None) -> dict:
    """Take a record down: its media document and file deleted, the record kept as a tombstone; its distribution_record.

    Every earlier link stops serving. Idempotent: a record already unpublished is answered as it is (its
    first unpublished_at and reason, no second event). A publish of the same audit_log_id publishes it
    again. PublishError (with audit_log_id): invalid_request, record_not_found, publish_in_progress, cms_*.
    """
    with _as_publish_error(audit_log_id):
        if len(reason) > MAX_REASON_LENGTH:
            raise PublishError(
                "invalid_request", "Invalid request.", fields={"reason": [f"At most {MAX_REASON_LENGTH} characters."]}
            )
        active = PublishJob.objects.filter(audit_log_id=audit_log_id, status__in=PublishJob.ACTIVE).first()
        if active is not None:  # its record would bring the file back right after the takedown
            raise publish_in_progress(audit_log_id, active.pk, active.status_url)
        with http_client(http) as client:
            cms = PayloadCMSClient.from_settings(client)
            doc = cms.find_by_audit_log_id(DISTRIBUTION_RECORDS, audit_log_id)
            if doc is None:
                raise PublishError("record_not_found", f"No distribution record {audit_log_id!r}.")
            taken_down = not doc.get("unpublished_at")
            if taken_down:
                doc = cms.unpublish_record(audit_log_id, reason)
        mirror.store(doc)
        if taken_down:
            _emit(doc, "unpublished", caller)
        return distribution_record(doc)


def check_url_expiry_hours(hours: float) -> None:
    """invalid_request unless PayloadCMS signs links for this many hours (1/60 to MAX_URL_EXPIRY_HOURS)."""
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not url_expiry_hours_valid(hours):
        raise PublishError(
            "invalid_request",
            "Invalid request.",
            fields={
                "url_expiry_hours": [
                    f"Must be a number from 1/60 (one minute) to {MAX_URL_EXPIRY_HOURS} (7 days, the longest a "
                    "signed link lives)."
                ]
            },
        )


class _as_publish_error:
    """Raise any failure as a PublishError carrying the audit_log_id (a bug as internal_error)."""

    def __init__(self, audit_log_id: str):
        self.audit_log_id = audit_log_id

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, traceback):
        if exc is None or not isinstance(exc, Exception):
            return False
        error = as_publish_error(exc)
        error.audit_log_id = self.audit_log_id
        raise error from None


def _emit(doc: dict, status: str, caller: str) -> None:
    record = distribution_record(doc)
    audit.emit(
        audit.build_event(
            audit_log_id=doc.get("audit_log_id"),
            project_id=doc.get("project_id"),
            storage_path=doc.get("storage_path"),
            public_url=record["public_url"],
            expires_at=record["expires_at"],
            duration_seconds=doc.get("duration_seconds"),
            checksum=doc.get("checksum"),
            published_at=record["published_at"],
            unpublished_at=record["unpublished_at"],
            unpublish_reason=record["unpublish_reason"],
            caller=caller or None,
            status=status,
        )
    )
