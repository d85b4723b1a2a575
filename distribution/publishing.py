"""The publish service: the one pipeline behind the REST API, the admin, the commands and MCP.

validate -> stream + verify -> upload media -> upsert distributionRecords ->
emit audit event -> answer. It halts at the first failure (no retries), and
every non-dry run is recorded as a PublishAttempt whatever its outcome.
"""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import httpx
from django.conf import settings
from django.utils import timezone

from . import audit_events, mirror
from .asset_fetching import fetched_asset
from .cms_client import PayloadCMSClient
from .errors import PublishError
from .models import MirroredRecord, PublishAttempt
from .validation import PublishPlan, build_plan, check_public_url

logger = logging.getLogger("distribution.publishing")

# progress(stage, bytes_done, bytes_total_or_None) with stage "download" or "upload".
StageProgress = Callable[[str, int, int | None], None]


@dataclass
class PublishResult:
    distribution_record: dict
    attempt: PublishAttempt | None
    asset_size: int


def publish(
    payload,
    *,
    source: str = PublishAttempt.Source.API,
    dry_run: bool = False,
    progress: StageProgress | None = None,
    http: httpx.Client | None = None,
) -> PublishResult:
    """Run the pipeline for one request; raise PublishError (with audit_log_id set) on refusal or failure.

    A dry run validates, downloads and verifies the asset and derives the record it
    would write, without touching PayloadCMS, the local database or the audit sink.
    """
    attempt = None
    if not dry_run:
        attempt = PublishAttempt.objects.create(source=source, request=payload, started_at=timezone.now())
    started = time.monotonic()
    plan = None
    try:
        plan = build_plan(payload)
        if attempt:
            _describe_attempt(attempt, plan)
        with _http_client(http) as client:
            result = _run(plan, client, attempt, dry_run, progress)
    except Exception as exc:
        error = _as_publish_error(exc)
        error.audit_log_id = error.audit_log_id or (plan.audit_log_id if plan else None)
        if attempt:
            _record_failure(attempt, plan, error, started)
        raise error from None
    if attempt:
        _record_success(attempt, result, started)
    return result


@contextmanager
def _http_client(http: httpx.Client | None) -> Iterator[httpx.Client]:
    """The caller's client if given (tests, nested calls), else a fresh one closed afterwards."""
    if http is not None:
        yield http
        return
    with httpx.Client(timeout=settings.DISTRIBUTION["HTTP_TIMEOUT_SECONDS"]) as client:
        yield client


def _run(plan: PublishPlan, http: httpx.Client, attempt, dry_run: bool, progress) -> PublishResult:
    config = settings.DISTRIBUTION
    fetch_started = time.monotonic()
    download_progress = partial(progress, "download") if progress else None
    with fetched_asset(
        http, plan.video_url, plan.checksum, max_bytes=config["MAX_ASSET_BYTES"], progress=download_progress
    ) as asset:
        if attempt:
            attempt.asset_size = asset.size
            attempt.fetch_ms = _elapsed_ms(fetch_started)
        if dry_run:
            predicted_url = f"{config['PUBLIC_BASE_URL']}/{plan.storage_path}" if config["PUBLIC_BASE_URL"] else None
            record = _distribution_record(plan, predicted_url, _default_expiry(plan))
            return PublishResult(record, None, asset.size)
        upload_started = time.monotonic()
        cms = PayloadCMSClient.from_settings(http)
        media = cms.upload_media(
            asset.path,
            plan.storage_path,
            {"project_id": plan.project_id, "audit_log_id": plan.audit_log_id, "checksum": plan.checksum},
            progress=partial(progress, "upload") if progress else None,
        )
    public_url = check_public_url(_public_url(cms, plan, media))
    expires_at = _cms_expiry(media) or _default_expiry(plan)
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
            "public_url": public_url,
            "expires_at": _iso(expires_at),
            "published_at": _iso(published_at),
            "metadata": plan.extra_metadata,
        }
    )
    mirror.upsert(stored)
    attempt.upload_ms = _elapsed_ms(upload_started)
    attempt.finished_at = published_at
    return PublishResult(_distribution_record(plan, public_url, expires_at), attempt, attempt.asset_size)


def _distribution_record(plan: PublishPlan, public_url: str | None, expires_at: datetime) -> dict:
    return {
        "storage_location": plan.storage_location,
        "public_url": public_url,
        "expires_at": _iso(expires_at),
        "metadata": {
            "title": plan.title,
            "duration_seconds": plan.duration_seconds,
            "checksum": plan.checksum,
            "tags": plan.tags,
            **plan.extra_metadata,
        },
        "audit_log_id": plan.audit_log_id,
    }


def _public_url(cms: PayloadCMSClient, plan: PublishPlan, media: dict) -> str:
    base = settings.DISTRIBUTION["PUBLIC_BASE_URL"]
    return f"{base}/{plan.storage_path}" if base else cms.absolute_url(media.get("url") or "")


