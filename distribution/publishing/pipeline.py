"""The publish service: the one pipeline behind the REST API, the admin, the commands and MCP.

validate -> stream + verify -> upload media -> upsert distributionRecords ->
emit audit event -> answer. It halts at the first failure (no retries). Every
non-dry run is a job (PublishJob): `submit()` validates and takes the
audit_log_id's lock, `run()` executes it, in a Celery worker or inline.
"""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

import httpx
from django.utils import timezone

from distribution.api.serializers import distribution_record
from distribution.cms import mirror
from distribution.cms.client import DISTRIBUTION_RECORDS, PayloadCMSClient, RefusedForSize, remove_unrecorded_upload
from distribution.conf import app_settings
from distribution.errors import PublishError
from distribution.jobs import lifecycle
from distribution.models import MirroredRecord, PublishJob
from distribution.outbound.clients import new_client
from distribution.outbound.deadline import Deadline
from distribution.publishing.audit import iso as _iso
from distribution.publishing.fetch import AssetStream
from distribution.publishing.plan import PublishPlan, build_plan, check_public_url, storable_request
from distribution.storage import direct_upload_wanted

logger = logging.getLogger("distribution.publishing")

# progress(stage, bytes_done, bytes_total_or_None) with stage "download" or "upload".
StageProgress = Callable[[str, int, int | None], None]


@dataclass
class PublishResult:
    distribution_record: dict
    job: PublishJob | None
    asset_size: int


def publish(
    payload,
    *,
    source: str = PublishJob.Source.API,
    caller: str = "",
    dry_run: bool = False,
    progress: StageProgress | None = None,
    http: httpx.Client | None = None,
) -> PublishResult:
    """Publish in this process, through the same job, lock and pipeline a worker runs.

    Raises PublishError (with audit_log_id set) on refusal or failure, 409 publish_in_progress
    when another job holds the audit_log_id. A dry run validates, downloads and verifies the
    asset and derives the record it would write, without a job, PayloadCMS or the audit sink.
    """
    if dry_run:
        return _dry_run(payload, progress, http)
    job = submit(payload, source=source, caller=caller)
    result = run(job.pk, progress=progress, http=http)
    assert result is not None, "a job submitted here is queued for no one else"
    return result


def submit(payload, *, source: str, caller: str = "") -> PublishJob:
    """Validate the request and take its audit_log_id: the new job, queued.

    A refusal (invalid request, QC not passed) is recorded as a failed job and raised; a
    request for an audit_log_id another job holds raises 409 publish_in_progress and
    leaves no trace at all. The job stores the request with video_url redacted; the full
    URL (signed-URL tokens and all) is kept in `fetch_url` only while the job is active.
    """
    request = storable_request(payload)
    job = PublishJob(source=source, caller=caller[:150], request=request, started_at=timezone.now())
    try:
        plan = build_plan(payload)
    except Exception as exc:
        error = _as_publish_error(exc)
        lifecycle.record_refusal(job, error)
        raise error from None
    _describe_job(job, plan)
    job.fetch_url = plan.video_url
    try:
        lifecycle.lock(job)
    except Exception as exc:
        error = _as_publish_error(exc)
        error.audit_log_id = error.audit_log_id or plan.audit_log_id
        raise error from None
    return job


def run(
    job_id: int, *, progress: StageProgress | None = None, http: httpx.Client | None = None
) -> PublishResult | None:
    """Run a queued job here (a worker's task, or inline); None if it is not queued any more.

    The job's lease is renewed while it runs, its progress stored, and the whole run is
    bounded by DISTRIBUTION_PUBLISH_DEADLINE_SECONDS.
    """
    job = lifecycle.claim(job_id)
    if job is None:
        return None
    deadline = Deadline(app_settings().publish_deadline_seconds)
    try:
        request = {**job.request, "audit_log_id": job.audit_log_id}
        request["final_edit"] = {**request.get("final_edit", {}), "video_url": job.fetch_url}
        plan = build_plan(request)
        with lifecycle.Heartbeat(job) as heartbeat, _http_client(http, deadline) as client:
            tracker = lifecycle.JobProgress(job, heartbeat, forward=progress)
            result = _run(plan, client, job, tracker, deadline)
    except Exception as exc:
        error = _as_publish_error(exc)
        error.audit_log_id = error.audit_log_id or job.audit_log_id
        lifecycle.finish(job, error)
        raise error from None
    lifecycle.finish(job)
    return result


