"""Django system checks for misconfiguration: `manage.py check` (and every command) runs the first kind,
`manage.py check --deploy` adds the production ones."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from kombu import Connection

from distribution.conf import (
    AUDIT_SINKS,
    FIELDS,
    MAX_URL_EXPIRY_HOURS,
    S3_PART_BYTES_RANGE,
    DistributionSettings,
    app_settings,
    env_variable,
    url_expiry_hours_valid,
)


def _type_name(kind) -> str:
    names = {tuple[str, ...]: "a list of strings", tuple[float, ...]: "a list of numbers"}
    return names.get(kind) or kind.__name__


def _accepts(kind, value) -> bool:
    if kind == tuple[str, ...]:
        return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)
    if kind == tuple[float, ...]:
        return isinstance(value, list | tuple) and all(_accepts(float, item) for item in value)
    if isinstance(value, bool):
        return kind is bool
    return isinstance(value, int | float) if kind is float else isinstance(value, kind)


@register(Tags.compatibility)
def check_distribution_settings(app_configs, **kwargs):
    """settings.DISTRIBUTION: known keys of the right type, a usable audit sink."""
    problems: list[CheckMessage] = []
    for key, value in getattr(settings, "DISTRIBUTION", {}).items():
        field = FIELDS.get(key)
        if field is None:
            problems.append(Warning(f"Unknown setting DISTRIBUTION[{key!r}] is ignored.", id="distribution.W001"))
            continue
        if not _accepts(field.type, value):
            problems.append(
                Error(
                    f"DISTRIBUTION[{key!r}] should be {_type_name(field.type)}, not {value!r}.",
                    hint=f"Set {env_variable(key)} accordingly.",
                    id="distribution.E001",
                )
            )
    if problems and any(problem.is_serious() for problem in problems):
        return problems
    config = app_settings()
    if config.audit_sink not in AUDIT_SINKS:
        problems.append(
            Error(
                f"Unknown audit sink {config.audit_sink!r}.",
                hint=f"Set DISTRIBUTION_AUDIT_SINK to one of: {', '.join(AUDIT_SINKS)}.",
                id="distribution.E002",
            )
        )
    if config.audit_sink == "webhook" and urlsplit(config.audit_webhook_url).scheme not in ("http", "https"):
        problems.append(
            Error(
                "The webhook audit sink has no URL to POST events to.",
                hint="Set DISTRIBUTION_AUDIT_WEBHOOK_URL to an http(s) URL, or DISTRIBUTION_AUDIT_SINK=log.",
                id="distribution.E003",
            )
        )
    if not url_expiry_hours_valid(config.default_url_expiry_hours):
        problems.append(
            Error(
                f"DISTRIBUTION_URL_EXPIRY_HOURS is {config.default_url_expiry_hours}: outside the lifetimes PayloadCMS "
                "signs links for.",
                hint=f"Set it from 1/60 (one minute) to {MAX_URL_EXPIRY_HOURS} hours.",
                id="distribution.E006",
            )
        )
    problems += _direct_upload_problems(config)
    problems += _limit_problems(config)
    return problems


def _limit_problems(config: DistributionSettings) -> list[CheckMessage]:
    """The low-speed limit and the per-host cap: 0 turns each off, below 0 means nothing."""
    wrong = []
    if config.low_speed_limit_bytes < 0:
        wrong.append("DISTRIBUTION_LOW_SPEED_LIMIT_BYTES must be 0 (off) or more")
    if config.low_speed_limit_bytes > 0 and config.low_speed_seconds <= 0:
        wrong.append("DISTRIBUTION_LOW_SPEED_SECONDS must be above 0 while the low-speed limit is on")
    if config.max_publishes_per_host < 0:
        wrong.append("DISTRIBUTION_MAX_PUBLISHES_PER_HOST must be 0 (no cap) or more")
    if not wrong:
        return []
    return [
        Error(f"{'; '.join(wrong)}.", hint="Fix these settings or unset them for the defaults.", id="distribution.E005")
    ]


def _direct_upload_problems(config: DistributionSettings) -> list[CheckMessage]:
    """The direct path to S3/R2 (on when DISTRIBUTION_S3_BUCKET is set): sizes S3 accepts, credentials in pairs."""
    if not config.s3_bucket:
        return []
    wrong = []
    low, high = S3_PART_BYTES_RANGE
    if not low <= config.direct_upload_part_bytes <= high:
        wrong.append(f"DISTRIBUTION_DIRECT_UPLOAD_PART_BYTES must be from {low} (5 MiB) to {high} (5 GiB)")
    if config.direct_upload_parallel_parts < 1:
        wrong.append("DISTRIBUTION_DIRECT_UPLOAD_PARALLEL_PARTS must be at least 1")
    if bool(config.s3_access_key_id) != bool(config.s3_secret_access_key):
        wrong.append("DISTRIBUTION_S3_ACCESS_KEY_ID and DISTRIBUTION_S3_SECRET_ACCESS_KEY go together")
    if not wrong:
        return []
    return [
        Error(
            f"The direct upload to the bucket {config.s3_bucket} is misconfigured: {'; '.join(wrong)}.",
            hint="Fix these settings, or unset DISTRIBUTION_S3_BUCKET to send every asset through PayloadCMS.",
            id="distribution.E004",
        )
    ]


@register(deploy=True)
def check_broker(app_configs, **kwargs):
    """Every publish is a job handed to the workers through the broker: it must answer.

    The embedded filesystem:// broker needs no server.
    """
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        return []
    connection = Connection(url, connect_timeout=5)
    try:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=10)
    except Exception as exc:  # any transport's failure: kombu does not unify them
        return [
            Error(
                f"The Celery broker at {connection.as_uri()} does not answer ({exc.__class__.__name__}): "
                "publishes would fail with queue_unavailable.",
                hint="Check CELERY_BROKER_URL and that the broker runs and is reachable from here.",
                id="distribution.E011",
            )
        ]
    finally:
        connection.release()
    return []


@register(Tags.security, deploy=True)
def check_production(app_configs, **kwargs):
    """What a production instance needs: a PayloadCMS key, HTTPS public URLs."""
    problems: list[CheckMessage] = []
    if not settings.PAYLOADCMS_API_KEY:
        problems.append(
            Error(
                "No PayloadCMS API key: every publish would fail with cms_auth_failed.",
                hint="Set PAYLOADCMS_API_KEY to the API key of the Payload service user.",
                id="distribution.E010",
            )
        )
    if app_settings().metrics_public and not app_settings().metrics_token:
        problems.append(
            Warning(
                "/metrics answers anyone: DISTRIBUTION_METRICS_PUBLIC is set and there is no token.",
                hint="Set DISTRIBUTION_METRICS_TOKEN and unset DISTRIBUTION_METRICS_PUBLIC, unless a proxy guards it.",
                id="distribution.W011",
            )
        )
    if app_settings().allow_http_public_url and not settings.DEBUG:
        problems.append(
            Warning(
                "Plain-http public URLs are accepted while DEBUG is off.",
                hint="Unset DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL: it is meant for local development only.",
                id="distribution.W010",
            )
        )
    return problems
