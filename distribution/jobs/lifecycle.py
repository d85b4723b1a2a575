"""A publish job's life in the database: lock, claim, lease, progress, finish and reap.

Every transition is a conditional UPDATE, so two processes never both run a job and a
job the reaper failed is not later marked published by a worker that lost its lease.
"""

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone

from distribution.cms.client import remove_unrecorded_upload
from distribution.conf import app_settings
from distribution.errors import PublishError, publish_in_progress
from distribution.jobs import callbacks, ends
from distribution.models import PublishJob
from distribution.outbound.deadline import Deadline
from distribution.publishing import audit
from distribution.records import event_record_fields, iso

logger = logging.getLogger("distribution.jobs")

Status = PublishJob.Status
TRANSFER_STAGES = (PublishJob.Stage.DOWNLOAD, PublishJob.Stage.UPLOAD)
PROGRESS_WRITE_INTERVAL = 0.25  # seconds between progress writes: at most 4 a second
# A run shorter than this writes no progress at all (its end writes the final figures): someone watching
# a job sees it move after half a second, and the many small publishes cost one UPDATE fewer or three.
PROGRESS_FIRST_WRITE_AFTER = 0.5


def _seconds(name: str) -> timedelta:
    return timedelta(seconds=getattr(app_settings(), name))


def lock(job: PublishJob) -> None:
    """Insert `job` as queued, holding its audit_log_id; raise 409 publish_in_progress if another job holds it.

    The partial unique constraint (one queued/running job per audit_log_id) decides, in the
    database, so it holds across processes and machines. A holder whose lease ran out is
    reaped first, so a crashed publish never blocks the next one for longer than its lease.
    """
    job.status = Status.QUEUED
    job.lease_expires_at = job.started_at + _seconds("job_queue_timeout_seconds")
    for last_try in (False, True):
        try:
            _insert(job)
            return
        except IntegrityError:
            job.pk = None
            active = PublishJob.objects.filter(audit_log_id=job.audit_log_id, status__in=PublishJob.ACTIVE)
            holder = active.first()
            if holder is None and last_try:
                raise  # no job holds the id: some other constraint failed, a bug (answered internal_error)
            if last_try or (holder is not None and not reap_expired(audit_log_id=job.audit_log_id)):
                raise publish_in_progress(
                    job.audit_log_id, holder.pk if holder else None, holder.status_url if holder else None
                ) from None


def _insert(job: PublishJob) -> None:
    """INSERT the job. Inside a transaction (a caller's atomic block, a test's) under a savepoint, so that a refusal
    by the constraint leaves that transaction usable; otherwise the statement is its own transaction, without
    the BEGIN and COMMIT round trips of an atomic block."""
    if transaction.get_connection().in_atomic_block:
        with transaction.atomic():
            job.save(force_insert=True)
    else:
        job.save(force_insert=True)


def active_job(audit_log_id: str) -> PublishJob | None:
    """The queued or running job holding `audit_log_id`, if any."""
    return PublishJob.objects.filter(audit_log_id=audit_log_id, status__in=PublishJob.ACTIVE).first()


def refuse_if_held(audit_log_id: str) -> None:
    """Raise 409 publish_in_progress, naming the holder, if a job holds `audit_log_id` (checked before a re-publish
    looks its record up, so a first publish still running is answered with its job, not record_not_found)."""
    holder = active_job(audit_log_id)
    if holder is not None:
        raise publish_in_progress(audit_log_id, holder.pk, holder.status_url)


def claim(job_id: int) -> PublishJob | None:
    """Move a queued job to running under this process's lease; None if it is not queued any more."""
    now = timezone.now()
    claimed = PublishJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING,
        stage=PublishJob.Stage.UPLOAD,  # the first stage the pipeline reports: the download streams into the upload
        run_started_at=now,
        lease_expires_at=now + _seconds("job_lease_seconds"),
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    return PublishJob.objects.get(pk=job_id) if claimed else None


class Heartbeat:
    """A running job's lease, renewed every quarter lease while the `with` block runs; `lost` once the job is not ours.

    One thread per process (the keeper) renews the leases of all the jobs running there: a thread of
    its own cost each short publish a thread start. Renewal stops once the run's deadline has passed:
    a run stuck where no timeout reaches it (a pool thread cannot be killed as a prefork child can)
    lets its lease run out, and the reaper fails the job.
    """

    def __init__(self, job: PublishJob, deadline: Deadline):
        self.job_id = job.pk
        self.deadline = deadline
        self.lost = False
        self.renewing = False  # in the keeper's care
        self.due = 0.0  # time.monotonic() of the next renewal

    def __enter__(self):
        _keeper().add(self)
        return self

    def __exit__(self, *exc):
        _keeper().remove(self)


