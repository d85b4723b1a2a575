import gzip
import hashlib
import time
import tracemalloc

import httpx
import pytest

from distribution.errors import PublishError
from distribution.publishing.fetch import AssetStream
from tests.support.samples import SAMPLE_CHECKSUM, SAMPLE_MP4
from tests.support.servers import AssetServer, Route

MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def mock_http(body: bytes, status: int = 200) -> httpx.MockTransport:
    """Answers with `body` as a stream (as a real server would), with its Content-Length."""
    headers = {"Content-Length": str(len(body))}
    return httpx.MockTransport(lambda request: httpx.Response(status, stream=httpx.ByteStream(body), headers=headers))


def fetch_error(transport, checksum=SAMPLE_CHECKSUM, max_bytes=10**9) -> PublishError:
    url = "https://assets.test/a.mp4?token=secret"
    with pytest.raises(PublishError) as caught:
        read_all(AssetStream(url, checksum, max_bytes=max_bytes, transport=transport))
    return caught.value


def read_all(stream: AssetStream) -> bytes:
    with stream as asset:
        return b"".join(asset)


pytestmark = pytest.mark.usefixtures("loopback_allowed")  # the servers of these tests are on 127.0.0.1


def test_the_verified_asset_streams_through_and_is_described():
    stream = AssetStream("https://assets.test/a.mp4", SAMPLE_CHECKSUM, max_bytes=10**6, transport=mock_http(SAMPLE_MP4))
    assert read_all(stream) == SAMPLE_MP4
    assert (stream.size, stream.checksum, stream.declared_size) == (len(SAMPLE_MP4), SAMPLE_CHECKSUM, len(SAMPLE_MP4))
    assert stream.failure is None


def test_checksum_mismatch_is_raised_by_the_last_read_and_keeps_the_hash_for_operators_only():
    stream = AssetStream(
        "https://assets.test/a.mp4", "sha256:" + "a" * 64, max_bytes=10**6, transport=mock_http(SAMPLE_MP4)
    )
    pieces = []
    with pytest.raises(PublishError) as caught, stream as asset:
        for piece in asset:
            pieces.append(piece)
    error = caught.value
    assert b"".join(pieces) == SAMPLE_MP4  # every byte passed on, then the end refused: a consumer aborts
    assert error.code == "checksum_mismatch" and stream.failure is error and stream.checksum is None
    digest = SAMPLE_CHECKSUM.removeprefix("sha256:")
    assert digest not in error.message and digest not in str(error.as_dict())
    assert digest in error.operator_detail


def test_the_asset_is_asked_for_as_is_and_hashed_as_sent():
    """A gzip-encoded answer is neither decompressed nor hashed decoded: the bytes on the wire count."""
    compressed = gzip.compress(SAMPLE_MP4)
    seen = {}

    def handler(request):
        seen["accept-encoding"] = request.headers["accept-encoding"]
        return httpx.Response(200, stream=httpx.ByteStream(compressed), headers={"Content-Encoding": "gzip"})

    sent_checksum = "sha256:" + hashlib.sha256(compressed).hexdigest()
    error = fetch_error(httpx.MockTransport(handler), checksum=sent_checksum)
    assert seen["accept-encoding"] == "identity"
    assert error.code == "not_mp4"  # the gzip bytes, not a decompressed MP4


def test_declared_length_over_the_limit_is_refused_before_reading():
    error = fetch_error(mock_http(SAMPLE_MP4), max_bytes=100)
    assert (error.code, error.http_status) == ("asset_too_large", 422)


def test_not_iso_bmff_is_refused():
    assert fetch_error(mock_http(b"GIF89a" + b"\x00" * 100)).code == "not_mp4"
    assert fetch_error(mock_http(b"tiny")).code == "not_mp4"


def test_upstream_status_is_asset_fetch_failed_and_no_oracle():
    """The caller learns the download failed, not what answered; operators get the status."""
    error = fetch_error(mock_http(b"", status=403))
    assert (error.code, error.http_status) == ("asset_fetch_failed", 502)
    assert "403" not in error.message and "secret" not in error.message
    assert "HTTP 403" in error.operator_detail and "secret" not in error.operator_detail


def test_progress_reports_bytes_so_far():
    seen = []
    read_all(
        AssetStream(
            "https://a.test/x.mp4",
            SAMPLE_CHECKSUM,
            max_bytes=10**6,
            progress=lambda n, total: seen.append((n, total)),
            transport=mock_http(SAMPLE_MP4),
        )
    )
    assert seen[-1] == (len(SAMPLE_MP4), len(SAMPLE_MP4))


def _big_mp4(chunks: int, chunk: bytes):
    def body():
        yield MP4_HEAD
        for _ in range(chunks):
            yield chunk

    return body


@pytest.fixture(params=["chunked", "with its length"])
def sent(request):
    """A streamed body sent chunked, or with its Content-Length (then read past h11: another code path)."""

    def route(body, length: int) -> Route:
        return Route(body=body, length=None if request.param == "chunked" else length)

    return route


def test_streaming_memory_stays_flat_for_a_large_asset(sent):
    """64 MiB over real HTTP with a Python heap peak of a few MiB."""
    chunk, chunks = b"\x5a" * (1024 * 1024), 64
    digest = hashlib.sha256(MP4_HEAD)
    for _ in range(chunks):
        digest.update(chunk)
    with AssetServer() as server:
        url = server.add("/big.mp4", sent(_big_mp4(chunks, chunk), len(MP4_HEAD) + chunks * len(chunk)))
        tracemalloc.start()
        try:
            with AssetStream(url, "sha256:" + digest.hexdigest(), max_bytes=10**9) as asset:
                asset.drain()
                size = asset.size
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert size == len(MP4_HEAD) + chunks * len(chunk)
    assert peak < 8 * 1024 * 1024, f"peak Python allocation {peak} bytes"


