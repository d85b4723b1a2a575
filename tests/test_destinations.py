"""Destination checks (server-side request forgery), proven without a packet leaving loopback.

The resolver is injected and so is the connector (what opens the socket): a test sees
which address a connection *would* go to, and a "public" address is routed to a test
server on 127.0.0.1. The autouse fixture makes the default connector refuse anything but
loopback, so even a broken guard could not send a packet elsewhere.
"""

import ipaddress
import logging
import ssl
import threading
from http.server import BaseHTTPRequestHandler

import httpcore
import httpx
import pytest
import trustme

from distribution.errors import PublishError
from distribution.models import PublishJob
from distribution.outbound import destinations
from distribution.outbound.destinations import (
    DestinationRefused,
    GuardedTransport,
    check_url,
    refusal_reason,
)
from distribution.outbound.redaction import redact_url
from distribution.publishing.fetch import AssetStream
from tests.support.samples import SAMPLE_CHECKSUM, SAMPLE_MP4, audit_events, publish_request
from tests.support.servers import AssetServer, QuietServer, Route

PUBLIC_IP = "93.184.216.34"

REFUSED = {
    "loopback": ["127.0.0.1", "127.255.255.254", "::1"],
    "unspecified": ["0.0.0.0", "::"],
    "private": ["10.0.0.1", "172.16.5.4", "172.31.255.255", "192.168.1.1", "fc00::1", "fd12:3456::1"],
    "link-local and cloud metadata": ["169.254.169.254", "169.254.0.1", "fe80::1", "fe80::1%eth0"],
    "carrier-grade NAT": ["100.64.0.1", "100.127.255.254"],
    "multicast": ["224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1"],
    "reserved and special": ["240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", "192.0.0.8", "fec0::1"],
    "IPv4-mapped IPv6": ["::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::ffff:8.8.8.8"],
    "other IPv6 spellings": [
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "2001:db8::1",  # documentation
    ],
}
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2002:808:808::1", "64:ff9b::808:808"]


class Recorder:
    """Stands in for DNS and for the socket layer; routes allowed connections to a local server."""

    def __init__(self, answers: dict[str, list[str]] | None = None, route_to: int | None = None):
        self.answers = answers or {}
        self.route_to = route_to
        self.lookups: list[str] = []
        self.connections: list[tuple[str, int]] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.answers.get(host) or destinations.system_resolver(host, port)

    def connect(self, address: str, port: int, timeout) -> httpcore.NetworkStream:
        self.connections.append((address, port))
        if self.route_to is None:
            raise httpcore.ConnectError("no route in this test")
        return httpcore.SyncBackend().connect_tcp("127.0.0.1", self.route_to, timeout=timeout)

    def transport(self, **kwargs) -> GuardedTransport:
        return GuardedTransport(resolver=self.resolve, connector=self.connect, **kwargs)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """The real connector may reach loopback only: a broken guard fails the test before a packet leaves."""
    real = destinations._default_connector

    def connect(address, port, timeout):
        assert ipaddress.ip_address(address).is_loopback, f"a test tried to connect to {address}:{port}"
        return real(address, port, timeout)

    monkeypatch.setattr(destinations, "_default_connector", connect)


def fetch(url: str, transport: httpx.BaseTransport, checksum: str = SAMPLE_CHECKSUM):
    with AssetStream(url, checksum, max_bytes=10**6, transport=transport) as asset:
        return b"".join(asset)


def refused_fetch(url: str, transport: httpx.BaseTransport) -> PublishError:
    with pytest.raises(PublishError) as caught:
        fetch(url, transport)
    assert (caught.value.code, caught.value.http_status) == ("asset_url_refused", 422)
    return caught.value


