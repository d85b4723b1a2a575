"""Steps 3 and 4: talk to PayloadCMS's REST API.

PayloadCMS is the only store of distribution data: uploaded files live in the
`media` upload collection, and one `distributionRecords` document per
audit_log_id describes each publish. Authentication uses Payload's API-key
header; the key is never put into messages or exceptions.
"""

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
from django.conf import settings

from .asset_fetching import Progress
from .errors import PublishError

MEDIA = "media"
DISTRIBUTION_RECORDS = "distributionRecords"


class _ReportingFile(io.FileIO):
    """A file httpx streams into the multipart body chunk by chunk, reporting bytes read."""

    def __init__(self, path: Path, progress: Progress | None):
        super().__init__(path, "rb")
        self._progress = progress
        self._total = os.fstat(self.fileno()).st_size
        self._done = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self._done += len(chunk)
        if self._progress and chunk:
            self._progress(self._done, self._total)
        return chunk


class PayloadCMSClient:
    def __init__(self, http: httpx.Client, base_url: str, api_key: str, auth_collection: str = "users"):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._headers = {"Authorization": f"{auth_collection} API-Key {api_key}"} if api_key else {}

    @classmethod
    def from_settings(cls, http: httpx.Client) -> "PayloadCMSClient":
        return cls(http, settings.PAYLOADCMS_URL, settings.PAYLOADCMS_API_KEY, settings.PAYLOADCMS_AUTH_COLLECTION)

    # -- reads -----------------------------------------------------------------
    def find_by_audit_log_id(self, collection: str, audit_log_id: str) -> dict | None:
        params = {"where[audit_log_id][equals]": audit_log_id, "limit": 1, "depth": 0}
        docs = self._request("GET", f"/api/{collection}", "cms_read_failed", params=params)["docs"]
        return docs[0] if docs else None

    def iter_documents(
        self, collection: str, page_size: int = 100, where: dict[str, dict[str, str]] | None = None
    ) -> Iterator[tuple[dict, int]]:
        """Yield (document, total count) over every page of a collection, oldest first.

        `where` is Payload's query, e.g. {"project_id": {"equals": "p1"}}.
        """
        filters = {f"where[{field}][{op}]": value for field, ops in (where or {}).items() for op, value in ops.items()}
        page = 1
        while True:
            params = {**filters, "limit": page_size, "page": page, "depth": 0, "sort": "createdAt"}
            body = self._request("GET", f"/api/{collection}", "cms_read_failed", params=params)
            for doc in body["docs"]:
                yield doc, body["totalDocs"]
            if not body.get("hasNextPage"):
                return
            page += 1

    # -- writes ----------------------------------------------------------------
    def upload_media(self, file_path: Path, storage_path: str, fields: dict, progress: Progress | None = None) -> dict:
        """Upload the file to `media`; an existing document for the same audit_log_id gets the new file."""
        existing = self.find_by_audit_log_id(MEDIA, fields["audit_log_id"])
        method, url = ("PATCH", f"/api/{MEDIA}/{existing['id']}") if existing else ("POST", f"/api/{MEDIA}")
        filename = storage_path.rsplit("/", 1)[-1]
        with _ReportingFile(file_path, progress) as stream:
            body = self._request(
                method,
                url,
                "cms_upload_failed",
                data={"_payload": json.dumps({**fields, "storage_path": storage_path})},
                files={"file": (filename, stream, "video/mp4")},
            )
        return body["doc"]

    def upsert_distribution_record(self, record: dict) -> dict:
        existing = self.find_by_audit_log_id(DISTRIBUTION_RECORDS, record["audit_log_id"])
        if existing:
            url, method = f"/api/{DISTRIBUTION_RECORDS}/{existing['id']}", "PATCH"
        else:
            url, method = f"/api/{DISTRIBUTION_RECORDS}", "POST"
        return self._request(method, url, "cms_record_failed", json=record)["doc"]

    def absolute_url(self, url: str) -> str:
        """Payload answers local-disk file URLs relative to its own server."""
        return urljoin(self.base_url + "/", url) if url else ""

    # -- plumbing --------------------------------------------------------------
    def _request(self, method: str, path: str, error_code: str, **kwargs) -> dict:
        try:
            response = self.http.request(method, self.base_url + path, headers=self._headers, **kwargs)
        except httpx.HTTPError as exc:
            raise PublishError(
                "cms_unavailable", f"PayloadCMS at {self.base_url} did not answer: {exc.__class__.__name__}."
            ) from None
        if response.status_code in (401, 403):
            raise PublishError(
                "cms_auth_failed",
                f"PayloadCMS refused our credentials (HTTP {response.status_code}) for {method} {path}; "
                "check PAYLOADCMS_API_KEY.",
            )
        if response.status_code >= 400:
            raise PublishError(
                error_code,
                f"PayloadCMS answered HTTP {response.status_code} for {method} {path}: {self._reason(response)}",
            )
        try:
            return response.json()
        except ValueError:
            raise PublishError(error_code, f"PayloadCMS answered {method} {path} with a non-JSON body.") from None

    def _reason(self, response: httpx.Response) -> str:
        try:
            errors = response.json().get("errors") or []
            reason = "; ".join(str(error.get("message", error)) for error in errors) or response.text
        except (ValueError, AttributeError):
            reason = response.text
        reason = reason[:300]
        return reason.replace(self._api_key, "[redacted]") if self._api_key else reason
