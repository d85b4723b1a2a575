"""The app's own settings, typed, with every default in one place.

`config/settings.py` fills `settings.DISTRIBUTION` from the environment with `from_env()`: each field
comes from `DISTRIBUTION_<FIELD>` (e.g. DISTRIBUTION_MAX_ASSET_BYTES) unless it names another variable,
else its default here. Code reads `app_settings().max_asset_bytes`; like DRF's and django-storages'
settings, the object is rebuilt whenever Django's settings change (override_settings, tests).
"""

import dataclasses
import math
from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

AUDIT_SINKS = ("log", "webhook")
# A download link's lifetime, in hours: one minute to 7 days, the longest an S3/R2 presigned URL lives
# (PayloadCMS applies the same cap on local disk: one rule whatever the storage).
MIN_URL_EXPIRY_HOURS = 1 / 60
MAX_URL_EXPIRY_HOURS = 168
# S3's part sizes: every part of a multipart upload but the last is at least 5 MiB, none over 5 GiB.
S3_PART_BYTES_RANGE = (5 * 1024**2, 5 * 1024**3)


@dataclasses.dataclass(frozen=True)
class DistributionSettings:
    # Development convenience only: plain keys accepted in X-API-Key while DEBUG is on (scripts/dev).
    # Production callers use per-caller API keys (admin, manage.py create_api_key).
    api_keys: tuple[str, ...] = ()
    # Project when a request names neither distribution_settings.project_id nor metadata.concept_id.
    default_project_id: str = "default"
    default_storage_prefix: str = "mvp"
    # The download link's lifetime (hours, 1/60 to 168) a publish asks PayloadCMS for when its request names none.
    default_url_expiry_hours: float = dataclasses.field(default=72.0, metadata={"env": "DISTRIBUTION_URL_EXPIRY_HOURS"})
    max_asset_bytes: int = 5 * 1024**3
    # Larger publish request bodies are answered 413 before they are read.
    max_request_bytes: int = 256 * 1024
    # The only hosts video_url and its redirects may name ("cdn.example.com", ".example.com" for subdomains);
    # empty: any host. Every destination must resolve to public addresses whatever this says.
    asset_hosts: tuple[str, ...] = ()
    # Loopback destinations (127.0.0.0/8, ::1) for local development only; scripts/dev sets it.
    allow_loopback_destinations: bool = False
    # Timeout of each HTTP operation (connect, read chunk, write).
    http_timeout_seconds: float = 60.0
    # Plain-http public URLs are refused unless this is set (local development only).
    allow_http_public_url: bool = False
    # "log": JSON lines on the distribution.audit logger; "webhook": POSTed to audit_webhook_url.
    audit_sink: str = "log"
    audit_webhook_url: str = ""
    # When set, /metrics requires "Authorization: Bearer <token>". With DEBUG off and no token, /metrics answers
    # no one unless metrics_public is set.
    metrics_token: str = ""
    metrics_public: bool = False
    # POST /publish waits this long for its job before answering 202 with the job.
    sync_wait_seconds: float = 120.0
    # A download slower than low_speed_limit_bytes per second, measured over low_speed_seconds of waiting on the
    # asset host, fails (as curl's --speed-limit/--speed-time); a host silent that long fails too. 0: no limit.
    low_speed_limit_bytes: int = 10 * 1024
    low_speed_seconds: float = 30.0
    # Publishes of one asset host a worker runs at once; the host's further jobs wait for a slot. 0: no cap.
    max_publishes_per_host: int = 0
    # Overall limit of one publish run (download + upload + record), on top of the per-operation timeout.
    publish_deadline_seconds: float = 3600.0
    # A running job's lease; its worker renews it every quarter of this. Expired: the reaper fails the job.
    job_lease_seconds: float = 60.0
    # A job no worker has started after this long is failed (not_started), releasing its audit_log_id.
    job_queue_timeout_seconds: float = 3600.0
    # Key of the HMAC-SHA256 signature of job callbacks; requests with a callback_url need it set.
    callback_secret: str = ""
    # Seconds before each retry of a failed callback delivery (deliveries only: never the publish).
    callback_retry_delays: tuple[float, ...] = (10.0, 60.0, 300.0, 1800.0, 7200.0)
    callback_timeout_seconds: float = 10.0
    # The direct path (distribution/storage/): when the media collection stores in S3/R2, assets go straight to
    # this bucket by a multipart upload, with the app's own credentials. Empty: every asset goes through Payload.
    s3_bucket: str = ""
    # The S3 API endpoint (R2: https://<account>.r2.cloudflarestorage.com); empty: AWS's own for s3_region.
    s3_endpoint: str = ""
    # R2 wants "auto" (it also takes us-east-1 and empty as aliases of auto); AWS buckets their region.
    s3_region: str = "auto"
    # Empty: botocore's default credential chain (AWS_* variables, instance role). Secrets: never logged.
    s3_access_key_id: str = ""
    s3_secret_access_key: str = dataclasses.field(default="", repr=False)
    # Path-style addressing (endpoint/bucket/key) for servers without per-bucket host names (MinIO, moto).
    s3_force_path_style: bool = False
    # Assets larger than this (or of unknown size) take the direct path when s3_bucket is set.
    direct_upload_min_bytes: int = 256 * 1024**2
    # Size of each part of a multipart upload (S3: 5 MiB to 5 GiB; at most 10,000 parts). The smallest keeps a
    # worker's peak under 140 MiB at 4 parts in flight, as fast as 8 or 16 MiB parts were measured.
    direct_upload_part_bytes: int = 5 * 1024**2
    # Parts uploaded at once; memory holds at most this many parts plus the one being filled.
    direct_upload_parallel_parts: int = 4

    def __post_init__(self):
        object.__setattr__(self, "api_keys", tuple(self.api_keys))
        object.__setattr__(self, "callback_retry_delays", tuple(float(d) for d in self.callback_retry_delays))
        object.__setattr__(self, "asset_hosts", tuple(self.asset_hosts))
        object.__setattr__(self, "s3_endpoint", self.s3_endpoint.rstrip("/"))


