"""The direct path to S3/R2 (distribution/storage/) against a real S3 API: moto's server, started by this module."""

import base64
import hashlib
import random
import time
import tracemalloc
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from distribution.errors import ERRORS, PublishError
from distribution.outbound.deadline import Deadline
from distribution.storage import direct_upload_wanted
from distribution.storage.client import s3_client
from distribution.storage.multipart import delete_object, upload_multipart
from tests.support.processes import free_port, moto_client

MiB = 1024 * 1024
PART = 5 * MiB  # S3's smallest part
ACCESS_KEY_ID = "AKIDDIRECTUPLOADTEST01"
SECRET_ACCESS_KEY = "direct-upload-secret-never-shown-0123456789"


@dataclass
class Bucket:
    name: str
    s3: Any  # the test's own client: what the bucket holds, whatever the app's client does

    def body(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.name, Key=key)["Body"].read()

    def object_keys(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=self.name)
        return [item["Key"] for item in listing.get("Contents", [])]

    def uploads_in_progress(self) -> list[dict]:
        return self.s3.list_multipart_uploads(Bucket=self.name).get("Uploads", [])


def s3_settings(settings, **values) -> None:
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, **values}


@pytest.fixture
def bucket(moto_endpoint, settings) -> Iterator[Bucket]:
    """A new bucket per test, and the app pointed at it with 5 MiB parts, 4 at a time."""
    name = f"media-{uuid.uuid4().hex[:12]}"
    s3 = moto_client(moto_endpoint)
    s3.create_bucket(Bucket=name)
    s3_settings(
        settings,
        S3_BUCKET=name,
        S3_ENDPOINT=moto_endpoint,
        S3_REGION="us-east-1",
        S3_ACCESS_KEY_ID=ACCESS_KEY_ID,
        S3_SECRET_ACCESS_KEY=SECRET_ACCESS_KEY,
        S3_FORCE_PATH_STYLE=True,
        DIRECT_UPLOAD_PART_BYTES=PART,
        DIRECT_UPLOAD_PARALLEL_PARTS=4,
    )
    yield Bucket(name, s3)
    for key in Bucket(name, s3).object_keys():  # moto keeps objects in memory
        s3.delete_object(Bucket=name, Key=key)


def source(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def chunked(data: bytes, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """What the pipeline gives: the download's pieces as they arrive (64 KiB)."""
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]


class Download:
    """A chunk iterator that records whether it was closed, and raises at its end when told to (a bad sha256)."""

    def __init__(self, data: bytes, fail_at_end: bool = False):
        self.data = data
        self.fail_at_end = fail_at_end
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from chunked(self.data)
            if self.fail_at_end:
                raise PublishError("checksum_mismatch", "The asset's sha256 is not the expected one.")
        finally:
            self.closed = True


def b64_crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def key_for(audit_log_id: str = "") -> str:
    return f"proj-7/mvp/{audit_log_id or 'dist_' + uuid.uuid4().hex}.mp4"


# What ends up in the bucket


@pytest.mark.parametrize(
    "size",
    [
        3 * PART,  # an exact multiple of the part size: no empty last part
        2 * PART + 12_345,  # a short last part
        PART,  # exactly one part
        PART - 1,  # smaller than a part: one PUT
        1_000,
        0,
    ],
    ids=["three-parts", "short-last-part", "one-part", "under-a-part", "small", "empty"],
)
def test_the_object_at_its_key_holds_the_source_bytes(bucket, size):
    data = source(size)
    key = key_for()
    reported = []

    stored = upload_multipart(chunked(data), key, size=size, progress=lambda done, total: reported.append(done))

    assert stored == size
    assert bucket.object_keys() == [key]
    assert bucket.body(key) == data
    head = bucket.s3.head_object(Bucket=bucket.name, Key=key)
    assert head["ContentType"] == "video/mp4" and head["ContentLength"] == size
    assert bucket.uploads_in_progress() == []
    assert reported == sorted(reported) and reported[-1] == size


def test_the_key_is_payloads_storage_s3_key(bucket):
    """Payload's storage-s3 stores a media file at prefix + filename: the plan's storage path."""
    from distribution.publishing.plan import build_plan
    from tests.support.samples import publish_request

    request = publish_request("https://assets.example.com/cut.mp4", audit_log_id="dist_01KAXQ3V9Y8WJ6N0D2S4T7R5PC")
    plan = build_plan(request)

    upload_multipart(chunked(source(1_000)), plan.storage_path)

    assert bucket.object_keys() == ["concept-42/mvp/dist_01KAXQ3V9Y8WJ6N0D2S4T7R5PC.mp4"]


def test_every_part_carries_its_crc32_and_the_object_its_composite(bucket):
    data = source(2 * PART + 777)
    key = key_for()
    sent: dict[int, str] = {}
    signed: set[bytes] = set()

    def record(request, **kwargs):
        number = int(request.url.split("partNumber=")[1].split("&")[0])
        sent[number] = request.headers["x-amz-checksum-crc32"].decode()
        signed.add(request.headers["X-Amz-Content-SHA256"])

    events = s3_client().meta.events
    events.register("before-send.s3.UploadPart", record)
    try:
        upload_multipart(chunked(data), key)
    finally:
        events.unregister("before-send.s3.UploadPart", record)

    parts = [data[start : start + PART] for start in range(0, len(data), PART)]
    assert sent == {number: b64_crc32(part) for number, part in enumerate(parts, 1)}
    assert signed == {b"UNSIGNED-PAYLOAD"}  # the checksum guards the body; it is not hashed again to be signed
    # The store's checksum of the object, from the parts it holds: CRC32 of the parts' CRC32s.
    head = bucket.s3.head_object(Bucket=bucket.name, Key=key, ChecksumMode="ENABLED")
    composite = b64_crc32(b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts))
    assert head["ChecksumCRC32"] in (f"{composite}-3", composite)  # S3 adds "-3", moto not


