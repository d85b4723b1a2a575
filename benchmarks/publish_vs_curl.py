"""The performance goals in one run, each next to its baseline from the same run, and their ratio.

Starts, on free loopback ports in a temp folder, all stopped by PID at the end: a sendfile static
server holding the assets (the app and curl fetch the same URL), PayloadCMS (payload/start.sh; on
local disk, then with storage-s3 on a moto_server), and the app as deployed, but embedded: the
production web server (gunicorn, config/gunicorn.conf.py) and one Celery worker (its pool as the
settings have it), on PostgreSQL (--database sqlite: the embedded files) and Redis (--broker
filesystem: the embedded broker).
Rounds alternate between the app and its baseline; figures are medians.

1. 1 GiB publish, local disk: MB/s against curl's download into a file (the copy limit), and
   Payload's upsert endpoint ingesting the same file (a curl PUT) against the same copy
2. clips (8 MiB at concurrency 1, 8, 16; 500 of 1 MiB at 16): publishes/s against the curl pipe
   (curl's download piped into the same upsert endpoint, then the record's upsert), a publish's
   p99 latency against its p50, and where the app's time went (request, queue, run, record)
3. every kind of validation refusal through gunicorn, one keep-alive client: p50/p99 (GET / alongside)
4. 1 GiB publish, S3: the direct path against curl's download + boto3's upload_file
5. peak RSS (VmHWM of the largest process) of Django's web and worker and of Payload, at 1 GiB and
   with 16 clips in flight

A missed goal prints where the time went, measured: the app's jobs' own timings next to the
baseline, and, when py-spy is on PATH (or beside this Python), a sampled profile of the worker (or
of gunicorn, for refusals) over one more run.

    .venv/bin/python benchmarks/publish_vs_curl.py [--rounds 3] [--only disk clips refusals s3] [--quick]
"""

import argparse
import contextlib
import hashlib
import json
import linecache
import os
import re
import resource
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
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402

from benchmarks.publish_throughput import timed  # noqa: E402
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
from tests.support.services import PostgresServer, RedisServer  # noqa: E402

MIB = 1024 * 1024
CORES = os.cpu_count() or 1  # the CPU seconds a second that every process of a run shares
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


