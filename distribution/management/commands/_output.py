"""Shared output of the publishing commands: JSON on --json, readable text otherwise, exit 1 on failure."""

import json
from collections.abc import Callable
from typing import TypeVar

from django.core.management.base import CommandError

from distribution.errors import PublishError
from distribution.progress import TerminalProgress

T = TypeVar("T")


def run_with_progress(command, options: dict, action: Callable[[TerminalProgress], T]) -> T:
    """Call action(progress) and turn PublishError into exit code 1 (printed as JSON with --json)."""
    # The raw stream: Django's OutputWrapper would end every progress redraw with a newline.
    progress = TerminalProgress(command.stderr._out)
    try:
        return action(progress)
    except PublishError as error:
        if options["json"]:
            command.stdout.write(json.dumps({"error": error.as_dict()}, indent=2))
        raise CommandError(f"{error.code}: {error.message}", returncode=1) from None
    finally:
        progress.close()


def print_result(command, options: dict, body: dict, headline: str) -> None:
    """The body as JSON; without --json, a headline above it."""
    if not options["json"]:
        command.stdout.write(command.style.SUCCESS(headline))
    command.stdout.write(json.dumps(body, indent=2))
