import argparse
import json
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from distribution.management.commands._output import run_with_progress
from distribution.management.commands.sync_distribution_records import positive_int
from distribution.operators import verification


def concurrency(text: str) -> int:
    value = positive_int(text)
    if value > verification.MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(f"expected at most {verification.MAX_CONCURRENCY}, got {text!r}")
    return value


def moment(text: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 date-time (UTC unless it says otherwise)."""
    try:
        parsed = parse_datetime(text) or parse_date(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise argparse.ArgumentTypeError(f"expected a date (2026-11-01) or an ISO 8601 date-time, got {text!r}")
    if not isinstance(parsed, datetime):
        parsed = datetime(parsed.year, parsed.month, parsed.day)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Verify published records end to end: public URL, media document, expiry enforced, takedowns complete, and "
        "optionally the file's sha256. Exit 0 when every checked record is sound (or none was selected: 'nothing to "
        "check'), 1 when any problem was found, 2 for usage errors."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", metavar="ID", help="Only records of this project_id.")
        parser.add_argument("--since", metavar="DATE", type=moment, help="Only records published at or after DATE.")
        parser.add_argument("--sample", metavar="N", type=positive_int, help="Check N records picked at random.")
        parser.add_argument("--checksum", action="store_true", help="Download every file and compare its sha256.")
        parser.add_argument(
            "--concurrency", metavar="K", type=concurrency, default=4, help="Records checked at once (default 4)."
        )
        parser.add_argument(
            "--expired-is-problem",
            action="store_true",
            help="Report records whose link expired by design as problems (`expired`); by default they are sound.",
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON on stdout.")

    def handle(self, *args, project, since, sample, checksum, concurrency, expired_is_problem, **options):
        if project is not None and not project.strip():
            raise CommandError("--project needs a project_id.", returncode=2)
        selection = verification.Options(project, since, sample, checksum, concurrency, expired_is_problem)

        def verify(progress):
            return verification.verify(selection, progress=lambda done, total: progress.items("verified", done, total))

        run = run_with_progress(self, options, verify)
        report = verification.report(run)
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
        else:
            for problem in report["problems"]:
                self.stdout.write(f"{problem['audit_log_id']}  {problem['code']}  {problem['message']}")
        if run.status == run.Status.NOTHING:
            summary = f"No record matched the selection: nothing was verified (run #{run.pk})."
        else:
            expired = f", {run.records_expired} past their link's expiry" if run.records_expired else ""
            summary = (
                f"Verified {run.records_checked} records: {report['records_sound']} sound, "
                f"{run.records_with_problems} with problems{expired} (run #{run.pk})."
            )
        if run.records_with_problems:
            raise CommandError(summary, returncode=1)
        if run.status == run.Status.NOTHING:  # a release check that checked nothing has not passed
            raise CommandError(summary, returncode=1)
        if not options["json"]:
            self.stdout.write(self.style.SUCCESS(summary))
