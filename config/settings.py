"""Settings for the distribution service.

Every value comes from the environment (or an env file, below) with an embedded default, so
`manage.py runserver` works on a fresh machine with nothing configured. The app's own settings
(DISTRIBUTION) are typed, with their defaults, in distribution/conf.py.
"""

import os
import sys
from pathlib import Path

import environ

from distribution.conf import from_env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"  # local state: test database, broker folders, beat schedule, dev logs
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
# Values the real environment lacks come from DJANGO_ENV_FILE if it is set (os.devnull: none), else from
# `.env` beside manage.py (yours), then `var/dev.env` (written by scripts/dev: the local PayloadCMS and its key).
if "DJANGO_ENV_FILE" in os.environ:
    ENV_FILES = [Path(os.environ["DJANGO_ENV_FILE"])]
else:
    ENV_FILES = [BASE_DIR / ".env", BASE_DIR / "var" / "dev.env"]
for env_file in ENV_FILES:
    if env_file.is_file():
        environ.Env.read_env(env_file, overwrite=False)

DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # config/gunicorn.conf.py refuses to serve with it
SECRET_KEY = env("DJANGO_SECRET_KEY", default=DEV_SECRET_KEY)
# Off unless asked for: scripts/dev sets DJANGO_DEBUG=true, production and the tests never do.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
# Origins allowed to POST forms (the admin) when served behind an HTTPS proxy, e.g. https://ops.example.com
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
if env.bool("DJANGO_BEHIND_HTTPS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Served to browsers over HTTPS only (production): http is redirected, HSTS, cookies only over HTTPS.
# /metrics stays reachable over plain http for scrapes on the internal network.
if env.bool("DJANGO_HTTPS", default=False):
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^metrics$"]
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",  # runserver serves static files the way production does
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served as static files: no CDN
    "distribution",
]

MIDDLEWARE = [
    "distribution.api.middleware.APIErrorsAsJSONMiddleware",  # outermost: sees every answer under /api/
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Persistent connections: opening one (and, on SQLite, its PRAGMAs) took most of a refused request's time.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process, the Celery worker and beat share the file: WAL lets readers run beside the
    # writer, IMMEDIATE transactions take the write lock up front, and writers wait instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        }
    )
    # A file (not memory) so that test sessions can share their database with real worker processes.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
FORMAT_MODULE_PATH = ["config.formats"]  # one time format on every page: 2026-12-02 17:50:59 UTC
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# `manage.py collectstatic` (run by scripts/setup) fills it; WhiteNoise serves it from every web process,
# compressed and with content-hashed names cached for a year.
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "var" / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    # TokenAuthentication first: its WWW-Authenticate header turns anonymous calls into 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "distribution.api.authentication.APIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "distribution.api.views.error_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# OpenAPI 3.1 generated from the serializers (distribution/contract.py): /api/schema/, /api/docs/, /api/redoc/
SPECTACULAR_SETTINGS = {
    "TITLE": "Distribution API",
    "DESCRIPTION": "Publishes QC-approved MP4s to PayloadCMS and answers with a public link.",
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Redoc's default fonts come from Google Fonts: the system's own instead (templates/drf_spectacular/redoc.html
    # drops the font links), so the API docs load nothing from outside the machine.
    "REDOC_UI_SETTINGS": {
        "hideDownloadButton": False,
        "theme": {
            "typography": {
                "fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
                "headings": {"fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"},
                "code": {"fontFamily": "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace"},
            }
        },
    },
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    "ENUM_NAME_OVERRIDES": {"ErrorCode": "distribution.errors.ERROR_CODES"},
}

# --- PayloadCMS -------------------------------------------------------------
PAYLOADCMS_URL = (
    env("PAYLOADCMS_URL", default="")
    or env("PAYLOAD_PUBLIC_SERVER_URL", default="")
    or env("AUTO_MOVIE_URL", default="")
    or "http://localhost:3010"
).rstrip("/")
PAYLOADCMS_API_KEY = env("PAYLOADCMS_API_KEY", default="")
PAYLOADCMS_AUTH_COLLECTION = env("PAYLOADCMS_AUTH_COLLECTION", default="users")
# Payload's admin (e.g. http://127.0.0.1:3011/admin): when set, mirrored records link to their document there.
PAYLOADCMS_ADMIN_URL = env("PAYLOADCMS_ADMIN_URL", default="").rstrip("/")

# --- Publishing ---------------------------------------------------------------
DISTRIBUTION = from_env(env)  # DISTRIBUTION_* variables; see distribution/conf.py

# --- Celery (config/celery.py) ---------------------------------------------------
# Embedded default: kombu's filesystem transport under var/broker, no server needed (see README).
# Production: CELERY_BROKER_URL=redis://host:6379/0.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_DIR = Path(env("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "polling_interval": 0.2,
    }
    # Broadcast (remote control) messages would pile up as files for workers that are gone.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
