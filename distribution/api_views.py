"""The REST surface: POST /api/distribution/publish and GET /api/distribution/jobs/<id>."""

import re

from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from .errors import PublishError
from .jobs import dispatch
from .jobs.bodies import job_body
from .models import PublishAttempt

_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.IGNORECASE)


class PublishView(APIView):
    """Enqueue the publish job and wait for it (as the seed's synchronous contract), up to a limit; then 202."""

    parser_classes = [JSONParser]

    def post(self, request):
        try:
            job = dispatch.start(request.data, source=PublishAttempt.Source.API, caller=str(request.user))
        except PublishError as error:
            return error_response(error)
        seconds, applied = wait_preference(request.headers.get("Prefer", ""))
        job = dispatch.wait(job, seconds)
        if job.is_active:
            headers = {"Location": job.status_url, **({"Preference-Applied": applied} if applied else {})}
            return Response(job_body(job), status=status.HTTP_202_ACCEPTED, headers=headers)
        try:
            record = dispatch.outcome(job)
        except PublishError as error:
            return error_response(error)
        return Response({"distribution_record": record}, status=status.HTTP_201_CREATED)


class JobView(APIView):
    def get(self, request, job_id: int):
        try:
            return Response(job_body(dispatch.get_job(job_id)))
        except PublishError as error:
            return error_response(error)


def wait_preference(prefer: str) -> tuple[float, str | None]:
    """How long to wait, from RFC 7240 `Prefer`: respond-async answers at once, wait=N caps the wait."""
    limit = dispatch.sync_wait_seconds()
    if "respond-async" in prefer.lower():
        return 0, "respond-async"
    match = _PREFER_WAIT.search(prefer)
    if match:
        return min(limit, int(match.group(1))), f"wait={match.group(1)}"
    return limit, None


def error_response(error: PublishError) -> Response:
    return Response({"error": error.as_dict()}, status=error.http_status)


def error_handler(exc, context):
    """DRF's own refusals (401, 403, 415, ...) in the same error shape as the pipeline's."""
    response = exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "error")
        message = str(getattr(exc, "detail", exc))
        response.data = {"error": {"code": code, "message": message, "audit_log_id": None}}
    return response
