import gzip
import hashlib
import tempfile
import tracemalloc

import httpx
import pytest

from distribution.asset_fetching import fetched_asset
from distribution.errors import PublishError
from tests.conftest import SAMPLE_CHECKSUM, SAMPLE_MP4
from tests.servers import AssetServer, Route

MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def mock_http(body: bytes, status: int = 200) -> httpx.MockTransport:
    """Answers with `body` as a stream (as a real server would), with its Content-Length."""
    headers = {"Content-Length": str(len(body))}
    return httpx.MockTransport(lambda request: httpx.Response(status, stream=httpx.ByteStream(body), headers=headers))


def fetch_error(transport, checksum=SAMPLE_CHECKSUM, max_bytes=10**9) -> PublishError:
    url = "https://assets.test/a.mp4?token=secret"
    with pytest.raises(PublishError) as caught, fetched_asset(url, checksum, max_bytes=max_bytes, transport=transport):
        pass
    return caught.value


pytestmark = pytest.mark.usefixtures("loopback_allowed")  # the servers of these tests are on 127.0.0.1


def test_verified_asset_is_a_temp_file_removed_afterwards():
    with fetched_asset(
        "https://assets.test/a.mp4", SAMPLE_CHECKSUM, max_bytes=10**6, transport=mock_http(SAMPLE_MP4)
    ) as asset:
        assert asset.path.read_bytes() == SAMPLE_MP4
        assert (asset.size, asset.checksum) == (len(SAMPLE_MP4), SAMPLE_CHECKSUM)
    assert not asset.path.exists()


def test_checksum_mismatch_keeps_the_computed_hash_for_operators_only(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    error = fetch_error(mock_http(SAMPLE_MP4), checksum="sha256:" + "a" * 64)
    assert error.code == "checksum_mismatch"
    digest = SAMPLE_CHECKSUM.removeprefix("sha256:")
    assert digest not in error.message and digest not in str(error.as_dict())
    assert digest in error.detail
    assert list(tmp_path.iterdir()) == []


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
    assert "HTTP 403" in error.detail and "secret" not in error.detail


def test_progress_reports_bytes_so_far():
    seen = []
    with fetched_asset(
        "https://a.test/x.mp4",
        SAMPLE_CHECKSUM,
        max_bytes=10**6,
        progress=lambda n, total: seen.append((n, total)),
        transport=mock_http(SAMPLE_MP4),
    ):
        pass
    assert seen[-1] == (len(SAMPLE_MP4), len(SAMPLE_MP4))


def _big_mp4(chunks: int, chunk: bytes):
    def body():
        yield MP4_HEAD
        for _ in range(chunks):
            yield chunk

    return body


def test_streaming_memory_stays_flat_for_a_large_asset():
    """64 MiB over real HTTP (chunked, no Content-Length) with a Python heap peak of a few MiB."""
    chunk, chunks = b"\x5a" * (1024 * 1024), 64
    digest = hashlib.sha256(MP4_HEAD)
    for _ in range(chunks):
        digest.update(chunk)
    with AssetServer() as server:
        url = server.add("/big.mp4", Route(body=_big_mp4(chunks, chunk)))
        tracemalloc.start()
        try:
            with fetched_asset(url, "sha256:" + digest.hexdigest(), max_bytes=10**9) as asset:
                size = asset.size
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert size == len(MP4_HEAD) + chunks * len(chunk)
    assert peak < 8 * 1024 * 1024, f"peak Python allocation {peak} bytes"


def test_stream_growing_past_the_limit_is_cut_off():
    with AssetServer() as server:
        url = server.add("/big.mp4", Route(body=_big_mp4(8, b"\x00" * 1024 * 1024)))
        with pytest.raises(PublishError) as caught, fetched_asset(url, SAMPLE_CHECKSUM, max_bytes=2 * 1024 * 1024):
            pass
    assert caught.value.code == "asset_too_large"
