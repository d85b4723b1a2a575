"""What the entry points (REST, admin, MCP, commands with --enqueue) do with jobs: start, wait, describe."""

import logging
import time
from collections.abc import Callable

from distribution.conf import app_settings
from distribution.errors import PublishError
from distribution.jobs import ends, lifecycle
from distribution.jobs.bodies import job_error
from distribution.jobs.runner import submit
from distribution.jobs.tasks import enqueue_publish
from distribution.models import PublishJob
from distribution.publishing.republish import republish_request

logger = logging.getLogger("distribution.jobs")


def start(payload, *, source: str, caller: str = "") -> PublishJob:
    """Submit (validate, lock: PublishError on refusal or 409) and hand the job to the Celery workers."""
    job = submit(payload, source=source, caller=caller)
    try:
        enqueue_publish(job.pk)
    except Exception as exc:
        logger.error("Could not enqueue job %s: %s", job.pk, exc.__class__.__name__)
        error = PublishError(
            "queue_unavailable",
            "The job queue (CELERY_BROKER_URL) did not accept the job; nothing was published.",
        )
        error.audit_log_id = job.audit_log_id
        lifecycle.finish(job, error)
        raise error from None
    return job


def start_republish(audit_log_id: str, *, source: str, caller: str = "") -> PublishJob:
    """Start a re-publish of a known record (see republish_request); 409 publish_in_progress while a job holds it."""
    lifecycle.refuse_if_held(audit_log_id)
    return start(republish_request(audit_log_id), source=source, caller=caller)


def wait(job: PublishJob, seconds: float) -> PublishJob:
    """The job, re-read until it has ended or `seconds` have passed.

    With a Redis broker the job's end is announced (jobs/ends.py): the row is read when it comes (an end before
    the wait began is announced all the same), or at least every ANNOUNCED_RECHECK_SECONDS. Otherwise the
    database is polled after pauses of a tenth of the time waited so far (10 ms at least, half a second at
    most): a job's end is seen at most ~10% late, so a small publish is answered promptly, and a long wait
    costs a few hundred reads, not thousands.
    """
    started = time.monotonic()
    until = started + seconds
    while True:
        now = time.monotonic()
        if now < until and ends.wait_for(job.pk, min(ANNOUNCED_RECHECK_SECONDS, until - now)) is None:
            return _poll(job, started, until)
        job.refresh_from_db()
        if not job.is_active or time.monotonic() >= until:
            return job


def _poll(job: PublishJob, started: float, until: float) -> PublishJob:
    """wait() without announcements: the row read after ever longer pauses."""
    while True:
        job.refresh_from_db()
        now = time.monotonic()
        if not job.is_active or now >= until:
            return job
        time.sleep(min(max(0.01, (now - started) / 10), 0.5, until - now))


# Another waiter on the same job may take its announcement: each waiter reads the row at least this often.
ANNOUNCED_RECHECK_SECONDS = 1.0


def sync_wait_seconds() -> float:
    return app_settings().sync_wait_seconds


def outcome(job: PublishJob) -> dict:
    """An ended job's distribution_record; its PublishError, raised, if it failed."""
    if job.status == PublishJob.Status.FAILED:
        raise job_error(job)
    return job.distribution_record or {}


def follow(job: PublishJob, progress: Callable[[str, int, int | None], None]) -> dict:
    """Wait for the job to end, reporting its stored stage and bytes to `progress`; then its outcome."""
    while job.is_active:
        job = wait(job, 0.25)
        if job.stage in (PublishJob.Stage.DOWNLOAD, PublishJob.Stage.UPLOAD):
            progress(job.stage, job.bytes_done, job.bytes_total)
    return outcome(job)


CANCEL_WAIT_SECONDS = 10.0  # a running job stops at its next piece: usually well within this


def cancel(job_id, *, requested_by: str, wait_seconds: float = CANCEL_WAIT_SECONDS) -> PublishJob:
    """Cancel the job (404 job_not_found, 409 job_ended) and wait up to `wait_seconds` for it to end."""
    job = lifecycle.cancel(get_job(job_id), requested_by)
    return wait(job, wait_seconds) if job.is_active and wait_seconds else job


def get_job(job_id) -> PublishJob:
    """The job with this id; 404 job_not_found otherwise."""
    job = PublishJob.objects.filter(pk=job_id).first() if str(job_id).isdigit() else None
    if job is None:
        raise PublishError("job_not_found", f"No publish job {job_id}.")
    return job
