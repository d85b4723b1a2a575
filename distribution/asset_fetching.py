"""Step 2: stream the MP4 from its video_url into a temporary file.

The sha256 is computed as chunks arrive, so memory use is one chunk whatever
the asset size. The file is refused early when it is not ISO-BMFF (no `ftyp`
box where MP4 puts it) or grows past the configured maximum. The asset is asked
for with `Accept-Encoding: identity` and the bytes are hashed as sent: nothing is
ever decompressed. Every connection (redirect hops included) goes through the
destination checks of `destinations.py`.

Errors tell the caller that the download failed or was refused, never what
answered (status, exception, computed hash): those go to `PublishError.detail`,
which is kept in the attempt for operators only.
"""

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from . import destinations
from .conf import app_settings
from .deadline import Deadline
from .errors import PublishError

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class FetchedAsset:
    path: Path
    size: int
    checksum: str


def _fetch_failed(url: str, detail: str) -> PublishError:
    message = f"Could not download the asset from {destinations.redact_url(url)}."
    return PublishError("asset_fetch_failed", message, http_status=502, detail=detail)


def _refused(url: str, reason: str) -> PublishError:
    message = (
        f"The asset URL {destinations.redact_url(url)} (or a redirect from it) is not a destination this service "
        "may fetch from: only public http(s) hosts, at most a few redirects."
    )
    return PublishError("asset_url_refused", message, http_status=422, detail=reason)


def _too_large(max_bytes: int) -> PublishError:
    return PublishError("asset_too_large", f"The asset is larger than the {max_bytes} byte limit.", http_status=422)


def _check_mp4_signature(head: bytes) -> None:
    if len(head) < 8 or head[4:8] != b"ftyp":
        raise PublishError(
            "not_mp4", "The asset is not an MP4 file (no ISO-BMFF 'ftyp' box at its start).", http_status=422
        )


@contextmanager
def fetched_asset(
    url: str,
    expected_checksum: str,
    *,
    max_bytes: int,
    progress: Progress | None = None,
    deadline: Deadline | None = None,
    directory: Path | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Iterator[FetchedAsset]:
    """Download `url`, verify it, and yield it as a temporary file (in `directory`) removed on exit.

    `transport` replaces the guarded transport (unit tests with httpx.MockTransport only).
    """
    handle, name = tempfile.mkstemp(prefix="distribution-", suffix=".mp4", dir=directory)
    path = Path(name)
    hooks = {"request": [deadline.clamp_timeouts]} if deadline else None
    try:
        with (
            os.fdopen(handle, "wb") as sink,
            destinations.guarded_client(transport=transport, event_hooks=hooks) as http,
        ):
            size, digest = _stream_to(sink, http, url, max_bytes, progress, deadline)
        checksum = f"sha256:{digest}"
        if checksum != expected_checksum:
            raise PublishError(
                "checksum_mismatch",
                f"The asset's sha256 is not the expected {expected_checksum}.",
                http_status=422,
                detail=f"computed {checksum}",
            )
        yield FetchedAsset(path=path, size=size, checksum=checksum)
    finally:
        path.unlink(missing_ok=True)


def _stream_to(
    sink, http: httpx.Client, url: str, max_bytes: int, progress: Progress | None, deadline: Deadline | None
) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    head = b""
    allowed_hosts = list(app_settings().asset_hosts)
    try:
        with destinations.open_stream(
            http, url, headers={"Accept-Encoding": "identity"}, allowed_hosts=allowed_hosts
        ) as response:
            if response.status_code != 200:
                raise _fetch_failed(
                    url, f"HTTP {response.status_code} from {destinations.redact_url(str(response.url))}"
                )
            declared = _declared_length(response)
            if declared and declared > max_bytes:
                raise _too_large(max_bytes)
            # Pieces as they arrive (at most 64 KiB), so a drip-feeding host still meets the deadline.
            for chunk in response.iter_raw():
                if deadline:
                    deadline.check("asset_fetch_failed", f"The download of {destinations.redact_url(url)}")
                if len(head) < 8:
                    head += chunk[: 8 - len(head)]
                    if len(head) >= 8:
                        _check_mp4_signature(head)
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(max_bytes)
                digest.update(chunk)
                sink.write(chunk)
                if progress:
                    progress(size, declared)
    except destinations.DestinationRefused as exc:
        raise _refused(url, exc.reason) from None
    except httpx.HTTPError as exc:
        raise _fetch_failed(url, f"{exc.__class__.__name__} ({exc})") from None
    _check_mp4_signature(head)
    return size, digest.hexdigest()


def _declared_length(response: httpx.Response) -> int | None:
    """Content-Length counts the bytes as sent, which are the bytes hashed; a malformed one is ignored."""
    try:
        return int(response.headers.get("content-length") or 0) or None
    except ValueError:
        return None
