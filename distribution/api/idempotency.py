"""`Idempotency-Key` on POST /api/distribution/publish, with Stripe's semantics.

It lives with the REST surface because it is about the API's answers: a retry after a timeout must
get the answer of the request that already ran, not start a second transfer. The jobs layer below
needs no notion of it: a key maps to the job its first request started, and the retry is answered
from that job as it is now (202 with the job while it runs, then its record or error).

- Keys are per caller: another caller's same key is another key.
- The same key with the same body (as parsed JSON) within IDEMPOTENCY_KEY_TTL: that job, no new one.
- The same key with another body: 422 idempotency_key_reused; nothing is done.
- A request refused before it became a job (invalid, 409 publish_in_progress) stores nothing, as
  Stripe stores nothing for a request that did not start executing: a retry is judged afresh.
- Expired keys are ignored and deleted when the caller's next keyed request comes.
"""

import hashlib
import json
import time
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from distribution.errors import PublishError
from distribution.models import IdempotencyKey, PublishJob

HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# A retry that arrives while its first request is still being submitted waits for the job this long.
SUBMIT_WAIT_SECONDS = 10.0


def request_hash(payload) -> str:
    """sha256 of the body as parsed JSON, keys sorted: the same request however its JSON is spaced or ordered."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def start_once(key: str, caller: str, payload, start: Callable[[], PublishJob]) -> PublishJob:
    """The job of this caller's key: the one its first request started, else `start()`'s (remembered under the key).

    Raises PublishError: invalid_request (a key that is empty or too long), idempotency_key_reused, or
    what `start()` raises (then the key is forgotten).
    """
    if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise PublishError(
            "invalid_request",
            "Invalid request.",
            fields={HEADER: [f"1 to {MAX_KEY_LENGTH} printable characters."]},
        )
    digest = request_hash(payload)
    IdempotencyKey.objects.filter(caller=caller, created_at__lt=timezone.now() - IDEMPOTENCY_KEY_TTL).delete()
    try:
        with transaction.atomic():
            entry = IdempotencyKey.objects.create(
                key=key, caller=caller, request_hash=digest, created_at=timezone.now()
            )
    except IntegrityError:
        return _replayed(key, caller, digest)
    try:
        job = start()
    except BaseException:
        entry.delete()
        raise
    entry.job = job
    entry.save(update_fields=["job"])
    return job


def _replayed(key: str, caller: str, digest: str) -> PublishJob:
    """The job the key's first request started; waits for it while that request is still submitting."""
    until = time.monotonic() + SUBMIT_WAIT_SECONDS
    while True:
        entry = IdempotencyKey.objects.filter(key=key, caller=caller).select_related("job").first()
        if entry is not None and entry.request_hash != digest:
            raise PublishError(
                "idempotency_key_reused",
                f"This {HEADER} was used with another request body within the last 24 hours; "
                "use a new key for a new request.",
            )
        if entry is not None and entry.job is not None:
            return entry.job
        if entry is None or time.monotonic() >= until:
            # The first request was refused (its key forgotten) or is stuck submitting: judge this one afresh.
            raise _Retry()
        time.sleep(0.05)


class _Retry(Exception):
    """The key's first request left no job: start this request as a new one."""


def job_for(key: str, caller: str, payload, start: Callable[[], PublishJob]) -> PublishJob:
    """start_once(), taking over a key whose first request left no job."""
    for _ in range(3):
        try:
            return start_once(key, caller, payload, start)
        except _Retry:
            continue
    raise PublishError(
        "publish_in_progress",
        f"A request with this {HEADER} is still being submitted; try again shortly.",
    )
