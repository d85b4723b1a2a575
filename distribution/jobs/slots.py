"""At most DISTRIBUTION_MAX_PUBLISHES_PER_HOST publishes of one asset host at once in a worker process.

A worker runs many publishes in threads; without a cap, one slow host can take every thread. A job whose
host has no free slot goes back to the queue for a moment (see tasks.run_publish_job) instead of holding a
thread while it waits, so other hosts' jobs go ahead.
"""

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from distribution.conf import app_settings
from distribution.models import PublishJob

_lock = threading.Lock()
_running: Counter[str] = Counter()


def asset_host(job_id: int) -> str:
    """The host of the job's video_url ("" for a job that is gone or has none)."""
    fetch_url = PublishJob.objects.filter(pk=job_id).values_list("fetch_url", flat=True).first() or ""
    try:
        return (urlsplit(fetch_url).hostname or "").lower()
    except ValueError:
        return ""


@contextmanager
def slot_for(job_id: int) -> Iterator[bool]:
    """A slot of the job's asset host (see host_slot); with no cap, one at once, without looking the host up."""
    if not app_settings().max_publishes_per_host:
        yield True
        return
    with host_slot(asset_host(job_id)) as slot:
        yield slot


@contextmanager
def host_slot(host: str) -> Iterator[bool]:
    """Take one of `host`'s slots for the block: yields False, taking nothing, when all are taken."""
    cap = app_settings().max_publishes_per_host
    with _lock:
        taken = not cap or _running[host] < cap
        if taken:
            _running[host] += 1
    try:
        yield taken
    finally:
        if taken:
            with _lock:
                _running[host] -= 1
                if not _running[host]:
                    del _running[host]
