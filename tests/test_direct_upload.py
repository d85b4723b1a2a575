"""The direct path to S3/R2 (distribution/storage/) against a real S3 API: moto's server, started by this module."""

import base64
import datetime
import hashlib
import mmap
import os
import random
import subprocess
import sys
import time
import tracemalloc
import unittest.mock
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from distribution.conf import DistributionSettings, env_variable
from distribution.errors import ERRORS, PublishError
from distribution.outbound.deadline import Deadline
from distribution.storage import client as storage_client
from distribution.storage import direct_upload_wanted
from distribution.storage.client import S3Client, s3_client
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


Send = Callable[[httpx.Request], httpx.Response]


class Store(httpx.BaseTransport):
    """The app's way to moto, through `hook(request, send)`: it may watch each request, or answer instead of moto."""

    def __init__(self, hook: Callable[[httpx.Request, Send], httpx.Response]):
        self.hook = hook
        self.moto = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.hook(request, self.moto.handle_request)


@pytest.fixture
def store(monkeypatch) -> Iterator[Callable]:
    """store(hook): the app's S3 client goes through a Store with that hook (until the test ends)."""

    def install(hook) -> None:
        monkeypatch.setattr(storage_client, "_new_client", lambda config: S3Client(config, transport=Store(hook)))
        storage_client.reset()

    yield install
    storage_client.reset()


def part_number(request: httpx.Request) -> int | None:
    number = request.url.params.get("partNumber")
    return int(number) if number else None


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


def test_every_part_carries_its_crc32_and_the_object_its_composite(bucket, store):
    data = source(2 * PART + 777)
    key = key_for()
    sent: dict[int, str] = {}
    signed: set[str] = set()

    def record(request: httpx.Request, send: Send) -> httpx.Response:
        number = part_number(request)
        if number:
            sent[number] = request.headers["x-amz-checksum-crc32"]
            signed.add(request.headers["x-amz-content-sha256"])
        return send(request)

    store(record)
    upload_multipart(chunked(data), key)

    parts = [data[start : start + PART] for start in range(0, len(data), PART)]
    assert sent == {number: b64_crc32(part) for number, part in enumerate(parts, 1)}
    assert signed == {"UNSIGNED-PAYLOAD"}  # the checksum guards the body; it is not hashed again to be signed
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


INTERNAL_ERROR = b"<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"


def failing_part(number: int, answers: list[int]):
    """A Store hook: the store answers each of `answers` in turn to the attempts at part `number`, then moto does."""
    attempts: list[httpx.URL] = []

    def hook(request: httpx.Request, send: Send) -> httpx.Response:
        if part_number(request) == number and len(attempts) < len(answers):
            attempts.append(request.url)
            return httpx.Response(answers[len(attempts) - 1], content=INTERNAL_ERROR)
        return send(request)

    return hook, attempts


def test_a_failing_part_aborts_the_upload(bucket, store):
    download = Download(source(6 * PART))
    key = key_for()
    hook, attempts = failing_part(3, [500] * 10)
    store(hook)

    with pytest.raises(PublishError) as raised:
        upload_multipart(download, key)

    error = raised.value
    assert error.code == "storage_upload_failed" and error.http_status == 502 == ERRORS[error.code][0]
    assert error.message == f"Could not upload the asset to the storage bucket {bucket.name} at {key}."
    assert "InternalError" in error.operator_detail and "UploadPart" in error.operator_detail
    assert len(attempts) == 3  # retried as botocore's standard mode does, then the failure
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
    assert "ConnectError" in error.operator_detail
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