@pytest.mark.parametrize(
    "address", [pytest.param(a, id=f"{kind}:{a}") for kind, addresses in REFUSED.items() for a in addresses]
)
def test_each_refused_class_is_refused_before_any_connection(address):
    assert refusal_reason(address) is not None
    dns = Recorder({"assets.example.com": [address]})
    error = refused_fetch("https://assets.example.com/cut.mp4?token=s3cret", dns.transport())
    assert dns.connections == []
    # the caller learns it was refused, not what the name resolved to; operators learn both
    shown = str(ipaddress.ip_address(address.split("%")[0]))
    assert shown not in error.message and "s3cret" not in error.message
    assert shown in error.operator_detail


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert refusal_reason(address) is None


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "0.0.0.0", "[::1]", "[::ffff:127.0.0.1]", "2130706433", "0x7f.1", "127.1", "0177.0.0.1"],
)
def test_loopback_spellings_in_the_url_are_refused(host):
    """The real resolver turns every spelling into the address it means; that address is what is checked."""
    dns = Recorder()
    refused_fetch(f"http://{host}:8080/cut.mp4", dns.transport())
    assert dns.connections == []


def test_one_refused_address_among_public_ones_refuses_the_host():
    dns = Recorder({"mixed.example.com": [PUBLIC_IP, "10.0.0.7"]})
    refused_fetch("https://mixed.example.com/cut.mp4", dns.transport())
    assert dns.connections == []


@pytest.fixture
def origin():
    """The 'public' asset host: a local server that the recorder routes PUBLIC_IP to."""
    with AssetServer() as server:
        server.add("/sample.mp4", Route(body=SAMPLE_MP4))
        yield server


def test_the_connection_goes_to_the_address_that_was_checked(origin):
    """DNS rebinding: a second lookup would answer loopback, but there is only the one that was checked."""
    answers = iter([[PUBLIC_IP], ["127.0.0.1"], ["127.0.0.1"]])

    class Rebinding(Recorder):
        def resolve(self, host: str, port: int) -> list[str]:
            self.lookups.append(host)
            return next(answers)

    dns = Rebinding(route_to=origin.httpd.server_port)

    assert fetch("http://rebind.example.com/sample.mp4", dns.transport()) == SAMPLE_MP4
    assert dns.lookups == ["rebind.example.com"]
    assert dns.connections == [(PUBLIC_IP, 80)]


def test_every_redirect_hop_is_checked(origin):
    dns = Recorder({"cdn.example.com": [PUBLIC_IP]}, route_to=origin.httpd.server_port)
    hops = {
        "/to-metadata": "http://169.254.169.254/latest/meta-data/",
        "/to-loopback": "http://[::1]:3010/api/users",
        "/to-private-name": "http://intranet.example.com/",
        "/to-file": "file:///etc/passwd",
        "/to-gopher": "gopher://cdn.example.com/",
    }
    dns.answers["intranet.example.com"] = ["192.168.0.10"]
    for path, location in hops.items():
        origin.routes[path] = RedirectRoute(location)
        dns.connections.clear()
        refused_fetch(f"http://cdn.example.com{path}", dns.transport())
        assert dns.connections == [(PUBLIC_IP, 80)], path  # only the first, public, hop was connected


def test_redirects_between_public_hosts_are_followed_a_few_times(origin):
    dns = Recorder({"a.example.com": [PUBLIC_IP], "b.example.com": ["8.8.8.8"]}, route_to=origin.httpd.server_port)
    origin.routes["/hop"] = RedirectRoute("http://b.example.com/sample.mp4")
    assert fetch("http://a.example.com/hop", dns.transport()) == SAMPLE_MP4
    assert dns.connections == [(PUBLIC_IP, 80), ("8.8.8.8", 80)]

    origin.routes["/loop"] = RedirectRoute("/loop")
    error = refused_fetch("http://a.example.com/loop", dns.transport())
    assert "redirects" in error.operator_detail
    assert len(origin.requests) == 1 + 1 + destinations.MAX_REDIRECTS + 1


