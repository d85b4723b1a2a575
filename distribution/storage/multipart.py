"""The direct path's upload: an asset's bytes straight into the bucket, by a multipart upload with parallel parts.

The object appears only when the whole asset has been read without error: the pipeline's chunk iterator
raises (checksum_mismatch, ...) at its end when the sha256 of the asset does not match, and until it has
been exhausted the upload is never completed. Any failure aborts the multipart upload, so neither an
object nor the parts of an unfinished upload are left in the bucket. Every part carries its CRC32
(ChecksumCRC32, checked by the store on receipt: a part damaged on the way is refused), and the object's
composite checksum is checked against the parts sent when the store reports it. CRC32 is what the AWS SDKs
send by default, and every store we target checks it (S3, R2, MinIO); it costs a fraction of a SHA-256 (the
asset's own sha256 is verified by the download as it passes). With a checksum in a header, the payload is
not signed (UNSIGNED-PAYLOAD, see client.py): over TLS that is what the SDKs do too.

Memory: at most `parallel_parts` parts in flight plus the one being filled, each in a buffer of a part's size
allocated once per upload and reused; a byte is copied once, from the download's piece into its part's buffer.

Errors say that the upload failed and where to; what failed (the store's error code and message, or the
connection fault, and the request) goes to `detail`, with the access key id and secret masked should a
message ever carry them.
"""

import base64
import logging
import mmap
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TypeVar

import httpx

from distribution.conf import DistributionSettings, app_settings
from distribution.errors import PublishError
from distribution.outbound.deadline import Deadline
from distribution.storage.client import S3Client, StoreError, s3_client

logger = logging.getLogger("distribution.storage")

Progress = Callable[[int, int | None], None]

CONTENT_TYPE = "video/mp4"
MAX_PARTS = 10_000  # S3's limit per multipart upload
CHECKSUM_ALGORITHM = "CRC32"
T = TypeVar("T")


def upload_multipart(
    chunks: Iterable[bytes],
    key: str,
    *,
    size: int | None = None,
    progress: Progress | None = None,
    deadline: Deadline | None = None,
) -> int:
    """Upload the bytes of `chunks` to DISTRIBUTION_S3_BUCKET at `key`; the number of bytes stored.

    Parts of DISTRIBUTION_DIRECT_UPLOAD_PART_BYTES go up DISTRIBUTION_DIRECT_UPLOAD_PARALLEL_PARTS at a
    time; an asset smaller than one part goes up in a single PUT once it has been read. An exception
    from `chunks` aborts the upload and is raised as it is; a failure of the store raises
    storage_upload_failed. `progress(bytes_stored, size)` is called from this thread as parts complete.
    """
    config = app_settings()
    try:
        client = s3_client()
    except (StoreError, ValueError) as exc:  # ValueError: an endpoint that is no http(s) URL
        raise _upload_failed(config, key, _describe(exc, config)) from None
    upload = _Upload(client, config, key, size, progress, deadline)
    iterator = iter(chunks)
    try:
        upload.run(iterator)
    except BaseException:
        upload.abort()
        close = getattr(iterator, "close", None)
        if close:  # a generator reading a download: end it (and its connection) now
            close()
        raise
    finally:
        upload.close()
    return upload.stored


def delete_object(key: str) -> str:
    """Delete the object at `key` (cleanup after a failed registration); say what happened, never raise."""
    config = app_settings()
    try:
        s3_client().delete_object(key)
    except (StoreError, ValueError) as exc:
        logger.error("Could not delete %s from the bucket %s: %s", key, config.s3_bucket, _describe(exc, config))
        return (
            f"The uploaded object {key} could not be deleted from the bucket {config.s3_bucket}; "
            "delete it there so it is not left downloadable."
        )
    return f"No object is left at {key} in the bucket {config.s3_bucket}."


@dataclass(frozen=True)
class _Part:
    number: int
    etag: str
    checksum: str  # base64 CRC32 (big-endian), as S3 wants it
    digest: bytes
    size: int


