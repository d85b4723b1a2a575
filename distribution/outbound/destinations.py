"""Outbound HTTP to URLs that callers or operators supply (server-side request forgery guard).

Every URL the service fetches or posts to (the asset's `video_url`, each redirect hop,
the audit webhook, job callbacks) goes through `guarded_client()`. Its transport
resolves the host itself, refuses the connection when *any* resolved address is not a
public unicast address, and then connects to exactly the address it checked: there is
no second DNS lookup for a rebinding answer to slip into. TLS still verifies the
certificate against the URL's hostname (SNI included), because httpx keeps the
hostname as the connection's origin; only the socket goes to the checked IP.

Refusals raise `DestinationRefused`; its reason is for operators (logs, jobs),
never for the caller, so the service cannot be used as a port or network scanner.
"""

import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpcore
import httpx

from distribution.conf import app_settings
from distribution.outbound.clients import new_client, tls_context

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# resolver(host, port) -> every address the host resolves to, as strings (getaddrinfo by default).
Resolver = Callable[[str, int], list[str]]
# connect(address, port, timeout) -> an open httpcore stream; tests inject one to see where a socket would go.
Connector = Callable[[str, int, float | None], httpcore.NetworkStream]

ALLOWED_SCHEMES = ("http", "https")
MAX_REDIRECTS = 5
MAX_URL_LENGTH = 2048
# Named explicitly: what Python's is_private/is_global cover differs between patch releases.
_SPECIAL_IPV4 = (
    ("this-network", ipaddress.ip_network("0.0.0.0/8")),
    ("carrier-grade NAT", ipaddress.ip_network("100.64.0.0/10")),
    ("IETF protocol assignment", ipaddress.ip_network("192.0.0.0/24")),
    ("benchmarking", ipaddress.ip_network("198.18.0.0/15")),
)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class DestinationRefused(Exception):
    """The URL or an address it resolves to is not one this service may contact."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpx.ConnectError(f"Could not resolve {host!r}") from exc
    return [str(info[4][0]) for info in infos]


def refusal_reason(address: str, *, allow_loopback: bool = False) -> str | None:
    """Why `address` may not be contacted, or None for a public unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if allow_loopback and ip.is_loopback:
        return None
    return _classify(ip)


def _classify(ip: IPAddress) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"IPv4-mapped IPv6 address {ip} ({ip.ipv4_mapped})"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            reason = _classify(embedded)
            return f"{reason}, embedded in {ip}" if reason else None
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        *((name, ip in network) for name, network in _SPECIAL_IPV4 if ip.version == 4),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
        ("not globally routable", not ip.is_global),
    )
    for name, refused in checks:
        if refused:
            return f"{name} address {ip}"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a 6to4 or NAT64 address leads to (Teredo is refused as non-global)."""
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in network for network in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def host_allowed(host: str, allowed_hosts: list[str]) -> bool:
    """An empty allow-list allows any host; `.example.com` or `*.example.com` allows its subdomains."""
    if not allowed_hosts:
        return True
    host = host.lower().rstrip(".")
    for entry in allowed_hosts:
        entry = entry.lower().strip().rstrip(".")
        if entry.startswith(("*.", ".")):
            suffix = entry.lstrip("*")
            if host.endswith(suffix) and len(host) > len(suffix):
                return True
        elif host == entry:
            return True
    return False


def check_url(url: str, *, allowed_hosts: list[str] | None = None) -> None:
    """What can be checked without the network: length, scheme, a host, the host allow-list."""
    if len(url) > MAX_URL_LENGTH:
        raise DestinationRefused(f"URL longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port  # .port raises ValueError when out of range
        httpx.URL(url)  # what httpx itself would refuse (bad IPv4 spelling, bad IDNA, ...)
    except (ValueError, httpx.InvalidURL) as exc:
        raise DestinationRefused(f"malformed URL ({exc})") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise DestinationRefused(f"scheme {parts.scheme!r} is not http or https")
    if not host:
        raise DestinationRefused("URL without a host")
    if not host_allowed(host, allowed_hosts or []):
        raise DestinationRefused(f"host {host!r} is not in DISTRIBUTION_ASSET_HOSTS")


def _default_connector(address: str, port: int, timeout: float | None) -> httpcore.NetworkStream:
    return httpcore.SyncBackend().connect_tcp(address, port, timeout=timeout)


# httpcore asks the socket for 64 KiB at a time, and every piece then costs ~60 us of Python (httpcore,
# h11, httpx, the asset's checks): a 1 GiB download took 1.5 s of the worker's CPU so, 0.4 s in 1 MiB
# reads. Larger pieces cost memory while they pass, though, in every download at once (16 downloads
# reading 1 MiB each took a worker from 106 to 184 MiB): the connections open in a process share
# READ_BUDGET_BYTES of reads, each asking for between MIN_READ_BYTES and MAX_READ_BYTES. A read still
# returns as soon as anything has arrived.
MIN_READ_BYTES = 64 * 1024
MAX_READ_BYTES = 1024 * 1024
READ_BUDGET_BYTES = 1024 * 1024


class _ReadBudget:
    """READ_BUDGET_BYTES shared by the guarded connections open in this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self.open_connections = 0

    def read_bytes(self) -> int:
        share = READ_BUDGET_BYTES // max(1, self.open_connections)
        return max(MIN_READ_BYTES, min(MAX_READ_BYTES, share))

    def add(self, count: int) -> None:
        with self._lock:
            self.open_connections += count