def _dry_run(payload, progress: StageProgress | None, http: httpx.Client | None) -> PublishResult:
    plan = None
    try:
        plan = build_plan(payload)
        deadline = Deadline(app_settings().publish_deadline_seconds)
        with _http_client(http, deadline) as client:
            return _run(plan, client, None, progress, deadline)
    except Exception as exc:
        error = _as_publish_error(exc)
        error.audit_log_id = error.audit_log_id or (plan.audit_log_id if plan else None)
        raise error from None


@contextmanager
def _http_client(http: httpx.Client | None, deadline: Deadline | None = None) -> Iterator[httpx.Client]:
    """The caller's client if given (tests, nested calls), else a fresh one closed afterwards."""
    if http is not None:
        yield http
        return
    with new_client(event_hooks={"request": [deadline.clamp_timeouts]} if deadline else None) as client:
        yield client


def _run(plan: PublishPlan, http: httpx.Client, job, progress, deadline: Deadline) -> PublishResult:
    """The pipeline; `job` None for a dry run, else its `progress` is the job's JobProgress.

    The download streams straight into the upload: each piece goes on to PayloadCMS as it
    arrives, hashed on the way, and PayloadCMS keeps the file only if the whole body came and
    matches the checksum. A dry run reads and verifies the asset and keeps nothing.
    """
    config = app_settings()
    started = time.monotonic()
    if job is not None and config.public_base_url:  # before any transfer: the URL we would answer is sound
        check_public_url(f"{config.public_base_url}/{plan.storage_path}")

    with AssetStream(
        plan.video_url,
        plan.checksum,
        max_bytes=config.max_asset_bytes,
        progress=partial(progress, "upload" if job else "download") if progress else None,
        deadline=deadline,  # checked with every piece, whichever leg is slow
    ) as asset:
        if job is None:
            asset.drain()
            predicted_url = f"{config.public_base_url}/{plan.storage_path}" if config.public_base_url else None
            return PublishResult(_distribution_record(plan, predicted_url, _default_expiry(plan)), None, asset.size)
        cms = PayloadCMSClient.from_settings(http)
        with _upload_removed_on_failure(plan, asset):
            media = _upload(cms, plan, asset, deadline)
            job.upload_ms = _elapsed_ms(started)
            progress.enter_stage(PublishJob.Stage.RECORD)
            public_url = check_public_url(_public_url(cms, plan, media))
            expires_at = cms.media_expiry(media) or _default_expiry(plan)
            published_at = timezone.now()
            stored = cms.upsert_distribution_record(
                {
                    "project_id": plan.project_id,
                    "audit_log_id": plan.audit_log_id,
                    "title": plan.title,
                    "duration_seconds": plan.duration_seconds,
                    "checksum": plan.checksum,
                    "tags": plan.tags,
                    "storage_path": plan.storage_path,
                    "storage_prefix": plan.storage_prefix,
                    "public_url": public_url,
                    "expires_at": _iso(expires_at),
                    "published_at": _iso(published_at),
                    "metadata": plan.extra_metadata,
                }
            )
    mirror.upsert(stored)
    record = _distribution_record(plan, public_url, expires_at)
    job.asset_size = asset.size
    job.fetch_ms = asset.fetch_ms
    job.finished_at = published_at
    job.public_url = public_url
    job.distribution_record = record
    return PublishResult(record, job, job.asset_size)


def _upload(cms: PayloadCMSClient, plan: PublishPlan, asset: AssetStream, deadline: Deadline) -> dict:
    """Send the asset to PayloadCMS's upsert endpoint, or straight to the bucket (see storage/); the media doc.

    The direct path takes large assets, and any asset PayloadCMS refuses for its size: the refused
    upload cut the download off, so the asset is read again from its first byte.
    """
    fields = {"project_id": plan.project_id, "audit_log_id": plan.audit_log_id, "checksum": plan.checksum}
    if not direct_upload_wanted(asset.declared_size):
        try:
            return cms.upsert_media(asset, plan.storage_path, fields, size=asset.declared_size)[0]
        except RefusedForSize:
            if not app_settings().s3_bucket:
                raise
            asset.reopen()
    from distribution.storage.multipart import upload_multipart  # boto3 loads only where the direct path is taken

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


