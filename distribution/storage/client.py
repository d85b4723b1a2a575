"""The process's one S3 client: the six requests of the direct path, signed here (AWS Signature V4), sent by httpx.

boto3 would cost a worker about 22 MiB (botocore and S3's API model) for six kinds of request, where httpx is
loaded anyway for the downloads. The client is built lazily from settings.DISTRIBUTION (DISTRIBUTION_S3_*), once
per process (a forked child builds its own), dropped when the settings change, and shared by the upload threads
(httpx's transport and its connection pool are thread-safe). Requests go with botocore's standard retry mode: up
to 3 attempts, on connection faults, 5xx, throttling and S3's RequestTimeout, with exponential backoff and jitter.
They go to the transport directly, not through an httpx.Client, which would log a line for each part.

Bodies are never signed (UNSIGNED-PAYLOAD): every part and object carries its CRC32, which the store checks
(multipart.py); small XML and empty bodies are signed. Addressing: path-style (endpoint/bucket/key) with
DISTRIBUTION_S3_FORCE_PATH_STYLE or an endpoint given by IP address, else virtual-hosted (bucket.endpoint/key)
for bucket names that allow it, as botocore does. Without DISTRIBUTION_S3_ACCESS_KEY_ID, botocore's default
credential chain is asked (AWS_* variables, shared files, instance or container role): only then is botocore
loaded.
"""

import datetime
import hashlib
import hmac
import ipaddress
import os
import random
import re
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

import httpx
from django.conf import settings
from django.core.signals import setting_changed

from distribution.conf import DistributionSettings, app_settings
from distribution.outbound.clients import tls_context

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_ATTEMPTS = 3
MAX_BACKOFF_SECONDS = 20.0
SEND_PIECE_BYTES = 256 * 1024  # a body goes to httpx in views of this size, each copied once on its way
RETRIED_STATUSES = {500, 502, 503, 504, 429}
RETRIED_CODES = {"InternalError", "RequestTimeout", "SlowDown", "Throttling", "ThrottlingException"}
_BUCKET_HOST_LABEL = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")

_lock = threading.Lock()
_client: tuple[int, "S3Client"] | None = None  # (pid, client)


class StoreError(Exception):
    """A request the store refused or that failed, described for operators (what, which request, attempts)."""


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


def s3_client() -> "S3Client":
    """The S3 client of this process, for app_settings()' bucket."""
    global _client
    with _lock:
        if _client is None or _client[0] != os.getpid():
            _client = (os.getpid(), _new_client(app_settings()))
        return _client[1]


def _new_client(config: DistributionSettings) -> "S3Client":
    return S3Client(config)


def concurrent_publishes() -> int:
    """How many publishes one process runs at once: a worker's threads (a prefork child runs one)."""
    return settings.CELERY_WORKER_CONCURRENCY if settings.CELERY_WORKER_POOL == "threads" else 1


def reset() -> None:
    """Drop the client; the next s3_client() builds one from the current settings."""
    global _client
    with _lock:
        _client = None


def _reload(*, setting: str, **kwargs) -> None:
    if setting == "DISTRIBUTION":
        reset()


setting_changed.connect(_reload)


