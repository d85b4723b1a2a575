"""The publish pipeline: a plan in, a result out; it knows no job, no queue and no HTTP status.

stream + verify the asset -> upload it to PayloadCMS (or straight to the bucket) -> upsert the
`distributionRecords` document -> mirror it. It halts at the first failure (no retries), raising
PublishError; the job runner (jobs/runner.py) records the outcome and emits the audit event.
"""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial

import httpx
from django.utils import timezone

from distribution.cms import mirror
from distribution.cms.client import PayloadCMSClient, RefusedForSize, remove_unrecorded_upload
from distribution.conf import app_settings
from distribution.errors import PublishError
from distribution.outbound.clients import new_client
from distribution.outbound.deadline import Deadline
from distribution.publishing.fetch import AssetStream
from distribution.publishing.plan import PublishPlan, check_public_url
from distribution.records import distribution_record, record_document
from distribution.storage import direct_upload_wanted

logger = logging.getLogger("distribution.publishing")

# progress(stage, bytes_done, bytes_total_or_None), stage "download", "upload" or "record".
StageProgress = Callable[[str, int, int | None], None]


@dataclass
class PublishResult:
    distribution_record: dict
    asset_size: int
    fetch_ms: int | None = None
    upload_ms: int | None = None
    published_at: datetime | None = None  # None for a dry run


def execute(plan: PublishPlan, http: httpx.Client, progress: StageProgress | None, deadline: Deadline) -> PublishResult:
    """Publish: the download streams straight into the upload, then the record is written and mirrored.

    Each piece goes on to PayloadCMS as it arrives, and PayloadCMS keeps the file only if the whole
    body came and hashes to the checksum.
    """
    started = time.monotonic()
    with _asset(plan, progress, "upload", deadline) as asset:
        cms = PayloadCMSClient.from_settings(http)
        with _upload_removed_on_failure(plan, asset):
            _upload(cms, plan, asset, deadline)
            upload_ms = _elapsed_ms(started)
            if progress:
                progress("record", asset.size, asset.declared_size)
            published_at = timezone.now()
            stored = cms.upsert_distribution_record(record_document(plan, published_at=published_at))
    mirror.store(stored)
    check_link(stored)
    return PublishResult(distribution_record(stored), asset.size, asset.fetch_ms, upload_ms, published_at)


def dry_run(plan: PublishPlan, http: httpx.Client, progress: StageProgress | None, deadline: Deadline) -> PublishResult:
    """Download and verify the asset and derive the record a publish would write; keep nothing.

    Its `public_url` and `expires_at` are null: PayloadCMS signs the link when it stores the file.
    """
    with _asset(plan, progress, "download", deadline) as asset:
        asset.drain()
    document = record_document(plan, published_at=None)
    return PublishResult(distribution_record(document), asset.size, asset.fetch_ms)


@contextmanager
def http_client(http: httpx.Client | None, deadline: Deadline | None = None) -> Iterator[httpx.Client]:
    """The caller's client if given (tests, nested calls), else a fresh one closed afterwards."""
    if http is not None:
        yield http
        return
    with new_client(event_hooks={"request": [deadline.clamp_timeouts]} if deadline else None) as client:
        yield client


def check_link(doc: dict) -> None:
    """The link PayloadCMS signed must be absolute HTTPS (http only where allowed); invalid_public_url otherwise.

    Checked once the record is written (Payload makes the link then): the record stays, with the link
    its PAYLOAD_PUBLIC_SERVER_URL gave; fix that setting and renew the link.
    """
    url = doc.get("public_url")
    if url is None and doc.get("unpublished_at"):
        return
    try:
        check_public_url(url or "")
    except PublishError as error:
        error.message += (
            " The record is written with it: set PayloadCMS's PAYLOAD_PUBLIC_SERVER_URL to its public HTTPS origin, "
            "then renew the link."
        )
        raise


def as_publish_error(exc: Exception) -> PublishError:
    """A refusal as is; anything else is a bug, logged with its traceback and answered as internal_error."""
    if isinstance(exc, PublishError):
        return exc
    logger.exception("Unexpected error in the publish pipeline")
    return PublishError("internal_error", "Unexpected error in the publish pipeline; see the server log.")


def _asset(plan: PublishPlan, progress: StageProgress | None, stage: str, deadline: Deadline) -> AssetStream:
    return AssetStream(
        plan.video_url,
        plan.checksum,
        max_bytes=app_settings().max_asset_bytes,
        progress=partial(progress, stage) if progress else None,
        deadline=deadline,  # checked with every piece, whichever leg is slow
    )


def _upload(cms: PayloadCMSClient, plan: PublishPlan, asset: AssetStream, deadline: Deadline) -> dict:
    """Send the asset to PayloadCMS's upsert endpoint, or straight to the bucket (see storage/); the media doc.

    The direct path takes large assets, and any asset PayloadCMS refuses for its size: the refused
    upload cut the download off, so the asset is read again from its first byte.
    """
    fields = {"project_id": plan.project_id, "audit_log_id": plan.audit_log_id, "checksum": plan.checksum}
    if not direct_upload_wanted(asset.declared_size):
        # Payload hashes the body and keeps it only if it matches: hashing it here too would cost
        # the worker ~0.8 s of CPU per GiB, and the bytes are the same.
        asset.receiver_verifies_checksum = True
        try:
            return cms.upsert_media(asset, plan.storage_path, fields, size=asset.declared_size)[0]
        except RefusedForSize:
            if not app_settings().s3_bucket:
                raise
            asset.reopen()
        except PublishError as error:
            if error.code == "checksum_mismatch":
                asset.failure = error  # the asset's fault: Payload kept nothing, there is nothing to remove
            raise
    from distribution.storage.multipart import upload_multipart  # loaded only where the direct path is taken

    size = upload_multipart(asset, plan.storage_path, size=asset.declared_size, deadline=deadline)
    return cms.register_media(plan.storage_path, fields, filesize=size)[0]


@contextmanager
def _upload_removed_on_failure(plan: PublishPlan, asset: AssetStream):
    """If the publish fails once the file may have been kept, delete it unless its record exists.

    A fault of the asset itself (download, checksum) aborted the upload before it completed, so
    nothing was kept. Otherwise PayloadCMS is asked again rather than trusting the upload's
    answer, which may be the very thing that failed; a file whose record exists stays (a
    re-publish: the record points at that file, which only ever holds verified bytes).
    """
    try:
        yield
    except PublishError as error:
        if error is not asset.failure:
            error.message += " " + remove_unrecorded_upload(plan.audit_log_id, plan.storage_path)
        raise


def _elapsed_ms(since: float) -> int:
    return round((time.monotonic() - since) * 1000)
