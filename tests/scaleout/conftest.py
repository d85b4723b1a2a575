import os

import pytest

from tests.support.cluster import running_cluster
from tests.support.servers import AssetServer
from tests.support.services import missing_servers


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    missing = missing_servers()
    if missing:
        message = f"the scale-out tests need {', '.join(missing)}; scripts/test installs them"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    settings = {
        "DISTRIBUTION_HTTP_TIMEOUT_SECONDS": "30",
        # A dead worker's job is reaped within seconds, not the production minute.
        "DISTRIBUTION_JOB_LEASE_SECONDS": "4",
        "DISTRIBUTION_REAPER_INTERVAL_SECONDS": "1",
        # The production pool (threads) with few slots, so that jobs queue behind running ones.
        "CELERY_WORKER_CONCURRENCY": "2",
    }
    with running_cluster(tmp_path_factory.mktemp("scaleout"), settings) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def assets():
    with AssetServer() as server:
        yield server