_read_budget = _ReadBudget()


class _BudgetedReads(httpcore.NetworkStream):
    """A network stream whose reads ask for its share of the read budget, counted until it is closed."""

    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream
        self._closed = False
        _read_budget.add(1)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max(max_bytes, _read_budget.read_bytes()), timeout)

    def read_at_most(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """A read of at most `max_bytes`, and at most this connection's share of the budget."""
        return self._stream.read(min(max_bytes, _read_budget.read_bytes()), timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()
        if not self._closed:
            self._closed = True
            _read_budget.add(-1)

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore.NetworkStream:
        try:
            self._stream = self._stream.start_tls(ssl_context, server_hostname, timeout)  # the same connection, in TLS
        except BaseException:
            self.close()  # httpcore closed the socket; the connection is no longer open
            raise
        return self

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network layer with the address check between resolution and connect."""

    def __init__(self, resolver: Resolver, connector: Connector, allow_loopback: bool):
        self._resolver = resolver
        self._connector = connector
        self._allow_loopback = allow_loopback

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = self._resolver(host, port)
        if not addresses:
            raise httpcore.ConnectError(f"{host!r} resolved to no address")
        for address in addresses:
            reason = refusal_reason(address, allow_loopback=self._allow_loopback)
            if reason:
                raise DestinationRefused(f"{host} resolves to a refused address ({reason})")
        last_error: Exception | None = None
        for address in addresses:
            try:
                return _BudgetedReads(self._connector(address, port, timeout))
            except httpcore.ConnectError as exc:
                last_error = exc
        raise last_error or httpcore.ConnectError(f"could not connect to {host!r}")

    def connect_unix_socket(self, *args, **kwargs):
        raise DestinationRefused("Unix sockets are not a destination")

    def sleep(self, seconds: float) -> None:
        httpcore.SyncBackend().sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose every connection goes through the address check."""

    def __init__(
        self,
        *,
        resolver: Resolver | None = None,
        connector: Connector | None = None,
        allow_loopback: bool | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ):
        ssl_context = ssl_context or tls_context()  # the shared one: building a context costs ~65 ms
        super().__init__(verify=ssl_context, trust_env=False)
        if allow_loopback is None:
            allow_loopback = app_settings().allow_loopback_destinations
        backend = _GuardedBackend(resolver or system_resolver, connector or _default_connector, allow_loopback)
        # HTTPTransport offers no network_backend argument; its pool is rebuilt with ours.
        self._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=backend)


@contextmanager
def guarded_client(
    *,
    timeout: float | None = None,
    transport: httpx.BaseTransport | None = None,
    event_hooks: dict | None = None,
) -> Iterator[httpx.Client]:
    """An httpx.Client for caller- or operator-supplied URLs; it follows no redirect by itself.

    GET through `open_stream()`, which checks each redirect hop; POST through `post()`.
    """
    with new_client(
        transport=transport or GuardedTransport(),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        event_hooks=event_hooks,
    ) as client:
        yield client


@contextmanager
def open_stream(
    client: httpx.Client, url: str, *, headers: dict | None = None, allowed_hosts: list[str] | None = None
) -> Iterator[httpx.Response]:
    """GET `url` as a stream, following at most MAX_REDIRECTS redirects, each hop checked like the first.

    A 3xx without a Location, or with an empty one, is not followed: it is the answer (httpx itself
    raises RemoteProtocolError for a malformed one).
    """
    for _hop in range(MAX_REDIRECTS + 1):
        check_url(url, allowed_hosts=allowed_hosts)
        response = client.send(client.build_request("GET", url, headers=headers), stream=True)
        target = redirect_target(response)
        if target is None:
            try:
                yield response
            finally:
                response.close()
            return
        response.close()
        url = target
    raise DestinationRefused(f"more than {MAX_REDIRECTS} redirects")


def iter_body(response: httpx.Response) -> Iterator[bytes]:
    """The body of a streamed response from a guarded client, as raw pieces (what `iter_raw()` gives).

    A body of declared length is read straight from the connection once h11 has handed over the
    bytes that came with the headers: h11 copies every byte three times on its way (into its buffer,
    out of it, into the piece httpcore hands on), 0.3-0.5 s of CPU per GiB. Reads stop at the
    declared length, and the connection is not reused afterwards (h11 never saw the body end).
    Faults raise httpx's errors, as `iter_raw()` does.
    """
    pieces = response.iter_raw()
    stream = response.extensions.get("network_stream")
    length = declared_length(response)
    if length is None or not isinstance(stream, _BudgetedReads):
        yield from pieces
        return
    first = next(pieces, b"")  # h11 extracts all it holds of the body at once: its buffer is empty after
    if first:
        yield first
    remaining = length - len(first)
    timeout = response.request.extensions.get("timeout", {}).get("read")
    while remaining > 0:
        try:
            piece = stream.read_at_most(remaining, timeout)
        except httpcore.TimeoutException as exc:
            raise httpx.ReadTimeout(str(exc), request=response.request) from exc
        except httpcore.NetworkError as exc:
            raise httpx.ReadError(str(exc), request=response.request) from exc
        if not piece:
            received = f"received {length - remaining} bytes, expected {length}"
            message = f"peer closed connection without sending complete message body ({received})"
            raise httpx.RemoteProtocolError(message, request=response.request)
        remaining -= len(piece)
        yield piece


def declared_length(response: httpx.Response) -> int | None:
    """The body's Content-Length (the bytes as sent), or None when it is sent chunked, has none or a malformed one."""
    if "transfer-encoding" in response.headers:
        return None
    try:
        length = int(response.headers.get("content-length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


def redirect_target(response: httpx.Response) -> str | None:
    """Where a redirect points, or None when the answer is not a redirect with a usable Location."""
    location = response.headers.get("location", "").strip()
    return str(response.url.join(location)) if response.is_redirect and location else None


def post(url: str, *, timeout: float | None = None, **body) -> httpx.Response:
    """POST to an operator- or caller-supplied URL (audit webhook, job callbacks); no redirects followed.

    `body` is httpx's: `json=...`, or `content=...` (signed bytes) with `headers=...`. Raises
    DestinationRefused for a refused URL or address, httpx.HTTPError when the receiver fails.
    """
    check_url(url)
    with guarded_client(timeout=timeout) as client:
        return client.post(url, **body)
