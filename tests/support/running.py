"""A publish that keeps running while a test looks at it: a 1 MiB asset dripped out by the asset server, run in a
thread through the same job, lease and pipeline a worker runs (jobs/runner.publish)."""

import threading
import time
from hashlib import sha256

from django.db import connections

from distribution.errors import PublishError
from distribution.jobs.runner import publish
from distribution.models import PublishJob
from tests.support.samples import SAMPLE_MP4, publish_request
from tests.support.servers import Route


class RunningPublish:
    """A publish of a 1 MiB asset dripped out over `seconds`, run in a thread as a worker would run it."""

    def __init__(self, asset_server, audit_log_id: str, seconds: float, **overrides):
        asset = SAMPLE_MP4 + bytes(2**20 - len(SAMPLE_MP4))
        pieces = [asset[i : i + 16 * 1024] for i in range(0, len(asset), 16 * 1024)]

        def drip():
            for piece in pieces:
                time.sleep(seconds / len(pieces))
                yield piece

        url = asset_server.add(f"/{audit_log_id}.mp4", Route(body=drip, length=len(asset)))
        final_edit = {"video_url": url, "duration_seconds": 2.0, "checksum": f"sha256:{sha256(asset).hexdigest()}"}
        self.request = publish_request(url, audit_log_id=audit_log_id, final_edit=final_edit, **overrides)
        self.audit_log_id = audit_log_id
        self.error: PublishError | None = None
        self.thread = threading.Thread(target=self._run, name=f"publish-{audit_log_id}")

    def _run(self) -> None:
        try:
            publish(self.request, source=PublishJob.Source.API, caller="api-key:orchestrator")
        except PublishError as error:
            self.error = error
        finally:
            connections.close_all()  # this thread's connections only

    def __enter__(self) -> PublishJob:
        self.thread.start()
        return wait_for(
            lambda: PublishJob.objects.filter(
                audit_log_id=self.audit_log_id, status="running", bytes_done__gt=0
            ).first()
        )

    def __exit__(self, *exc) -> None:
        self.thread.join(60)
        assert not self.thread.is_alive()


def wait_for(predicate, timeout: float = 30):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")
