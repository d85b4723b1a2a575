"""Stream the MP4 from its video_url, verifying it as it passes.

`AssetStream` yields the asset's bytes as they arrive, so the upload sends each piece on
while the download goes on: no temporary file, and memory use is one chunk whatever the
asset size. The sha256 is computed on the way (unless the receiver computes it: PayloadCMS's
upsert endpoint keeps a body only if it matches); a mismatch raises at the end of the
iteration, before the last piece is acknowledged, so the consumer (the upload to the
bucket) aborts instead of completing. The asset is refused early when
it is not ISO-BMFF (no `ftyp` box where MP4 puts it) or grows past the configured maximum.
It is asked for with `Accept-Encoding: identity` and the bytes are hashed as sent: nothing
is ever decompressed. Every connection (redirect hops included) goes through the
destination checks of `destinations.py`.

Errors tell the caller that the download failed or was refused, never what answered
(status, exception, computed hash): those go to `PublishError.operator_detail`, which is kept in
the job for operators only.
"""

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import httpx

from distribution.conf import app_settings
from distribution.errors import PublishError, checksum_mismatch
from distribution.outbound import destinations
from distribution.outbound.deadline import Deadline
from distribution.outbound.redaction import redact_url

Progress = Callable[[int, int | None], None]


def _fetch_failed(url: str, detail: str) -> PublishError:
    message = f"Could not download the asset from {redact_url(url)}."
    return PublishError("asset_fetch_failed", message, operator_detail=detail)


def _refused(url: str, reason: str) -> PublishError:
    message = (
        f"The asset URL {redact_url(url)} (or a redirect from it) is not a destination this service "
        "may fetch from: only public http(s) hosts, at most a few redirects."
    )
    return PublishError("asset_url_refused", message, operator_detail=reason)


def _too_large(max_bytes: int) -> PublishError:
    return PublishError("asset_too_large", f"The asset is larger than the {max_bytes} byte limit.")


class LowSpeedWatch:
    """curl's low-speed limit: fewer than `limit` bytes a second over `seconds` of waiting on the host fails.

    Only the time spent waiting for the asset host's next piece counts, not the time the consumer (the
    upload) takes between pieces: a slow PayloadCMS is not the asset host's fault.
    """

    def __init__(self, url: str, limit: int, seconds: float):
        self.url, self.limit, self.seconds = url, limit, seconds
        self._bytes, self._waited = 0, 0.0

    def add(self, size: int, waited: float) -> None:
        self._bytes += size
        self._waited += waited
        if self._waited < self.seconds:
            return
        if self._bytes < self.limit * self._waited:
            raise self.failure(f"{self._bytes} bytes in {self._waited:.1f} s of waiting")
        self._bytes, self._waited = 0, 0.0

    def failure(self, measured: str) -> PublishError:
        message = (
            f"Could not download the asset from {redact_url(self.url)}: the host sent less than "
            f"{self.limit} bytes per second over {self.seconds:g} s (DISTRIBUTION_LOW_SPEED_LIMIT_BYTES, "
            "DISTRIBUTION_LOW_SPEED_SECONDS)."
        )
        return PublishError("asset_fetch_failed", message, operator_detail=f"too slow: {measured}")

    def clamp_read_timeout(self, request: httpx.Request) -> None:
        """httpx request hook: a host silent for the whole window is as slow as it gets."""
        timeouts = request.extensions.get("timeout", {})
        read = timeouts.get("read")
        request.extensions["timeout"] = {**timeouts, "read": self.seconds if read is None else min(read, self.seconds)}


def _check_mp4_signature(head: bytes) -> None:
    if len(head) < 8 or head[4:8] != b"ftyp":
        raise PublishError("not_mp4", "The asset is not an MP4 file (no ISO-BMFF 'ftyp' box at its start).")


