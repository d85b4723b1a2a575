from django.core.management.base import BaseCommand

from distribution.models import PublishAttempt
from distribution.publishing import republish

from ._output import print_result, run_with_progress


class Command(BaseCommand):
    help = "Re-publish a distribution record by audit_log_id, overwriting its media and record in PayloadCMS."
    stdout_is_json = True  # see _output.py

    def add_arguments(self, parser):
        parser.add_argument("audit_log_id", metavar="AUDIT_LOG_ID")
        parser.add_argument(
            "--json", action="store_true", help="Only JSON: no headline on stderr (stdout is JSON either way)."
        )

    def handle(self, *args, audit_log_id, **options):
        result = run_with_progress(
            self,
            options,
            lambda progress: republish(audit_log_id, source=PublishAttempt.Source.COMMAND, progress=progress.bytes),
        )
        print_result(self, options, {"distribution_record": result.distribution_record}, f"Re-published {audit_log_id}")
