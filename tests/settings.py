"""The test suite's settings: config.settings on its embedded defaults, whatever env files the checkout has.

A developer's `.env` or scripts/dev's `var/dev.env` (DEBUG on, the local PayloadCMS and its key) would change
what the tests see, so neither is read: not here, nor in the processes the tests start (they inherit this
environment). Job folders go to a folder of this test session: job ids restart at 1 in every test database,
and other checkouts' tests on the same machine would otherwise share (and remove) /tmp/distribution-jobs/job-1.
"""

import os
import tempfile

os.environ["DJANGO_ENV_FILE"] = os.devnull
os.environ.setdefault("DISTRIBUTION_JOB_TEMP_DIR", tempfile.mkdtemp(prefix="distribution-test-jobs-"))

from config.settings import *  # noqa: F403