def url_expiry_hours_valid(hours: float) -> bool:
    """A lifetime PayloadCMS signs: one minute once rounded to whole seconds (as Payload does) to 168 h."""
    return math.isfinite(hours) and round(hours * 3600) >= 60 and hours <= MAX_URL_EXPIRY_HOURS


FIELDS = {field.name.upper(): field for field in dataclasses.fields(DistributionSettings)}


def env_variable(key: str) -> str:
    """The environment variable of a DISTRIBUTION key."""
    return FIELDS[key].metadata.get("env", f"DISTRIBUTION_{key}")


def from_env(env) -> dict[str, Any]:
    """settings.DISTRIBUTION from a django-environ Env: every key, its default where the variable is unset."""
    readers: dict[Any, Any] = {
        bool: env.bool,
        int: env.int,
        float: env.float,
        str: env.str,
        tuple[str, ...]: env.list,
        tuple[float, ...]: lambda name, default: [float(value) for value in env.list(name, default=default)],
    }
    values = {}
    for key, field in FIELDS.items():
        default: Any = field.default
        values[key] = readers[field.type](
            env_variable(key), default=list(default) if isinstance(default, tuple) else default
        )
    return values


@cache
def app_settings() -> DistributionSettings:
    """The typed settings; keys DISTRIBUTION does not give take their defaults (checks.py reports unknown keys)."""
    given = getattr(settings, "DISTRIBUTION", {})
    return DistributionSettings(**{key.lower(): value for key, value in given.items() if key in FIELDS})


def _reload(*, setting: str, **kwargs) -> None:
    if setting == "DISTRIBUTION":
        app_settings.cache_clear()


setting_changed.connect(_reload)
