"""The overall deadline of one publish run, on top of httpx's per-operation timeouts.

A per-operation timeout never fires against a host that drip-feeds a byte every
second; the pipeline checks the deadline between received pieces, and every HTTP
request's timeouts are clamped to the time left, so nothing outlives the deadline.
"""

import time

import httpx

from distribution.errors import PublishError


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()

    def check(self, code: str, what: str) -> None:
        """Raise PublishError(code) once the deadline has passed."""
        if self.remaining() <= 0:
            raise PublishError(
                code,
                f"{what} did not finish within the {self.seconds:g} s publish deadline "
                "(DISTRIBUTION_PUBLISH_DEADLINE_SECONDS).",
            )

    def clamp_timeouts(self, request: httpx.Request) -> None:
        """httpx request hook: no connect, read, write or pool wait may last beyond the deadline."""
        remaining = self.remaining()
        if remaining <= 0:
            raise httpx.TimeoutException("The publish deadline has passed.", request=request)
        timeouts = request.extensions.get("timeout", {})
        request.extensions["timeout"] = {
            name: remaining if value is None else min(value, remaining) for name, value in timeouts.items()
        }
