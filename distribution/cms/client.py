"""Talk to PayloadCMS's REST API.

PayloadCMS is the only store of distribution data: uploaded files live in the
`media` upload collection, and one `distributionRecords` document per
audit_log_id describes each publish. Authentication uses Payload's API-key
header; the key is never put into messages or exceptions.

Whatever PayloadCMS answers, the client raises a `cms_*` PublishError rather than
a KeyError or ValueError: a 2xx answer that is not JSON or lacks `doc`/`docs` is
`cms_bad_response`. PayloadCMS signs the download links: a record's `public_url`
and `expires_at` are always its own.
"""

import logging
from collections.abc import Iterable, Iterator

import httpx
from django.conf import settings

from distribution.conf import app_settings
from distribution.errors import PublishError, checksum_mismatch
from distribution.outbound.clients import new_client

MEDIA = "media"
DISTRIBUTION_RECORDS = "distributionRecords"


class RefusedForSize(PublishError):
    """PayloadCMS refused an upload for its size (HTTP 413): the direct path to the bucket may take it."""


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
        docs = _docs(self._request("GET", f"/api/{collection}", "cms_read_failed", params=params), collection)
        return docs[0] if docs else None

    def iter_documents(
        self, collection: str, page_size: int = 100, where: dict[str, dict[str, str]] | None = None
    ) -> Iterator[tuple[dict, int]]:
        """Yield (document, total count) over every page of a collection, oldest first.

        `where` is Payload's query, e.g. {"project_id": {"equals": "p1"}}.
        """
        filters = _where_params(where or {})
        page = 1
        while True:
            params = {**filters, "limit": page_size, "page": page, "depth": 0, "sort": "createdAt"}
            body = self._request("GET", f"/api/{collection}", "cms_read_failed", params=params)
            docs = _docs(body, collection)
            total = body.get("totalDocs")
            if not isinstance(total, int):
                raise _bad_response(f"PayloadCMS listed {collection} without a totalDocs count.")
            for doc in docs:
                yield doc, total
            if not body.get("hasNextPage"):
                return
            page += 1

    # -- writes ----------------------------------------------------------------
    def upsert_media(
        self, content: Iterable[bytes], storage_path: str, fields: dict, *, size: int | None = None
    ) -> tuple[dict, bool]:
        """Send the file to `media` as it streams in; answer (document, created).

        One request to the plugin's upsert endpoint: Payload writes the body to a file while
        hashing it and, only if it matches `fields["checksum"]`, creates the document for its
        audit_log_id or gives the existing one the new file. `content` raising (the asset
        failed its checks) aborts the request mid-body, and Payload keeps nothing; its refusal of a
        body that does not match (422) raises checksum_mismatch. A known `size` is sent as
        Content-Length, so Payload can refuse an asset over its limit before reading it.
        """
        params = {**fields, "storage_path": storage_path}
        try:
            body = self._request(
                "PUT",
                f"/api/{MEDIA}/upsert",
                "cms_upload_failed",
                params=params,
                content=content,
                headers={"Content-Type": "video/mp4", **({"Content-Length": str(size)} if size is not None else {})},
                refusals={422: "checksum_mismatch"},
            )
        except PublishError as error:
            if error.code != "checksum_mismatch":
                raise
            raise checksum_mismatch(fields["checksum"], f"PayloadCMS: {error.message}") from None
        return _doc(body, MEDIA), body.get("created") is True

    def register_media(self, storage_path: str, fields: dict, *, filesize: int) -> tuple[dict, bool]:
        """Make the object already stored at `storage_path` in the bucket the media document; (document, created)."""
        record = {**fields, "storage_path": storage_path, "filesize": filesize, "mimeType": "video/mp4"}
        body = self._request("PUT", f"/api/{MEDIA}/register", "cms_upload_failed", json=record)
        return _doc(body, MEDIA), body.get("created") is True

    def delete_media(self, doc_id) -> None:
        """Delete a media document; Payload's storage adapter deletes its file with it."""
        if doc_id in (None, ""):
            raise _bad_response("PayloadCMS listed a media document without an id.")
        self._request("DELETE", f"/api/{MEDIA}/{doc_id}", "cms_delete_failed")

    def upsert_distribution_record(self, record: dict) -> dict:
        """Create the record for its audit_log_id, or update the one there is (one request, one transaction)."""
        body = self._request("PUT", f"/api/{DISTRIBUTION_RECORDS}/upsert", "cms_record_failed", json=record)
        return _doc(body, DISTRIBUTION_RECORDS)

    def renew_link(self, audit_log_id: str, url_expiry_hours: float | None) -> dict:
        """Have PayloadCMS sign a fresh link for the record's file (no byte moves); the updated record document.

        `url_expiry_hours` None keeps the record's own lifetime. Unknown id: record_not_found; an unpublished
        record has no file to link to: record_unpublished.
        """
        body = {"audit_log_id": audit_log_id, "url_expiry_hours": url_expiry_hours}
        answer = self._request(
            "POST",
            f"/api/{DISTRIBUTION_RECORDS}/link",
            "cms_record_failed",
            json=body,
            refusals={404: "record_not_found", 409: "record_unpublished"},
        )
        return _doc(answer, DISTRIBUTION_RECORDS)

    def unpublish_record(self, audit_log_id: str, reason: str) -> dict:
        """Delete the record's media document and file, keep the record as a tombstone; the tombstone.

        Idempotent on Payload's side: a second call answers the first tombstone. Unknown id: record_not_found.
        """
        answer = self._request(
            "POST",
            f"/api/{DISTRIBUTION_RECORDS}/unpublish",
            "cms_record_failed",
            json={"audit_log_id": audit_log_id, "reason": reason or None},
            refusals={404: "record_not_found"},
        )
        return _doc(answer, DISTRIBUTION_RECORDS)

    def find_records(self, where: dict, *, sort: list[str], limit: int) -> list[dict]:
        """The first `limit` `distributionRecords` matching Payload's `where` query, in `sort` order."""
        params = {**_where_params(where), "limit": limit, "depth": 0, "sort": ",".join(sort)}
        return _docs(self._request("GET", f"/api/{DISTRIBUTION_RECORDS}", "cms_read_failed", params=params), "records")

    # -- plumbing --------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        error_code: str,
        *,
        headers: dict | None = None,
        refusals: dict[int, str] | None = None,
        **kwargs,
    ) -> dict:
        """PayloadCMS's JSON answer; a failure raises `error_code`, or the code `refusals` names for its status."""
        try:
            response = self.http.request(
                method, self.base_url + path, headers={**self._headers, **(headers or {})}, **kwargs
            )
        except (httpx.InvalidURL, UnicodeError):  # UnicodeError: a host IDNA cannot encode
            raise PublishError(
                "cms_unavailable", f"{self.base_url}{path} is not a valid URL; check PAYLOADCMS_URL."
            ) from None
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
        if response.status_code in (refusals or {}):
            assert refusals is not None
            raise PublishError(refusals[response.status_code], self._reason(response))
        if response.status_code >= 400:
            raise (RefusedForSize if response.status_code == 413 else PublishError)(
                error_code,
                f"PayloadCMS answered HTTP {response.status_code} for {method} {path}: {self._reason(response)}",
            )
        try:
            body = response.json()
        except ValueError:
            raise _bad_response(f"PayloadCMS answered {method} {path} with a body that is not JSON.") from None
        if not isinstance(body, dict):
            raise _bad_response(f"PayloadCMS answered {method} {path} with JSON that is not an object.")
        return body

    def _reason(self, response: httpx.Response) -> str:
        try:
            errors = response.json().get("errors") or []
            reason = "; ".join(str(error.get("message", error)) for error in errors) or response.text
        except (ValueError, AttributeError):
            reason = response.text
        reason = reason[:300]
        return reason.replace(self._api_key, "[redacted]") if self._api_key else reason