@pytest.mark.parametrize("location", [None, "", "   ", "http://[::1"])
def test_a_redirect_without_a_usable_location_is_a_failed_fetch_not_a_refused_host(origin, location):
    dns = Recorder({"a.example.com": [PUBLIC_IP]}, route_to=origin.httpd.server_port)
    origin.routes["/nowhere"] = Route(status=302, body=b"", location=location)
    with pytest.raises(PublishError) as caught:
        fetch("http://a.example.com/nowhere", dns.transport())
    assert (caught.value.code, caught.value.http_status) == ("asset_fetch_failed", 502)
    assert "location" in caught.value.operator_detail.lower()  # the operator sees why
    assert len(origin.requests) == 1  # not followed


def test_asset_host_allow_list(origin, settings):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "ASSET_HOSTS": ["cdn.example.com", ".assets.example.org"]}
    dns = Recorder(
        {name: [PUBLIC_IP] for name in ("cdn.example.com", "eu.assets.example.org", "evil.example.net")},
        route_to=origin.httpd.server_port,
    )
    assert fetch("http://cdn.example.com/sample.mp4", dns.transport()) == SAMPLE_MP4
    assert fetch("http://eu.assets.example.org/sample.mp4", dns.transport()) == SAMPLE_MP4
    refused_fetch("http://evil.example.net/sample.mp4", dns.transport())
    refused_fetch("http://assets.example.org.evil.example.net/sample.mp4", dns.transport())
    origin.routes["/away"] = RedirectRoute("http://evil.example.net/sample.mp4")
    refused_fetch("http://cdn.example.com/away", dns.transport())
    assert "evil.example.net" not in dns.lookups  # refused by name, never resolved


def test_loopback_switch_allows_loopback_only(origin, settings):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "ALLOW_LOOPBACK_DESTINATIONS": True}
    dns = Recorder(route_to=origin.httpd.server_port)
    assert fetch(f"http://127.0.0.1:{origin.httpd.server_port}/sample.mp4", dns.transport()) == SAMPLE_MP4
    for host in ("0.0.0.0", "10.0.0.1", "169.254.169.254", "[::ffff:127.0.0.1]"):
        refused_fetch(f"http://{host}/sample.mp4", dns.transport())
    assert dns.connections == [("127.0.0.1", origin.httpd.server_port)]


def test_loopback_is_refused_by_default(settings):
    assert settings.DISTRIBUTION["ALLOW_LOOPBACK_DESTINATIONS"] is False
    with AssetServer() as server:
        url = server.add("/sample.mp4", Route(body=SAMPLE_MP4))
        refused_fetch(url, GuardedTransport())  # the real resolver and connector
        assert server.requests == []


def test_tls_verifies_the_hostname_not_the_checked_address(tmp_path):
    """The socket goes to the checked IP, while SNI and the certificate check use the URL's hostname."""
    authority = trustme.CA()
    with TLSServer(authority.issue_cert("assets.example.com")) as server:
        client_context = ssl.create_default_context()
        authority.configure_trust(client_context)
        dns = Recorder({"assets.example.com": [PUBLIC_IP], "other.example.com": [PUBLIC_IP]}, route_to=server.port)

        assert fetch("https://assets.example.com/sample.mp4", dns.transport(ssl_context=client_context)) == SAMPLE_MP4
        assert server.server_names == ["assets.example.com"]
        with pytest.raises(PublishError) as caught:
            fetch("https://other.example.com/sample.mp4", dns.transport(ssl_context=client_context))
        assert caught.value.code == "asset_fetch_failed" and "CERTIFICATE_VERIFY_FAILED" in caught.value.operator_detail


def test_url_checks_without_the_network():
    for url in ("ftp://a.example.com/x", "file:///etc/passwd", "http:///nohost", "http://a.example.com:99999/x"):
        with pytest.raises(DestinationRefused):
            check_url(url)
    with pytest.raises(DestinationRefused):
        check_url("https://a.example.com/" + "x" * destinations.MAX_URL_LENGTH)
    check_url("https://a.example.com/cut.mp4?sig=abc")


def test_redaction_drops_credentials_and_query():
    assert redact_url("https://user:pw@cdn.example.com:8443/a/b.mp4?X-Amz-Signature=abc#f") == (
        "https://cdn.example.com:8443/a/b.mp4?[redacted]"
    )
    assert redact_url("http://[::1]/x") == "http://[::1]/x"
    assert redact_url("http://a.example.com:notaport/") == "[unparseable URL]"


