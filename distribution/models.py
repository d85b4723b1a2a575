from django.db import models

from distribution.errors import status_of
from distribution.records import MIRRORED_FIELDS, distribution_record


class PublishJob(models.Model):
    """One publish job: a run of the publish pipeline, from its request to its record or error.

    queued -> running -> published | failed. At most one job per audit_log_id is active
    (queued or running) at a time, enforced by the database; a running job holds a lease
    its worker renews, and the reaper fails jobs whose lease ran out (worker_lost).
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        PUBLISHED = "published"
        FAILED = "failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    class Stage(models.TextChoices):
        DOWNLOAD = "download"
        UPLOAD = "upload"
        RECORD = "record"

    class Source(models.TextChoices):
        API = "api", "REST API"
        ADMIN = "admin", "Admin"
        COMMAND = "command", "Command"
        MCP = "mcp", "MCP"

    audit_log_id = models.CharField(max_length=128, blank=True, db_index=True)
    project_id = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    caller = models.CharField(max_length=150, blank=True, help_text="Who asked: user name, api-key, OS user.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    stage = models.CharField(max_length=16, choices=Stage.choices, blank=True)
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(null=True, blank=True)
    worker = models.CharField(max_length=255, blank=True, help_text="host:pid of the process running the job.")
    cancel_requested_by = models.CharField(
        max_length=150,
        blank=True,
        help_text="Who asked to cancel this running job; its worker stops at its next piece.",
    )
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    callback_url = models.URLField(max_length=2048, blank=True, help_text="Where the job's final body is POSTed.")
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    error_detail = models.TextField(
        blank=True, help_text="For operators only, never answered: what the asset host answered, a computed hash, ..."
    )
    error_fields = models.JSONField(null=True, blank=True)
    request = models.JSONField(default=dict, help_text="As received, with video_url's credentials and query redacted.")
    fetch_url = models.TextField(
        blank=True, help_text="The full video_url (signed-URL tokens included) while the job is active; then cleared."
    )
    plan = models.JSONField(null=True, blank=True, help_text="The validated request's plan the worker runs.")
    distribution_record = models.JSONField(null=True, blank=True)
    audit_event = models.JSONField(null=True, blank=True)
    title = models.CharField(max_length=500, blank=True)
    checksum = models.CharField(max_length=80, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    storage_path = models.CharField(max_length=1024, blank=True)
    public_url = models.URLField(max_length=2048, blank=True)
    asset_size = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(db_index=True, help_text="When the publish was asked for (job created).")
    run_started_at = models.DateTimeField(null=True, blank=True, help_text="When a worker began running it.")
    finished_at = models.DateTimeField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    fetch_ms = models.PositiveIntegerField(null=True, blank=True)
    upload_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        permissions = [
            ("republish", "Can re-publish distribution records"),
            ("publish", "Can publish through the API (session, token or API key callers)"),
            ("unpublish", "Can unpublish distribution records (take a video down)"),
            ("cancel", "Can cancel queued or running publish jobs"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["audit_log_id"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_publish_per_audit_log_id",
            )
        ]

    def __str__(self):
        return f"{self.audit_log_id or 'job'} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def error_status(self) -> int | None:
        """The HTTP status its error code answers with (ERRORS decides), None unless it failed."""
        return status_of(self.error_code) if self.error_code else None

    @property
    def status_url(self) -> str:
        return f"/api/distribution/jobs/{self.pk}"


class IdempotencyKey(models.Model):
    """An `Idempotency-Key` of POST /api/distribution/publish: the job its first request started (api/idempotency.py).

    Per caller; a retry with the same key and body within IDEMPOTENCY_KEY_TTL is answered from this job.
    `job` is null only while the first request is being submitted.
    """

    key = models.CharField(max_length=255)
    caller = models.CharField(max_length=150)
    request_hash = models.CharField(max_length=64, help_text="sha256 of the request body as parsed JSON.")
    job = models.ForeignKey(PublishJob, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["caller", "key"], name="one_idempotency_key_per_caller")]

    def __str__(self):
        return f"{self.caller}: {self.key}"


class CallbackDelivery(models.Model):
    """One POST of an ended job's body to its callback_url; failed ones are tried again later."""

    job = models.ForeignKey(PublishJob, on_delete=models.CASCADE, related_name="callback_deliveries")
    attempt = models.PositiveSmallIntegerField()
    url = models.URLField(max_length=2048)
    delivered = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When it is tried again, if it failed.")

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "callback deliveries"

    def __str__(self):
        return f"job {self.job_id} callback #{self.attempt}"