def _cms_expiry(media: dict) -> datetime | None:
    """Use the signed-URL expiry when PayloadCMS provides one."""
    raw = media.get("url_expires_at") or media.get("expires_at")
    return datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None


def _default_expiry(plan: PublishPlan) -> datetime:
    return timezone.now() + timedelta(hours=plan.url_expiry_hours)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _elapsed_ms(since: float) -> int:
    return round((time.monotonic() - since) * 1000)


def _as_publish_error(exc: Exception) -> PublishError:
    """A refusal as is; anything else is a bug, logged with its traceback and answered as internal_error."""
    if isinstance(exc, PublishError):
        return exc
    logger.exception("Unexpected error in the publish pipeline")
    return PublishError(
        "internal_error", "Unexpected error in the publish pipeline; see the server log.", http_status=500
    )


def _describe_attempt(attempt: PublishAttempt, plan: PublishPlan) -> None:
    attempt.audit_log_id = plan.audit_log_id
    attempt.project_id = plan.project_id
    attempt.title = plan.title
    attempt.checksum = plan.checksum
    attempt.duration_seconds = plan.duration_seconds
    attempt.storage_path = plan.storage_path


def _record_success(attempt: PublishAttempt, result: PublishResult, started: float) -> None:
    record = result.distribution_record
    assert attempt.finished_at is not None  # set by _run once the record is written
    attempt.status = PublishAttempt.Status.PUBLISHED
    attempt.public_url = record["public_url"]
    attempt.distribution_record = record
    attempt.latency_ms = _elapsed_ms(started)
    attempt.audit_event = audit_events.build_event(
        audit_log_id=attempt.audit_log_id,
        project_id=attempt.project_id,
        storage_path=attempt.storage_path,
        public_url=attempt.public_url,
        duration_seconds=attempt.duration_seconds,
        checksum=attempt.checksum,
        published_at=_iso(attempt.finished_at),
        status="published",
    )
    attempt.save()
    audit_events.emit(attempt.audit_event)


def _record_failure(attempt: PublishAttempt, plan: PublishPlan | None, error: PublishError, started: float) -> None:
    attempt.status = PublishAttempt.Status.FAILED
    attempt.error_code = error.code
    attempt.error_message = error.message
    attempt.audit_log_id = error.audit_log_id or ""
    attempt.finished_at = timezone.now()
    attempt.latency_ms = _elapsed_ms(started)
    attempt.audit_event = audit_events.build_event(
        audit_log_id=error.audit_log_id,
        project_id=plan.project_id if plan else None,
        storage_path=plan.storage_path if plan else None,
        duration_seconds=plan.duration_seconds if plan else None,
        checksum=plan.checksum if plan else None,
        status="failed",
        error_code=error.code,
    )
    attempt.save()
    audit_events.emit(attempt.audit_event)


def republish(
    audit_log_id: str,
    *,
    source: str,
    progress: StageProgress | None = None,
    http: httpx.Client | None = None,
) -> PublishResult:
    """Publish a known record again under the same audit_log_id, overwriting media and record.

    The request is rebuilt from the mirror (or PayloadCMS when the mirror lacks it): the
    source is the published copy itself, re-verified against the recorded checksum.
    """
    with _http_client(http) as client:
        record = find_record(audit_log_id, http=client)
        return publish(request_for_record(record), source=source, progress=progress, http=client)


def find_record(audit_log_id: str, *, http: httpx.Client | None = None) -> MirroredRecord:
    """The record from the mirror, else PayloadCMS's.

    Raises PublishError (with audit_log_id) if neither has it or the lookup fails.
    """
    try:
        with _http_client(http) as client:
            record = mirror.get_record(audit_log_id, PayloadCMSClient.from_settings(client))
        if record is None:
            raise PublishError("record_not_found", f"No distribution record {audit_log_id!r}.", http_status=404)
    except Exception as exc:
        error = _as_publish_error(exc)
        error.audit_log_id = audit_log_id
        raise error from None
    return record


def request_for_record(record) -> dict:
    """The publish request that reproduces a mirrored record."""
    prefix = record.storage_path.removeprefix(f"{record.project_id}/").removesuffix(f"{record.audit_log_id}.mp4")
    extra = dict(record.metadata or {})
    return {
        "final_edit": {
            "video_url": record.public_url,
            "duration_seconds": record.duration_seconds,
            "checksum": record.checksum,
        },
        "qc_report": {"status": "pass"},
        "distribution_settings": {
            "project_id": record.project_id,
            "storage_prefix": prefix,
            "metadata": {"title": record.title, "tags": record.tags, **extra},
        },
        "audit_log_id": record.audit_log_id,
    }
