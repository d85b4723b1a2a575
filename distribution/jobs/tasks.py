"""Celery tasks: run one publish job; reap jobs whose worker died. Neither is ever retried."""

import logging

from celery import shared_task

from .. import publishing
from ..errors import PublishError
from . import lifecycle

logger = logging.getLogger("distribution.jobs")


@shared_task(name="distribution.jobs.tasks.run_publish_job")
def run_publish_job(job_id: int) -> None:
    """Run the job; its outcome (record or error) is stored on the job, not returned."""
    try:
        publishing.run(job_id)
    except PublishError as error:
        logger.info("Job %s failed: %s", job_id, error.code)


@shared_task(name="distribution.jobs.tasks.reap_expired_jobs")
def reap_expired_jobs() -> int:
    return lifecycle.reap_expired()