def test_stream_growing_past_the_limit_is_cut_off():
    """Sent chunked: no declared length to refuse it by before reading."""
    with AssetServer() as server:
        url = server.add("/big.mp4", Route(body=_big_mp4(8, b"\x00" * 1024 * 1024)))
        with pytest.raises(PublishError) as caught:
            read_all(AssetStream(url, SAMPLE_CHECKSUM, max_bytes=2 * 1024 * 1024))
    assert caught.value.code == "asset_too_large"


@pytest.fixture
def low_speed_window(settings):
    """At least 2 KiB a second over 1 s of waiting on the host."""
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "LOW_SPEED_LIMIT_BYTES": 2048, "LOW_SPEED_SECONDS": 1}


def timed_failure(route: Route, seconds_at_most: float) -> PublishError:
    with AssetServer() as server:
        url = server.add("/slow.mp4", route) + "?token=secret"
        started = time.monotonic()
        with pytest.raises(PublishError) as caught:
            read_all(AssetStream(url, SAMPLE_CHECKSUM, max_bytes=10**9))
        elapsed = time.monotonic() - started
    assert elapsed < seconds_at_most, elapsed
    return caught.value


def test_a_host_slower_than_the_low_speed_limit_fails_within_the_window(low_speed_window, sent):
    def drip():  # 100 bytes a second: well under 2 KiB/s, yet a piece arrives every 0.1 s
        yield MP4_HEAD
        for _ in range(600):
            time.sleep(0.1)
            yield b"\x00" * 10

    error = timed_failure(sent(drip, len(MP4_HEAD) + 6000), seconds_at_most=2)
    assert (error.code, error.http_status) == ("asset_fetch_failed", 502)
    assert "less than 2048 bytes per second over 1 s" in error.message
    assert "secret" not in error.message
    assert error.operator_detail.startswith("too slow:")


def test_a_host_that_goes_silent_fails_after_the_window_not_the_read_timeout(low_speed_window, settings, sent):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "HTTP_TIMEOUT_SECONDS": 30}

    def stall():
        yield MP4_HEAD
        time.sleep(10)
        yield b"\x00"

    error = timed_failure(sent(stall, len(MP4_HEAD) + 1), seconds_at_most=2.5)
    assert error.code == "asset_fetch_failed" and "bytes per second" in error.message


def test_a_host_faster_than_the_limit_passes_however_long_it_takes(low_speed_window, sent):
    """Eight windows' worth of download at about 8 KiB/s: slow, but over the limit."""
    chunk = b"\x00" * 1024

    def steady():
        yield MP4_HEAD
        for _ in range(64):
            time.sleep(0.125)
            yield chunk

    digest = hashlib.sha256(MP4_HEAD + chunk * 64)
    with AssetServer() as server:
        url = server.add("/steady.mp4", sent(steady, len(MP4_HEAD) + 64 * 1024))
        with AssetStream(url, "sha256:" + digest.hexdigest(), max_bytes=10**9) as asset:
            asset.drain()
            assert asset.size == len(MP4_HEAD) + 64 * 1024


def test_the_low_speed_limit_can_be_turned_off(settings):
    settings.DISTRIBUTION = {**settings.DISTRIBUTION, "LOW_SPEED_LIMIT_BYTES": 0, "LOW_SPEED_SECONDS": 0.5}

    def drip():
        yield SAMPLE_MP4[:100]
        for index in range(100, len(SAMPLE_MP4), 100):
            time.sleep(0.1)
            yield SAMPLE_MP4[index : index + 100]

    with AssetServer() as server:
        assert read_all(AssetStream(server.add("/drip.mp4", Route(body=drip)), SAMPLE_CHECKSUM, max_bytes=10**9))


def test_a_body_sent_with_its_length_ends_there():
    """Whatever the host sends past its Content-Length is not part of the asset."""

    def body():
        yield SAMPLE_MP4[:100]
        time.sleep(0.05)  # the rest in later reads, not with the headers
        yield SAMPLE_MP4[100:] + b"not the asset"

    with AssetServer() as server:
        url = server.add("/a.mp4", Route(body=body, length=len(SAMPLE_MP4)))
        with AssetStream(url, SAMPLE_CHECKSUM, max_bytes=10**9) as asset:
            assert b"".join(asset) == SAMPLE_MP4
            assert asset.checksum == SAMPLE_CHECKSUM


def test_a_host_that_hangs_up_before_the_declared_length_is_a_failed_download():
    def body():
        yield SAMPLE_MP4[:100]
        time.sleep(0.05)
        yield SAMPLE_MP4[100:200]

    with AssetServer() as server:
        url = server.add("/a.mp4", Route(body=body, length=len(SAMPLE_MP4))) + "?token=secret"
        with pytest.raises(PublishError) as caught:
            read_all(AssetStream(url, SAMPLE_CHECKSUM, max_bytes=10**9))
    assert caught.value.code == "asset_fetch_failed"
    assert f"received 200 bytes, expected {len(SAMPLE_MP4)}" in caught.value.operator_detail
    assert "secret" not in caught.value.message