class AssetStream:
    """The asset at `url`, opened on entry and iterated as verified chunks.

        with AssetStream(url, "sha256:...", max_bytes=...) as asset:
            upload(asset)          # iterating raises PublishError on any fault, checksum_mismatch last
            asset.size, asset.checksum, asset.fetch_ms

    Entering connects and checks the answer (status, declared size), so a refused or missing
    asset fails before anything is sent anywhere. A consumer whose receiver verifies the checksum
    itself (PayloadCMS's upsert endpoint) sets `receiver_verifies_checksum` before iterating: the
    bytes are then not hashed here a second time. `failure` keeps the error the iteration
    raised: a consumer that sees its upload fail can tell the asset's fault from its own.
    `transport` replaces the guarded transport (unit tests with httpx.MockTransport only).
    """

    def __init__(
        self,
        url: str,
        expected_checksum: str,
        *,
        max_bytes: int,
        progress: Progress | None = None,
        deadline: Deadline | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.url = url
        self._what = f"The download of {redact_url(url)}"  # said when the deadline passes (checked per piece)
        self.expected_checksum = expected_checksum
        self.max_bytes = max_bytes
        self.progress = progress
        self.deadline = deadline
        self.transport = transport
        self.declared_size: int | None = None
        self.size = 0
        self.checksum: str | None = None
        self.receiver_verifies_checksum = False
        self.fetch_ms: int | None = None
        self.failure: PublishError | None = None
        self._low_speed: LowSpeedWatch | None = None
        self._response: httpx.Response | None = None
        self._resources = ExitStack()

    def __enter__(self) -> "AssetStream":
        self._started = time.monotonic()
        config = app_settings()
        self._low_speed = (
            LowSpeedWatch(self.url, config.low_speed_limit_bytes, config.low_speed_seconds)
            if config.low_speed_limit_bytes > 0
            else None
        )
        request_hooks = [self.deadline.clamp_timeouts] if self.deadline else []
        if self._low_speed:
            request_hooks.append(self._low_speed.clamp_read_timeout)
        hooks = {"request": request_hooks}
        try:
            with _translated_errors(self.url):
                http = self._resources.enter_context(
                    destinations.guarded_client(transport=self.transport, event_hooks=hooks)
                )
                response = self._resources.enter_context(
                    destinations.open_stream(
                        http,
                        self.url,
                        headers={"Accept-Encoding": "identity"},
                        allowed_hosts=list(config.asset_hosts),
                    )
                )
                if response.status_code != 200:
                    answer = f"HTTP {response.status_code} from {redact_url(str(response.url))}"
                    if 300 <= response.status_code < 400:
                        answer += " without a usable Location"
                    raise _fetch_failed(self.url, answer)
                self.declared_size = destinations.declared_length(response) or None
                if self.declared_size and self.declared_size > self.max_bytes:
                    raise _too_large(self.max_bytes)
        except BaseException:
            self._resources.close()
            raise
        self._response = response
        return self

    def __exit__(self, *exc) -> None:
        self._resources.close()

    def __iter__(self) -> Iterator[bytes]:
        assert self._response is not None, "enter the AssetStream before iterating it"
        try:
            yield from self._verified_chunks(self._response)
        except PublishError as error:
            self.failure = error
            raise

    def reopen(self) -> None:
        """Start the download again from its first byte (its first reading was cut off, e.g. by a refused upload)."""
        self._resources.close()
        self._resources = ExitStack()
        self.size, self.checksum, self.failure = 0, None, None
        self.receiver_verifies_checksum = False
        self.__enter__()

    def drain(self) -> None:
        """Read the whole asset, verifying it, and keep nothing (a dry run)."""
        for _ in self:
            pass

    def _verified_chunks(self, response: httpx.Response) -> Iterator[bytes]:
        digest = None if self.receiver_verifies_checksum else hashlib.sha256()
        head = b""
        with _translated_errors(self.url):
            # Pieces as they arrive (at most destinations.MAX_READ_BYTES), so a drip-feeding host meets the
            # low-speed limit and the deadline.
            for chunk in self._timed_pieces(response):
                if self.deadline:
                    self.deadline.check("asset_fetch_failed", self._what)
                if len(head) < 8:
                    head += chunk[: 8 - len(head)]
                    if len(head) >= 8:
                        _check_mp4_signature(head)
                self.size += len(chunk)
                if self.size > self.max_bytes:
                    raise _too_large(self.max_bytes)
                if digest:
                    digest.update(chunk)
                if self.progress:
                    self.progress(self.size, self.declared_size)
                yield chunk
        _check_mp4_signature(head)
        self.fetch_ms = round((time.monotonic() - self._started) * 1000)
        if digest is None:
            return
        checksum = f"sha256:{digest.hexdigest()}"
        if checksum != self.expected_checksum:
            raise checksum_mismatch(self.expected_checksum, f"computed {checksum}")
        self.checksum = checksum

    def _timed_pieces(self, response: httpx.Response) -> Iterator[bytes]:
        """The raw pieces, each timed against the low-speed limit."""
        pieces = destinations.iter_body(response)
        while True:
            waiting_since = time.monotonic()
            try:
                piece = next(pieces)
            except StopIteration:
                return
            except httpx.ReadTimeout:
                if self.deadline:
                    self.deadline.check("asset_fetch_failed", self._what)
                if self._low_speed:
                    raise self._low_speed.failure("no byte within the read timeout") from None
                raise
            if self._low_speed:
                self._low_speed.add(len(piece), time.monotonic() - waiting_since)
            yield piece


@contextmanager
def _translated_errors(url: str) -> Iterator[None]:
    """Turn the transport's refusals and faults into the pipeline's PublishErrors."""
    try:
        yield
    except destinations.DestinationRefused as exc:
        raise _refused(url, exc.reason) from None
    except httpx.HTTPError as exc:
        raise _fetch_failed(url, f"{exc.__class__.__name__} ({exc})") from None
