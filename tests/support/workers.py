"""Real Celery processes for the tests: `celery -A config worker` on the test session's broker and database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))


class CeleryWorker:
    """One worker process in its own process group, logging to `log`; `beat=True` embeds the reaper.

    `pool`: "solo" (one job at a time, the default here), "threads" (the production default) or "prefork".
    It is given as CELERY_WORKER_POOL: Celery takes a configured pool over `--pool=prefork`.
    """

    def __init__(
        self,
        workdir: Path,
        broker_dir: Path,
        *,
        beat: bool = False,
        name: str = "worker",
        pool: str = "solo",
        loglevel: str = "INFO",
        **env: str,
    ):
        self.log = workdir / f"{name}.log"
        command = [CELERY, "-A", "config", "worker", "--without-mingle", "--without-gossip"]
        command += [f"--loglevel={loglevel}", f"--hostname={name}@%h"]
        if beat:
            command += ["--beat", f"--schedule={workdir / f'{name}-beat-schedule'}"]
        environment = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
            "CELERY_BROKER_DIR": str(broker_dir),
            "CELERY_WORKER_POOL": pool,
            **env,
        }
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_until_ready()

    def _wait_until_ready(self, timeout: float = 60) -> None:
        until = time.monotonic() + timeout
        while "ready." not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > until:
                self.stop()
                raise RuntimeError(f"Celery worker did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crashed machine or an OOM kill would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
