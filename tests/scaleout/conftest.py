import os

import pytest

from tests.scaleout.cluster import running_cluster
from tests.scaleout.services import missing_servers
from tests.servers import AssetServer


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    missing = missing_servers()
    if missing:
        message = f"the scale-out tests need {', '.join(missing)}; scripts/test installs them"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with running_cluster(tmp_path_factory.mktemp("scaleout"), DISTRIBUTION_HTTP_TIMEOUT_SECONDS="30") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def assets():
    with AssetServer() as server:
        yield server
