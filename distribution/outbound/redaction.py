"""Secrets out of URLs: credentials (`user:password@`) and query strings (signed-URL tokens live there).

`redact_url()` is what answers, job rows and operator details show of a URL. `RedactingFilter` applies it
to every URL in every log record before any handler writes it: config/settings.py's LOGGING installs it on
each handler (root, Django, Celery, httpx, httpcore, kombu, botocore all reach those), config/celery.py on
the handlers Celery adds itself, config/gunicorn.conf.py on gunicorn's. Standard library only, so gunicorn's
master can load it before Django.
"""

import logging
import re
from urllib.parse import urlsplit

# An absolute URL, or a path that carries a query, up to the next space, quote or angle bracket.
_URL_IN_TEXT = re.compile(r"""(?:\b[A-Za-z][A-Za-z0-9+.-]*://|(?<![\w/])/)[^\s"'<>]*""")


def redact_url(url: str) -> str:
    """The URL without credentials, query string or fragment (signed-URL tokens live there)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "[unparseable URL]"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    redacted = f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else parts.path
    return redacted + ("?[redacted]" if parts.query else "")


def redact_text(text: str) -> str:
    """`text` with every URL that holds credentials or a query redacted; other URLs as they are."""
    return _URL_IN_TEXT.sub(lambda match: _redacted_match(match.group(0)), text)


def _redacted_match(url: str) -> str:
    authority = url.split("://", 1)[1].split("/", 1)[0] if "://" in url else ""
    return redact_url(url) if "?" in url or "@" in authority else url


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (arguments merged in), traceback and stack with their URLs redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the message: logging reports it; keep nothing of them
            message, record.args = str(record.msg), None
        record.msg, record.args = redact_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def redact_handlers(logger: logging.Logger) -> None:
    """Install the filter on each of `logger`'s handlers that lacks it (handlers another library set up)."""
    for handler in logger.handlers:
        if not any(isinstance(existing, RedactingFilter) for existing in handler.filters):
            handler.addFilter(RedactingFilter())
