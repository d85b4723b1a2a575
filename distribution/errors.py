"""The one exception type of the publish pipeline.

Every step raises `PublishError` with a stable machine-readable `code`; the REST
view, the admin, the management commands and the MCP tool all map it to their
own surface without knowing which step failed.
"""


class PublishError(Exception):
    def __init__(self, code: str, message: str, *, http_status: int = 502, details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.details = details
        self.audit_log_id: str | None = None

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message, "audit_log_id": self.audit_log_id}
        if self.details:
            body["fields"] = self.details
        return body
