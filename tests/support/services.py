"""Throwaway PostgreSQL and Redis servers from Debian's packages, in temporary folders on free ports."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg
import redis

from tests.support.processes import Process, free_port

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def missing_servers() -> list[str]:
    missing = [] if PG_BIN_DIRS else ["PostgreSQL (Debian package postgresql)"]
    return missing + ([] if Path(REDIS_SERVER).exists() else ["Redis (Debian package redis-server)"])


class PostgresServer:
    """initdb + postgres in a temp folder, trust auth on 127.0.0.1 only; durability off (it is thrown away).

    PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres` user
    that Debian's package creates.
    """

    def __init__(self):
        bin_dir = PG_BIN_DIRS[0]
        self.user = "postgres" if os.geteuid() == 0 else None
        # Not under pytest's tmp_path: that is private to the test user, and postgres must reach it.
        self.dir = Path(tempfile.mkdtemp(prefix="scaleout-pg-"))
        if self.user:
            shutil.chown(self.dir, self.user)
        self.port = free_port()
        data = self.dir / "data"
        subprocess.run(
            [bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync"],
            user=self.user,
            check=True,
            capture_output=True,
        )
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": self.port,
            "unix_socket_directories": self.dir,
            "max_connections": 300,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "log_connections": "on",  # counted by connections_opened()
        }
        command = [str(bin_dir / "postgres"), "-D", str(data)] + [
            f"-c{name}={value}" for name, value in settings.items()
        ]
        # SIGINT is PostgreSQL's fast shutdown: sessions still open do not hold it up.
        self.process = Process(
            "postgres", command, self.dir / "postgres.log", user=self.user, stop_signal=signal.SIGINT
        )
        try:
            self.process.wait_until(self._accepts_connections, not_yet=(psycopg.OperationalError,))
        except BaseException:
            self.stop()
            raise

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _accepts_connections(self) -> bool:
        with psycopg.connect(self.url(), connect_timeout=2):
            return True

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def query(self, database: str, sql: str, *params) -> list[tuple]:
        with psycopg.connect(self.url(database)) as conn:
            return conn.execute(sql, params).fetchall()

    def connections_opened(self, application_name: str) -> int:
        """Sessions opened so far by clients whose application_name starts with `application_name` (from the log)."""
        log = self.process.log.read_text(errors="replace")
        return len(re.findall(rf"connection authorized: .*application_name={re.escape(application_name)}", log))

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """redis-server on 127.0.0.1 with nothing saved to disk."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        command = [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = Process("redis", [*command, "--dir", str(workdir)], workdir / "redis.log")
        try:
            self.process.wait_until(
                lambda: redis.Redis.from_url(self.url, socket_timeout=2).ping(), not_yet=(redis.ConnectionError,)
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.process.stop()
