import json
import sys

from django.core.management.base import BaseCommand, CommandError

from distribution.jobs.runner import publish
from distribution.management.commands._output import add_job_arguments, caller, enqueue, print_result, run_with_progress
from distribution.models import PublishJob


class Command(BaseCommand):
    help = "Publish (or with --dry-run, check) the publish request in REQUEST.json ('-' reads stdin)."
    stdout_is_json = True  # see _output.py

    def add_arguments(self, parser):
        parser.add_argument("request", metavar="REQUEST.json")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Validate, download, verify the checksum and print the record it would write; no CMS writes.",
        )
        parser.add_argument(
            "--json", action="store_true", help="Only JSON: no headline on stderr (stdout is JSON either way)."
        )
        add_job_arguments(parser)

    def handle(self, *args, **options):
        payload = self._read(options["request"])
        if options["enqueue"] or options["wait"]:
            if options["dry_run"]:
                raise CommandError("--dry-run runs here: it cannot be combined with --enqueue.", returncode=2)
            return enqueue(self, options, lambda: payload, "Published")
        result = run_with_progress(
            self,
            options,
            lambda progress: publish(
                payload,
                source=PublishJob.Source.COMMAND,
                caller=caller(),
                dry_run=options["dry_run"],
                progress=progress.bytes,
            ),
        )
        record = result.distribution_record
        if options["dry_run"]:
            body = {"dry_run": True, "asset_size": result.asset_size, "distribution_record": record}
            print_result(self, options, body, f"Dry run passed: would publish to {record['storage_location']}")
        else:
            print_result(self, options, {"distribution_record": record}, f"Published {record['audit_log_id']}")

    def _read(self, source: str):
        try:
            if source == "-":
                return json.loads(sys.stdin.read())
            with open(source, encoding="utf-8") as file:
                return json.load(file)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read a JSON request from {source}: {exc}", returncode=2) from None