def test_memory_is_bounded_by_the_parts_in_flight(bucket, store, monkeypatch):
    """64 MiB through 5 MiB parts, 4 at a time: at most 5 buffers of a part (4 in flight, 1 being filled), reused,
    and no copy of a part anywhere else (the heap's peak stays well under one part)."""
    size = 64 * MiB
    rng = random.Random(3)
    digest = hashlib.sha256()
    buffers: list[int] = []
    in_flight: list[int] = []
    most: list[int] = []

    class Buffer(mmap.mmap):
        def __new__(cls, fileno: int, length: int):
            buffers.append(length)
            return super().__new__(cls, fileno, length)

    def slow(request: httpx.Request, send: Send) -> httpx.Response:
        if not part_number(request):
            return send(request)
        in_flight.append(1)
        most.append(len(in_flight))
        time.sleep(0.05)  # a store slower than the download: every slot in use, the next part full and waiting
        try:
            return send(request)
        finally:
            in_flight.pop()

    def generated() -> Iterator[bytes]:
        for _ in range(size // (64 * 1024)):
            chunk = rng.randbytes(64 * 1024)
            digest.update(chunk)
            yield chunk

    key = key_for()
    store(slow)
    s3_client()  # built outside the measure (its TLS context, its connection pool)
    monkeypatch.setattr(mmap, "mmap", Buffer)
    tracemalloc.start()
    try:
        upload_multipart(generated(), key)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert max(most) == 4
    assert buffers == [PART] * 5
    assert peak < PART / 2, f"heap peak {peak / MiB:.1f} MiB"
    assert hashlib.sha256(bucket.body(key)).hexdigest() == digest.hexdigest()


def test_parts_go_up_in_parallel(bucket, store):
    in_flight = []
    most = []

    def slow(request: httpx.Request, send: Send) -> httpx.Response:
        if not part_number(request):
            return send(request)
        in_flight.append(1)
        most.append(len(in_flight))
        time.sleep(0.2)
        try:
            return send(request)
        finally:
            in_flight.pop()

    store(slow)
    upload_multipart(chunked(source(8 * PART)), key_for())

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
    assert client.connections >= 4

    s3_settings(settings, DIRECT_UPLOAD_PARALLEL_PARTS=16, HTTP_TIMEOUT_SECONDS=7.0)

    rebuilt = s3_client()
    assert rebuilt is not client
    assert rebuilt.connections >= 16
    assert rebuilt.timeout["read"] == 7.0 == rebuilt.timeout["connect"]


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


# The client: signatures, addressing, retries, credentials


def captured(config: DistributionSettings, *answers: httpx.Response):
    """An S3Client that records its requests and answers `answers` in turn (then 200 with an empty body)."""
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        request.read()
        requests.append(request)
        return answers[len(requests) - 1] if len(requests) <= len(answers) else httpx.Response(200)

    return S3Client(config, transport=httpx.MockTransport(answer)), requests


def r2_config(**values) -> DistributionSettings:
    given = {
        "s3_bucket": "media",
        "s3_endpoint": "https://account.r2.cloudflarestorage.com",
        "s3_access_key_id": ACCESS_KEY_ID,
        "s3_secret_access_key": SECRET_ACCESS_KEY,
    }
    return DistributionSettings(**{**given, **values})


def botocore_authorization(request: httpx.Request, config: DistributionSettings, token: str | None = None) -> str:
    """The Authorization header botocore's own S3 signer gives the same request at the same time."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials

    names = request.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {name: request.headers[name] for name in names if name not in ("host", "x-amz-date")}
    unsigned = headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    headers.pop("x-amz-content-sha256")
    headers.pop("x-amz-security-token", None)
    when = datetime.datetime.strptime(request.headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
    theirs = AWSRequest(request.method, str(request.url), headers=headers, data=request.content)
    theirs.context["client_config"] = Config(s3={"payload_signing_enabled": not unsigned})
    signer = S3SigV4Auth(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY, token), "s3", config.s3_region)
    with unittest.mock.patch("botocore.auth.get_current_datetime", return_value=when):
        signer.add_auth(theirs)
    return theirs.headers["Authorization"]


@pytest.mark.parametrize("path_style", [False, True], ids=["virtual-hosted", "path-style"])
def test_requests_are_signed_as_botocore_signs_them(path_style):
    config = r2_config(s3_force_path_style=path_style)
    created = httpx.Response(
        200, content=b"<InitiateMultipartUploadResult><UploadId>u/1+2=</UploadId></InitiateMultipartUploadResult>"
    )
    client, requests = captured(config, created)
    key = "proj 7/mvp/dist_ä~(1).mp4"  # characters a key may hold: encoded once, in the URL as in the signature

    upload_id = client.create_multipart_upload(key, "video/mp4", "CRC32")
    client.upload_part(key, upload_id, 1, memoryview(b"x" * 1000), b64_crc32(b"x" * 1000))
    client.complete_multipart_upload(key, upload_id, [(1, '"etag"', b64_crc32(b"x" * 1000))])
    client.abort_multipart_upload(key, upload_id)
    client.put_object(key, memoryview(b"small"), "video/mp4", b64_crc32(b"small"))
    client.delete_object(key)

    assert upload_id == "u/1+2="
    assert [request.method for request in requests] == ["POST", "PUT", "POST", "DELETE", "PUT", "DELETE"]
    for request in requests:
        assert request.headers["authorization"] == botocore_authorization(request, config)
    host = "account.r2.cloudflarestorage.com"
    assert requests[1].url.host == (host if path_style else f"media.{host}")
    assert requests[1].url.raw_path.startswith(
        b"/media/proj%207/" if path_style else b"/proj%207/mvp/dist_%C3%A4~%281%29"
    )
    assert requests[0].url.query == b"uploads"
    assert requests[1].content == b"x" * 1000 and requests[1].headers["content-length"] == "1000"
    assert requests[1].headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    assert requests[2].headers["x-amz-content-sha256"] == hashlib.sha256(requests[2].content).hexdigest()


def test_credentials_from_the_default_chain_are_used_when_none_are_configured(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    config = r2_config(s3_access_key_id="", s3_secret_access_key="", s3_endpoint="", s3_region="eu-west-1")
    client, requests = captured(config)

    client.delete_object("a.mp4")

    [request] = requests
    assert request.url.host == "media.s3.eu-west-1.amazonaws.com"
    assert request.headers["x-amz-security-token"] == "session-token"
    assert request.headers["authorization"] == botocore_authorization(request, config, token="session-token")


def test_an_ip_endpoint_or_a_dotted_bucket_is_addressed_path_style():
    for config in (r2_config(s3_endpoint="http://127.0.0.1:9000"), r2_config(s3_bucket="media.example.com")):
        client, requests = captured(config)
        client.delete_object("a.mp4")
        assert requests[0].url.path == f"/{config.s3_bucket}/a.mp4"


def test_a_part_answered_503_is_sent_again(bucket, store):
    data = source(3 * PART)
    key = key_for()
    hook, attempts = failing_part(2, [503])
    store(hook)

    upload_multipart(chunked(data), key)

    assert len(attempts) == 1
    assert bucket.body(key) == data


def test_a_refusal_is_not_sent_again(bucket, store):
    attempts = []

    def forbidden(request: httpx.Request, send: Send) -> httpx.Response:
        attempts.append(request)
        return httpx.Response(403, content=b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")

    store(forbidden)
    with pytest.raises(PublishError) as raised:
        upload_multipart(chunked(source(2 * PART)), key_for())

    assert len(attempts) == 1  # CreateMultipartUpload, refused once and for all
    assert "AccessDenied (Access Denied) answering CreateMultipartUpload: HTTP 403" in raised.value.operator_detail


def test_an_error_in_a_completions_200_answer_fails_and_aborts(bucket, store, monkeypatch):
    monkeypatch.setattr(storage_client, "MAX_BACKOFF_SECONDS", 0.0)
    attempts = []

    def complete_fails(request: httpx.Request, send: Send) -> httpx.Response:
        if request.method == "POST" and "uploadId" in request.url.params:
            attempts.append(request)
            return httpx.Response(200, content=b"<?xml version='1.0'?>\n" + INTERNAL_ERROR)
        return send(request)

    store(complete_fails)
    key = key_for()
    with pytest.raises(PublishError) as raised:
        upload_multipart(chunked(source(2 * PART)), key)

    detail = raised.value.operator_detail
    assert "InternalError (We encountered an internal error.) answering CompleteMultipartUpload: HTTP 200" in detail
    assert detail.endswith("after 3 attempts")
    assert len(attempts) == 3
    assert bucket.object_keys() == []
    assert bucket.uploads_in_progress() == []


def test_the_worker_never_loads_botocore_for_the_direct_path(bucket, settings):
    """boto3 and botocore would add about 22 MiB to a worker: configured keys sign the requests here."""
    code = (
        "import sys, django; django.setup();"
        "from distribution.storage.multipart import upload_multipart;"
        "upload_multipart([b'x' * 1000], 'a.mp4');"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('boto3', 'botocore')))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env |= {env_variable(name): str(value) for name, value in settings.DISTRIBUTION.items() if name.startswith("S3_")}
    answer = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)

    assert answer.stdout.strip() == "[]"
    assert bucket.body("a.mp4") == b"x" * 1000


def test_the_parts_are_not_logged_one_by_one(bucket, caplog):
    """A 5 GiB asset is a thousand parts: httpx's client would log a line for each."""
    caplog.set_level("INFO")

    key = key_for()
    upload_multipart(chunked(source(3 * PART)), key)

    assert not [record for record in caplog.records if key in record.getMessage()]
