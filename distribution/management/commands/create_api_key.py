"""Create a named API key for an X-API-Key caller and print it once (it is stored hashed)."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone
from rest_framework_api_key.models import APIKey


class Command(BaseCommand):
    help = "Create a named API key for X-API-Key callers; the key is printed once and stored hashed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="who will use it, e.g. 'orchestrator-prod' (recorded as api-key:<name>)")
        parser.add_argument("--expires-in-days", type=int, metavar="DAYS", help="the key stops working after DAYS")

    def handle(self, *args, name: str, expires_in_days: int | None, **options) -> None:
        expiry = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        _, key = APIKey.objects.create_key(name=name, expiry_date=expiry)
        self.stdout.write(key)
