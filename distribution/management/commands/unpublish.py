from django.core.management.base import BaseCommand

from distribution.management.commands._output import caller, print_result, run_with_progress
from distribution.publishing.links import unpublish


class Command(BaseCommand):
    help = (
        "Take a published video down: PayloadCMS deletes its file (every link stops serving) and keeps the record "
        "as a tombstone. Idempotent. Prints the record."
    )
    stdout_is_json = True  # see _output.py

    def add_arguments(self, parser):
        parser.add_argument("audit_log_id", metavar="AUDIT_LOG_ID")
        parser.add_argument("--reason", default="", help="Why it is taken down (kept on the record).")
        parser.add_argument("--json", action="store_true", help="Only JSON: no headline on stderr.")

    def handle(self, *args, audit_log_id, reason, **options):
        record = run_with_progress(self, options, lambda _: unpublish(audit_log_id, reason, caller=caller()))
        print_result(
            self, options, {"distribution_record": record}, f"Unpublished {audit_log_id} at {record['unpublished_at']}"
        )
