"""Benchmark verify_distribution: records per second and peak memory, by record count and concurrency.

The PayloadCMS double (tests/support/servers.py) runs in this process with N published records; each
measurement is a fresh child process (its own SQLite database) running verification.verify(), so
its peak RSS is the verifier's alone. Concurrency 1 is the baseline; rounds alternate between the
concurrencies and the median is printed. A flat RSS column shows memory does not grow with N.

    .venv/bin/python benchmarks/verification.py [--rounds 3] [RECORDS ...]   (default: 300 3000)
"""

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CONCURRENCIES = (1, 4)


def measure(concurrency: int) -> None:
    """Child: migrate a throwaway database, verify every record, print JSON figures."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from distribution.operators import verification

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    run = verification.verify(verification.Options(concurrency=concurrency))
    elapsed = time.perf_counter() - started
    assert run.status == "sound", run.status
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"records": run.records_checked, "seconds": elapsed, "peak_rss_mib": peak_mib}))


def populate(cms, count: int, body: bytes) -> None:
    checksum = "sha256:" + hashlib.sha256(body).hexdigest()
    for index in range(count):
        audit_log_id = f"dist_bench_{index}"
        path = f"bench/mvp/{audit_log_id}.mp4"
        cms.state.files[path] = body
        cms.state.media.append(
            {
                "id": index + 1,
                "audit_log_id": audit_log_id,
                "storage_path": path,
                "checksum": checksum,
                "filesize": 3200,
            }
        )
        cms.state.records.append(
            {
                "id": index + 1,
                "audit_log_id": audit_log_id,
                "project_id": "bench",
                "checksum": checksum,
                "storage_path": path,
                "public_url": f"{cms.url}/api/media/file/{path}",
                "expires_at": None,
            }
        )


def child_run(cms_url: str, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{folder}/db.sqlite3",
            "PAYLOADCMS_URL": cms_url,
            "DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL": "true",
            "DISTRIBUTION_ALLOW_LOOPBACK_DESTINATIONS": "true",
        }
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(concurrency)], env=env, capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout.strip().splitlines()[-1])


def main(counts: list[int], rounds: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from tests.support.servers import PayloadDouble

    body = (ROOT / "tests" / "fixtures" / "sample.mp4").read_bytes()
    print(f"{'records':>8}  {'concurrency':>11}  {'records/s':>9}  {'time':>8}  peak RSS (median of {rounds})")
    for count in counts:
        with PayloadDouble("bench-key") as cms:
            populate(cms, count, body)
            results: dict[int, list[dict]] = {concurrency: [] for concurrency in CONCURRENCIES}
            for _ in range(rounds):
                for concurrency in CONCURRENCIES:
                    results[concurrency].append(child_run(cms.url, concurrency))
        for concurrency in CONCURRENCIES:
            seconds = statistics.median(result["seconds"] for result in results[concurrency])
            rss = statistics.median(result["peak_rss_mib"] for result in results[concurrency])
            label = f"{concurrency}{' (baseline)' if concurrency == 1 else ''}"
            print(f"{count:>8}  {label:>11}  {count / seconds:9.1f}  {seconds:7.2f}s  {rss:6.1f} MiB")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        measure(int(sys.argv[2]))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--rounds", type=int, default=3)
        parser.add_argument("records", type=int, nargs="*", default=[300, 3000])
        arguments = parser.parse_args()
        main(arguments.records, arguments.rounds)
