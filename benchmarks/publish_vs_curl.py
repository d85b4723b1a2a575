"""The performance figures in one run, each next to its baseline from the same run, and their ratio.

Starts, on free loopback ports in a temp folder, all stopped by PID at the end: a sendfile static
server holding the assets (the app and curl fetch the same URL), PayloadCMS (payload/start.sh; on
local disk, then with storage-s3 on a moto_server), and the app as deployed, but embedded: the
production web server (gunicorn, config/gunicorn.conf.py) and one Celery worker (--worker-pool
processes), on SQLite and Redis (--broker filesystem: the embedded broker; kombu 5.7's filesystem
transport can hand a worker a message file before it is written, and the worker dies).
Rounds alternate between the app and its baseline; figures are medians.

1. big publish, local disk: POST /api/distribution/publish (201) vs curl: download to a file,
   multipart POST /api/media, POST /api/distributionRecords (benchmarks/publish_throughput.py's)
2. big publish, S3: the same (DISTRIBUTION_S3_* passed too) vs curl download + boto3 upload_file
3. clips at concurrency 1 and 8: publishes/s vs the curl pipeline at the same concurrency
4. QC refusal (422) through gunicorn, keep-alive client: p50/p99 vs GET / on the same server
5. peak RSS (VmHWM of the largest process) of Django's web and worker and of Payload, per case

A missed throughput target prints where the time went, measured: the app's jobs' own timings
(queued, the streamed transfer, record and bookkeeping) next to curl's legs, and, when
py-spy is on PATH (or beside this Python), a sampled profile of the worker over one more publish.

    .venv/bin/python benchmarks/publish_vs_curl.py [--rounds 3] [--sizes 1024] [--clip-mib 8] [--quick]
"""

import argparse
import contextlib
import hashlib
import linecache
import os
import shutil
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402

from benchmarks.publish_throughput import curl_publish, timed  # noqa: E402
from tests.support.cluster import SAMPLE_MP4, Cluster, publish_body  # noqa: E402
from tests.support.payload import PayloadServer  # noqa: E402
from tests.support.processes import (  # noqa: E402
    VENV_BIN,
    Process,
    collect_static,
    free_port,
    moto_client,
    moto_s3,
    peak_rss_mib,
    reset_peak_rss,
)
from tests.support.services import RedisServer  # noqa: E402

MIB = 1024 * 1024
BUCKET = "distribution-media"
S3_KEYS = {"ACCESS_KEY_ID": "test", "SECRET_ACCESS_KEY": "test", "REGION": "us-east-1", "FORCE_PATH_STYLE": "true"}
ids = count()


# --- servers ----------------------------------------------------------------------------------


def serve_static(folder: str, port: int) -> None:
    """A static file server answering GETs with sendfile(2) (http.server copies through Python)."""

    class Handler(SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def copyfile(self, source, outputfile):
            outputfile.flush()
            self.connection.sendfile(source)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), partial(Handler, directory=folder)).serve_forever()


