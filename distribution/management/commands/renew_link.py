from django.core.management.base import BaseCommand

from distribution.conf import MAX_URL_EXPIRY_HOURS
from distribution.management.commands._output import caller, print_result, run_with_progress
from distribution.publishing.links import renew_link


class Command(BaseCommand):
    help = "Renew a published record's download link in PayloadCMS (no byte moves); print its distribution_record."
    stdout_is_json = True  # see _output.py

    def add_arguments(self, parser):
        parser.add_argument("audit_log_id", metavar="AUDIT_LOG_ID")
        parser.add_argument(
            "--hours",
            type=float,
            metavar="N",
            help=f"The new link's lifetime, 1/60 (one minute) to {MAX_URL_EXPIRY_HOURS}; default: the record's own.",
        )
        parser.add_argument("--json", action="store_true", help="Only JSON: no headline on stderr.")

    def handle(self, *args, audit_log_id, hours, **options):
        record = run_with_progress(self, options, lambda _: renew_link(audit_log_id, hours, caller=caller()))
        expiry = f"until {record['expires_at']}" if record["expires_at"] else "without expiry"
        print_result(self, options, {"distribution_record": record}, f"Renewed the link of {audit_log_id} {expiry}")
