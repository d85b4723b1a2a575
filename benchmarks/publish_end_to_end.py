"""Benchmark the whole publish pipeline into a real PayloadCMS on 127.0.0.1.

Starts payload/start.sh once, then publishes generated MP4s of several sizes, each from a
fresh child process (so its peak RSS is its own): download + sha256 + upload to Payload +
record upsert. Prints throughput, the Django process's peak RSS and Payload's.

    .venv/bin/python benchmarks/publish_end_to_end.py [SIZE_MIB ...]   (default: 16 256 1024)
"""

import hashlib
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.cluster import SAMPLE_MP4  # noqa: E402  (a real MP4 to pad)

CHUNK = bytes(1024 * 1024)


def padded_mp4(size_mib: int):
    """A valid MP4 followed by a top-level 'free' box of size_mib MiB, as a chunk generator."""

    def body():
        yield SAMPLE_MP4 + struct.pack(">I", size_mib * len(CHUNK) + 8) + b"free"
        for _ in range(size_mib):
            yield CHUNK

    return body


def child(size_mib: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from distribution.jobs.runner import publish
    from tests.support.samples import publish_request
    from tests.support.servers import AssetServer, Route

    body = padded_mp4(size_mib)
    digest = hashlib.sha256()
    for chunk in body():
        digest.update(chunk)
    with AssetServer() as assets:
        request = publish_request(assets.add("/big.mp4", Route(body=body)), audit_log_id=f"dist_bench_{size_mib}")
        request["final_edit"]["checksum"] = "sha256:" + digest.hexdigest()
        started = time.perf_counter()
        result = publish(request)
        elapsed = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    throughput = result.asset_size / elapsed / 1e6
    print(f"{size_mib:>8} MiB  {throughput:8.1f} MB/s  {elapsed:6.2f} s  Django peak RSS {peak_mib:6.1f} MiB", end="")


def main(sizes: list[int]) -> None:
    from tests.support.payload import PayloadServer
    from tests.support.processes import peak_rss_mib

    workdir = Path(tempfile.mkdtemp(prefix="publish-bench-"))
    payload = PayloadServer(workdir)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'django.sqlite3'}",
        "PAYLOADCMS_URL": payload.url,
        "PAYLOADCMS_API_KEY": payload.api_key,
        "DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL": "true",
        "DISTRIBUTION_ALLOW_LOOPBACK_DESTINATIONS": "true",  # the asset server is on 127.0.0.1
        "DISTRIBUTION_LOG_LEVEL": "WARNING",
    }
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        print(f"{'asset':>12}  {'throughput':>13}  {'time':>7}  memory")
        for size in sizes:
            subprocess.run([sys.executable, __file__, "--child", str(size)], cwd=ROOT, env=env, check=True)
            print(f"  Payload peak RSS {peak_rss_mib(payload.process.pid):6.1f} MiB")
    finally:
        payload.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]))
    else:
        main([int(arg) for arg in sys.argv[1:]] or [16, 256, 1024])