class _Upload:
    """One multipart upload: created when the first part is full, completed or aborted exactly once."""

    def __init__(self, client: S3Client, config: DistributionSettings, key, size, progress, deadline):
        self.client = client
        self.config = config
        self.bucket = config.s3_bucket
        self.key = key
        self.size = size
        self.progress = progress
        self.deadline = deadline
        self.part_bytes = config.direct_upload_part_bytes
        self.parallel = max(1, config.direct_upload_parallel_parts)
        self.upload_id: str | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.in_flight: dict[Future[_Part], mmap.mmap] = {}  # each part's upload and its buffer
        self.free: list[mmap.mmap] = []  # buffers of finished parts, to be filled again
        self.parts: list[_Part] = []
        self.stored = 0
        self.aborted = False

    def run(self, chunks: Iterator[bytes]) -> None:
        if not self.bucket:
            raise PublishError("storage_upload_failed", "No storage bucket is configured (DISTRIBUTION_S3_BUCKET).")
        part_bytes = self.part_bytes
        buffer, filled = self._free_buffer(), 0
        for chunk in chunks:
            self._check_deadline()
            if filled + len(chunk) < part_bytes:  # most pieces: copied once, into the part's buffer
                buffer[filled : filled + len(chunk)] = chunk
                filled += len(chunk)
                continue
            piece = memoryview(chunk)
            while filled + len(piece) >= part_bytes:
                room = part_bytes - filled
                buffer[filled:] = piece[:room]
                self._submit(buffer, part_bytes)
                buffer, filled, piece = self._free_buffer(), 0, piece[room:]
            buffer[: len(piece)] = piece
            filled = len(piece)
        # The iterator ended without error: the asset is verified, the object may appear.
        if self.upload_id is None:
            self._put_whole(memoryview(buffer)[:filled])
            return
        if filled:
            self._submit(buffer, filled)
        while self.in_flight:
            self._wait_for_one()
        self._complete()

    # The parts

    def _free_buffer(self) -> mmap.mmap:
        """A buffer for the next part: one a finished part gave back, else a new one.

        A full buffer is submitted only once a thread is free (_submit), so no more than `parallel` + 1 are ever
        allocated: `parallel` in flight and the one being filled. Each is a mapping of its own, not the heap's:
        its pages count only once written, and go back to the system when the upload drops it (freed heap
        memory would stay in the worker).
        """
        if self.free:
            return self.free.pop()
        return mmap.mmap(-1, self.part_bytes)

    def _submit(self, buffer: mmap.mmap, size: int) -> None:
        """Upload `buffer`'s first `size` bytes as the next part, once a thread is free; the buffer comes back after."""
        self._wait_for_slot()
        number = len(self.parts) + len(self.in_flight) + 1
        if number > MAX_PARTS:
            raise self._failed(
                f"more than {MAX_PARTS} parts of {self.part_bytes} bytes (DISTRIBUTION_DIRECT_UPLOAD_PART_BYTES)"
            )
        if self.upload_id is None:
            self.upload_id = self._call(self.client.create_multipart_upload, self.key, CONTENT_TYPE, CHECKSUM_ALGORITHM)
            self.pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="distribution-upload")
        assert self.pool is not None
        future = self.pool.submit(self._upload_part, number, memoryview(buffer)[:size])
        self.in_flight[future] = buffer

    def _upload_part(self, number: int, data: memoryview) -> _Part:
        assert self.upload_id is not None
        digest, checksum = _crc32(data)
        answer = self._call(self.client.upload_part, self.key, self.upload_id, number, data, checksum)
        self._check_echo(answer, f"part {number}", checksum)
        return _Part(number, answer.headers.get("etag", ""), checksum, digest, len(data))

    def _check_echo(self, answer: httpx.Response, what: str, checksum: str) -> None:
        """A store that answers another checksum than the one sent is refused."""
        echoed = answer.headers.get("x-amz-checksum-crc32")
        if echoed and echoed != checksum:
            raise self._failed(f"{what}: the store computed CRC32 {echoed}, sent {checksum}")

    def _wait_for_slot(self) -> None:
        self._harvest([future for future in self.in_flight if future.done()])
        while len(self.in_flight) >= self.parallel:
            self._wait_for_one()

    def _wait_for_one(self) -> None:
        timeout = None
        if self.deadline:
            self._check_deadline()
            timeout = max(self.deadline.remaining(), 0)
        done, _ = wait(self.in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
        if not done:
            self._check_deadline()
        self._harvest(done)

    def _harvest(self, done) -> None:
        for future in done:
            self.free.append(self.in_flight.pop(future))
            part = future.result()  # a part's PublishError ends the upload here
            self.parts.append(part)
            self.stored += part.size
            if self.progress:
                self.progress(self.stored, self.size)

    # The ends: one PUT, complete, abort

    def _put_whole(self, data: memoryview) -> None:
        checksum = _crc32(data)[1]
        answer = self._call(self.client.put_object, self.key, data, CONTENT_TYPE, checksum)
        try:
            self._check_echo(answer, "the object", checksum)
        except PublishError:
            self._call(self.client.delete_object, self.key)
            raise
        self.stored = len(data)
        if self.progress:
            self.progress(self.stored, self.size)

    def _complete(self) -> None:
        assert self.upload_id is not None
        self.parts.sort(key=lambda part: part.number)
        sent = [(part.number, part.etag, part.checksum) for part in self.parts]
        reported = self._call(self.client.complete_multipart_upload, self.key, self.upload_id, sent)
        self.upload_id = None  # completed: nothing to abort any more
        # The composite checksum: the CRC32 of the parts' CRC32s, one after the other.
        composite = _crc32(b"".join(part.digest for part in self.parts))[1]
        expected = f"{composite}-{len(self.parts)}"
        if reported and reported.split("-")[0] != composite:
            self._call(self.client.delete_object, self.key)
            raise self._failed(f"the object's composite CRC32 is {reported}, the parts sent make {expected}")

    def close(self) -> None:
        """Let the parts in flight end and stop the threads; the buffers are unmapped as they are dropped."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        self.in_flight.clear()
        self.free.clear()

    def abort(self) -> None:
        """After a failure: let the parts in flight end, then abort the upload so no part is kept."""
        self.close()
        if self.upload_id is None or self.aborted:
            return
        self.aborted = True
        try:
            self.client.abort_multipart_upload(self.key, self.upload_id)
        except StoreError as exc:
            logger.error(
                "Could not abort the multipart upload %s of %s in the bucket %s: %s",
                self.upload_id,
                self.key,
                self.bucket,
                _describe(exc, self.config),
            )

    # Helpers

    def _call(self, request: Callable[..., T], *args) -> T:
        try:
            return request(*args)
        except StoreError as exc:
            raise self._failed(_describe(exc, self.config)) from None

    def _failed(self, detail: str) -> PublishError:
        return _upload_failed(self.config, self.key, detail)

    def _check_deadline(self) -> None:
        if self.deadline:
            self.deadline.check("storage_upload_failed", "The upload to the storage bucket")


def _crc32(data) -> tuple[bytes, str]:
    """The CRC32 of `data` as S3 wants it: 4 bytes big-endian, and those in base64 (zlib's releases the GIL)."""
    digest = zlib.crc32(data).to_bytes(4, "big")
    return digest, base64.b64encode(digest).decode()


def _upload_failed(config: DistributionSettings, key: str, detail: str) -> PublishError:
    return PublishError(
        "storage_upload_failed",
        f"Could not upload the asset to the storage bucket {config.s3_bucket} at {key}.",
        operator_detail=detail,
    )


def _describe(exc: Exception, config: DistributionSettings) -> str:
    """The store's error for operators, with the bucket credentials masked should it ever carry them."""
    text = str(exc) if isinstance(exc, StoreError) else f"{exc.__class__.__name__} ({exc})"
    for secret in (config.s3_secret_access_key, config.s3_access_key_id):
        if secret:
            text = text.replace(secret, "***")
    return text
