"""Emit one JSON audit event per publish job, link renewal and unpublish.

Each event carries its own `event_id` and `timestamp` (when it was emitted) beside the publish's fields
(schema in README, "Audit events"). The sink is `app_settings().audit_sink`: `log` hands the event to the
`distribution.audit` logger, whose handler in settings.LOGGING writes it as one JSON line through a JSON
formatter; `webhook` POSTs it to `audit_webhook_url`
(through the destination checks) and, should that fail or be refused, still logs it so no event is lost.
"""

import logging
import uuid
from datetime import UTC, datetime

import httpx

from distribution.conf import app_settings
from distribution.outbound import destinations

EVENT = "distribution.publish"
EVENT_FIELDS = (
    "audit_log_id",
    "project_id",
    "storage_path",
    "public_url",
    "expires_at",
    "duration_seconds",
    "checksum",
    "published_at",
    "unpublished_at",
    "unpublish_reason",
    "caller",
    "status",
    "error_code",
)

audit_log = logging.getLogger("distribution.audit")
logger = logging.getLogger(__name__)


def build_event(**values) -> dict:
    """A new event: always every field, None where a failed job never got that far."""
    unknown = set(values) - set(EVENT_FIELDS)
    if unknown:
        raise TypeError(f"Unknown audit event fields: {sorted(unknown)}")
    return {
        "event": EVENT,
        "event_id": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        **{field: values.get(field) for field in EVENT_FIELDS},
    }


def emit(event: dict) -> None:
    config = app_settings()
    if config.audit_sink == "webhook" and config.audit_webhook_url:
        try:
            destinations.post(config.audit_webhook_url, json=event, timeout=10).raise_for_status()
            return
        except destinations.DestinationRefused as exc:
            logger.warning("Audit webhook refused (%s); event written to the log instead.", exc.reason)
        except httpx.HTTPError as exc:
            logger.warning("Audit webhook failed (%s); event written to the log instead.", exc.__class__.__name__)
    # The formatter (settings.LOGGING "audit") writes the message as "event" and the extra fields beside it.
    audit_log.info(event["event"], extra={key: value for key, value in event.items() if key != "event"})
