"""Step 2: stream the MP4 from its video_url into a temporary file.

The sha256 is computed as chunks arrive, so memory use is one chunk whatever
the asset size. The file is refused early when it is not ISO-BMFF (no `ftyp`
box where MP4 puts it) or grows past the configured maximum.
"""

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from .deadline import Deadline
from .errors import PublishError

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class FetchedAsset:
    path: Path
    size: int
    checksum: str


def _without_query(url: str) -> str:
    """Signed URLs carry tokens in their query string: keep those out of messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _fetch_failed(message: str) -> PublishError:
    return PublishError("asset_fetch_failed", message, http_status=502)


def _too_large(max_bytes: int) -> PublishError:
    return PublishError("asset_too_large", f"The asset is larger than the {max_bytes} byte limit.", http_status=422)


def _check_mp4_signature(head: bytes) -> None:
    if len(head) < 8 or head[4:8] != b"ftyp":
        raise PublishError(
            "not_mp4", "The asset is not an MP4 file (no ISO-BMFF 'ftyp' box at its start).", http_status=422
        )


@contextmanager
def fetched_asset(
    http: httpx.Client,
    url: str,
    expected_checksum: str,
    *,
    max_bytes: int,
    progress: Progress | None = None,
    deadline: Deadline | None = None,
    directory: Path | None = None,
) -> Iterator[FetchedAsset]:
    """Download `url`, verify it, and yield it as a temporary file (in `directory`) removed on exit."""
    handle, name = tempfile.mkstemp(prefix="distribution-", suffix=".mp4", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as sink:
            size, digest = _stream_to(sink, http, url, max_bytes, progress, deadline)
        checksum = f"sha256:{digest}"
        if checksum != expected_checksum:
            raise PublishError(
                "checksum_mismatch",
                f"The asset's checksum is {checksum}, not the expected {expected_checksum}.",
                http_status=422,
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
    try:
        with http.stream("GET", url, follow_redirects=True) as response:
            if response.status_code != 200:
                raise _fetch_failed(f"The asset server answered HTTP {response.status_code} for {_without_query(url)}.")
            declared = int(response.headers.get("content-length") or 0) or None
            if declared and declared > max_bytes:
                raise _too_large(max_bytes)
            # Pieces as they arrive (at most 64 KiB), so a drip-feeding host still meets the deadline.
            for chunk in response.iter_bytes():
                if deadline:
                    deadline.check("asset_fetch_failed", f"The download of {_without_query(url)}")
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
    except httpx.HTTPError as exc:
        raise _fetch_failed(
            f"Could not download the asset from {_without_query(url)}: {exc.__class__.__name__}."
        ) from None
    _check_mp4_signature(head)
    return size, digest.hexdigest()
