from django.core.management.base import BaseCommand

from distribution.jobs.runner import republish
from distribution.management.commands._output import add_job_arguments, caller, enqueue, print_result, run_with_progress
from distribution.models import PublishJob
from distribution.publishing.republish import republish_request


class Command(BaseCommand):
    help = "Re-publish a distribution record by audit_log_id, overwriting its media and record in PayloadCMS."
    stdout_is_json = True  # see _output.py

    def add_arguments(self, parser):
        parser.add_argument("audit_log_id", metavar="AUDIT_LOG_ID")
        parser.add_argument(
            "--json", action="store_true", help="Only JSON: no headline on stderr (stdout is JSON either way)."
        )
        add_job_arguments(parser)

    def handle(self, *args, audit_log_id, **options):
        if options["enqueue"] or options["wait"]:
            return enqueue(self, options, lambda: republish_request(audit_log_id), "Re-published")
        result = run_with_progress(
            self,
            options,
            lambda progress: republish(
                audit_log_id, source=PublishJob.Source.COMMAND, caller=caller(), progress=progress.bytes
            ),
        )
        print_result(self, options, {"distribution_record": result.distribution_record}, f"Re-published {audit_log_id}")
