"""The one exception type of the publish pipeline.

Every step raises `PublishError` with a stable machine-readable `code`; the REST
view, the admin, the management commands and the MCP tool all map it to their
own surface without knowing which step failed. ERRORS lists every code with its
HTTP status (docs/api.md's table; api.serializers.ErrorSerializer's enum).

`message` is what the caller sees. `operator_detail` is for operators only (kept in the
job's error_detail, shown in the admin, never in a response): what answered, the computed
hash of a mismatching asset, why a destination was refused.
"""

# code -> (HTTP status, when). The REST answers, the MCP tool errors and the commands' JSON use these codes.
ERRORS: dict[str, tuple[int, str]] = {
    "bad_request": (400, "a request refused before the API read it (e.g. a Host header not in DJANGO_ALLOWED_HOSTS)"),
    "invalid_request": (400, "missing or ill-typed fields, unsafe path segments"),
    "parse_error": (400, "the body is not well-formed JSON"),
    "not_authenticated": (401, "no token or API key"),
    "authentication_failed": (401, "a wrong token or API key"),
    "permission_denied": (
        403,
        "no distribution.publish permission (distribution.unpublish to unpublish), or a session without its CSRF token",
    ),
    "record_not_found": (404, "no distribution record with this audit_log_id"),
    "job_not_found": (404, "GET of an unknown job id"),
    "not_found": (404, "no API endpoint at this path"),
    "unknown_tool": (404, "MCP: no tool of that name"),
    "method_not_allowed": (405, "a method the endpoint does not answer"),
    "not_acceptable": (406, "an Accept header that excludes JSON"),
    "request_too_large": (413, "the body is larger than DISTRIBUTION_MAX_REQUEST_BYTES"),
    "publish_in_progress": (409, "another job for this audit_log_id is queued or running"),
    "record_unpublished": (409, "renewing the link of, or re-publishing, an unpublished record: its file is gone"),
    "cancelled": (409, "an operator cancelled the job; what it had uploaded was removed"),
    "job_ended": (409, "cancel of a job that has already ended"),
    "unsupported_media_type": (415, "the body is not JSON"),
    "qc_not_passed": (422, "qc_report.status is not pass"),
    "idempotency_key_reused": (422, "this Idempotency-Key came with another body within 24 h"),
    "checksum_mismatch": (422, "the downloaded bytes do not hash to final_edit.checksum"),
    "not_mp4": (422, "the asset has no ISO-BMFF ftyp box at its start"),
    "asset_too_large": (422, "larger than DISTRIBUTION_MAX_ASSET_BYTES"),
    "asset_url_refused": (422, "video_url or a redirect is not a public http(s) destination"),
    "internal_error": (500, "a bug; details in the server log only"),
    "worker_lost": (500, "the worker running the job died"),
    "asset_fetch_failed": (502, "the asset host failed, refused, answered non-200, or outlived the deadline"),
    "cms_auth_failed": (502, "PayloadCMS refused PAYLOADCMS_API_KEY"),
    "cms_unavailable": (502, "PayloadCMS did not answer"),
    "cms_upload_failed": (502, "the media upload failed"),
    "storage_upload_failed": (502, "the direct upload to the S3/R2 bucket failed"),
    "invalid_public_url": (502, "the file's URL is empty or not HTTPS"),
    "cms_record_failed": (502, "the distributionRecords upsert failed"),
    "cms_read_failed": (502, "a lookup in PayloadCMS failed"),
    "cms_bad_response": (502, "PayloadCMS answered 2xx with something unusable"),
    "not_started": (503, "no worker started the job in time"),
    "queue_unavailable": (503, "the broker refused the job"),
}
ERROR_CODES = tuple(ERRORS)


def error_body(code: str, message: str, audit_log_id: str | None = None, **extra) -> dict:
    """The one error shape every surface answers: {"error": {code, message, audit_log_id, ...}}."""
    return {"error": {"code": code, "message": message, "audit_log_id": audit_log_id, **extra}}


def status_of(code: str) -> int:
    """The HTTP status ERRORS gives a code (500 for a code it does not know: a bug)."""
    return ERRORS.get(code, (500, ""))[0]


class PublishError(Exception):
    """A refusal or failure with its stable `code`; ERRORS alone decides its HTTP status."""

    def __init__(self, code: str, message: str, *, fields=None, operator_detail: str = "", extra: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields  # invalid_request: the field errors, by field path
        self.extra = extra or {}
        self.operator_detail = operator_detail
        self.audit_log_id: str | None = None

    @property
    def http_status(self) -> int:
        return status_of(self.code)

    def as_dict(self) -> dict:
        extra = {**self.extra, **({"fields": self.fields} if self.fields else {})}
        return error_body(self.code, self.message, self.audit_log_id, **extra)["error"]


def publish_in_progress(audit_log_id: str, job_id: int | None, status_url: str | None) -> PublishError:
    """409: another job holds this audit_log_id; nothing was done."""
    error = PublishError(
        "publish_in_progress",
        f"A publish of {audit_log_id} is already queued or running; follow it at its status URL.",
        extra={"job_id": job_id, "status_url": status_url},
    )
    error.audit_log_id = audit_log_id
    return error


def checksum_mismatch(expected: str, detail: str) -> PublishError:
    """The asset's bytes do not hash to `expected`, whichever side hashed them; `detail` says what they hashed to."""
    return PublishError(
        "checksum_mismatch", f"The asset's sha256 is not the expected {expected}.", operator_detail=detail
    )