class S3Client:
    """Signed requests to one bucket. `transport` replaces httpx's (tests: a store that fails on demand).

    Raises ValueError for an endpoint it cannot use, StoreError when no credentials are found.
    """

    def __init__(self, config: DistributionSettings, transport: httpx.BaseTransport | None = None):
        self.bucket = config.s3_bucket
        self.region = config.s3_region or "us-east-1"
        aws_region = "us-east-1" if self.region == "auto" else self.region
        endpoint = config.s3_endpoint or f"https://s3.{aws_region}.amazonaws.com"
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{endpoint!r} is not an http(s) URL (DISTRIBUTION_S3_ENDPOINT)")
        self.scheme, base_path = parts.scheme, parts.path.rstrip("/")
        authority = parts.netloc.removesuffix({"https": ":443", "http": ":80"}[parts.scheme])  # as httpx sends Host
        path_style = config.s3_force_path_style or _is_ip(parts.hostname) or not _host_label(self.bucket)
        self.host = authority if path_style else f"{self.bucket}.{authority}"
        self.bucket_path = f"{base_path}/{quote(self.bucket, safe='')}" if path_style else base_path
        self._credentials = _credentials_of(config)
        # One connection per part in flight of each publish a worker runs at once, and a few for the control calls.
        self.connections = max(10, concurrent_publishes() * config.direct_upload_parallel_parts + 2)
        limits = httpx.Limits(max_connections=self.connections, max_keepalive_connections=self.connections)
        self.transport = transport or httpx.HTTPTransport(verify=tls_context(), limits=limits, trust_env=False)
        self.timeout = httpx.Timeout(config.http_timeout_seconds).as_dict()

    # The requests of a multipart upload

    def create_multipart_upload(self, key: str, content_type: str, checksum_algorithm: str) -> str:
        """Start a multipart upload whose parts carry `checksum_algorithm`'s checksum; its upload id."""
        headers = {"content-type": content_type, "x-amz-checksum-algorithm": checksum_algorithm}
        answer = self.request("CreateMultipartUpload", "POST", key, {"uploads": ""}, headers)
        upload_id = _xml_text(answer.content, "UploadId")
        if not upload_id:
            raise StoreError("CreateMultipartUpload answered no UploadId")
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, data: memoryview, crc32: str) -> httpx.Response:
        query = {"partNumber": str(number), "uploadId": upload_id}
        return self.request("UploadPart", "PUT", key, query, _checksum_headers(crc32), data)

    def complete_multipart_upload(self, key: str, upload_id: str, parts: list[tuple[int, str, str]]) -> str | None:
        """Complete the upload of `parts` (number, ETag, CRC32); the object's checksum if the store reports it.

        The store may answer 200 and an error in the body (S3 does once it has started answering): that fails.
        """
        body = "".join(
            f"<Part><PartNumber>{number}</PartNumber><ETag>{escape(etag)}</ETag>"
            f"<ChecksumCRC32>{escape(crc32)}</ChecksumCRC32></Part>"
            for number, etag, crc32 in parts
        )
        document = (
            f'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{body}</CompleteMultipartUpload>'
        )
        answer = self.request("CompleteMultipartUpload", "POST", key, {"uploadId": upload_id}, {}, document.encode())
        return _xml_text(answer.content, "ChecksumCRC32")

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        self.request("AbortMultipartUpload", "DELETE", key, {"uploadId": upload_id})

    def put_object(self, key: str, data: memoryview, content_type: str, crc32: str) -> httpx.Response:
        return self.request(
            "PutObject", "PUT", key, {}, {"content-type": content_type, **_checksum_headers(crc32)}, data
        )

    def delete_object(self, key: str) -> None:
        self.request("DeleteObject", "DELETE", key)

    # Sending

    def request(
        self,
        operation: str,
        method: str,
        key: str,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | memoryview = b"",
    ) -> httpx.Response:
        """Send one request, retried as botocore's standard mode does; the answer, or StoreError.

        A `bytes` body (XML, empty) is signed; a memoryview is data, carrying its own checksum, and is not.
        """
        query, headers = query or {}, headers or {}
        path = f"{self.bucket_path}/{quote(key, safe='/~')}"
        url = f"{self.scheme}://{self.host}{path}" + ("?" + _url_query(query) if query else "")
        for attempt in range(1, MAX_ATTEMPTS + 1):
            signed = self._sign(method, path, query, headers, body)
            content: bytes | Iterator[bytes]
            if isinstance(body, memoryview):  # data: sent in views (httpx sends any bytes-like piece), its length given
                content = cast(Iterator[bytes], _pieces(body))
                signed["content-length"] = str(len(body))
            else:
                content = body
            request = httpx.Request(method, url, headers=signed, content=content, extensions={"timeout": self.timeout})
            try:
                answer = self.transport.handle_request(request)
                try:
                    answer.read()
                finally:
                    answer.close()
            except httpx.TransportError as exc:  # connection refused or cut, timeouts: retried
                failure = f"{exc.__class__.__name__} ({exc}) sending {operation}"
                retried = True
            else:
                code, message = _error_of(answer, operation)
                if code is None:
                    return answer
                failure = f"{code} ({message}) answering {operation}: HTTP {answer.status_code}"
                retried = answer.status_code in RETRIED_STATUSES or code in RETRIED_CODES
            if not retried or attempt == MAX_ATTEMPTS:
                raise StoreError(f"{failure}, after {attempt} attempt{'s' if attempt > 1 else ''}")
            time.sleep(min(MAX_BACKOFF_SECONDS, random.random() * 2 ** (attempt - 1)))  # jitter
        raise AssertionError("unreachable")

    def _sign(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body) -> dict[str, str]:
        """`headers` with AWS Signature V4 for S3: the canonical request, the scope, the signing key's HMAC chain."""
        credentials = self._credentials()
        now = _now()
        payload = UNSIGNED_PAYLOAD if isinstance(body, memoryview) else hashlib.sha256(body).hexdigest()
        signed = {name.lower(): value for name, value in headers.items()}
        signed |= {"host": self.host, "x-amz-content-sha256": payload, "x-amz-date": now}
        if credentials.token:
            signed["x-amz-security-token"] = credentials.token
        names = sorted(signed)
        canonical = "\n".join(
            [
                method,
                path,
                _canonical_query(query),
                "".join(f"{name}:{' '.join(signed[name].split())}\n" for name in names),
                ";".join(names),
                payload,
            ]
        )
        scope = f"{now[:8]}/{self.region}/s3/aws4_request"
        text = f"AWS4-HMAC-SHA256\n{now}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        key = ("AWS4" + credentials.secret_key).encode()
        for part in (now[:8], self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
        signed["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )
        del signed["host"]  # httpx sends it, from the URL
        return signed


def _credentials_of(config: DistributionSettings):
    """A callable giving the current credentials: the configured keys, else botocore's default chain."""
    if config.s3_access_key_id:
        fixed = Credentials(config.s3_access_key_id, config.s3_secret_access_key)
        return lambda: fixed
    import botocore.session  # only for the default chain (instance roles, AWS_* variables, shared files)

    found = botocore.session.get_session().get_credentials()
    if found is None:
        raise StoreError("No bucket credentials: DISTRIBUTION_S3_ACCESS_KEY_ID is empty, AWS's default chain has none")

    def current() -> Credentials:
        frozen = found.get_frozen_credentials()  # refreshed by botocore when they are about to expire
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    return current


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def _checksum_headers(crc32: str) -> dict[str, str]:
    return {"x-amz-checksum-crc32": crc32, "x-amz-sdk-checksum-algorithm": "CRC32"}


def _pieces(body: memoryview) -> Iterator[memoryview]:
    """The body in views for httpx to send: no copy of the whole part (httpx would join it into one bytes)."""
    for start in range(0, len(body), SEND_PIECE_BYTES):
        yield body[start : start + SEND_PIECE_BYTES]


def _canonical_query(query: dict[str, str]) -> str:
    return "&".join(f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}" for name, value in sorted(query.items()))


def _url_query(query: dict[str, str]) -> str:
    """The query as sent: a flag without a value is its bare name (`?uploads`), as S3's own clients send it."""
    return "&".join(
        quote(name, safe="-_.~") + (f"={quote(value, safe='-_.~')}" if value else "") for name, value in query.items()
    )


def _error_of(answer: httpx.Response, operation: str) -> tuple[str | None, str]:
    """(code, message) of an S3 error answer, (None, "") for a success."""
    if answer.is_success and not (operation == "CompleteMultipartUpload" and b"<Error>" in answer.content[:512]):
        return None, ""
    code = _xml_text(answer.content, "Code") or answer.reason_phrase.replace(" ", "") or str(answer.status_code)
    return code, _xml_text(answer.content, "Message") or ""


def _xml_text(document: bytes, tag: str) -> str | None:
    """The text of the first element named `tag` (any namespace), None if there is none or it is no XML."""
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError:
        return None
    for element in root.iter():
        if element.tag.rpartition("}")[2] == tag:
            return element.text or ""
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_label(bucket: str) -> bool:
    """Whether `bucket` can be one label of a host name (a dotted name is not: TLS wildcards cover one label)."""
    return bool(_BUCKET_HOST_LABEL.fullmatch(bucket))