def test_publish_api_refuses_cloud_metadata_without_side_effects(api_client, cms):
    body = publish_request("http://169.254.169.254/latest/meta-data/iam/?token=abc")
    response = api_client.post("/api/distribution/publish", body, format="json")
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (422, "asset_url_refused")
    assert "169.254.169.254/latest/meta-data/iam/?[redacted]" in error["message"]
    assert "link-local" not in error["message"]
    assert cms.requests == []
    attempt = PublishJob.objects.get()
    assert "link-local address 169.254.169.254" in attempt.error_detail and "link-local" not in attempt.error_message


def test_audit_webhook_goes_through_the_same_checks(api_client, cms, asset_server, settings, caplog):
    """Loopback is allowed here (the asset server), but the metadata address never is."""
    caplog.set_level(logging.INFO, logger="distribution.audit")
    settings.DISTRIBUTION = {
        **settings.DISTRIBUTION,
        "AUDIT_SINK": "webhook",
        "AUDIT_WEBHOOK_URL": "http://169.254.169.254/hook",
    }
    response = api_client.post(
        "/api/distribution/publish", publish_request(asset_server.url + "/sample.mp4"), format="json"
    )
    assert response.status_code == 201
    assert "Audit webhook refused (169.254.169.254 resolves to a refused address (link-local" in caplog.text
    [event] = audit_events(caplog)
    assert event["status"] == "published"


def test_post_refuses_before_connecting():
    with pytest.raises(DestinationRefused):
        destinations.post("http://[fd00::1]/callback", json={"a": 1})
    with pytest.raises(DestinationRefused):
        destinations.post("ftp://example.com/callback", content=b"{}", headers={"Content-Type": "application/json"})


# -- helpers ---------------------------------------------------------------------


def RedirectRoute(location: str) -> Route:
    return Route(status=302, location=location)


class TLSServer:
    """HTTPS on 127.0.0.1 with the given certificate, recording the SNI names clients send."""

    def __init__(self, cert: trustme.LeafCert):
        self.server_names: list[str] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)

        def record_sni(sock, name, ctx) -> None:
            self.server_names.append(name)

        context.sni_callback = record_sni

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(SAMPLE_MP4)))
                self.end_headers()
                self.wfile.write(SAMPLE_MP4)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_port

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_reads_share_a_budget_between_the_connections_open_at_once(origin, monkeypatch):
    """httpcore asks for 64 KiB; a guarded connection asks for its share of READ_BUDGET_BYTES instead."""
    monkeypatch.setattr(destinations, "_read_budget", destinations._ReadBudget())  # this test's connections only
    reads: list[int] = []

    class Counted(httpcore.NetworkStream):
        def __init__(self, stream):
            self.stream = stream

        def read(self, max_bytes, timeout=None):
            reads.append(max_bytes)
            return self.stream.read(max_bytes, timeout)

        def write(self, buffer, timeout=None):
            self.stream.write(buffer, timeout)

        def close(self):
            self.stream.close()

    dns = Recorder({"cdn.example.com": [PUBLIC_IP]}, route_to=origin.httpd.server_port)
    connect = dns.connect
    transport = GuardedTransport(resolver=dns.resolve, connector=lambda *args: Counted(connect(*args)))
    assert fetch("http://cdn.example.com/sample.mp4", transport) == SAMPLE_MP4
    assert set(reads) == {destinations.MAX_READ_BYTES}  # alone: the most a read asks for

    reads.clear()
    others = [transport._pool._network_backend.connect_tcp("cdn.example.com", 80) for _ in range(31)]
    try:
        assert fetch("http://cdn.example.com/sample.mp4", transport) == SAMPLE_MP4
        assert set(reads) == {destinations.MIN_READ_BYTES}  # one of 32: the least
    finally:
        for other in others:
            other.close()
    assert destinations._read_budget.open_connections == 0