def write_mp4(path: Path, size_mib: int) -> str:
    """A valid MP4 of exactly size_mib MiB (the sample plus a `free` box), written piece by piece; its checksum."""
    filler = size_mib * MIB - len(SAMPLE_MP4) - 8
    block = hashlib.sha256(path.name.encode()).digest() * (MIB // 32)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        pieces = [SAMPLE_MP4 + struct.pack(">I", filler + 8) + b"free"]
        pieces += [block] * (filler // MIB) + [block[: filler % MIB]]
        for piece in pieces:
            digest.update(piece)
            out.write(piece)
    return "sha256:" + digest.hexdigest()


@contextlib.contextmanager
def moto(workdir: Path) -> Iterator[tuple[str, object]]:
    """A moto S3 server with the bucket: (endpoint, boto3 client)."""
    with moto_s3(workdir) as endpoint:
        client = moto_client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        yield endpoint, client


@contextlib.contextmanager
def payload_cms(workdir: Path, **env: str) -> Iterator[PayloadServer]:
    server = PayloadServer(workdir, admin=False, **env)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def app(workdir: Path, payload: PayloadServer, args, settings: dict[str, str]) -> Iterator[Cluster]:
    """gunicorn (config/gunicorn.conf.py) and one Celery worker, on SQLite and Redis (or the filesystem broker)."""
    redis = RedisServer(workdir) if args.broker == "redis" else None
    if redis:
        settings = {**settings, "CELERY_BROKER_URL": redis.url}
    keep = {name: value for name, value in os.environ.items() if not name.startswith(("DJANGO_", "GUNICORN_"))}
    env = (
        keep
        | {
            "PYTHONPATH": str(ROOT),
            "DJANGO_ENV_FILE": os.devnull,
            "DJANGO_SECRET_KEY": "benchmark-" + "s" * 50,
            "DJANGO_STATIC_ROOT": str(collect_static(workdir / "static")),  # gunicorn serves the admin's (WhiteNoise)
            "DATABASE_URL": f"sqlite:///{workdir / 'django.sqlite3'}",
            "CELERY_BROKER_DIR": str(workdir / "broker"),
            "PAYLOADCMS_URL": payload.url,
            "PAYLOADCMS_API_KEY": payload.api_key,
            "DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL": "true",
            "DISTRIBUTION_ALLOW_LOOPBACK_DESTINATIONS": "true",  # the asset server is on 127.0.0.1
            "DISTRIBUTION_SYNC_WAIT_SECONDS": "900",  # a slow big publish is still answered 201, not 202
            "DISTRIBUTION_LOG_LEVEL": "WARNING",
            "GUNICORN_ACCESS_LOG": "",
        }
        | settings
    )
    manage = partial(subprocess.run, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    python = [str(VENV_BIN / "python"), "manage.py"]
    manage([*python, "migrate", "--noinput"])
    api_key = manage([*python, "create_api_key", "benchmark"]).stdout.strip()
    cluster = Cluster(None, None, payload, env, workdir, api_key)  # type: ignore[arg-type]  # no PostgreSQL, Redis
    try:
        cluster.start_web(1)
        cluster.start_workers(1, concurrency=args.worker_pool)
        yield cluster
    finally:
        cluster.stop()
        if redis:
            redis.stop()


# --- measuring --------------------------------------------------------------------------------


def alternate(rounds: int, ours: Callable[[int], float], baseline: Callable[[int], float]) -> tuple[list, list]:
    """Each round runs both, the order swapped every round; the figures of each."""
    figures: tuple[list, list] = ([], [])
    for round_number in range(rounds):
        pair = [(figures[0], ours), (figures[1], baseline)]
        for results, run in pair if round_number % 2 == 0 else reversed(pair):
            results.append(run(round_number))
    return figures


def seconds(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


class Peaks:
    """The largest peak RSS of process groups over the runs it watches: `with peaks.watch('label'):`."""

    def __init__(self, groups: dict[str, int]):
        self.groups = groups
        self.at_rest = {name: self._reset(pgid) for name, pgid in groups.items()}
        self.seen: dict[tuple[str, str], float] = {}

    def _reset(self, pgid: int) -> float:
        reset_peak_rss(pgid)
        return peak_rss_mib(pgid)

    @contextlib.contextmanager
    def watch(self, label: str):
        for pgid in self.groups.values():
            reset_peak_rss(pgid)
        yield
        for name, pgid in self.groups.items():
            self.seen[label, name] = max(self.seen.get((label, name), 0.0), peak_rss_mib(pgid))


def publish(cluster: Cluster, prefix: str, video_url: str, checksum: str) -> None:
    audit_log_id = f"{prefix}_{next(ids)}"
    response = cluster.publish(publish_body(audit_log_id, video_url, checksum), timeout=900)
    if response.status_code != 201:
        raise RuntimeError(f"publish {audit_log_id}: {response.status_code} {response.text[:500]}")


def curl_download(url: str, path: Path) -> None:
    subprocess.run(["curl", "-sSf", "-o", str(path), url], check=True)


def clean(payload: PayloadServer, s3=None) -> None:
    """Delete the benchmark's media (documents and files) so that disk and moto's memory don't fill up."""
    response = httpx.delete(
        f"{payload.url}/api/media",
        params={"where[audit_log_id][like]": "dist_bench", "limit": 1000, "depth": 0},
        headers={"Authorization": f"users API-Key {payload.api_key}"},
        timeout=120,
    )
    response.raise_for_status()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET) if s3 else []:
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=BUCKET, Key=item["Key"])


def job_timings(database: Path, prefix: str) -> dict[str, float]:
    """Medians, in seconds, of the published jobs whose audit_log_id starts with `prefix` (their stored timings)."""
    queued = "(julianday(run_started_at) - julianday(started_at)) * 86400"
    upload, total = "coalesce(upload_ms, 0) / 1e3", "latency_ms / 1e3"  # upload_ms: run start to media stored
    sql = (
        f"SELECT {queued}, {upload}, {total} - {queued} - {upload}, {total}"
        " FROM distribution_publishjob WHERE audit_log_id LIKE ? ESCAPE '!' AND status = 'published'"
    )
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute(sql, (prefix.replace("_", "!_") + "!_%",)).fetchall()
    names = (
        "queued for a worker",
        TRANSFER,
        "record write and job bookkeeping",
        "job total",
    )
    return {name: statistics.median(row[i] for row in rows) for i, name in enumerate(names)} if rows else {}


# --- where the time went: py-spy over the worker --------------------------------------------


def py_spy() -> str | None:
    return shutil.which("py-spy") or (str(VENV_BIN / "py-spy") if (VENV_BIN / "py-spy").exists() else None)


WORDS = (  # a stack's leg by what its frames name, first match wins (then hash, download, upload, ...)
    ("database", ("sqlite3", "django/db/", "psycopg")),
    ("API key check", ("rest_framework_api_key", "contrib/auth/hashers")),
    ("new HTTP clients (TLS context)", ("create_default_context", "SSLContext", "load_verify_locations")),
    ("regex compiling", ("re/_compiler", "re/_parser")),
    ("logging, audit events", ("logging/__init__", "publishing/audit")),
    ("DRF serializers", ("rest_framework/fields", "rest_framework/serializers")),
)


def leg(stack: list[str], within: str) -> str | None:
    """The leg of one sampled stack (frames `function (file:line)`, root first); None unless a frame names `within`."""
    files = [frame.rpartition("(")[2] for frame in stack]
    if not any(within in name for name in files):
        return None
    for name, words in WORDS:
        if any(word in frame for frame in stack for word in words):
            return name
    project = [name.rstrip(")") for name in files if str(ROOT / "distribution") in name]
    if project:
        path, _, line = project[-1].rpartition(":")
        source = linecache.getline(path, int(line) if line.isdigit() else 0)
        if any(word in source for word in ("update(", "digest", "sha256", "hashlib")):
            return "hash"
    fetching, cms = any("publishing/fetch" in name for name in files), any("cms/client" in name for name in files)
    if fetching and cms:
        return "download -> upload (streamed)"
    if fetching:
        return "download (network, disk)"
    if cms:
        return "upload" if any("upload" in frame for frame in stack if "cms/client" in frame) else "CMS calls"
    function, _, place = stack[-1].rpartition(" (")
    return f"other: {function} ({Path(place.partition(':')[0]).name})"


def profile(process: Process, workdir: Path, run: Callable[[], object], label: str, within: str) -> None:
    """Sample `process`'s group with py-spy while `run()` runs and print the share of each leg."""
    spy = py_spy()
    if not spy:
        print(f"  ({label}: no py-spy for a sampled breakdown: pip install py-spy)")
        return
    output = workdir / f"py-spy-{next(ids)}.txt"
    command = [spy, "record", "--pid", str(process.pid), "--subprocesses", "--idle", "--nonblocking"]
    command += ["--rate", "200", "--format", "raw", "--output", str(output)]
    recorder = Process("py-spy", command, workdir / "py-spy.log", cwd=workdir)
    try:
        time.sleep(2)  # attached
        run()
    finally:
        os.killpg(recorder.pid, signal.SIGINT)
        recorder.popen.wait(60)
    samples: Counter[str] = Counter()
    for line in output.read_text().splitlines() if output.exists() else []:
        stack, _, number = line.rpartition(" ")
        name = leg(stack.split(";"), within)
        if name and number.isdigit():
            samples[name] += int(number)
    total = sum(samples.values()) or 1
    shares = ", ".join(f"{name} {100 * n / total:.0f}%" for name, n in samples.most_common(8))
    print(f"  {label}, sampled by py-spy ({total} samples): {shares}")


def compare_legs(ours: dict[str, float], theirs: dict[str, float], baseline: str) -> None:
    """Print both breakdowns and the leg where the app loses the most time to the baseline."""
    print("  app (medians): " + ", ".join(f"{name} {value:.3f} s" for name, value in ours.items()))
    if not theirs:
        name, value = max(ours.items(), key=lambda item: item[1])
        print(f"  held back most by: {name} ({value:.3f} s of the app's publish; {baseline}'s has no legs apart)")
        return
    print(f"  {baseline} (medians): " + ", ".join(f"{name} {value:.3f} s" for name, value in theirs.items()))
    pairs = zip(ours.items(), [*theirs.values(), *[0.0] * len(ours)], strict=False)
    (name, value), other = max(pairs, key=lambda pair: pair[0][1] - pair[1])
    print(f"  held back most by: {name} ({value - other:+.3f} s against {baseline}'s leg)")


TRANSFER = "streamed transfer (download, hash, upload)"


def app_legs(database: Path, prefix: str, response: float) -> dict[str, float]:
    """The app's publish in legs comparable with curl's: download, upload, and its own overhead."""
    legs = job_timings(database, prefix)
    if legs:
        legs["answering (enqueue, polling the job)"] = response - legs.pop("job total")
        legs = {name: legs[name] for name in (TRANSFER, *legs) if name in legs}
    return legs


# --- the cases --------------------------------------------------------------------------------


class Report:
    def __init__(self):
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, target: str, ours: str, baseline: str, ratio: float | None, met: bool) -> None:
        self.rows.append((target, ours, baseline, f"{ratio:.2f}x" if ratio else "", "yes" if met else "**no**"))
        print(f"  {target}: {ours} vs {baseline}" + (f" = {ratio:.2f}x" if ratio else "") + ("" if met else "  MISSED"))

    def markdown(self) -> str:
        lines = ["| target | ours | baseline | ratio | met? |", "|---|---|---|---|---|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in self.rows])


def big_publishes(ctx, storage: str, s3=None) -> None:
    """Case 1 (local disk) or 2 (S3): MB/s of one publish of each size, app vs curl (+ boto3)."""
    for size in ctx.sizes:
        big_publish(ctx, storage, size, s3)


def big_publish(ctx, storage: str, size: int, s3) -> None:
    cluster, workdir, report = ctx.cluster, ctx.workdir, ctx.report
    url, checksum = ctx.assets[size]
    prefix, file = f"dist_bench_{storage}{size}", workdir / "download.mp4"
    legs: dict[str, list[float]] = {"download": [], "upload": []}

    def ours(_):
        with ctx.peaks.watch(f"{size} MiB {storage}"):
            elapsed = seconds(lambda: publish(cluster, prefix, url, checksum))
        clean(cluster.payload, s3)
        return size * MIB / elapsed / 1e6

    def baseline(_):
        if s3:
            legs["download"].append(seconds(lambda: curl_download(url, file)))
            config = TransferConfig(multipart_chunksize=16 * MIB, max_concurrency=8)
            key = f"scaleout/mvp/dist_bench_boto3_{next(ids)}.mp4"
            legs["upload"].append(seconds(lambda: s3.upload_file(str(file), BUCKET, key, Config=config)))
            file.unlink()
            elapsed = sum(leg[-1] for leg in legs.values())
        else:
            audit_log_id = f"dist_bench_curl_{next(ids)}"
            with ctx.peaks.watch(f"{size} MiB {storage} (curl)"):
                elapsed = seconds(lambda: curl_publish(workdir, url, cluster.payload, checksum, audit_log_id))
            legs["download"].append(seconds(lambda: curl_download(url, file)))  # its first leg, alone
            legs["upload"].append(elapsed - legs["download"][-1])
            file.unlink()
        clean(cluster.payload, s3)
        return size * MIB / elapsed / 1e6

    app_mbs, base_mbs = alternate(ctx.rounds, ours, baseline)
    ratio = statistics.median(app_mbs) / statistics.median(base_mbs)
    tool = "curl + boto3 upload_file" if s3 else "curl download + multipart upload + record"
    report.add(
        f"{size} MiB publish, {storage} storage, >= 1.0x {tool}",
        f"{statistics.median(app_mbs):.0f} MB/s",
        f"{statistics.median(base_mbs):.0f} MB/s",
        ratio,
        ratio >= 1.0,
    )
    if ratio < 1.0:
        response = size * MIB / 1e6 / statistics.median(app_mbs)
        breakdown = app_legs(cluster.workdir / "django.sqlite3", prefix, response)
        theirs = {"download + upload": sum(statistics.median(values) for values in legs.values())}
        compare_legs(breakdown, theirs, "boto3" if s3 else "curl")
        run = partial(publish, cluster, prefix, url, checksum)
        profile(cluster.workers[0], workdir, run, f"one more {size} MiB publish, worker", "publishing.py")
        clean(cluster.payload, s3)


def clip_throughput(ctx) -> None:
    """Case 3: publishes per second of clips at concurrency 1 and 8, app vs the curl pipeline."""
    for concurrency in (1, 8):
        clips_at(ctx, concurrency)


def clips_at(ctx, concurrency: int) -> None:
    cluster, workdir, (url, checksum) = ctx.cluster, ctx.workdir, ctx.assets[ctx.clip_mib]
    jobs, prefix = max(4, 2 * concurrency), f"dist_bench_c{concurrency}"

    def ours(_):
        with ctx.peaks.watch(f"{ctx.clip_mib} MiB clips"):
            rate = timed(concurrency, jobs, lambda _: publish(cluster, prefix, url, checksum))
        clean(cluster.payload)
        return rate

    def baseline(_):
        def one(_):
            curl_publish(workdir, url, cluster.payload, checksum, f"dist_bench_curl_{next(ids)}")

        with ctx.peaks.watch(f"{ctx.clip_mib} MiB clips (curl)"):
            rate = timed(concurrency, jobs, one)
        clean(cluster.payload)
        return rate

    app_rates, curl_rates = alternate(ctx.rounds, ours, baseline)
    ratio = statistics.median(app_rates) / statistics.median(curl_rates)
    ctx.report.add(
        f"{ctx.clip_mib} MiB clips, concurrency {concurrency}, >= 0.8x curl pipeline",
        f"{statistics.median(app_rates):.2f} publishes/s",
        f"{statistics.median(curl_rates):.2f} publishes/s",
        ratio,
        ratio >= 0.8,
    )
    if ratio < 0.8:
        response = concurrency / statistics.median(app_rates)
        curl_response = concurrency / statistics.median(curl_rates)
        breakdown = app_legs(cluster.workdir / "django.sqlite3", prefix, response)
        print(f"  per publish (concurrency / rate): app {response:.3f} s, curl pipeline {curl_response:.3f} s")
        compare_legs(breakdown, {}, "curl")
        run = partial(timed, concurrency, jobs, lambda _: publish(cluster, prefix, url, checksum))
        profile(
            cluster.workers[0], workdir, run, f"one more round at concurrency {concurrency}, worker", "publishing.py"
        )
        clean(cluster.payload)


def qc_refusal_latency(ctx) -> None:
    """Case 4: p50/p99 of a QC refusal through gunicorn vs GET / on the same server, one keep-alive client."""
    cluster = ctx.cluster
    base = cluster.web_urls[0]
    body = publish_body("dist_bench_qc", "http://127.0.0.1:9/never.mp4", "sha256:" + "0" * 64)
    body["qc_report"]["status"] = "fail"
    percentiles: dict[str, list[tuple[float, float]]] = {"ours": [], "floor": []}
    with httpx.Client(headers={"X-API-Key": cluster.api_key}, timeout=30) as client:

        def measure(request: Callable[[], httpx.Response], status: int, kind: str):
            def run(_):
                latencies = []
                for _ in range(ctx.requests):
                    started = time.perf_counter()
                    response = request()
                    latencies.append(time.perf_counter() - started)
                    assert response.status_code == status, (response.status_code, response.text[:300])
                cuts = statistics.quantiles(latencies, n=100)
                percentiles[kind].append((cuts[49] * 1e3, cuts[98] * 1e3))
                return 0.0

            return run

        refuse = partial(client.post, f"{base}/api/distribution/publish", json=body)
        measure(refuse, 422, "ours")(0)  # warm up (connection, first-request imports)
        percentiles["ours"].clear()
        alternate(ctx.rounds, measure(refuse, 422, "ours"), measure(partial(client.get, base + "/"), 200, "floor"))
    p50, p99 = (statistics.median(cut[i] for cut in percentiles["ours"]) for i in (0, 1))
    f50, f99 = (statistics.median(cut[i] for cut in percentiles["floor"]) for i in (0, 1))
    ctx.report.add(
        f"QC refusal (422) through gunicorn, p99 < 10 ms ({ctx.requests} sequential requests a round)",
        f"p99 {p99:.1f} ms (p50 {p50:.1f})",
        f"GET /: p99 {f99:.1f} ms (p50 {f50:.1f})",
        p99 / f99,
        p99 < 10,
    )
    if p99 >= 10:
        with httpx.Client(headers={"X-API-Key": cluster.api_key}, timeout=30) as client:
            refusals = partial(client.post, f"{base}/api/distribution/publish", json=body)
            run = lambda: [refusals() for _ in range(ctx.requests)]  # noqa: E731
            profile(cluster.web[0], ctx.workdir, run, f"{ctx.requests} more refusals, gunicorn", "django/core/handlers")


def memory_rows(ctx, peaks: Peaks, labels: list[str]) -> None:
    """Case 5: the largest process's peak RSS in each group over the app's runs of each case."""
    for label in labels:
        for name, limit in (("Django web", 120), ("Django worker", 120), ("Payload", 400)):
            ours = peaks.seen.get((label, name))
            if ours is None:
                continue
            curl = peaks.seen.get((label + " (curl)", name))
            baseline = (
                f"{curl:.0f} MiB under curl" if curl and name == "Payload" else f"{peaks.at_rest[name]:.0f} MiB at rest"
            )
            ctx.report.add(f"{name} peak RSS < {limit} MiB ({label})", f"{ours:.0f} MiB", baseline, None, ours < limit)


class Context:
    """What the cases share: the options, the run's folder, assets and report, and the stack under test."""

    def __init__(self, args, workdir: Path, report: Report, assets: dict[int, tuple[str, str]]):
        self.rounds, self.sizes, self.clip_mib, self.requests = args.rounds, args.sizes, args.clip_mib, args.requests
        self.workdir, self.report, self.assets = workdir, report, assets
        self.cluster: Cluster
        self.peaks: Peaks


def stage(ctx: Context, title: str, cluster: Cluster) -> Peaks:
    print(f"\n== {title}")
    ctx.cluster = cluster
    groups = {"Django web": cluster.web[0].pid, "Django worker": cluster.workers[0].pid}
    ctx.peaks = Peaks(groups | {"Payload": cluster.payload.process.pid})
    url, checksum = ctx.assets[ctx.clip_mib]  # warm both paths up (imports, connections) outside the figures
    publish(cluster, "dist_bench_warmup", url, checksum)
    curl_publish(ctx.workdir, url, cluster.payload, checksum, f"dist_bench_curl_{next(ids)}")
    clean(cluster.payload)
    return ctx.peaks


def disk_stage(ctx: Context, args) -> None:
    labels = [f"{size} MiB disk" for size in args.sizes] + [f"{args.clip_mib} MiB clips"]
    (ctx.workdir / "disk").mkdir()
    with (
        payload_cms(ctx.workdir / "disk") as payload,
        app(ctx.workdir / "disk", payload, args, {}) as cluster,
    ):
        peaks = stage(ctx, "local-disk storage", cluster)
        if "disk" in args.only:
            big_publishes(ctx, "disk")
        if "clips" in args.only:
            clip_throughput(ctx)
        if "qc" in args.only:
            qc_refusal_latency(ctx)
    memory_rows(ctx, peaks, labels)


def s3_stage(ctx: Context, args) -> None:
    (ctx.workdir / "s3").mkdir()
    with moto(ctx.workdir / "s3") as (endpoint, s3):
        s3_env = {"BUCKET": BUCKET, "ENDPOINT": endpoint, **S3_KEYS}
        with (
            payload_cms(ctx.workdir / "s3", **{f"S3_{name}": value for name, value in s3_env.items()}) as payload,
            app(ctx.workdir / "s3", payload, args, {f"DISTRIBUTION_S3_{n}": v for n, v in s3_env.items()}) as cluster,
        ):
            peaks = stage(ctx, "S3 storage (moto)", cluster)
            big_publishes(ctx, "S3", s3)
    memory_rows(ctx, peaks, [f"{size} MiB S3" for size in args.sizes])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024], help="big publish sizes, MiB")
    parser.add_argument("--clip-mib", type=int, default=8)
    parser.add_argument("--requests", type=int, default=2000, help="QC refusals (and floor requests) a round")
    parser.add_argument("--worker-pool", type=int, default=8, help="the Celery worker's --concurrency")
    parser.add_argument(
        "--broker",
        choices=["redis", "filesystem"],
        default="redis",
        help="Celery broker: Redis (Debian's redis-server, as deployed) or the embedded filesystem transport",
    )
    cases = ["disk", "clips", "qc", "s3"]
    parser.add_argument("--only", nargs="+", choices=cases, default=cases, help="run these cases only")
    parser.add_argument("--quick", action="store_true", help="smoke test: 4 MiB, 1 MiB clips, 1 round, 200 requests")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.sizes, args.clip_mib, args.requests = 1, [4], 1, 200
    if not shutil.which("curl"):
        sys.exit("curl is needed for the baselines (Debian package curl)")

    workdir = Path(tempfile.mkdtemp(prefix="publish-vs-curl-"))
    report = Report()
    try:
        (workdir / "assets").mkdir()
        port = free_port()
        assets = {}
        for size in {*args.sizes, args.clip_mib}:
            checksum = write_mp4(workdir / "assets" / f"{size}.mp4", size)
            assets[size] = (f"http://127.0.0.1:{port}/{size}.mp4", checksum)
        ctx = Context(args, workdir, report, assets)
        command = [sys.executable, __file__, "--serve", str(workdir / "assets"), str(port)]
        static = Process("assets", command, workdir / "assets.log")
        try:
            static.wait_for_http(f"http://127.0.0.1:{port}/")
            if {"disk", "clips", "qc"} & set(args.only):
                disk_stage(ctx, args)
            if "s3" in args.only:
                s3_stage(ctx, args)
        finally:
            static.stop()
        print("\n" + report.markdown())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve_static(sys.argv[2], int(sys.argv[3]))
    else:
        main()