# Run jobs inside the calling process instead of on workers (tests of a single process, debugging).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_IGNORE_RESULT = True  # a job's state and result live in PublishJob, not a result backend
# Acknowledge a job's message after its run, and reserve one message per pool process: a worker that is
# killed then holds no message it has not started (with early acks it would hold one more per process, and
# Redis would hand those back only after its visibility timeout, an hour). A message delivered again finds
# its job no longer queued and does nothing (lifecycle.claim), so a publish still never runs twice.
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A publish mostly waits on the asset host and PayloadCMS: one worker process runs many at once in threads
# (16 threads: about 95 MiB; 16 prefork children: about 1.5 GiB). Celery's hard time limit needs prefork, whose
# children it can kill; the threads pool relies on the publish deadline (see docs/deploy.md).
CELERY_WORKER_POOL = env("CELERY_WORKER_POOL", default="threads")
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=16)
# Celery closes a worker's database connections after every task (it cannot tell whether a query a signal
# interrupted left one unusable), and each publish then opened a new PostgreSQL session: a backend forked and
# set up, ~10 ms of PostgreSQL's CPU and ~2 ms of the worker's per publish. No query is interrupted here (no soft
# time limit; the hard limit kills the prefork child with its connection), so tasks keep their connections as
# requests do: config/celery.py applies CONN_MAX_AGE and the health check around each task, and Celery's count
# of tasks between closes is out of reach.
CELERY_DB_REUSE_MAX = sys.maxsize
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "reap-expired-publish-jobs": {
        "task": "distribution.jobs.tasks.reap_expired_jobs",
        "schedule": env.float("DISTRIBUTION_REAPER_INTERVAL_SECONDS", default=15.0),
    },
}

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # On every handler: URLs lose their credentials and query strings before any record is written.
    "filters": {"redact": {"()": "distribution.outbound.redaction.RedactingFilter"}},
    "formatters": {
        "plain": {"format": "%(message)s"},
        "detailed": {"format": "[%(asctime)s %(levelname)s %(name)s] %(message)s"},
        # Audit events (distribution/publishing/audit.py): one JSON object per line, the log message as "event"
        # and the event's fields beside it.
        "audit_json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "{message}",
            "style": "{",
            "rename_fields": {"message": "event"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
        "libraries": {"class": "logging.StreamHandler", "formatter": "detailed", "filters": ["redact"]},
        "audit": {"class": "logging.StreamHandler", "formatter": "audit_json", "filters": ["redact"]},
    },
    # Everything else (Django, Celery, kombu, httpx, httpcore, boto3, botocore) reaches the root's handler;
    # Django's own loggers are given it instead of the handlers Django's defaults set up.
    "root": {"handlers": ["libraries"], "level": LOG_LEVEL},
    "loggers": {
        # httpx's line for every request it sends (three a publish) only when debugging: each is a formatted,
        # redacted write under the handler's lock, in every worker thread; failures are logged by our code.
        "httpx": {"level": LOG_LEVEL if LOG_LEVEL == "DEBUG" else "WARNING"},
        "django": {"handlers": ["libraries"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["libraries"], "level": "INFO", "propagate": False},
        "distribution": {
            "handlers": ["console"],
            "level": env("DISTRIBUTION_LOG_LEVEL", default="INFO"),
            "propagate": False,
        },
        "distribution.audit": {"handlers": ["audit"], "level": "INFO", "propagate": False},
    },
}
