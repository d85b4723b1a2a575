"""A job as the API shows it (GET /api/distribution/jobs/<id>, a 202, MCP, callbacks), and the error it ended with."""

from distribution.errors import PublishError
from distribution.models import PublishJob
from distribution.records import iso


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
            "error": job_error(job).as_dict() if job.status == PublishJob.Status.FAILED else None,
        }
    }


def job_error(job: PublishJob) -> PublishError:
    """The PublishError a failed job ended with, as its caller would have received it."""
    error = PublishError(job.error_code, job.error_message, fields=job.error_fields)
    error.audit_log_id = job.audit_log_id or None
    return error
