"""Re-publish and record lookups: a known record's request, read from PayloadCMS (or the mirror)."""

from datetime import timedelta

import httpx
from django.utils import timezone

from distribution.cms import mirror
from distribution.cms.client import DISTRIBUTION_RECORDS, PayloadCMSClient
from distribution.errors import PublishError
from distribution.models import MirroredRecord
from distribution.publishing.links import renew_link
from distribution.publishing.pipeline import as_publish_error, http_client
from distribution.records import moment, publish_request

# A re-publish downloads its record's own link: one expiring sooner than this (the job may queue) is renewed.
SOURCE_LINK_MARGIN = timedelta(minutes=15)


def republish_request(audit_log_id: str, *, http: httpx.Client | None = None) -> dict:
    """The request that re-publishes a record as PayloadCMS has it (PublishError record_not_found if none).

    PayloadCMS is the authoritative store, not the mirror, which may be stale: the source is the
    published copy itself, re-verified against the recorded checksum, through its link (renewed
    first when it expires soon). An unpublished record has no copy left: record_unpublished.
    """
    doc = cms_record(audit_log_id, http=http)
    if doc.get("unpublished_at"):
        error = PublishError(
            "record_unpublished",
            f"{audit_log_id} is unpublished: its file is gone. Publish it again from its source.",
        )
        error.audit_log_id = audit_log_id
        raise error
    expires_at = moment(doc.get("expires_at"))
    if expires_at is not None and expires_at < timezone.now() + SOURCE_LINK_MARGIN:
        renew_link(audit_log_id, http=http)
        doc = cms_record(audit_log_id, http=http)
    return publish_request(doc)


def cms_record(audit_log_id: str, *, http: httpx.Client | None = None) -> dict:
    """The record document from PayloadCMS (the mirror is refreshed from it on the way).

    Raises PublishError (with audit_log_id): 404 record_not_found, or the lookup's cms_* error.
    """
    try:
        with http_client(http) as client:
            doc = PayloadCMSClient.from_settings(client).find_by_audit_log_id(DISTRIBUTION_RECORDS, audit_log_id)
        if doc is None:
            raise PublishError("record_not_found", f"No distribution record {audit_log_id!r}.")
        mirror.store(doc)
    except Exception as exc:
        error = as_publish_error(exc)
        error.audit_log_id = audit_log_id
        raise error from None
    return doc


def find_record(audit_log_id: str, *, http: httpx.Client | None = None) -> MirroredRecord:
    """The record from the mirror, else PayloadCMS's (for lookups; re-publish uses cms_record()).

    Raises PublishError (with audit_log_id) if neither has it or the lookup fails.
    """
    try:
        with http_client(http) as client:
            record = mirror.get_record(audit_log_id, PayloadCMSClient.from_settings(client))
        if record is None:
            raise PublishError("record_not_found", f"No distribution record {audit_log_id!r}.")
    except Exception as exc:
        error = as_publish_error(exc)
        error.audit_log_id = audit_log_id
        raise error from None
    return record
