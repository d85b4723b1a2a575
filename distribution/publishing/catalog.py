"""Read the records PayloadCMS holds: one by audit_log_id (republish.cms_record), or a page of a listing.

A listing pages by an opaque cursor over the records' PayloadCMS ids, ascending: a record keeps its id
for life (a re-publish updates it in place) and a new record gets a higher one, so paging while others
publish repeats and skips nothing; records created meanwhile show up on a later page.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

import httpx

from distribution.cms import mirror
from distribution.cms.client import PayloadCMSClient
from distribution.errors import PublishError
from distribution.publishing.pipeline import as_publish_error, http_client
from distribution.records import distribution_record, iso

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class RecordQuery:
    """Which records a listing shows: a project, published at or after a moment, tombstones or not."""

    project_id: str | None = None
    published_after: datetime | None = None
    include_unpublished: bool = False
    limit: int = DEFAULT_PAGE_SIZE


@dataclass
class RecordPage:
    records: list[dict]  # distribution_record shapes
    next_cursor: str | None  # None: this was the last page


def list_records(query: RecordQuery, cursor: str | None = None, *, http: httpx.Client | None = None) -> RecordPage:
    """One page of records matching `query`, after `cursor` (from the previous page); the mirror refreshed on the way.

    PublishError: invalid_request (a limit out of range, a cursor this did not make), cms_*.
    """
    if not 1 <= query.limit <= MAX_PAGE_SIZE:
        raise _invalid("limit", f"From 1 to {MAX_PAGE_SIZE}.")
    conditions: list[dict] = []
    if cursor is not None:
        conditions.append({"id": {"greater_than": _after_id(cursor)}})
    if query.project_id:
        conditions.append({"project_id": {"equals": query.project_id}})
    if query.published_after:
        conditions.append({"published_at": {"greater_than_equal": iso(query.published_after)}})
    if not query.include_unpublished:
        conditions.append({"unpublished_at": {"exists": False}})
    try:
        with http_client(http) as client:
            # One more than asked: whether a next page exists, without counting.
            docs = PayloadCMSClient.from_settings(client).find_records(
                {"and": conditions} if conditions else {}, sort=["id"], limit=query.limit + 1
            )
    except Exception as exc:
        raise as_publish_error(exc) from None
    page, more = docs[: query.limit], len(docs) > query.limit
    for doc in page:
        mirror.store(doc)
    return RecordPage([distribution_record(doc) for doc in page], _cursor_after(page[-1]) if more else None)


def _cursor_after(doc: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": doc["id"]}).encode()).decode().rstrip("=")


def _after_id(cursor: str):
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        after = None
    if isinstance(after, bool) or not isinstance(after, int | str):
        raise _invalid("cursor", "Not a cursor of this listing: use the `next` link a page answered.")
    return after


def _invalid(field: str, message: str) -> PublishError:
    return PublishError("invalid_request", "Invalid request.", fields={field: [message]})
