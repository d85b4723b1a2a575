"""HTTP clients that share one TLS context, and PayloadCMS's connections, per process.

Building an httpx.Client loads the CA bundle into a new SSL context: about 65 ms on the
machine the benchmarks run on, more than a small publish's transfers take. One context,
built on first use and shared (an SSLContext is safe to share between threads), brings a
client down to a fraction of a millisecond, so every publish can still have its own client
(with its own deadline hooks) at no cost.

The clients also share one pool of connections: a new connection cost PayloadCMS ~1.3 ms of
CPU and the caller ~1 ms (a request that took 3-4 ms on a kept connection took 5-8 ms on a new one).
"""

import functools
import os
import ssl
import threading

import httpx

from distribution.conf import app_settings

# How long a connection may stay idle in the pool: under Node's 5 s keep-alive timeout (PayloadCMS's
# server), so that the pool drops an idle connection before the server closes it.
KEEPALIVE_SECONDS = 2.0


@functools.cache
def tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def new_client(*, timeout: float | None = None, event_hooks: dict | None = None, **options) -> httpx.Client:
    """An httpx.Client with the shared TLS context and the configured timeout (for PayloadCMS).

    Its requests go through this process's pool of connections, unless `transport` is given.
    """
    options.setdefault("transport", shared_transport())
    return httpx.Client(
        verify=tls_context(),
        timeout=app_settings().http_timeout_seconds if timeout is None else timeout,
        event_hooks=event_hooks,
        **options,
    )


class _SharedTransport(httpx.BaseTransport):
    """A transport that outlives the clients using it: closing a client leaves its connections open."""

    def __init__(self):
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=KEEPALIVE_SECONDS)
        self.transport = httpx.HTTPTransport(verify=tls_context(), limits=limits)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.transport.handle_request(request)

    def close(self) -> None:
        pass


_shared: tuple[int, _SharedTransport] | None = None  # by process id: a forked process starts its own
_shared_lock = threading.Lock()


def shared_transport() -> httpx.BaseTransport:
    global _shared
    with _shared_lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), _SharedTransport())
        return _shared[1]
