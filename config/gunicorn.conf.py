"""gunicorn settings of the web process: `gunicorn -c config/gunicorn.conf.py`.

Threaded workers (gthread): a publish request mostly waits, on the asset host, on PayloadCMS or
on its job, so a few processes with several threads each serve many callers at once. Each value
can be changed through the environment variable next to it (or on gunicorn's command line).
"""

import gc
import os

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

from distribution.outbound.redaction import redact_handlers


class RedactingLogger(Logger):
    """gunicorn's logger with distribution.outbound.redaction's filter on each of its handlers."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            redact_handlers(log)


wsgi_app = "config.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
# A publish request holds its thread while it waits for the job, and the kernel spreads connections over the
# workers unevenly: each worker gets threads for as many waiting callers as the workers together expect.
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
# gthread workers heartbeat from their main thread, so this kills hung workers, not long requests.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# On SIGTERM (a deploy), requests in flight get this long to finish before their worker is killed.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# The application is loaded (and warmed up: config/wsgi.py) once, in the arbiter: a worker, the first or one
# recycled, is a fork of it that serves at once, instead of a process importing everything while its siblings
# serve. Code changes need a restart (not a HUP) to be picked up.
preload_app = True
# Recycle workers now and then so a slow leak never grows without bound; jitter keeps them apart.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = max_requests // 10
# The proxy in front (only it) may say the original scheme and client address.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None  # empty: no access log
errorlog = "-"
logger_class = RedactingLogger  # URLs in gunicorn's own lines (access log included) lose credentials and queries
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Heartbeat files on tmpfs: a worker on a slow or full disk is not mistaken for a hung one.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def on_starting(server):
    """Refuse to serve production traffic with the development secret key or DEBUG on."""
    from django.conf import settings

    if settings.DEBUG:
        raise SystemExit("Refusing to start: DJANGO_DEBUG is on. It is for development (scripts/dev) only.")
    if settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        raise SystemExit("Refusing to start: set DJANGO_SECRET_KEY (a long random value) for production.")


def post_worker_init(worker):
    """Move what startup allocated (Django, DRF: ~100k objects) out of the garbage collector's sight, so its full
    collections, which pause every thread of the worker, stay short."""
    gc.freeze()