class _LeaseKeeper:
    """The thread that renews the leases of this process's running jobs, each when its renewal is due."""

    def __init__(self):
        self._heartbeats: set[Heartbeat] = set()
        self._changed = threading.Condition()
        threading.Thread(target=self._run, name="job-leases", daemon=True).start()

    def add(self, heartbeat: Heartbeat) -> None:
        with self._changed:
            heartbeat.due = time.monotonic() + _renewal_interval()
            heartbeat.renewing = True
            self._heartbeats.add(heartbeat)
            self._changed.notify()

    def remove(self, heartbeat: Heartbeat) -> None:
        with self._changed:
            self._heartbeats.discard(heartbeat)
            heartbeat.renewing = False

    def _run(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                due = [heartbeat for heartbeat in self._heartbeats if heartbeat.due <= now]
                if not due:
                    next_due = min((heartbeat.due for heartbeat in self._heartbeats), default=None)
                    self._changed.wait(None if next_due is None else next_due - now)
                    continue
            self._renew(due)  # outside the lock: jobs start and end while the database answers

    def _renew(self, due: list[Heartbeat]) -> None:
        # This thread lives as long as the process: its connection is kept, checked and aged as a request's is.
        close_old_connections()
        lease = _seconds("job_lease_seconds")
        for heartbeat in due:
            if heartbeat.deadline.remaining() <= 0:
                self.remove(heartbeat)
                continue
            heartbeat.due = time.monotonic() + _renewal_interval()
            try:
                renewed = PublishJob.objects.filter(pk=heartbeat.job_id, status=Status.RUNNING).update(
                    lease_expires_at=timezone.now() + lease
                )
            except Exception:
                logger.exception("Could not renew the lease of job %s", heartbeat.job_id)
                continue  # tried again when next due; the lease covers three more tries
            if not renewed:
                heartbeat.lost = True
                self.remove(heartbeat)


def _renewal_interval() -> float:
    return _seconds("job_lease_seconds").total_seconds() / 4


_keepers: dict[int, _LeaseKeeper] = {}  # by process id: a forked pool child starts its own
_keepers_lock = threading.Lock()


def _keeper() -> _LeaseKeeper:
    with _keepers_lock:
        pid = os.getpid()
        if pid not in _keepers:
            _keepers.clear()
            _keepers[pid] = _LeaseKeeper()
        return _keepers[pid]


class JobProgress:
    """Progress callback (stage, bytes_done, bytes_total) that stores the job's stage and bytes, throttled.

    Also forwards the transfer's calls (download, upload) to `forward` (a command's terminal line), and aborts the run
    when the heartbeat lost the lease (the reaper has failed the job meanwhile) or when an operator asked to cancel
    it (its progress write finds `cancel_requested_by` set): the error raised cuts the transfer off mid-body.
    """

    def __init__(self, job: PublishJob, heartbeat: Heartbeat, forward=None):
        self.job = job
        self.heartbeat = heartbeat
        self.forward = forward
        self._first_write_at = time.monotonic() + PROGRESS_FIRST_WRITE_AFTER
        self._last_write = self._first_write_at - PROGRESS_WRITE_INTERVAL

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if self.heartbeat.lost:
            raise PublishError("worker_lost", "This job's lease ran out and it was failed; stopping.")
        stage_changed = stage != self.job.stage
        self.job.stage, self.job.bytes_done, self.job.bytes_total = stage, done, total
        now = time.monotonic()
        if now - self._last_write >= PROGRESS_WRITE_INTERVAL or (stage_changed and now >= self._first_write_at):
            self._last_write = now
            self._write("stage", "bytes_done", "bytes_total")
        if self.forward and stage in TRANSFER_STAGES:
            self.forward(stage, done, total)

    def _write(self, *fields: str) -> None:
        running = PublishJob.objects.filter(pk=self.job.pk, status=Status.RUNNING)
        written = running.filter(cancel_requested_by="").update(**{field: getattr(self.job, field) for field in fields})
        if not written:
            requested_by = running.values_list("cancel_requested_by", flat=True).first()
            if requested_by:
                raise cancelled(requested_by)


def cancelled(requested_by: str) -> PublishError:
    return PublishError("cancelled", f"Cancelled by {requested_by}.")


def cancel(job: PublishJob, requested_by: str) -> PublishJob:
    """Cancel an active job: a queued one fails at once, a running one is asked to stop (see JobProgress).

    Raises 409 job_ended if the job has ended. Returns the job as it is after the request.
    """
    error = cancelled(requested_by)
    error.audit_log_id = job.audit_log_id or None
    if job.status == Status.QUEUED and finish(job, error, only=(Status.QUEUED,)):
        return job  # failed before any worker claimed it: nothing was transferred
    PublishJob.objects.filter(pk=job.pk, status=Status.RUNNING, cancel_requested_by="").update(
        cancel_requested_by=requested_by[:150]
    )
    job.refresh_from_db()
    if not job.is_active:
        raise PublishError("job_ended", f"Job {job.pk} has already ended ({job.status}); there is nothing to cancel.")
    return job


def remove_cancelled_upload(job: PublishJob, error: PublishError) -> None:
    """After a cancelled run unwound: delete what the cut-off upload may have left, and say so in the message."""
    error.message = f"{error.message} {remove_unrecorded_upload(job.audit_log_id, job.storage_path)}"


def finish(job: PublishJob, error: PublishError | None = None, only=PublishJob.ACTIVE) -> bool:
    """Mark an active job published (no error) or failed, and emit its audit event and schedule its callback.

    False, and no event, if the job had already ended (e.g. reaped while this process ran it), or is not in one
    of the `only` states (a queued job cancelled while a worker claims it is left to its worker).
    """
    event = _set_outcome(job, error)
    fields = [
        "status",
        "error_code",
        "error_message",
        "error_detail",
        "fetch_url",
        "error_fields",
        "audit_log_id",
        "public_url",
        "distribution_record",
        "asset_size",
        "finished_at",
        "latency_ms",
        "fetch_ms",
        "upload_ms",
        "audit_event",
        "stage",
        "bytes_done",
        "bytes_total",
    ]
    ended = PublishJob.objects.filter(pk=job.pk, status__in=only).update(
        **{field: getattr(job, field) for field in fields}
    )
    if ended:
        ends.announce(job.pk)
        audit.emit(event)
        callbacks.schedule(job)
    return bool(ended)


def record_refusal(job: PublishJob, error: PublishError) -> None:
    """A request refused before it became a job (invalid, QC not passed): stored as a failed job, event emitted."""
    event = _set_outcome(job, error)
    job.save(force_insert=True)
    audit.emit(event)


def _set_outcome(job: PublishJob, error: PublishError | None) -> dict:
    """Set the job's end state and audit event (published without an error, else failed); return the event."""
    job.finished_at = job.finished_at or timezone.now()
    job.fetch_url = ""  # the full video_url lives only as long as the job runs
    job.latency_ms = round((job.finished_at - job.started_at).total_seconds() * 1000)
    if error is None:
        job.status = Status.PUBLISHED
        record = job.distribution_record or {}
        times = {
            "published_at": record.get("published_at") or iso(job.finished_at),
            "expires_at": record.get("expires_at"),
        }
        event = {**event_record_fields(job), **times}
        job.audit_event = audit.build_event(**event, caller=job.caller or None, status="published")
    else:
        job.status = Status.FAILED
        job.error_code, job.error_message, job.error_detail = error.code, error.message, error.operator_detail
        job.error_fields = error.fields
        job.audit_log_id = error.audit_log_id or job.audit_log_id
        event = event_record_fields(job)
        job.audit_event = audit.build_event(**event, caller=job.caller or None, status="failed", error_code=error.code)
    return job.audit_event


def reap_expired(audit_log_id: str | None = None) -> int:
    """Fail every active job whose lease ran out (worker_lost) or that no worker started in time (not_started).

    Releases the audit_log_id, emits the failed audit event and deletes a media document the
    job created without its record. The publish itself is never retried: the operator re-publishes. Returns the count.
    """
    expired = PublishJob.objects.filter(status__in=PublishJob.ACTIVE, lease_expires_at__lt=timezone.now())
    if audit_log_id is not None:
        expired = expired.filter(audit_log_id=audit_log_id)
    reaped = 0
    for job in expired:
        if job.status == Status.RUNNING:
            error = PublishError(
                "worker_lost",
                f"The worker running this publish ({job.worker}) stopped renewing its lease; "
                "nothing is retried automatically, re-publish to try again.",
            )
        else:
            error = PublishError(
                "not_started",
                "No worker started this publish in time (are Celery workers running?); re-publish to try again.",
            )
        if job.status == Status.RUNNING:  # a dead worker must not leave a new file downloadable
            error.message += " " + remove_unrecorded_upload(job.audit_log_id, job.storage_path)
        if finish(job, error):
            reaped += 1
            logger.warning("Reaped job %s (%s): %s", job.pk, job.audit_log_id, error.code)
    return reaped
