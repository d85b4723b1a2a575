"""Publishes per second of 8 MiB clips through the production topology, next to curl doing the same transfers.

Starts what tests/scaleout/cluster.py starts (PostgreSQL, Redis, PayloadCMS on PostgreSQL, two
gunicorn web processes, two Celery workers and beat) plus a static file server (`python -m
http.server`, its own process) holding the clip. At each concurrency, rounds alternate between

- app:  N concurrent `POST /api/distribution/publish` (new audit_log_ids), each answered 201;
- curl: N concurrent `curl` pipelines doing the transfers of a publish: download the clip to a
  file, upload it to Payload's media collection (multipart), create its distributionRecords doc;

with N = 2 x concurrency (at least 4) publishes per round. Prints the median publishes/s of each
and app/curl, then where an app publish's time went: its response time, how long its job waited
for a worker and how long the worker ran it (medians, from the jobs in PostgreSQL).

    .venv/bin/python benchmarks/publish_throughput.py [--size-mib 8] [--rounds 5] [--concurrency 1 4 16]
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import count
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.cluster import SAMPLE_MP4, mp4_asset, publish_body, running_cluster, sha256  # noqa: E402
from tests.support.processes import VENV_BIN, Process, free_port  # noqa: E402

CURL_PUBLISH = """set -e
curl -sSf -o "$FILE" "$VIDEO_URL"
curl -sSf -o /dev/null -H "Authorization: users API-Key $KEY" -F "_payload=$MEDIA" \
  -F "file=@$FILE;type=video/mp4" "$CMS/api/media"
curl -sSf -o /dev/null -H "Authorization: users API-Key $KEY" -H "Content-Type: application/json" \
  -d "$RECORD" "$CMS/api/distributionRecords"
rm -f "$FILE"
"""


def curl_publish(workdir: Path, video_url: str, payload, checksum: str, audit_log_id: str) -> None:
    """CURL_PUBLISH: the transfers of one publish of `audit_log_id`, done by curl into `payload` (a PayloadServer)."""
    path = f"scaleout/mvp/{audit_log_id}.mp4"
    media = {"project_id": "scaleout", "audit_log_id": audit_log_id, "checksum": checksum}
    record = {**media, "storage_path": path, "public_url": f"{payload.url}/{path}"}
    env = {
        "FILE": str(workdir / f"{audit_log_id}.mp4"),
        "VIDEO_URL": video_url,
        "CMS": payload.url,
        "KEY": payload.api_key,
        "MEDIA": json.dumps({**media, "storage_path": path}),
        "RECORD": json.dumps(record),
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["bash", "-c", CURL_PUBLISH], env=env, check=True)


def timed(concurrency: int, jobs: int, run_one) -> float:
    """Publishes per second of `jobs` calls of run_one(i), `concurrency` at a time."""
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(run_one, range(jobs)))
    return jobs / (time.perf_counter() - started)


def print_breakdown(cluster, concurrencies: list[int], response_seconds: dict[str, list[float]]) -> None:
    """Where an app publish's time went (medians): waiting for a worker, the worker's run, the rest of the answer."""
    print(f"\n{'app publish':>16}  {'response s':>10}  {'queued s':>8}  {'run s':>6}")
    sql = (
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM run_started_at - started_at)),"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - run_started_at))"
        " FROM distribution_publishjob WHERE audit_log_id LIKE %s ESCAPE '!' AND status = 'published'"
    )
    for concurrency in concurrencies:
        [(queued, run)] = cluster.postgres.query("distribution", sql, f"dist!_bench!_c{concurrency}!_%")
        response = statistics.median(response_seconds[f"c{concurrency}"])
        print(f"{'concurrency ' + str(concurrency):>16}  {response:10.2f}  {queued:8.2f}  {run:6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    if not shutil.which("curl"):
        sys.exit("curl is needed for the baseline (Debian package curl)")

    workdir = Path(tempfile.mkdtemp(prefix="publish-throughput-"))
    clip = mp4_asset("benchmark", args.size_mib * 1024 * 1024 - len(SAMPLE_MP4) - 8)  # exactly N MiB
    (workdir / "assets").mkdir()
    (workdir / "assets" / "clip.mp4").write_bytes(clip)
    checksum = sha256(clip)
    ids = count()
    try:
        with running_cluster(workdir, {"DISTRIBUTION_LOG_LEVEL": "WARNING", "GUNICORN_ACCESS_LOG": ""}) as cluster:
            port = free_port()
            static = Process(
                "assets",
                [str(VENV_BIN / "python"), "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                workdir / "assets.log",
                cwd=workdir / "assets",
            )
            video_url = f"http://127.0.0.1:{port}/clip.mp4"
            static.wait_for_http(video_url)

            response_seconds: dict[str, list[float]] = {}

            def app_publish(label: str):
                def publish(_):
                    audit_log_id = f"dist_bench_{label}_{next(ids)}"
                    started = time.perf_counter()
                    response = cluster.publish(publish_body(audit_log_id, video_url, checksum))
                    if response.status_code != 201:
                        raise RuntimeError(f"{response.status_code}: {response.text[:500]}")
                    response_seconds.setdefault(label, []).append(time.perf_counter() - started)

                return publish

            def curl_one(_):
                curl_publish(workdir, video_url, cluster.payload, checksum, f"dist_bench_curl_{next(ids)}")

            size = f"{args.size_mib} MiB clips"
            print(f"{size:>16}  {'app publishes/s':>15}  {'curl publishes/s':>16}  {'app/curl':>8}")
            for concurrency in args.concurrency:
                jobs = max(4, 2 * concurrency)
                app_publish("warmup")(0)  # warm both paths up (connections, imports) outside the figures
                curl_one(0)
                app: list[float] = []
                curl: list[float] = []
                for round_number in range(args.rounds):
                    kinds = [(app, app_publish(f"c{concurrency}")), (curl, curl_one)]
                    for figures, run_one in kinds if round_number % 2 == 0 else reversed(kinds):
                        figures.append(timed(concurrency, jobs, run_one))
                app_median, curl_median = statistics.median(app), statistics.median(curl)
                print(
                    f"{'concurrency ' + str(concurrency):>16}  {app_median:15.2f}  {curl_median:16.2f}"
                    f"  {app_median / curl_median:8.2f}"
                )
            static.stop()
            print_breakdown(cluster, args.concurrency, response_seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
