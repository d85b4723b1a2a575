"""Settings for the distribution service.

Every value comes from the environment (or an optional `.env` file beside
manage.py, or the file DJANGO_ENV_FILE names) with an embedded default, so `manage.py runserver` works on a fresh
machine with nothing configured.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(env.str("DJANGO_ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # config/gunicorn.conf.py refuses to serve with it
SECRET_KEY = env("DJANGO_SECRET_KEY", default=DEV_SECRET_KEY)
# Off unless asked for: scripts/dev sets DJANGO_DEBUG=true, production and the tests never do.
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
# Origins allowed to POST forms (the admin) when served behind an HTTPS proxy, e.g. https://ops.example.com
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
if env.bool("DJANGO_BEHIND_HTTPS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

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
    "distribution",
]

MIDDLEWARE = [
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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
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
        "distribution.authentication.APIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "distribution.api_views.error_handler",
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

# --- Publishing ---------------------------------------------------------------
DISTRIBUTION = {
    # Keys accepted in the X-API-Key header of the REST endpoint (besides DRF tokens).
    "API_KEYS": env.list("DISTRIBUTION_API_KEYS", default=[]),
    "DEFAULT_PROJECT_ID": env("DISTRIBUTION_DEFAULT_PROJECT_ID", default="default"),
    "DEFAULT_STORAGE_PREFIX": env("DISTRIBUTION_DEFAULT_STORAGE_PREFIX", default="mvp"),
    "DEFAULT_URL_EXPIRY_HOURS": env.int("DISTRIBUTION_URL_EXPIRY_HOURS", default=72),
    "MAX_ASSET_BYTES": env.int("DISTRIBUTION_MAX_ASSET_BYTES", default=5 * 1024**3),
    "HTTP_TIMEOUT_SECONDS": env.float("DISTRIBUTION_HTTP_TIMEOUT_SECONDS", default=60.0),
    # Plain-http public URLs are refused unless this is set (local development only).
    "ALLOW_HTTP_PUBLIC_URL": env.bool("DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL", default=False),
    # When set, public_url = this base + "/" + storage path (e.g. an R2 public bucket domain).
    "PUBLIC_BASE_URL": env("DISTRIBUTION_PUBLIC_BASE_URL", default="").rstrip("/"),
    "AUDIT_SINK": env("DISTRIBUTION_AUDIT_SINK", default="log"),
    "AUDIT_WEBHOOK_URL": env("DISTRIBUTION_AUDIT_WEBHOOK_URL", default=""),
    # When set, /metrics requires "Authorization: Bearer <token>".
    "METRICS_TOKEN": env("DISTRIBUTION_METRICS_TOKEN", default=""),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "distribution": {"handlers": ["console"], "level": env("DISTRIBUTION_LOG_LEVEL", default="INFO")},
    },
}
