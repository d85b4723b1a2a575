"""The production topology on one machine, started once for the scale-out tests.

PostgreSQL and Redis (Debian's packages) in temp folders, PayloadCMS on its own PostgreSQL
database, Django's database migrated on PostgreSQL, and two gunicorn web processes built from
config/gunicorn.conf.py, all on free loopback ports and stopped by PID at the end.
"""

import contextlib
import hashlib
import itertools
import os
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.conftest import SAMPLE_MP4
from tests.integration.conftest import PayloadServer
from tests.processes import ROOT, VENV_BIN, Process, free_port
from tests.scaleout.services import PostgresServer, RedisServer, missing_servers
from tests.servers import AssetServer, Route

API_KEY = "scaleout-orchestrator-key"
WEB_PROCESSES = 2


def mp4_asset(label: str, size: int) -> bytes:
    """A valid MP4 (the sample) followed by a top-level `free` box whose bytes are unique to `label`."""
    filler = hashlib.sha256(label.encode()).digest() * (size // 32 + 1)
    return SAMPLE_MP4 + struct.pack(">I", size + 8) + b"free" + filler[:size]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Cluster:
    postgres: PostgresServer
    redis: RedisServer
    payload: PayloadServer
    assets: AssetServer
    django_env: dict[str, str]
    workdir: Path
    web: list[Process] = field(default_factory=list)
    web_urls: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._next_web = itertools.cycle(range(WEB_PROCESSES))

    def start_web(self) -> None:
        for number in range(WEB_PROCESSES):
            port = free_port()
            env = {**self.django_env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2"}
            command = [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.conf.py"]
            process = Process(f"web{number}", command, self.workdir / f"web{number}.log", env)
            self.web.append(process)
            self.web_urls.append(f"http://127.0.0.1:{port}")
        for process, url in zip(self.web, self.web_urls, strict=True):
            process.wait_for_http(url + "/admin/login/")

    def serve_asset(self, label: str, data: bytes) -> str:
        return self.assets.add(f"/{label}.mp4", Route(body=data))

    def publish(self, body: dict, headers: dict | None = None, timeout: float = 300) -> httpx.Response:
        """POST a publish to the next web process in turn, as a load balancer would."""
        url = self.web_urls[next(self._next_web)] + "/api/distribution/publish"
        return httpx.post(url, json=body, headers={"X-API-Key": API_KEY, **(headers or {})}, timeout=timeout)

    def mirror(self, audit_log_id: str) -> list[tuple]:
        sql = "SELECT checksum, storage_path, public_url FROM distribution_mirroredrecord WHERE audit_log_id = %s"
        return self.postgres.query("distribution", sql, audit_log_id)

    def stop(self) -> None:
        for process in self.web:
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.tail(2000)}" for p in self.web)


def publish_body(audit_log_id: str, video_url: str, data: bytes) -> dict:
    return {
        "audit_log_id": audit_log_id,
        "final_edit": {"video_url": video_url, "duration_seconds": 2.0, "checksum": sha256(data)},
        "qc_report": {"status": "pass"},
        "distribution_settings": {"project_id": "scaleout", "metadata": {"title": f"Scale-out {audit_log_id}"}},
    }


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    missing = missing_servers()
    if missing:
        message = f"scale-out tests need {', '.join(missing)}; scripts/test installs them"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    workdir = tmp_path_factory.mktemp("scaleout")
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
            "DJANGO_STATIC_ROOT": str(settings.STATIC_ROOT),
            "DATABASE_URL": postgres.create_database("distribution") + "?conn_max_age=60&conn_health_checks=true",
            "CELERY_BROKER_URL": redis.url,
            "PAYLOADCMS_URL": payload.url,
            "PAYLOADCMS_API_KEY": payload.api_key,
            "DISTRIBUTION_API_KEYS": API_KEY,
            "DISTRIBUTION_ALLOW_HTTP_PUBLIC_URL": "true",
            "DISTRIBUTION_HTTP_TIMEOUT_SECONDS": "30",
        }
        manage = [str(VENV_BIN / "python"), "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, env=django_env, check=True, capture_output=True)
        assets = stack.enter_context(AssetServer())
        cluster = Cluster(postgres, redis, payload, assets, django_env, workdir)
        stack.callback(cluster.stop)
        cluster.start_web()
        yield cluster
