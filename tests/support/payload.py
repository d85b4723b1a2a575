"""A real PayloadCMS (payload/start.sh) on a free port: the integration tests', scale-out tests' and benchmarks'."""

import os
import secrets
import signal
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port

PAYLOAD_DIR = Path(__file__).resolve().parents[2] / "payload"
START_TIMEOUT_SECONDS = 180
ADMIN_START_TIMEOUT_SECONDS = 900  # start.sh --admin builds the admin app first when its sources changed
IT_KEY = "integrat.integration-test-secret-0123456789"  # the X-API-Key of the integration tests


class PayloadServer:
    """payload/start.sh in its own process group, on a free port, with its own database and media folder.

    With admin=True it runs `start.sh --admin`: Payload's admin app too, on another free port (admin_url).
    """

    def __init__(self, workdir: Path, admin: bool = False, **extra_env: str):
        self.api_key = secrets.token_hex(16)
        self.media_dir = workdir / "media"
        self.admin_credentials_file = workdir / "admin-credentials"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        admin_port = free_port()
        self.admin_url = f"http://127.0.0.1:{admin_port}/admin" if admin else None
        env = {
            **os.environ,
            "PORT": str(port),
            "DATABASE_URI": f"file:{workdir / 'payload.db'}",
            "MEDIA_DIR": str(self.media_dir),
            "PAYLOADCMS_API_KEY": self.api_key,
            "SERVICE_API_KEY_FILE": str(workdir / "service-api-key"),  # leave the dev key file alone
            "ADMIN_CREDENTIALS_FILE": str(self.admin_credentials_file),
            "PAYLOAD_ADMIN_PORT": str(admin_port),
            **extra_env,
        }
        self.log = workdir / "payload.log"
        self.ready_line = "Payload admin ready at" if admin else "PayloadCMS ready at"
        self.start_timeout = ADMIN_START_TIMEOUT_SECONDS if admin else START_TIMEOUT_SECONDS
        self.process = subprocess.Popen(
            [str(PAYLOAD_DIR / "start.sh"), *(["--admin"] if admin else [])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        ready = threading.Event()

        def pump():
            assert self.process.stdout is not None
            with self.log.open("w") as log:
                for line in self.process.stdout:
                    log.write(line)
                    log.flush()
                    if self.ready_line in line:
                        ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(self.start_timeout) or self.process.poll() is not None:
            self.stop()
            pytest.fail(f"PayloadCMS did not start; see {self.log}:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)

    @property
    def auth(self) -> dict[str, str]:
        """The service user's header: the catalog is closed to anonymous readers."""
        return {"Authorization": f"users API-Key {self.api_key}"}

    def find(self, collection: str, **equals) -> dict:
        """Payload's REST answer to a where-equals query, as the service user: {"docs": [...], "totalDocs": n, ...}."""
        params = {f"where[{field}][equals]": value for field, value in equals.items()}
        response = httpx.get(
            f"{self.url}/api/{collection}", params={**params, "depth": 0, "limit": 100}, headers=self.auth
        )
        response.raise_for_status()
        return response.json()

    def total(self, collection: str) -> int:
        return self.find(collection)["totalDocs"]


def payload_s3_env(endpoint: str) -> dict[str, str]:
    """PayloadServer's environment for storage in moto's bucket `distribution-media` at `endpoint`."""
    return {
        "S3_BUCKET": "distribution-media",
        "S3_ENDPOINT": endpoint,
        "S3_ACCESS_KEY_ID": "test",
        "S3_SECRET_ACCESS_KEY": "test",
        "S3_REGION": "us-east-1",
        "S3_FORCE_PATH_STYLE": "true",
    }
