"""The Celery app: `celery -A config worker` runs publish jobs, `celery -A config beat` schedules the reaper."""

import os
from pathlib import Path

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, task_postrun
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# `filesystem://` (the embedded broker) with message files renamed into place whole: see distribution/jobs/broker.py.
TRANSPORT_ALIASES["filesystem"] = "distribution.jobs.broker:Transport"

app = Celery("distribution")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["distribution.jobs"])


@app.on_after_configure.connect
def _create_broker_folders(sender, **kwargs):
    """The filesystem transport needs its folders to exist before the first message."""
    for key in ("data_folder_in", "control_folder"):
        folder = (sender.conf.broker_transport_options or {}).get(key)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)


@task_postrun.connect
def _close_database_connections(task=None, **kwargs):
    """Django's connections belong to the thread that opened them: a pool thread closes its own after each task.

    Tasks run eagerly (inside a request or a command) leave the caller's connection alone.
    """
    if task is not None and not task.request.is_eager:
        from django.db import connections

        connections.close_all()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_celery_handlers(logger=None, **kwargs):
    """Handlers Celery adds itself (its task logger's) get the same URL redaction as LOGGING's."""
    from distribution.outbound.redaction import redact_handlers

    if logger is not None:
        redact_handlers(logger)
