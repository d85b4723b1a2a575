"""The test suite's settings: config.settings on its embedded defaults, whatever env files the checkout has.

A developer's `.env` or scripts/dev's `var/dev.env` (DEBUG on, the local PayloadCMS and its key) would change
what the tests see, so neither is read: not here, nor in the processes the tests start (they inherit this
environment).
"""

import os

os.environ["DJANGO_ENV_FILE"] = os.devnull

from config.settings import *  # noqa: F403

# /metrics needs a token while DEBUG is off, as in production; tests.support.pages.scrape sends it.
DISTRIBUTION = {**DISTRIBUTION, "METRICS_TOKEN": "test-scraper-token"}  # noqa: F405

# Static files straight from the apps' folders, so the tests need no `collectstatic` (a fresh clone runs them);
# the processes the tests start with the production settings collect their own (tests.support.processes).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
