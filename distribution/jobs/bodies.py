"""A job as the API shows it: GET /api/distribution/jobs/<id>, a 202, MCP's distribution_get_job, callbacks."""

from distribution.jobs import lifecycle
from distribution.models import PublishJob
from distribution.publishing.audit import iso


def job_body(job: PublishJob) -> dict:
    """The job as GET /api/distribution/jobs/<id> (and a 202) answer it."""
    return {
        "job": {
            "id": job.pk,
            "status_url": job.status_url,
            "status": job.status,
            "stage": job.stage or None,
            "progress": {"bytes_done": job.bytes_done, "bytes_total": job.bytes_total},
            "audit_log_id": job.audit_log_id or None,
            "source": job.source,
            "caller": job.caller,
            "started_at": iso(job.started_at),
            "run_started_at": iso(job.run_started_at) if job.run_started_at else None,
            "finished_at": iso(job.finished_at) if job.finished_at else None,
            "distribution_record": job.distribution_record if job.status == PublishJob.Status.PUBLISHED else None,
            "error": lifecycle.job_error(job).as_dict() if job.status == PublishJob.Status.FAILED else None,
        }
    }
