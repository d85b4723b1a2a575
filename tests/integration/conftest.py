"""A real PayloadCMS (payload/start.sh) for the integration tests, once per test session."""

import pytest

from tests.support.payload import IT_KEY, PayloadServer
from tests.support.samples import install_api_key


@pytest.fixture(scope="session")
def payload_server(tmp_path_factory):
    server = PayloadServer(tmp_path_factory.mktemp("payload"))
    yield server
    server.stop()


@pytest.fixture
def use_payload(settings):
    """Point the Django settings at a running PayloadServer (plain http is fine on loopback); install IT_KEY."""

    def configure(server: PayloadServer, api_key: str | None = None):
        settings.PAYLOADCMS_URL = server.url
        settings.PAYLOADCMS_API_KEY = server.api_key if api_key is None else api_key
        settings.DISTRIBUTION = {**settings.DISTRIBUTION, "ALLOW_HTTP_PUBLIC_URL": True}
        from rest_framework_api_key.models import APIKey

        if not APIKey.objects.filter(prefix=IT_KEY.partition(".")[0]).exists():
            install_api_key("integration", IT_KEY)

    return configure
