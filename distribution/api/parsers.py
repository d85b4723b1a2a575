"""The publish API's request parser: JSON only, bounded before it is read.

DRF's JSONParser reads whatever arrives and lets json.loads recurse as deep as the
body nests; this one refuses a body over DISTRIBUTION_MAX_REQUEST_BYTES with 413
(from Content-Length before reading, else after reading one byte too many),
refuses NaN/Infinity literals (not JSON) and turns runaway nesting into a 400.
Deeper checks (depth limit, well-formed Unicode) are the publish service's, so
every entry point gets them.
"""

import json

from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser

from distribution.conf import app_settings


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = app_settings().max_request_bytes
        too_large = RequestTooLarge(f"The request body is larger than {limit} bytes.")
        request = (parser_context or {}).get("request")
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0) if request is not None else 0
        except ValueError:
            declared = 0
        if declared > limit:
            raise too_large
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise too_large
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except UnicodeDecodeError:
            raise exceptions.ParseError("The request body is not UTF-8.") from None
        except RecursionError:
            raise exceptions.ParseError("JSON nested too deeply.") from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
