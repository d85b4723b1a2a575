"""Shared output of the publishing commands, exit 1 on failure.

Commands with `stdout_is_json` (publish, republish) print only JSON on stdout, the result or the REST
error body, so `> out.json` is always a JSON document; what is meant for a person (headline, progress,
the error line) goes to stderr, and --json drops the headline. The others print JSON only with --json.
"""

import getpass
import json
from collections.abc import Callable
from typing import TypeVar

from django.core.management.base import CommandError

from distribution.errors import PublishError
from distribution.jobs import dispatch
from distribution.jobs.bodies import job_body
from distribution.management.progress import TerminalProgress
from distribution.models import PublishJob

T = TypeVar("T")


def run_with_progress(command, options: dict, action: Callable[[TerminalProgress], T]) -> T:
    """Call action(progress) and turn PublishError into exit code 1, its REST error body on stdout."""
    # The raw stream: Django's OutputWrapper would end every progress redraw with a newline.
    progress = TerminalProgress(command.stderr._out)
    try:
        return action(progress)
    except PublishError as error:
        if options["json"] or getattr(command, "stdout_is_json", False):
            command.stdout.write(json.dumps({"error": error.as_dict()}, indent=2))
        raise CommandError(f"{error.code}: {error.message}", returncode=1) from None
    finally:
        progress.close()


def print_result(command, options: dict, body: dict, headline: str) -> None:
    """The body as JSON on stdout; without --json, a headline on stderr."""
    if not options["json"]:
        command.stderr.write(headline, command.style.SUCCESS)
    command.stdout.write(json.dumps(body, indent=2))


def add_job_arguments(parser) -> None:
    parser.add_argument(
        "--enqueue", action="store_true", help="Hand the job to the Celery workers (default: run it in this process)."
    )
    parser.add_argument(
        "--wait", action="store_true", help="With --enqueue: follow the job with the progress line until it ends."
    )


def caller() -> str:
    """Who runs the command: the OS user, recorded as the job's caller."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def enqueue(command, options: dict, request: Callable[[], dict], headline: str) -> None:
    """--enqueue: start a job on the workers and print it; with --wait, follow it and print its outcome."""
    if options["wait"] and not options["enqueue"]:
        raise CommandError("--wait follows a job handed to the workers: add --enqueue.", returncode=2)

    def start(progress: TerminalProgress) -> tuple[PublishJob, dict | None]:
        job = dispatch.start(request(), source=PublishJob.Source.COMMAND, caller=caller())
        return job, dispatch.follow(job, progress.bytes) if options["wait"] else None

    job, record = run_with_progress(command, options, start)
    if record is None:
        print_result(command, options, job_body(job), f"Queued job {job.pk}: {job.status_url}")
    else:
        print_result(command, options, {"distribution_record": record}, f"{headline} {job.audit_log_id}")
