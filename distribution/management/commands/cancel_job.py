"""manage.py cancel_job JOB_ID: cancel a queued or running publish job, as the admin's Cancel does."""

import json

from django.core.management.base import BaseCommand, CommandError

from distribution.errors import PublishError
from distribution.jobs import dispatch
from distribution.jobs.bodies import job_body
from distribution.management.commands._output import caller


class Command(BaseCommand):
    help = (
        "Cancel a queued or running publish job: a queued one fails at once, a running one stops at its next piece "
        "and what it uploaded is removed; it ends failed with the code cancelled. Prints the job as JSON; exit 1 "
        "if the job does not exist or has already ended."
    )

    def add_arguments(self, parser):
        parser.add_argument("job_id", type=int)
        parser.add_argument(
            "--wait-seconds",
            type=float,
            default=dispatch.CANCEL_WAIT_SECONDS,
            help="How long to wait for a running job to stop (default %(default)s).",
        )

    def handle(self, *args, **options):
        try:
            job = dispatch.cancel(
                options["job_id"], requested_by=f"command:{caller()}", wait_seconds=options["wait_seconds"]
            )
        except PublishError as error:
            self.stdout.write(json.dumps({"error": error.as_dict()}, indent=2))
            raise CommandError(f"{error.code}: {error.message}", returncode=1) from None
        state = "cancelled" if not job.is_active else "asked to stop (still running)"
        self.stderr.write(f"Job {job.pk} {state}.", self.style.SUCCESS)
        self.stdout.write(json.dumps(job_body(job), indent=2))
