"""Celery tasks: run one publish job; reap jobs whose worker died; deliver a job's callback.

A publish is never retried; only a callback delivery is, with the configured delays.
"""

import logging

from celery import shared_task

from distribution.conf import app_settings
from distribution.errors import PublishError
from distribution.jobs import callbacks, lifecycle, runner, slots

logger = logging.getLogger("distribution.jobs")


# How long a job whose asset host has no free slot waits in the queue before it asks again.
SLOT_WAIT_SECONDS = 1.0


def enqueue_publish(job_id: int, countdown: float | None = None) -> None:
    """Hand the job to the workers.

    Past the deadline plus a lease the pipeline is stuck somewhere no timeout reaches: a prefork worker's
    child is then killed by Celery; a pool thread cannot be, so its heartbeat stops renewing the lease at
    the deadline. Either way the lease runs out and the reaper fails the job as worker_lost.
    """
    config = app_settings()
    run_publish_job.apply_async(
        (job_id,), countdown=countdown, time_limit=config.publish_deadline_seconds + config.job_lease_seconds
    )


@shared_task(name="distribution.jobs.tasks.run_publish_job", bind=True)
def run_publish_job(self, job_id: int) -> None:
    """Run the job; its outcome (record or error) is stored on the job, not returned."""
    with slots.slot_for(job_id) as slot:
        if not slot and not self.request.is_eager:  # run eagerly (a request, a command) there is no queue to wait in
            enqueue_publish(job_id, countdown=SLOT_WAIT_SECONDS)
            return
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