def production_venv() -> Path:
    """A virtualenv of requirements.txt alone, as deployed, made once (again when requirements.txt changes): the
    test virtualenv's extras (trio, pygments, markdown, ...) are imported by httpx and DRF when present, ~12 MiB
    more in every process."""
    venv = ROOT / "var" / "production-venv"
    stamp, digest = venv / "requirements.sha256", hashlib.sha256((ROOT / "requirements.txt").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        print(f"making {venv} from requirements.txt ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "--require-hashes"]
        subprocess.run([*pip, "-r", str(ROOT / "requirements.txt")], check=True)
        stamp.write_text(digest)
    return venv / "bin"


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
            "DATABASE_URL": args.database.django_url(workdir),
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
    python = [str(args.bin_dir / "python"), "manage.py"]
    manage([*python, "migrate", "--noinput"])
    api_key = manage([*python, "create_api_key", "benchmark"]).stdout.strip()
    cluster = Cluster(None, None, payload, env, workdir, api_key, bin_dir=args.bin_dir)  # type: ignore[arg-type]
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


def children_cpu_seconds() -> float:
    """CPU time (user + system) of this process's children that have ended: curl's, run to completion."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) the live processes of group `pgid` and their children have used so far.

    Children count wherever their group is (PostgreSQL's backends each start a session of their own), and so do
    those that have exited (a process's cutime and cstime: a backend per session that ended, a recycled worker).
    """
    stats = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            # ppid, pgid, utime + stime + cutime + cstime
            stats[int(entry.name)] = (int(fields[1]), int(fields[2]), sum(map(int, fields[11:15])))
    members = {pid for pid, (_, group, _) in stats.items() if group == pgid}
    members |= {pid for pid, (parent, _, _) in stats.items() if parent in members}
    return sum(stats[pid][2] for pid in members) / os.sysconf("SC_CLK_TCK")


def cpu_groups(ctx) -> dict[str, int]:
    """The process groups whose CPU a publish uses: the app's web and worker, Payload, and PostgreSQL (both
    databases) when it runs."""
    cluster = ctx.cluster
    groups = {"web": cluster.web[0].pid, "worker": cluster.workers[0].pid, "Payload": cluster.payload.process.pid}
    if ctx.database.postgres:
        groups["PostgreSQL"] = ctx.database.postgres.process.pid
    return groups


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


class Database:
    """Where the app and PayloadCMS keep their documents: a PostgreSQL server (as deployed) or SQLite files."""

    def __init__(self, kind: str):
        self.kind = kind
        self.postgres = PostgresServer() if kind == "postgresql" else None

    def django_url(self, workdir: Path) -> str:
        if self.postgres:
            return self.postgres.create_database(f"distribution_{workdir.name}") + "?conn_max_age=600"
        return f"sqlite:///{workdir / 'django.sqlite3'}"

    def payload_env(self, workdir: Path) -> dict[str, str]:
        return {"DATABASE_URI": self.postgres.create_database(f"payload_{workdir.name}")} if self.postgres else {}

    def jobs(self, workdir: Path, columns: str, where: str, params: tuple) -> list[tuple]:
        """Rows of the app's publish jobs; `columns` may use SECONDS(a, b), the seconds from a to b."""
        if self.postgres:
            columns = re.sub(r"SECONDS\((\w+), (\w+)\)", r"EXTRACT(EPOCH FROM (\2 - \1))", columns)
            sql = f"SELECT {columns} FROM distribution_publishjob WHERE {where.replace('?', '%s')}"
            return self.postgres.query(f"distribution_{workdir.name}", sql, *params)
        columns = re.sub(r"SECONDS\((\w+), (\w+)\)", r"((julianday(\2) - julianday(\1)) * 86400)", columns)
        with contextlib.closing(sqlite3.connect(workdir / "django.sqlite3")) as db:
            return db.execute(f"SELECT {columns} FROM distribution_publishjob WHERE {where}", params).fetchall()

    def stop(self) -> None:
        if self.postgres:
            self.postgres.stop()


def job_timings(ctx, prefix: str, slowest: bool = False) -> dict[str, float]:
    """Medians, in seconds, of the published jobs whose audit_log_id starts with `prefix` (their stored timings);
    with `slowest`, the timings of the job that took longest."""
    queued = "SECONDS(started_at, run_started_at)"
    upload, total = "coalesce(upload_ms, 0) / 1e3", "latency_ms / 1e3"  # upload_ms: run start to media stored
    columns = f"{queued}, {upload}, {total} - {queued} - {upload}, {total}"
    where = "audit_log_id LIKE ? ESCAPE '!' AND status = 'published'"
    rows = ctx.database.jobs(ctx.cluster.workdir, columns, where, (prefix.replace("_", "!_") + "!_%",))
    rows = [tuple(float(value) for value in row) for row in rows]
    names = ("queue: waiting for a worker", TRANSFER, "record: its upsert and the job's bookkeeping", "job total")
    if slowest and rows:
        rows = [max(rows, key=lambda row: row[3])]
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
    command = [spy, "record", "--pid", str(process.pid), "--subprocesses", "--nonblocking"]  # CPU samples only
    command += ["--rate", "200", "--format", "raw", "--output", str(output)]
    recorder = Process("py-spy", command, workdir / "py-spy.log", cwd=workdir)
    try:
        time.sleep(2)  # attached
        run()
    finally:
        os.killpg(recorder.pid, signal.SIGINT)
        recorder.popen.wait(60)
    samples: Counter[str] = Counter()
    leaves: Counter[str] = Counter()  # the function on top of each sampled stack: where the CPU time is spent
    for line in output.read_text().splitlines() if output.exists() else []:
        stack, _, number = line.rpartition(" ")
        frames = stack.split(";")
        name = leg(frames, within)
        if name and number.isdigit():
            samples[name] += int(number)
            function, _, place = frames[-1].rpartition(" (")
            leaves[f"{function} ({Path(place.partition(':')[0]).name})"] += int(number)
    total = sum(samples.values()) or 1
    shares = ", ".join(f"{name} {100 * n / total:.0f}%" for name, n in samples.most_common(8))
    print(f"  {label}, its CPU sampled by py-spy ({total} samples): {shares}")
    print(
        "    on top of the stack: " + ", ".join(f"{name} {100 * n / total:.0f}%" for name, n in leaves.most_common(8))
    )


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


TRANSFER = "run: the streamed transfer (download, checks, upload)"


def app_legs(ctx, prefix: str, response: float, slowest: bool = False) -> dict[str, float]:
    """The app's publish in legs comparable with curl's: download, upload, and its own overhead."""
    legs = job_timings(ctx, prefix, slowest)
    if legs:
        legs["request: validate, enqueue, see the job end, answer"] = response - legs.pop("job total")
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


CURL_PIPE = """set -eo pipefail
curl -sSf "$VIDEO_URL" | curl -sSf -o /dev/null -X PUT -T - -H "$AUTH" -H "Content-Type: video/mp4" \
  "$CMS/api/media/upsert?$QUERY"
curl -sSf -o /dev/null -X PUT -H "$AUTH" -H "Content-Type: application/json" -d "$RECORD" \
  "$CMS/api/distributionRecords/upsert"
"""


def curl_pipe(payload: PayloadServer, video_url: str, checksum: str) -> None:
    """The transfers of one publish, done by curl: the download piped into Payload's upsert endpoint (the one the
    app uses, so both pay the same ingest), then the record's upsert."""
    audit_log_id = f"dist_bench_curl_{next(ids)}"
    path = f"bench/clips/{audit_log_id}.mp4"
    fields = {"project_id": "bench", "audit_log_id": audit_log_id, "checksum": checksum, "storage_path": path}
    env = {
        "VIDEO_URL": video_url,
        "CMS": payload.url,
        "AUTH": f"Authorization: users API-Key {payload.api_key}",
        "QUERY": urlencode(fields),
        "RECORD": json.dumps({**fields, "url_expiry_hours": 72}),
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["bash", "-c", CURL_PIPE], env=env, check=True)


def curl_ingest(payload: PayloadServer, file: Path, checksum: str) -> None:
    """A file PUT by curl to Payload's upsert endpoint: what Payload's ingest alone can take."""
    audit_log_id = f"dist_bench_ingest_{next(ids)}"
    fields = {"project_id": "bench", "audit_log_id": audit_log_id, "checksum": checksum}
    query = urlencode({**fields, "storage_path": f"bench/ingest/{audit_log_id}.mp4"})
    auth = f"Authorization: users API-Key {payload.api_key}"
    command = ["curl", "-sSf", "-o", os.devnull, "-X", "PUT", "-T", str(file), "-H", "Content-Type: video/mp4"]
    subprocess.run([*command, "-H", auth, f"{payload.url}/api/media/upsert?{query}"], check=True)


def big_publishes(ctx, storage: str, s3=None) -> None:
    """Case 1 (local disk) or 2 (S3): MB/s of one publish of each size against its baseline."""
    for size in ctx.sizes:
        (big_on_s3 if s3 else big_on_disk)(ctx, size, s3)


def big_on_disk(ctx, size: int, _s3=None) -> None:
    """A publish against the copy limit (curl's download into a file), and Payload's ingest against the same copy."""
    cluster, workdir, report = ctx.cluster, ctx.workdir, ctx.report
    url, checksum = ctx.assets[size]
    prefix, file = f"dist_bench_disk{size}", workdir / "download.mp4"
    rates: dict[str, list[float]] = {"publish": [], "copy": [], "ingest": []}
    groups = {"assets": ctx.assets_pid} | cpu_groups(ctx)
    cpu: dict[str, dict[str, list[float]]] = {"publish": {}, "copy": {}, "ingest": {}}

    def measured(kind: str, run: Callable[[], object]) -> float:
        """MB/s of run(), and the CPU seconds per GiB each process (curl: this one's children) spent on it."""
        before = {name: cpu_seconds(pgid) for name, pgid in groups.items()} | {"curl": children_cpu_seconds()}
        rate = size * MIB / seconds(run) / 1e6
        after = {name: cpu_seconds(pgid) for name, pgid in groups.items()} | {"curl": children_cpu_seconds()}
        for name in after:
            cpu[kind].setdefault(name, []).append((after[name] - before[name]) * 1024 / size)
        rates[kind].append(rate)
        return rate

    def ours(_):
        with ctx.peaks.watch(f"{size} MiB disk"):
            measured("publish", lambda: publish(cluster, prefix, url, checksum))
        clean(cluster.payload)
        return 0.0

    def baselines(_):
        measured("copy", lambda: curl_download(url, file))
        with ctx.peaks.watch(f"{size} MiB disk (curl)"):
            measured("ingest", lambda: curl_ingest(cluster.payload, file, checksum))
        file.unlink()
        clean(cluster.payload)
        return 0.0

    alternate(ctx.rounds, ours, baselines)
    ceilings = print_cpu_per_gib(cpu, rates)
    publish_mbs, copy_mbs, ingest_mbs = (statistics.median(rates[name]) for name in ("publish", "copy", "ingest"))
    print(
        f"  0.9x the copy ({0.9 * copy_mbs:.0f} MB/s) is {0.9 * copy_mbs / ceilings['publish']:.0%} of what"
        f" {CORES} cores allow the publish at its CPU cost; the publish reached"
        f" {publish_mbs / ceilings['publish']:.0%} of it"
    )
    copy = f"{copy_mbs:.0f} MB/s (curl download into a file)"
    report.add(
        f"{size} MiB publish, disk, >= 0.9x the copy limit",
        f"{publish_mbs:.0f} MB/s",
        copy,
        publish_mbs / copy_mbs,
        publish_mbs >= 0.9 * copy_mbs,
    )
    report.add(
        f"{size} MiB into Payload's upsert endpoint (curl PUT), >= 1.0x the copy limit",
        f"{ingest_mbs:.0f} MB/s",
        copy,
        ingest_mbs / copy_mbs,
        ingest_mbs >= copy_mbs,
    )
    print("  rounds (MB/s): " + "; ".join(f"{name} " + " ".join(f"{v:.0f}" for v in rates[name]) for name in rates))
    if publish_mbs < 0.9 * copy_mbs:
        response = size * MIB / 1e6 / publish_mbs
        compare_legs(app_legs(ctx, prefix, response), {}, "curl")
        run = partial(publish, cluster, prefix, url, checksum)
        profile(cluster.workers[0], workdir, run, f"one more {size} MiB publish, worker", "distribution/")
        clean(cluster.payload)


def print_cpu_per_gib(cpu: dict[str, dict[str, list[float]]], rates: dict[str, list[float]]) -> dict[str, float]:
    """Each transfer's CPU seconds per GiB by process (medians), and the rate two cores allow at that cost; those
    rates (MB/s) by transfer.

    Two cores give at most 2 CPU seconds a second: a transfer costing T CPU seconds per GiB cannot pass
    2 / T GiB/s, however its processes overlap.
    """
    ceilings = {}
    for kind, spent in cpu.items():
        medians = {name: statistics.median(values) for name, values in spent.items()}
        total = sum(medians.values())
        ceiling = ceilings[kind] = CORES / total * 1024 * MIB / 1e6 if total else float("inf")
        parts = ", ".join(f"{name} {value:.2f}" for name, value in medians.items() if value >= 0.005)
        print(
            f"  CPU s per GiB, {kind}: {parts}; total {total:.2f}: {CORES} cores allow at most {ceiling:.0f} MB/s"
            f" (measured {statistics.median(rates[kind]):.0f})"
        )
    return ceilings


def big_on_s3(ctx, size: int, s3) -> None:
    """The direct path to the bucket against curl's download plus boto3's upload of the same object."""
    cluster, workdir, report = ctx.cluster, ctx.workdir, ctx.report
    url, checksum = ctx.assets[size]
    prefix, file = f"dist_bench_s3{size}", workdir / "download.mp4"

    def ours(_):
        with ctx.peaks.watch(f"{size} MiB S3"):
            elapsed = seconds(lambda: publish(cluster, prefix, url, checksum))
        clean(cluster.payload, s3)
        return size * MIB / elapsed / 1e6

    def baseline(_):
        elapsed = seconds(lambda: curl_download(url, file))
        config = TransferConfig(multipart_chunksize=16 * MIB, max_concurrency=8)
        key = f"bench/boto3/dist_bench_boto3_{next(ids)}.mp4"
        elapsed += seconds(lambda: s3.upload_file(str(file), BUCKET, key, Config=config))
        file.unlink()
        clean(cluster.payload, s3)
        return size * MIB / elapsed / 1e6

    app_mbs, base_mbs = (statistics.median(rates) for rates in alternate(ctx.rounds, ours, baseline))
    report.add(
        f"{size} MiB publish, S3, >= 1.0x curl download + boto3 upload_file",
        f"{app_mbs:.0f} MB/s",
        f"{base_mbs:.0f} MB/s",
        app_mbs / base_mbs,
        app_mbs >= base_mbs,
    )
    if app_mbs < base_mbs:
        response = size * MIB / 1e6 / app_mbs
        compare_legs(app_legs(ctx, prefix, response), {}, "boto3")
        run = partial(publish, cluster, prefix, url, checksum)
        profile(cluster.workers[0], workdir, run, f"one more {size} MiB publish, worker", "distribution/")
        clean(cluster.payload, s3)


def clip_throughput(ctx) -> None:
    """Case 3: publishes per second of clips at each concurrency against the curl pipe, and the latency spread."""
    for concurrency in ctx.concurrencies:
        clips_at(ctx, ctx.clip_mib, concurrency, max(ctx.clips, 2 * concurrency))
    clips_at(ctx, ctx.small_mib, ctx.small_concurrency, ctx.small_count, split=True)


def clips_at(ctx, size: int, concurrency: int, jobs: int, split: bool = False) -> None:
    cluster, (url, checksum) = ctx.cluster, ctx.assets[size]
    prefix = f"dist_bench_{size}m_c{concurrency}"
    latencies: list[float] = []
    label = f"{size} MiB clips, {concurrency} in flight"

    def one(_):
        latencies.append(seconds(lambda: publish(cluster, prefix, url, checksum)))

    groups = cpu_groups(ctx)
    cpu: dict[str, list[float]] = {}

    def cpu_per_publish(run: Callable[[], float], kind: str) -> float:
        before = {name: cpu_seconds(pgid) for name, pgid in groups.items()}
        rate = run()
        for name, pgid in groups.items():
            cpu.setdefault(f"{kind} {name}", []).append((cpu_seconds(pgid) - before[name]) / jobs * 1e3)
        return rate

    def ours(_):
        with ctx.peaks.watch(label):
            rate = cpu_per_publish(lambda: timed(concurrency, jobs, one), "app")
        clean(cluster.payload)
        return rate

    def baseline(_):
        with ctx.peaks.watch(label + " (curl)"):
            rate = cpu_per_publish(
                lambda: timed(concurrency, jobs, lambda _: curl_pipe(cluster.payload, url, checksum)), "curl"
            )
        clean(cluster.payload)
        return rate

    app_rate, curl_rate = (statistics.median(rates) for rates in alternate(ctx.rounds, ours, baseline))
    ratio = app_rate / curl_rate
    count = f", {jobs} a round" if split else ""
    ctx.report.add(
        f"{size} MiB clips, concurrency {concurrency}{count}, >= 1.0x the curl pipe",
        f"{app_rate:.2f} publishes/s",
        f"{curl_rate:.2f} publishes/s",
        ratio,
        ratio >= 1.0,
    )
    spent = ", ".join(
        f"{name} {statistics.median(values):.1f}" for name, values in cpu.items() if not name.startswith("curl w")
    )
    print(f"  CPU ms per publish: {spent}")
    cuts = statistics.quantiles(latencies, n=100)
    ctx.report.add(
        f"{size} MiB clips, concurrency {concurrency}: a publish's p99 < 2x its p50",
        f"p99 {cuts[98]:.2f} s, p50 {cuts[49]:.2f} s",
        "",
        cuts[98] / cuts[49],
        cuts[98] < 2 * cuts[49],
    )
    if split or ratio < 1.0:
        compare_legs(app_legs(ctx, prefix, statistics.median(latencies)), {}, "curl")
    if cuts[98] >= 2 * cuts[49]:
        legs = app_legs(ctx, prefix, max(latencies), slowest=True)
        print("  the slowest publish: " + ", ".join(f"{name} {value:.3f} s" for name, value in legs.items()))
    if ratio < 1.0 and not split:
        run = partial(timed, concurrency, jobs, one)
        profile(
            cluster.workers[0],
            ctx.workdir,
            run,
            f"one more round at concurrency {concurrency}, worker",
            "distribution/",
        )
        clean(cluster.payload)


def refusal_bodies() -> dict[str, tuple[int, object]]:
    """A request refused for each reason the validation has, by name: (status, body)."""
    valid = publish_body("dist_bench_refused", "http://127.0.0.1:9/never.mp4", "sha256:" + "0" * 64)

    def changed(path: str, value) -> dict:
        body = json.loads(json.dumps(valid))
        *parents, name = path.split(".")
        node = body
        for parent in parents:
            node = node.setdefault(parent, {})
        node[name] = value
        return body

    return {
        "QC not passed": (422, changed("qc_report.status", "fail")),
        "no final_edit": (400, {key: value for key, value in valid.items() if key != "final_edit"}),
        "malformed checksum": (400, changed("final_edit.checksum", "md5:1234")),
        "duration out of range": (400, changed("final_edit.duration_seconds", -1)),
        "video_url not http(s)": (400, changed("final_edit.video_url", "ftp://127.0.0.1/a.mp4")),
        "unsafe path segment": (400, changed("distribution_settings.storage_prefix", "videos/.hidden")),
        "body not an object": (400, ["final_edit"]),
    }


def refusal_latency(ctx) -> None:
    """Case 4: p50/p99 of each refusal through gunicorn vs GET / on the same server, one keep-alive client."""
    base = ctx.cluster.web_urls[0]
    percentiles: dict[str, list[tuple[float, float]]] = {}

    def measure(kind: str, request: Callable[[], httpx.Response], status: int):
        def run(_):
            latencies = []
            for _ in range(ctx.requests):
                started = time.perf_counter()
                response = request()
                latencies.append(time.perf_counter() - started)
                assert response.status_code == status, (kind, response.status_code, response.text[:300])
            cuts = statistics.quantiles(latencies, n=100)
            percentiles.setdefault(kind, []).append((cuts[49] * 1e3, cuts[98] * 1e3))
            return 0.0

        return run

    bodies = refusal_bodies()
    with httpx.Client(headers={"X-API-Key": ctx.cluster.api_key}, timeout=30) as client:
        requests = {
            kind: partial(client.post, f"{base}/api/distribution/publish", json=body)
            for kind, (_status, body) in bodies.items()
        }
        for kind, (status, _body) in bodies.items():  # warm up (connection, first-request imports)
            measure("warm-up", requests[kind], status)(0)

        def refusals(_):
            for kind, (status, _body) in bodies.items():
                measure(kind, requests[kind], status)(0)
            return 0.0

        alternate(ctx.rounds, refusals, measure("floor", partial(client.get, base + "/"), 200))
    f50, f99 = (statistics.median(cut[i] for cut in percentiles["floor"]) for i in (0, 1))
    floor = f"GET /: p99 {f99:.1f} ms (p50 {f50:.1f})"
    for kind in bodies:
        p50, p99 = (statistics.median(cut[i] for cut in percentiles[kind]) for i in (0, 1))
        ctx.report.add(
            f"refusal through gunicorn, {kind} ({bodies[kind][0]}), p99 < 5 ms",
            f"p99 {p99:.1f} ms (p50 {p50:.1f})",
            floor,
            p99 / f99,
            p99 < 5,
        )
    worst = max(bodies, key=lambda kind: statistics.median(cut[1] for cut in percentiles[kind]))
    if statistics.median(cut[1] for cut in percentiles[worst]) >= 5:
        with httpx.Client(headers={"X-API-Key": ctx.cluster.api_key}, timeout=30) as client:
            refuse = partial(client.post, f"{base}/api/distribution/publish", json=bodies[worst][1])
            run = lambda: [refuse() for _ in range(ctx.requests)]  # noqa: E731
            profile(
                ctx.cluster.web[0],
                ctx.workdir,
                run,
                f"{ctx.requests} more refusals ({worst}), gunicorn",
                "django/core/handlers",
            )


def memory_rows(ctx, peaks: Peaks, labels: list[str], worker_limit: int = 120) -> None:
    """Case 5: the largest process's peak RSS in each group over the app's runs of each case."""
    for label in labels:
        for name, limit in (("Django web", 120), ("Django worker", worker_limit), ("Payload", 350)):
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
        self.concurrencies, self.clips = args.concurrency, args.clips
        self.small_mib, self.small_count, self.small_concurrency = (
            args.small_mib,
            args.small_count,
            args.small_concurrency,
        )
        self.workdir, self.report, self.assets, self.database = workdir, report, assets, args.database
        self.assets_pid: int  # the asset server's process group
        self.cluster: Cluster
        self.peaks: Peaks


def host_load() -> str:
    """The machine's load average: the figures of a run are comparable with another's only at a similar load."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} over 1 min, {five:.1f} over 5"


def stage(ctx: Context, title: str, cluster: Cluster) -> Peaks:
    print(f"\n== {title} ({host_load()})")
    ctx.cluster = cluster
    groups = {"Django web": cluster.web[0].pid, "Django worker": cluster.workers[0].pid}
    ctx.peaks = Peaks(groups | {"Payload": cluster.payload.process.pid})
    # Warm both paths up outside the figures: every web process and worker thread makes its first connections
    # (database, Redis, PayloadCMS) and imports, which a fresh process pays once.
    url, checksum = ctx.assets[ctx.clip_mib]
    warm_up = max(ctx.concurrencies)
    timed(warm_up, 2 * warm_up, lambda _: publish(cluster, "dist_bench_warmup", url, checksum))
    timed(warm_up, 2 * warm_up, lambda _: curl_pipe(cluster.payload, url, checksum))
    clean(cluster.payload)
    return ctx.peaks


def disk_stage(ctx: Context, args) -> None:
    labels = [f"{size} MiB disk" for size in args.sizes] + [
        f"{args.clip_mib} MiB clips, {max(args.concurrency)} in flight"
    ]
    (ctx.workdir / "disk").mkdir()
    with (
        payload_cms(ctx.workdir / "disk", **args.database.payload_env(ctx.workdir / "disk")) as payload,
        app(ctx.workdir / "disk", payload, args, {}) as cluster,
    ):
        peaks = stage(ctx, "local-disk storage", cluster)
        if "disk" in args.only:
            big_publishes(ctx, "disk")
        if "clips" in args.only:
            clip_throughput(ctx)
        if "refusals" in args.only:
            refusal_latency(ctx)
    memory_rows(ctx, peaks, labels)


def s3_stage(ctx: Context, args) -> None:
    (ctx.workdir / "s3").mkdir()
    with moto(ctx.workdir / "s3") as (endpoint, s3):
        s3_env = {"BUCKET": BUCKET, "ENDPOINT": endpoint, **S3_KEYS}
        payload_env = {f"S3_{name}": value for name, value in s3_env.items()} | args.database.payload_env(
            ctx.workdir / "s3"
        )
        with (
            payload_cms(ctx.workdir / "s3", **payload_env) as payload,
            app(ctx.workdir / "s3", payload, args, {f"DISTRIBUTION_S3_{n}": v for n, v in s3_env.items()}) as cluster,
        ):
            peaks = stage(ctx, "S3 storage (moto)", cluster)
            big_publishes(ctx, "S3", s3)
    memory_rows(ctx, peaks, [f"{size} MiB S3" for size in args.sizes], worker_limit=140)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024], help="big publish sizes, MiB")
    parser.add_argument("--clip-mib", type=int, default=8)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 16], help="clips in flight")
    parser.add_argument(
        "--clips",
        type=int,
        default=64,
        help="clips a round at each concurrency (at least twice it): over three rounds, enough latencies for the "
        "p99 not to be the slowest publish (32 a round at 16 in flight made it the maximum of 96)",
    )
    parser.add_argument("--small-mib", type=int, default=1, help="the many small clips' size")
    parser.add_argument("--small-count", type=int, default=500, help="small clips a round")
    parser.add_argument("--small-concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1000, help="requests of each refusal (and GET /) a round")
    parser.add_argument("--worker-pool", type=int, help="the Celery worker's --concurrency (default: the settings')")
    parser.add_argument(
        "--broker",
        choices=["redis", "filesystem"],
        default="redis",
        help="Celery broker: Redis (Debian's redis-server, as deployed) or the embedded filesystem transport",
    )
    parser.add_argument(
        "--app-venv",
        choices=["production", "test"],
        default="production",
        help="run the app from a virtualenv of requirements.txt alone (as deployed) or from this one",
    )
    parser.add_argument(
        "--database",
        choices=["postgresql", "sqlite"],
        default="postgresql",
        help="the app's and PayloadCMS's database: PostgreSQL (as deployed) or SQLite files (the embedded default)",
    )
    cases = ["disk", "clips", "refusals", "s3"]
    parser.add_argument("--only", nargs="+", choices=cases, default=cases, help="run these cases only")
    parser.add_argument("--quick", action="store_true", help="smoke test: 4 MiB, 1 MiB clips, 1 round, 100 requests")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.sizes, args.clip_mib, args.requests, args.small_count, args.clips = 1, [4], 1, 100, 40, 16
    if not shutil.which("curl"):
        sys.exit("curl is needed for the baselines (Debian package curl)")
    args.bin_dir = production_venv() if args.app_venv == "production" else VENV_BIN

    workdir = Path(tempfile.mkdtemp(prefix="publish-vs-curl-"))
    report = Report()
    try:
        (workdir / "assets").mkdir()
        port = free_port()
        assets = {}
        for size in {*args.sizes, args.clip_mib, args.small_mib}:
            checksum = write_mp4(workdir / "assets" / f"{size}.mp4", size)
            assets[size] = (f"http://127.0.0.1:{port}/{size}.mp4", checksum)
        args.database = Database(args.database)
        ctx = Context(args, workdir, report, assets)
        command = [sys.executable, __file__, "--serve", str(workdir / "assets"), str(port)]
        static = Process("assets", command, workdir / "assets.log")
        ctx.assets_pid = static.pid
        try:
            static.wait_for_http(f"http://127.0.0.1:{port}/")
            if {"disk", "clips", "refusals"} & set(args.only):
                disk_stage(ctx, args)
            if "s3" in args.only:
                s3_stage(ctx, args)
        finally:
            static.stop()
            args.database.stop()
        print(f"\nAt the end: {host_load()}\n\n" + report.markdown())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve_static(sys.argv[2], int(sys.argv[3]))
    else:
        main()
