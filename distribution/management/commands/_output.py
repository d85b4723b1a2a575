"""Shared output of the publishing commands, exit 1 on failure.

Commands with `stdout_is_json` (publish, republish) print only JSON on stdout, the result or the REST
error body, so `> out.json` is always a JSON document; what is meant for a person (headline, progress,
the error line) goes to stderr, and --json drops the headline. The others print JSON only with --json.
"""

import json
from collections.abc import Callable
from typing import TypeVar

from django.core.management.base import CommandError

from distribution.errors import PublishError
from distribution.progress import TerminalProgress

T = TypeVar("T")


def run_with_progress(command, options: dict, action: Callable[[TerminalProgress], T]) -> T:
    """Call action(progress) and turn PublishError into exit code 1, its REST error body on stdout."""
    # The raw stream: Django's OutputWrapper would end every progress redraw with a newline.
    progress = TerminalProgress(command.stderr._out)
    try:
        return action(progress)
    except PublishError as error:
        if options["json"] or getattr(command, "stdout_is_json", False):
            command.stdout.write(json.dumps({"error": error.as_dict()}, indent=2))
        raise CommandError(f"{error.code}: {error.message}", returncode=1) from None
    finally:
        progress.close()


def print_result(command, options: dict, body: dict, headline: str) -> None:
    """The body as JSON on stdout; without --json, a headline on stderr."""
    if not options["json"]:
        command.stderr.write(headline, command.style.SUCCESS)
    command.stdout.write(json.dumps(body, indent=2))
