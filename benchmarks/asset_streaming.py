"""Benchmark step 2 (stream + sha256, bytes passed on and dropped) over real HTTP on 127.0.0.1.

Each size runs in a fresh child process so its peak RSS is its own. Prints MB/s and
peak RSS per size: a flat RSS column shows memory does not grow with the asset.

    .venv/bin/python benchmarks/asset_streaming.py [SIZE_MIB ...]   (default: 16 256 1024)
"""

import hashlib
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHUNK = bytes(range(256)) * 4096  # 1 MiB
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def measure(size_mib: int) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["DISTRIBUTION_ALLOW_LOOPBACK_DESTINATIONS"] = "true"  # the asset server is on 127.0.0.1
    import django

    django.setup()
    from distribution.publishing.fetch import AssetStream
    from tests.support.servers import AssetServer, Route

    def body():
        yield MP4_HEAD
        for _ in range(size_mib):
            yield CHUNK

    digest = hashlib.sha256(MP4_HEAD)
    for _ in range(size_mib):
        digest.update(CHUNK)
    with AssetServer() as server:
        url = server.add("/big.mp4", Route(body=body))
        started = time.perf_counter()
        with AssetStream(url, "sha256:" + digest.hexdigest(), max_bytes=1 << 40) as asset:
            asset.drain()
            elapsed = time.perf_counter() - started
            size = asset.size
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{size_mib:>8} MiB  {size / elapsed / 1e6:8.1f} MB/s  peak RSS {peak_mib:6.1f} MiB (server in-process)")


def main(sizes: list[int]) -> None:
    print(f"{'asset':>12}  {'throughput':>13}  memory")
    for size in sizes:
        subprocess.run([sys.executable, __file__, "--child", str(size)], check=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        measure(int(sys.argv[2]))
    else:
        main([int(arg) for arg in sys.argv[1:]] or [16, 256, 1024])