class MirroredRecord(models.Model):
    """Local copy of one PayloadCMS `distributionRecords` document (PayloadCMS stays the source of truth)."""

    audit_log_id = models.CharField(max_length=128, unique=True)
    cms_id = models.CharField(max_length=64, blank=True)
    project_id = models.CharField(max_length=255, blank=True, db_index=True)
    title = models.CharField(max_length=500, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    checksum = models.CharField(max_length=80, blank=True)
    tags = models.JSONField(default=list, blank=True)
    storage_path = models.CharField(max_length=1024, blank=True)
    public_url = models.URLField(max_length=2048, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="When public_url stops serving (null: never).")
    url_expiry_hours = models.FloatField(null=True, blank=True, help_text="The lifetime its links are signed for.")
    published_at = models.DateTimeField(null=True, blank=True, db_index=True)
    unpublished_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="Set once unpublished: the file is gone, the record kept."
    )
    unpublish_reason = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    missing_from_cms = models.BooleanField(default=False, help_text="Set by sync when the CMS no longer has it.")
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-published_at"]

    def __str__(self):
        return self.audit_log_id

    def as_distribution_record(self) -> dict:
        """The record in the publish API's `distribution_record` shape."""
        return distribution_record(
            {"audit_log_id": self.audit_log_id, **{f: getattr(self, f) for f in MIRRORED_FIELDS}}
        )


class VerificationRun(models.Model):
    """One `verify_distribution` run: what it was asked to check and what it found (operators/verification.py)."""

    class Status(models.TextChoices):
        RUNNING = "running"
        SOUND = "sound"
        PROBLEMS = "problems"
        NOTHING = "nothing", "Nothing to check"
        FAILED = "failed", "Failed (not finished)"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, db_index=True)
    options = models.JSONField(default=dict, help_text="project, since, sample, checksum, concurrency")
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    records_checked = models.PositiveIntegerField(default=0)
    records_with_problems = models.PositiveIntegerField(default=0)
    records_expired = models.PositiveIntegerField(default=0, help_text="Sound records whose link expired by design.")
    error = models.TextField(blank=True, help_text="Why the run could not finish (e.g. PayloadCMS unreachable).")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"verification #{self.pk} ({self.status})"


class RecordCheck(models.Model):
    """One record checked by a verification run; `codes` summarises its findings ('' when sound)."""

    run = models.ForeignKey(VerificationRun, on_delete=models.CASCADE, related_name="checks")
    audit_log_id = models.CharField(max_length=128, db_index=True)
    checked_at = models.DateTimeField()
    codes = models.CharField(max_length=255, blank=True)
    expired = models.BooleanField(default=False, help_text="Its link is past its expires_at (by design).")

    class Meta:
        ordering = ["-checked_at"]

    def __str__(self):
        return f"{self.audit_log_id}: {self.codes or 'sound'}"


class VerificationFinding(models.Model):
    """One problem found on one record: a stable code and a readable message."""

    run = models.ForeignKey(VerificationRun, on_delete=models.CASCADE, related_name="findings")
    audit_log_id = models.CharField(max_length=128, db_index=True)
    code = models.CharField(max_length=32, db_index=True)
    message = models.TextField()

    class Meta:
        ordering = ["audit_log_id", "code"]

    def __str__(self):
        return f"{self.audit_log_id}: {self.code}"
