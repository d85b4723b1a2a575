"""The one exception type of the publish pipeline.

Every step raises `PublishError` with a stable machine-readable `code`; the REST
view, the admin, the management commands and the MCP tool all map it to their
own surface without knowing which step failed.

`message` is what the caller sees. `detail` is for operators only (kept in the
job's error_detail, shown in the admin, never in a response): what answered, the computed
hash of a mismatching asset, why a destination was refused.
"""


class PublishError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        http_status: int = 502,
        details=None,
        detail: str = "",
        extra: dict | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.details = details
        self.extra = extra or {}
        self.detail = detail
        self.audit_log_id: str | None = None

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message, "audit_log_id": self.audit_log_id, **self.extra}
        if self.details:
            body["fields"] = self.details
        return body


def publish_in_progress(audit_log_id: str, job_id: int | None, status_url: str | None) -> PublishError:
    """409: another job holds this audit_log_id; nothing was done."""
    error = PublishError(
        "publish_in_progress",
        f"A publish of {audit_log_id} is already queued or running; follow it at its status URL.",
        http_status=409,
        extra={"job_id": job_id, "status_url": status_url},
    )
    error.audit_log_id = audit_log_id
    return error
