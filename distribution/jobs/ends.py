"""A job's end, announced through Redis to the request waiting for it, so that request need not poll the database.

With a Redis broker (CELERY_BROKER_URL=redis://...), `finish` pushes a token onto a short-lived list per job and
`wait_for` blocks on that list (BLPOP): the waiting request wakes the moment the job ends and reads the row once.
Any other broker (the embedded filesystem one) announces nothing and `wait_for` answers None: the waiter polls.
An announcement nobody takes expires with its list; one waiter takes it, so a second waiter on the same job
wakes at the end of its own bounded wait and reads the row then.
"""

import logging
from functools import cache

from django.conf import settings

logger = logging.getLogger("distribution.jobs")

KEY = "distribution:job-ended:{}"
KEEP_SECONDS = 300  # an announcement nobody waited for is dropped after this


@cache
def _redis():
    """One client (and connection pool) per process; None when the broker is not Redis."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    import redis  # the Redis broker's own client library

    return redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


def announce(job_id: int) -> None:
    """Tell a request waiting for this job that it has ended (best effort: the waiter also re-reads the row)."""
    client = _redis()
    if client is None:
        return
    key = KEY.format(job_id)
    try:
        client.pipeline(transaction=False).rpush(key, 1).expire(key, KEEP_SECONDS).execute()
    except Exception as exc:  # the waiter falls back to its bounded wait
        logger.warning("Could not announce the end of job %s: %s", job_id, exc.__class__.__name__)


def wait_for(job_id: int, seconds: float) -> bool | None:
    """Block until the job's end is announced (True) or `seconds` pass (False); None if there is no Redis to wait on."""
    client = _redis()
    if client is None:
        return None
    try:
        # BLPOP's timeout is in seconds, fractions allowed (Redis 6+); 0 would mean for ever.
        return client.blpop([KEY.format(job_id)], timeout=max(seconds, 0.01)) is not None
    except Exception as exc:
        logger.warning("Could not wait on Redis for job %s (%s); polling instead.", job_id, exc.__class__.__name__)
        return None
