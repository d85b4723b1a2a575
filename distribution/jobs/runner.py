"""A publish as a job: the job row around the publishing pipeline.

`submit()` validates and plans the request and takes its audit_log_id: the job row, queued,
holding the plan. `run()` claims a queued job and runs its stored plan through the pipeline
under a lease, then writes the outcome. `publish()` does both in this process (commands without
--enqueue, tests); a dry run is no job at all.
"""

import httpx
from django.utils import timezone

from distribution.conf import app_settings
from distribution.jobs import lifecycle
from distribution.models import PublishJob
from distribution.outbound.deadline import Deadline
from distribution.publishing import pipeline
from distribution.publishing.pipeline import PublishResult, StageProgress, as_publish_error
from distribution.publishing.plan import PublishPlan, build_plan, storable_request
from distribution.publishing.republish import republish_request

# The plan's fields a job row shows operators (the rest is in its stored plan).
JOB_FIELDS_FROM_PLAN = ("audit_log_id", "project_id", "title", "checksum", "duration_seconds", "storage_path")


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
    """Validate and plan the request and take its audit_log_id: the new job, queued with its plan.

    A refusal (invalid request, QC not passed) is recorded as a failed job and raised; a
    request for an audit_log_id another job holds raises 409 publish_in_progress and
    leaves no trace at all. The job stores the request with video_url redacted; the full
    URL (signed-URL tokens and all) is kept in `fetch_url` only while the job is active.
    """
    job = PublishJob(source=source, caller=caller[:150], request=storable_request(payload), started_at=timezone.now())
    try:
        plan = build_plan(payload)
    except Exception as exc:
        error = as_publish_error(exc)
        lifecycle.record_refusal(job, error)
        raise error from None
    for name in JOB_FIELDS_FROM_PLAN:
        setattr(job, name, getattr(plan, name))
    job.callback_url = plan.callback_url
    job.plan = plan.stored()
    job.fetch_url = plan.video_url
    try:
        lifecycle.lock(job)
    except Exception as exc:
        error = as_publish_error(exc)
        error.audit_log_id = error.audit_log_id or plan.audit_log_id
        raise error from None
    return job


def run(
    job_id: int, *, progress: StageProgress | None = None, http: httpx.Client | None = None
) -> PublishResult | None:
    """Run a queued job's plan here (a worker's task, or inline); None if it is not queued any more.

    The job's lease is renewed while it runs, its progress stored, and the whole run is
    bounded by DISTRIBUTION_PUBLISH_DEADLINE_SECONDS.
    """
    job = lifecycle.claim(job_id)
    if job is None:
        return None
    deadline = Deadline(app_settings().publish_deadline_seconds)
    try:
        plan = PublishPlan.from_stored(job.plan or {}, video_url=job.fetch_url)
        with lifecycle.Heartbeat(job, deadline) as heartbeat, pipeline.http_client(http, deadline) as client:
            tracker = lifecycle.JobProgress(job, heartbeat, forward=progress)
            result = pipeline.execute(plan, client, tracker, deadline)
    except Exception as exc:
        error = as_publish_error(exc)
        error.audit_log_id = error.audit_log_id or job.audit_log_id
        if error.code == "cancelled":
            lifecycle.remove_cancelled_upload(job, error)
        lifecycle.finish(job, error)
        raise error from None
    job.asset_size, job.fetch_ms, job.upload_ms = result.asset_size, result.fetch_ms, result.upload_ms
    job.public_url = result.distribution_record["public_url"] or ""
    job.distribution_record = result.distribution_record
    lifecycle.finish(job)
    return result


def _dry_run(payload, progress: StageProgress | None, http: httpx.Client | None) -> PublishResult:
    plan = None
    try:
        plan = build_plan(payload)
        deadline = Deadline(app_settings().publish_deadline_seconds)
        with pipeline.http_client(http, deadline) as client:
            return pipeline.dry_run(plan, client, progress, deadline)
    except Exception as exc:
        error = as_publish_error(exc)
        error.audit_log_id = error.audit_log_id or (plan.audit_log_id if plan else None)
        raise error from None


def republish(
    audit_log_id: str,
    *,
    source: str,
    caller: str = "",
    progress: StageProgress | None = None,
    http: httpx.Client | None = None,
) -> PublishResult:
    """Publish a known record again under the same audit_log_id, from its published copy (see republish_request)."""
    lifecycle.refuse_if_held(audit_log_id)
    return publish(
        republish_request(audit_log_id, http=http), source=source, caller=caller, progress=progress, http=http
    )
