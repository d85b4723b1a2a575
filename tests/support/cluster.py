"""The production topology on one machine, for the scale-out tests and benchmarks/publish_throughput.py.

PostgreSQL and Redis (Debian's packages) in temp folders, PayloadCMS on its own PostgreSQL
database, Django's database migrated on PostgreSQL, gunicorn web processes built from
config/gunicorn.conf.py, Celery workers and beat (the reaper) on Redis, all on free loopback ports
and stopped by PID at the end.
"""

import contextlib
import hashlib
import itertools
import os
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from tests.support.payload import PayloadServer
from tests.support.processes import ROOT, VENV_BIN, Process, collect_static, free_port
from tests.support.services import PostgresServer, RedisServer

SAMPLE_MP4 = (ROOT / "tests" / "fixtures" / "sample.mp4").read_bytes()  # (no Django import: benchmarks use this)


def mp4_asset(label: str, size: int) -> bytes:
    """A valid MP4 (the sample) followed by a top-level `free` box whose bytes are unique to `label`."""
    filler = hashlib.sha256(label.encode()).digest() * (size // 32 + 1)
    return SAMPLE_MP4 + struct.pack(">I", size + 8) + b"free" + filler[:size]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def publish_body(audit_log_id: str, video_url: str, checksum: str) -> dict:
    return {
        "audit_log_id": audit_log_id,
        "final_edit": {"video_url": video_url, "duration_seconds": 2.0, "checksum": checksum},
        "qc_report": {"status": "pass"},
        "distribution_settings": {"project_id": "scaleout", "metadata": {"title": f"Scale-out {audit_log_id}"}},
    }


def _log_says(log: Path, text: str) -> bool:
    return text in log.read_text()


@dataclass
class Cluster:
    postgres: PostgresServer
    redis: RedisServer
    payload: PayloadServer
    django_env: dict[str, str]
    workdir: Path
    api_key: str
    web: list[Process] = field(default_factory=list)
    web_urls: list[str] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)
    beat: Process | None = None
    bin_dir: Path = (
        VENV_BIN  # the virtualenv whose gunicorn and celery run the app (the benchmarks' is a production one)
    )

    def __post_init__(self):
        self._turn = itertools.count()
        # One client for every request, as an orchestrator keeps one: a new httpx client builds a TLS
        # context (~65 ms), which would be counted as the app's time in the benchmarks.
        self.http = httpx.Client()

    @property
    def _celery(self) -> list[str]:
        return [str(self.bin_dir / "celery"), "-A", "config"]

    def start_web(self, count: int) -> None:
        started = []
        for _ in range(count):
            port = free_port()
            env = {**self.django_env, "GUNICORN_BIND": f"127.0.0.1:{port}"}
            command = [str(self.bin_dir / "gunicorn"), "-c", "config/gunicorn.conf.py"]
            process = Process(f"web{len(self.web)}", command, self.workdir / f"web{len(self.web)}.log", env)
            self.web.append(process)
            self.web_urls.append(f"http://127.0.0.1:{port}")
            started.append((process, self.web_urls[-1]))
        for process, url in started:
            process.wait_for_http(url + "/admin/login/")

    def start_workers(self, count: int, concurrency: int | None = None) -> None:
        """`celery -A config worker` processes, each with the settings' pool (threads) of `concurrency` publishes."""
        started = []
        for _ in range(count):
            name = f"worker{len(self.workers)}"
            command = [*self._celery, "worker", f"--hostname={name}@%h", "--loglevel=INFO"]
            if concurrency is not None:
                command.append(f"--concurrency={concurrency}")
            env = {**self.django_env, "DATABASE_URL": _named_session(self.django_env["DATABASE_URL"], name)}
            process = Process(name, command, self.workdir / f"{name}.log", env)
            self.workers.append(process)
            started.append(process)
        for process in started:
            process.wait_until(partial(_log_says, process.log, " ready."), timeout=120)

    def start_beat(self) -> None:
        command = [*self._celery, "beat", f"--schedule={self.workdir / 'celerybeat-schedule'}", "--loglevel=INFO"]
        self.beat = Process("beat", command, self.workdir / "beat.log", self.django_env)
        self.beat.wait_until(partial(_log_says, self.beat.log, "beat: Starting"))

    def publish(self, body: dict, headers: dict | None = None, timeout: float = 300) -> httpx.Response:
        """POST a publish to the next web process in turn, as a load balancer would."""
        url = self.web_urls[next(self._turn) % len(self.web_urls)] + "/api/distribution/publish"
        return self.http.post(url, json=body, headers={"X-API-Key": self.api_key, **(headers or {})}, timeout=timeout)

    def mirror(self, audit_log_id: str) -> list[tuple]:
        sql = "SELECT checksum, storage_path, public_url FROM distribution_mirroredrecord WHERE audit_log_id = %s"
        return self.postgres.query("distribution", sql, audit_log_id)

    def job(self, job_id: int) -> dict:
        """GET /api/distribution/jobs/<id>: the job's status, stage, progress and outcome."""
        url = f"{self.web_urls[0]}/api/distribution/jobs/{job_id}"
        response = self.http.get(url, headers={"X-API-Key": self.api_key}, timeout=30)
        response.raise_for_status()
        return response.json()["job"]

    def processes(self) -> list[Process]:
        return [*self.web, *self.workers, *([self.beat] if self.beat else [])]

    def stop(self) -> None:
        self.http.close()
        for process in self.processes():
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.tail(2000)}" for p in self.processes())


def _named_session(database_url: str, name: str) -> str:
    """The URL with PostgreSQL's application_name set to `name`: its server log then tells whose sessions are whose."""
    if not database_url.startswith("postgres"):
        return database_url
    return database_url + ("&" if "?" in database_url else "?") + f"application_name={name}"


@contextlib.contextmanager
def running_cluster(
    workdir: Path, settings: dict[str, str] | None = None, web: int = 2, workers: int = 2
) -> Iterator[Cluster]:
    """Start everything (`settings`: extra environment variables of the Django processes); stop it all after."""
    with contextlib.ExitStack() as stack:
        postgres = PostgresServer()
        stack.callback(postgres.stop)
        redis = RedisServer(workdir)
        stack.callback(redis.stop)
        payload = PayloadServer(workdir, DATABASE_URI=postgres.create_database("payload"))
        stack.callback(payload.stop)
        django_env = {
            **{name: value for name, value in os.environ.items() if not name.startswith(("DJANGO_", "GUNICORN_"))},
            "DJANGO_ENV_FILE": os.devnull,
            "DJANGO_SECRET_KEY": "scaleout-" + "s" * 50,
            "DJANGO_STATIC_ROOT": str(collect_static(workdir / "static")),
            "DATABASE_URL": postgres.create_database("distribution") + "?conn_max_age=60&conn_health_checks=true",
            "CELERY_BROKER_URL": redis.url,
            "PAYLOADCMS_URL": payload.url,
            "PAYLOADCMS_API_KEY": payload.api_key,
            "DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL": "true",
            "DISTRIBUTION_ALLOW_LOOPBACK_DESTINATIONS": "true",  # the asset servers are on 127.0.0.1
            **(settings or {}),
        }
        manage = [str(VENV_BIN / "python"), "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=django_env, check=True, capture_output=True)
        api_key = subprocess.run(
            [*manage, "create_api_key", "scaleout"],
            cwd=ROOT,
            env=django_env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        cluster = Cluster(postgres, redis, payload, django_env, workdir, api_key)
        stack.callback(cluster.stop)
        cluster.start_web(web)
        cluster.start_workers(workers)
        cluster.start_beat()
        yield cluster