def _distribution_record(plan: PublishPlan, public_url: str | None, expires_at: datetime) -> dict:
    return distribution_record(
        storage_path=plan.storage_path,
        public_url=public_url,
        expires_at=expires_at,
        title=plan.title,
        duration_seconds=plan.duration_seconds,
        checksum=plan.checksum,
        tags=plan.tags,
        extra_metadata=plan.extra_metadata,
        audit_log_id=plan.audit_log_id,
    )


def _public_url(cms: PayloadCMSClient, plan: PublishPlan, media: dict) -> str:
    base = app_settings().public_base_url
    return f"{base}/{plan.storage_path}" if base else cms.absolute_url(media.get("url") or "")


def _default_expiry(plan: PublishPlan) -> datetime:
    return timezone.now() + timedelta(hours=plan.url_expiry_hours)


def _elapsed_ms(since: float) -> int:
    return round((time.monotonic() - since) * 1000)


def _as_publish_error(exc: Exception) -> PublishError:
    """A refusal as is; anything else is a bug, logged with its traceback and answered as internal_error."""
    if isinstance(exc, PublishError):
        return exc
    logger.exception("Unexpected error in the publish pipeline")
    return PublishError("internal_error", "Unexpected error in the publish pipeline; see the server log.")


def _describe_job(job: PublishJob, plan: PublishPlan) -> None:
    job.audit_log_id = plan.audit_log_id
    job.project_id = plan.project_id
    job.title = plan.title
    job.checksum = plan.checksum
    job.duration_seconds = plan.duration_seconds
    job.storage_path = plan.storage_path
    job.callback_url = plan.callback_url


def republish(
    audit_log_id: str,
    *,
    source: str,
    caller: str = "",
    progress: StageProgress | None = None,
    http: httpx.Client | None = None,
) -> PublishResult:
    """Publish a known record again under the same audit_log_id, overwriting media and record.

    The request is rebuilt from the record as PayloadCMS has it now (the authoritative store,
    not the mirror, which may be stale): the source is the published copy itself,
    re-verified against the recorded checksum.
    """
    return publish(
        republish_request(audit_log_id, http=http), source=source, caller=caller, progress=progress, http=http
    )


def republish_request(audit_log_id: str, *, http: httpx.Client | None = None) -> dict:
    """The request that re-publishes a record as PayloadCMS has it (PublishError record_not_found if none)."""
    return request_for_record(cms_record(audit_log_id, http=http))


def cms_record(audit_log_id: str, *, http: httpx.Client | None = None) -> dict:
    """The record document from PayloadCMS (the mirror is refreshed from it on the way).

    Raises PublishError (with audit_log_id): 404 record_not_found, or the lookup's cms_* error.
    """
    try:
        with _http_client(http) as client:
            doc = PayloadCMSClient.from_settings(client).find_by_audit_log_id(DISTRIBUTION_RECORDS, audit_log_id)
        if doc is None:
            raise PublishError("record_not_found", f"No distribution record {audit_log_id!r}.")
        mirror.upsert(doc)
    except Exception as exc:
        error = _as_publish_error(exc)
        error.audit_log_id = audit_log_id
        raise error from None
    return doc


def find_record(audit_log_id: str, *, http: httpx.Client | None = None) -> MirroredRecord:
    """The record from the mirror, else PayloadCMS's (for lookups; re-publish uses cms_record()).

    Raises PublishError (with audit_log_id) if neither has it or the lookup fails.
    """
    try:
        with _http_client(http) as client:
            record = mirror.get_record(audit_log_id, PayloadCMSClient.from_settings(client))
        if record is None:
            raise PublishError("record_not_found", f"No distribution record {audit_log_id!r}.")
    except Exception as exc:
        error = _as_publish_error(exc)
        error.audit_log_id = audit_log_id
        raise error from None
    return record


def request_for_record(doc: dict) -> dict:
    """The publish request that reproduces a PayloadCMS record document.

    The storage prefix is the one stored with the record; only records written before it was
    stored have it recovered from their storage_path.
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
            "metadata": {"title": doc.get("title") or "", "tags": doc.get("tags") or [], **(doc.get("metadata") or {})},
        },
        "audit_log_id": audit_log_id,
    }
