"""The process's one S3 client, built lazily from settings.DISTRIBUTION (DISTRIBUTION_S3_*).

boto3 clients are thread-safe, sessions are not: the client is created once per process (under a
lock, from a session of its own) and shared by the upload threads. A forked child (a prefork Celery
worker) builds its own, and a change of settings (override_settings, tests) drops it.
"""

import os
import threading
from typing import Any

import boto3
from botocore.config import Config
from django.conf import settings
from django.core.signals import setting_changed

from distribution.conf import DistributionSettings, app_settings

_lock = threading.Lock()
_client: tuple[int, Any] | None = None  # (pid, client)


def s3_client() -> Any:
    """The S3 client of this process, for app_settings()' bucket."""
    global _client
    with _lock:
        if _client is None or _client[0] != os.getpid():
            _client = (os.getpid(), _new_client(app_settings()))
        return _client[1]


def client_config(config: DistributionSettings) -> Config:
    return Config(
        region_name=config.s3_region or None,
        # One connection per part in flight of each publish a worker runs at once, and a few for the control calls.
        max_pool_connections=max(10, concurrent_publishes() * config.direct_upload_parallel_parts + 2),
        retries={"mode": "standard", "total_max_attempts": 3},
        connect_timeout=config.http_timeout_seconds,
        read_timeout=config.http_timeout_seconds,
        s3={
            "addressing_style": "path" if config.s3_force_path_style else "auto",
            # Every part and object carries the CRC32 the upload computes itself (multipart.py), which the store
            # checks: the body is not hashed again for the signature (UNSIGNED-PAYLOAD, as the AWS SDKs send over
            # TLS; botocore would otherwise SHA-256 every part, over TLS too when the checksum is not its own).
            "payload_signing_enabled": False,
        },
        # botocore adds no checksum of its own: its default sends CRC32 as a trailer (aws-chunked), which not
        # every S3-compatible store accepts; the upload's own is a plain header.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


def concurrent_publishes() -> int:
    """How many publishes one process runs at once: a worker's threads (a prefork child runs one)."""
    return settings.CELERY_WORKER_CONCURRENCY if settings.CELERY_WORKER_POOL == "threads" else 1


def _new_client(config: DistributionSettings) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=config.s3_access_key_id or None,
        aws_secret_access_key=config.s3_secret_access_key or None,
    )
    return session.client("s3", endpoint_url=config.s3_endpoint or None, config=client_config(config))


def reset() -> None:
    """Drop the client; the next s3_client() builds one from the current settings."""
    global _client
    with _lock:
        _client = None


def _reload(*, setting: str, **kwargs) -> None:
    if setting == "DISTRIBUTION":
        reset()


setting_changed.connect(_reload)
