"""Step 5: emit one JSON audit event per publish attempt.

The sink is chosen by settings.DISTRIBUTION["AUDIT_SINK"]: `log` writes one
JSON line on the `distribution.audit` logger; `webhook` POSTs the event to
AUDIT_WEBHOOK_URL and, should that fail, still writes it to the log so no
event is lost.
"""

import json
import logging
from datetime import UTC, datetime

import httpx
from django.conf import settings

logger = logging.getLogger("distribution.audit")

EVENT_FIELDS = (
    "audit_log_id",
    "project_id",
    "storage_path",
    "public_url",
    "duration_seconds",
    "checksum",
    "published_at",
    "status",
    "error_code",
)


def build_event(**values) -> dict:
    """An event always carries every field, None where a failed attempt never got that far."""
    unknown = set(values) - set(EVENT_FIELDS)
    if unknown:
        raise TypeError(f"Unknown audit event fields: {sorted(unknown)}")
    return {"event": "distribution.publish", **{field: values.get(field) for field in EVENT_FIELDS}}


def iso(moment: datetime) -> str:
    """UTC, to the second, with a Z: the timestamp format of events and records."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def emit(event: dict) -> None:
    config = settings.DISTRIBUTION
    if config["AUDIT_SINK"] == "webhook" and config["AUDIT_WEBHOOK_URL"]:
        try:
            with httpx.Client(timeout=10) as client:
                client.post(config["AUDIT_WEBHOOK_URL"], json=event).raise_for_status()
            return
        except httpx.HTTPError as exc:
            logger.warning("Audit webhook failed (%s); event written to the log instead.", exc.__class__.__name__)
    logger.info(json.dumps(event, sort_keys=True))
