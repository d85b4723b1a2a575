"""Celery tasks: run one publish job; reap jobs whose worker died; deliver a job's callback.

A publish is never retried; only a callback delivery is, with the configured delays.
"""

import logging

from celery import shared_task

from distribution.errors import PublishError
from distribution.jobs import callbacks, lifecycle, runner

logger = logging.getLogger("distribution.jobs")


@shared_task(name="distribution.jobs.tasks.run_publish_job")
def run_publish_job(job_id: int) -> None:
    """Run the job; its outcome (record or error) is stored on the job, not returned."""
    try:
        runner.run(job_id)
    except PublishError as error:
        logger.info("Job %s failed: %s", job_id, error.code)


@shared_task(name="distribution.jobs.tasks.reap_expired_jobs")
def reap_expired_jobs() -> int:
    return lifecycle.reap_expired()


@shared_task(name=callbacks.DELIVER_TASK)
def deliver_callback(job_id: int, attempt: int = 1) -> None:
    """POST the ended job's body to its callback_url; if the receiver fails, try again after the next delay."""
    if callbacks.deliver(job_id, attempt):
        return
    delay = callbacks.retry_delay(attempt)
    if delay is not None:
        deliver_callback.apply_async((job_id, attempt + 1), countdown=delay)
    else:
        logger.warning("Gave up delivering the callback of job %s after %s attempts", job_id, attempt)
