"""Server processes the tests start themselves: on free loopback ports, logging to files, stopped by PID."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def collect_static(folder: Path) -> Path:
    """`manage.py collectstatic` into `folder` (hashed, compressed names, as production serves them)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DJANGO_")}
    env.update(DJANGO_ENV_FILE=os.devnull, DJANGO_STATIC_ROOT=str(folder))
    command = [sys.executable, "manage.py", "collectstatic", "--noinput"]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return folder


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A command in its own process group with its output in `log`; `stop()` signals that group by its id."""

    def __init__(
        self,
        name: str,
        command: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
    ):
        self.name = name
        self.log = log
        self.stop_signal = stop_signal
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                user=user,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_until(
        self, ready: Callable[[], bool], timeout: float = 60, not_yet: tuple[type[Exception], ...] = ()
    ) -> None:
        """Poll `ready` until it is true; fail with the end of the log if the process dies or time runs out.

        Connection errors (and the `not_yet` exceptions) mean not ready yet.
        """
        retry_on: tuple[type[Exception], ...] = (OSError, httpx.HTTPError, *not_yet)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")
            try:
                if ready():
                    return
            except retry_on:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.tail()}")

    def wait_for_http(self, url: str, timeout: float = 60) -> None:
        self.wait_until(lambda: httpx.get(url, timeout=5).status_code < 500, timeout)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def owns(self, pid: int) -> bool:
        """Whether `pid` is this process or one of its children (its process group)."""
        try:
            return os.getpgid(pid) == self.pid
        except ProcessLookupError:
            return False

    def crash(self) -> None:
        """SIGKILL the process and its children at once, as a machine dying or an OOM kill would."""
        os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, self.stop_signal)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait()
            except ProcessLookupError:
                pass
        else:  # the leader is gone; children it left in its group still go
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)


def group_pids(pgid: int) -> list[int]:
    """The live processes of process group `pgid` (a Process's pid, a server started in its own session)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
    return pids


def peak_rss_mib(pgid: int) -> float:
    """The largest peak RSS (VmHWM) of one process in group `pgid`, in MiB."""
    peak = 0
    for pid in group_pids(pgid):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
    return peak / 1024


def reset_peak_rss(pgid: int) -> None:
    """Start the peak RSS of every process in group `pgid` again from its current RSS (Linux clear_refs)."""
    for pid in group_pids(pgid):
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")


@contextlib.contextmanager
def moto_s3(folder: Path):
    """moto's S3 server on a free loopback port, working in `folder`; its endpoint. Stopped by its PID."""
    port = free_port()
    command = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    server = Process("moto_server", command, folder / "moto.log", cwd=folder)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        server.wait_for_http(endpoint + "/", timeout=60)
        yield endpoint
    finally:
        server.stop()


def moto_client(endpoint: str):
    """A boto3 S3 client of moto's test account: what a bucket holds, whatever the app's client does."""
    import boto3  # only the S3 tests and benchmarks need it

    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    )
