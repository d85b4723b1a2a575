import argparse
import json

from django.core.management.base import BaseCommand

from distribution.cms import mirror
from distribution.cms.client import PayloadCMSClient
from distribution.management.commands._output import run_with_progress
from distribution.outbound.clients import new_client


def positive_int(text: str) -> int:
    """Payload reads limit=0 as 'no limit', which would fetch the whole collection in one answer."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


class Command(BaseCommand):
    help = "Mirror PayloadCMS distributionRecords locally and flag mirrored records the CMS no longer has."

    def add_arguments(self, parser):
        parser.add_argument("--page-size", type=positive_int, default=100, help="Records per request.")
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON on stdout.")

    def handle(self, *args, page_size, **options):
        def sync(progress):
            with new_client() as http:
                cms = PayloadCMSClient.from_settings(http)
                return mirror.sync(cms, lambda done, total: progress.items("records", done, total), page_size)

        counts = run_with_progress(self, options, sync)
        if options["json"]:
            self.stdout.write(json.dumps(counts))
        else:
            self.stdout.write(self.style.SUCCESS("Synced: " + ", ".join(f"{n} {name}" for name, n in counts.items())))