def test_a_small_asset_is_one_put_with_its_crc32(bucket):
    data = source(100_000)
    key = key_for()

    upload_multipart(chunked(data), key)

    head = bucket.s3.head_object(Bucket=bucket.name, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == b64_crc32(data)


# Failures leave nothing behind


@pytest.mark.parametrize("size", [3 * PART + 10, 1_000], ids=["after-parts", "before-any-part"])
def test_an_asset_failing_its_checksum_leaves_no_object_and_no_upload(bucket, size):
    key = key_for()

    with pytest.raises(PublishError) as raised:
        upload_multipart(Download(source(size), fail_at_end=True), key)

    assert raised.value.code == "checksum_mismatch"  # the iterator's own error, as it was
    assert bucket.object_keys() == []
    assert bucket.uploads_in_progress() == []


def failing_part(number: int):
    """A before-send hook: the store answers 500 to every attempt at part `number` (retries included)."""
    attempts = []

    class Raw:
        def stream(self):
            yield b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"

    def hook(request, **kwargs):
        if f"partNumber={number}&" in request.url or request.url.endswith(f"partNumber={number}"):
            attempts.append(request.url)
            return AWSResponse(request.url, 500, {}, Raw())
        return None

    return hook, attempts


def test_a_failing_part_aborts_the_upload(bucket):
    download = Download(source(6 * PART))
    key = key_for()
    hook, attempts = failing_part(3)
    events = s3_client().meta.events
    events.register("before-send.s3.UploadPart", hook)
    try:
        with pytest.raises(PublishError) as raised:
            upload_multipart(download, key)
    finally:
        events.unregister("before-send.s3.UploadPart", hook)

    error = raised.value
    assert error.code == "storage_upload_failed" and error.http_status == 502 == ERRORS[error.code][0]
    assert error.message == f"Could not upload the asset to the storage bucket {bucket.name} at {key}."
    assert "InternalError" in error.operator_detail and "UploadPart" in error.operator_detail
    assert len(attempts) == 3  # botocore's standard retries, then the failure
    assert bucket.object_keys() == []
    assert bucket.uploads_in_progress() == []
    assert download.closed  # the download stopped with the upload


def test_a_missing_bucket_is_storage_upload_failed(bucket, settings):
    s3_settings(settings, S3_BUCKET="no-such-bucket-here")

    with pytest.raises(PublishError) as raised:
        upload_multipart(chunked(source(2 * PART)), key_for())

    assert raised.value.code == "storage_upload_failed"
    assert "NoSuchBucket" in raised.value.operator_detail


def test_credentials_are_never_in_an_error_or_the_log(bucket, settings, caplog):
    s3_settings(settings, S3_ENDPOINT=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    caplog.set_level("DEBUG", logger="distribution")

    with pytest.raises(PublishError) as raised:
        upload_multipart(chunked(source(2 * PART)), key_for())

    error = raised.value
    assert error.code == "storage_upload_failed"
    assert "EndpointConnectionError" in error.operator_detail
    shown = " ".join([str(error), error.message, error.operator_detail, repr(error.as_dict()), caplog.text])
    assert ACCESS_KEY_ID not in shown and SECRET_ACCESS_KEY not in shown
    from distribution.conf import app_settings

    assert SECRET_ACCESS_KEY not in repr(app_settings())


def test_the_deadline_ends_the_upload(bucket):
    deadline = Deadline(1.0)

    def slow() -> Iterator[bytes]:
        yield from chunked(source(PART + 10))  # one part goes up
        time.sleep(1.2)
        yield b"late"

    with pytest.raises(PublishError) as raised:
        upload_multipart(slow(), key_for(), deadline=deadline)

    assert raised.value.code == "storage_upload_failed"
    assert "deadline" in raised.value.message
    assert bucket.object_keys() == []
    assert bucket.uploads_in_progress() == []


# Memory and concurrency


def test_memory_is_bounded_by_the_parts_in_flight(bucket):
    """64 MiB through 5 MiB parts, 4 at a time: at most 5 buffers of a part (4 in flight, 1 being filled), reused."""
    size = 64 * MiB
    rng = random.Random(3)
    digest = hashlib.sha256()

    def generated() -> Iterator[bytes]:
        for _ in range(size // (64 * 1024)):
            chunk = rng.randbytes(64 * 1024)
            digest.update(chunk)
            yield chunk

    key = key_for()
    s3_client()  # built outside the measure: loading botocore's S3 model takes ~10 MiB once per process
    tracemalloc.start()
    try:
        upload_multipart(generated(), key)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 5 * PART + MiB, f"peak {peak / MiB:.1f} MiB"  # 4 parts in flight, the one being filled
    assert hashlib.sha256(bucket.body(key)).hexdigest() == digest.hexdigest()


def test_parts_go_up_in_parallel(bucket):
    in_flight = []
    most = []

    def before(**kwargs):
        in_flight.append(1)
        most.append(len(in_flight))
        time.sleep(0.2)

    def after(**kwargs):
        in_flight.pop()

    events = s3_client().meta.events
    events.register("before-send.s3.UploadPart", before)
    events.register("after-call.s3.UploadPart", after)
    try:
        upload_multipart(chunked(source(8 * PART)), key_for())
    finally:
        events.unregister("before-send.s3.UploadPart", before)
        events.unregister("after-call.s3.UploadPart", after)

    assert max(most) == 4


# Settings, client, cleanup


def test_which_assets_take_the_direct_path(settings):
    s3_settings(settings, S3_BUCKET="", DIRECT_UPLOAD_MIN_BYTES=100)
    assert not direct_upload_wanted(None) and not direct_upload_wanted(10**9)
    s3_settings(settings, S3_BUCKET="media")
    assert direct_upload_wanted(None)  # unknown size
    assert direct_upload_wanted(101)
    assert not direct_upload_wanted(100)


def test_one_client_per_process_rebuilt_when_settings_change(bucket, settings):
    client = s3_client()
    assert s3_client() is client
    assert client.meta.config.max_pool_connections >= 4
    assert client.meta.config.retries["mode"] == "standard"

    s3_settings(settings, DIRECT_UPLOAD_PARALLEL_PARTS=16, HTTP_TIMEOUT_SECONDS=7.0)

    rebuilt = s3_client()
    assert rebuilt is not client
    assert rebuilt.meta.config.max_pool_connections >= 16
    assert rebuilt.meta.config.read_timeout == 7.0 == rebuilt.meta.config.connect_timeout


def test_delete_object_removes_the_object_and_never_raises(bucket, settings):
    key = key_for()
    upload_multipart(chunked(source(1_000)), key)

    assert delete_object(key) == f"No object is left at {key} in the bucket {bucket.name}."
    assert bucket.object_keys() == []
    with pytest.raises(ClientError):
        bucket.s3.head_object(Bucket=bucket.name, Key=key)

    s3_settings(settings, S3_BUCKET="no-such-bucket-here")
    assert "could not be deleted" in delete_object(key)


@pytest.mark.parametrize(
    ("given", "wrong"),
    [
        ({"DIRECT_UPLOAD_PART_BYTES": 1024 * 1024}, "DISTRIBUTION_DIRECT_UPLOAD_PART_BYTES must be from 5242880"),
        ({"DIRECT_UPLOAD_PARALLEL_PARTS": 0}, "DISTRIBUTION_DIRECT_UPLOAD_PARALLEL_PARTS must be at least 1"),
        (
            {"S3_SECRET_ACCESS_KEY": ""},
            "DISTRIBUTION_S3_ACCESS_KEY_ID and DISTRIBUTION_S3_SECRET_ACCESS_KEY go together",
        ),
    ],
)
def test_system_check_names_a_misconfigured_direct_path(settings, given, wrong):
    from django.core.checks import run_checks

    configured = {"S3_BUCKET": "media", "S3_ACCESS_KEY_ID": ACCESS_KEY_ID, "S3_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}
    s3_settings(settings, **configured)
    assert not [message for message in run_checks() if message.id == "distribution.E004"]

    s3_settings(settings, **given)

    [message] = [message for message in run_checks() if message.id == "distribution.E004"]
    assert wrong in message.msg and SECRET_ACCESS_KEY not in message.msg
    s3_settings(settings, S3_BUCKET="")  # the direct path off: nothing to check
    assert not [message for message in run_checks() if message.id == "distribution.E004"]


def test_an_unusable_endpoint_is_storage_upload_failed(bucket, settings):
    s3_settings(settings, S3_ENDPOINT="not a url")

    with pytest.raises(PublishError) as raised:
        upload_multipart(chunked(source(1_000)), key_for())

    assert raised.value.code == "storage_upload_failed" and "ValueError" in raised.value.operator_detail