def remove_unrecorded_upload(audit_log_id: str, storage_path: str) -> str:
    """Delete what a failed publish uploaded for `audit_log_id`, unless its record exists; say what happened.

    With a record, the publish completed in PayloadCMS (record and file agree), so all stays.
    Otherwise the media document goes (Payload deletes its file). With the direct path on, an
    upload that was not registered yet is only an object in the bucket: that is deleted instead.
    Uses a client of its own: the failed run's client may be what failed (its deadline passed).
    """
    logger = logging.getLogger("distribution.publishing")
    try:
        with new_client() as http:
            cms = PayloadCMSClient.from_settings(http)
            if cms.find_by_audit_log_id(DISTRIBUTION_RECORDS, audit_log_id):
                return "PayloadCMS has its record: the publish completed there, its media document is kept."
            media = cms.find_by_audit_log_id(MEDIA, audit_log_id)
            if media is not None:
                cms.delete_media(media.get("id"))
                return "The new media document and its file were deleted from PayloadCMS."
    except PublishError as cleanup:
        if cleanup.code == "cms_auth_failed" and app_settings().s3_bucket:
            # PayloadCMS refuses our credentials: it registered nothing of this publish, only the bucket holds it.
            from distribution.storage.multipart import delete_object

            return delete_object(storage_path)
        logger.error("Could not delete the new media document of %s: %s", audit_log_id, cleanup.message)
        return (
            f"The new media document for {audit_log_id} could not be deleted ({cleanup.code}); "
            "delete it in PayloadCMS so its file is not left downloadable."
        )
    if app_settings().s3_bucket:
        from distribution.storage.multipart import delete_object  # loaded only where the direct path is taken

        return delete_object(storage_path)
    return "No media document was left in PayloadCMS."


def _bad_response(message: str) -> PublishError:
    return PublishError("cms_bad_response", message)


def _doc(body: dict, collection: str) -> dict:
    doc = body.get("doc")
    if not isinstance(doc, dict) or doc.get("id") in (None, ""):
        raise _bad_response(f"PayloadCMS answered a {collection} write without the document ('doc' with an 'id').")
    return doc


def _where_params(where: dict) -> dict[str, str]:
    """Payload's query-string form of a `where` query: {"and": [{"a": {"equals": 1}}]} -> where[and][0][a][equals]=1."""
    params: dict[str, str] = {}

    def walk(node, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}[{key}]")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{prefix}[{index}]")
        else:
            params[prefix] = "true" if node is True else "false" if node is False else str(node)

    walk(where, "where")
    return params


def _docs(body: dict, collection: str) -> list[dict]:
    docs = body.get("docs")
    if not isinstance(docs, list) or not all(isinstance(doc, dict) for doc in docs):
        raise _bad_response(f"PayloadCMS answered a {collection} lookup without a 'docs' list.")
    return docs
