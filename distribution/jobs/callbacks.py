"""Job callbacks: when a job ends, its final body is POSTed to the request's callback_url, signed.

The signature is Stripe-style: `Distribution-Signature: t=<unix time>,v1=<hex>`, where the hex
is HMAC-SHA256 with DISTRIBUTION_CALLBACK_SECRET over `<t>.<body>`. Every attempt is recorded
as a CallbackDelivery; a failed one is tried again later (tasks.deliver_callback), but only the
delivery is repeated, never the publish.
"""

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

import httpx
from celery import current_app
from django.utils import timezone

from distribution.conf import app_settings
from distribution.jobs.bodies import job_body
from distribution.models import CallbackDelivery, PublishJob
from distribution.outbound import destinations

SIGNATURE_HEADER = "Distribution-Signature"
DELIVER_TASK = "distribution.jobs.tasks.deliver_callback"
logger = logging.getLogger("distribution.jobs")


def schedule(job: PublishJob) -> None:
    """Queue the delivery of an ended job's body, if it asked for a callback.

    The task is looked up by name, not imported: tasks.py imports this module (apps.ready registers it).
    """
    if not job.callback_url:
        return
    try:
        current_app.tasks[DELIVER_TASK].delay(job.pk)
    except Exception:
        logger.exception("Could not schedule the callback of job %s", job.pk)


def sign(body: bytes, timestamp: int, secret: str) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def send(url: str, body: bytes, headers: dict) -> httpx.Response:
    """The one outgoing request of callbacks, through the destination checks; redirects are not followed."""
    return destinations.post(url, content=body, headers=headers, timeout=app_settings().callback_timeout_seconds)


def retry_delay(attempt: int) -> float | None:
    """Seconds before the attempt after `attempt`, or None when the delivery gives up."""
    delays = app_settings().callback_retry_delays
    return delays[attempt - 1] if attempt <= len(delays) else None


def deliver(job_id: int, attempt: int) -> bool:
    """POST the job's body to its callback_url once and record the attempt; True if the receiver took it (2xx)."""
    job = PublishJob.objects.get(pk=job_id)
    body = json.dumps(job_body(job), separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "distribution-callbacks",
        SIGNATURE_HEADER: sign(body, int(time.time()), app_settings().callback_secret),
        "Distribution-Delivery-Attempt": str(attempt),
    }
    started = time.monotonic()
    status_code, error = None, ""
    try:
        status_code = send(job.callback_url, body, headers).status_code
        if not 200 <= status_code < 300:
            error = f"The receiver answered HTTP {status_code}."
    except httpx.HTTPError as exc:
        error = f"No answer from the receiver: {exc.__class__.__name__}."
    except destinations.DestinationRefused as refused:
        error = f"The callback URL is not a destination this service may contact: {refused.reason}"
    delay = retry_delay(attempt) if error else None
    CallbackDelivery.objects.create(
        job=job,
        attempt=attempt,
        url=job.callback_url,
        delivered=not error,
        status_code=status_code,
        error=error,
        duration_ms=round((time.monotonic() - started) * 1000),
        next_attempt_at=timezone.now() + timedelta(seconds=delay) if delay is not None else None,
    )
    return not error
