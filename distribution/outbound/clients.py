"""HTTP clients that share one TLS context per process.

Building an httpx.Client loads the CA bundle into a new SSL context: about 65 ms on the
machine the benchmarks run on, more than a small publish's transfers take. One context,
built on first use and shared (an SSLContext is safe to share between threads), brings a
client down to a fraction of a millisecond, so every publish can still have its own client
(with its own deadline hooks) at no cost.
"""

import functools
import ssl

import httpx

from distribution.conf import app_settings


@functools.cache
def tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def new_client(*, timeout: float | None = None, event_hooks: dict | None = None, **options) -> httpx.Client:
    """An httpx.Client with the shared TLS context and the configured timeout (for PayloadCMS)."""
    return httpx.Client(
        verify=tls_context(),
        timeout=app_settings().http_timeout_seconds if timeout is None else timeout,
        event_hooks=event_hooks,
        **options,
    )
