"""The local mirror of PayloadCMS `distributionRecords`, for operators' screens and re-publish."""

from collections import Counter
from collections.abc import Callable

from distribution.cms.client import DISTRIBUTION_RECORDS, PayloadCMSClient
from distribution.models import MirroredRecord
from distribution.records import mirror_fields


def store(doc: dict) -> None:
    """Copy one CMS document into the mirror in one statement: its row inserted, or updated if there is one."""
    _write(doc["audit_log_id"], mirror_fields(doc))


def upsert(doc: dict) -> str:
    """Copy one CMS document into the mirror, saying what it changed: 'created', 'updated' or 'unchanged'."""
    fields = mirror_fields(doc)
    record = MirroredRecord.objects.filter(audit_log_id=doc["audit_log_id"]).first()
    if record is not None and all(getattr(record, name) == value for name, value in fields.items()):
        return "unchanged"
    _write(doc["audit_log_id"], fields)
    return "created" if record is None else "updated"


def _write(audit_log_id: str, fields: dict) -> None:
    MirroredRecord.objects.bulk_create(
        [MirroredRecord(audit_log_id=audit_log_id, **fields)],
        update_conflicts=True,
        unique_fields=["audit_log_id"],
        update_fields=[*fields, "synced_at"],
    )


def get_record(audit_log_id: str, cms: PayloadCMSClient) -> MirroredRecord | None:
    """The mirrored record, else the CMS's (copied into the mirror on the way), else None."""
    record = MirroredRecord.objects.filter(audit_log_id=audit_log_id).first()
    if record is None:
        doc = cms.find_by_audit_log_id(DISTRIBUTION_RECORDS, audit_log_id)
        if doc is None:
            return None
        store(doc)
        record = MirroredRecord.objects.get(audit_log_id=audit_log_id)
    return record


def sync(cms: PayloadCMSClient, progress: Callable[[int, int], None] | None = None, page_size: int = 100) -> dict:
    """Copy every CMS record into the mirror and flag mirrored records the CMS no longer has.

    Returns counts: created, updated, unchanged (this run) and missing (all flagged now).
    """
    counts = Counter({"created": 0, "updated": 0, "unchanged": 0})
    seen = set()
    for doc, total in cms.iter_documents(DISTRIBUTION_RECORDS, page_size=page_size):
        counts[upsert(doc)] += 1
        seen.add(doc["audit_log_id"])
        if progress:
            progress(len(seen), total)
    vanished = [
        pk for pk, audit_log_id in MirroredRecord.objects.values_list("pk", "audit_log_id") if audit_log_id not in seen
    ]
    for start in range(0, len(vanished), 500):
        MirroredRecord.objects.filter(pk__in=vanished[start : start + 500]).update(missing_from_cms=True)
    return {**counts, "missing": len(vanished)}
