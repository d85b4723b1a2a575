"""The REST surface: POST /api/distribution/publish and GET /api/distribution/jobs/<id>."""

import re

from django.core.exceptions import RequestDataTooBig
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from .authentication import PUBLISH_PERMISSION
from .errors import PublishError
from .jobs import dispatch, lifecycle
from .models import PublishAttempt
from .parsers import BoundedJSONParser, RequestTooLarge

_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.IGNORECASE)


class CanPublish(permissions.BasePermission):
    """The distribution.publish permission, whoever the caller: session, DRF token or API key."""

    message = f"Publishing needs the {PUBLISH_PERMISSION} permission."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(PUBLISH_PERMISSION))


class PublishView(APIView):
    """Enqueue the publish job and wait for it (as the seed's synchronous contract), up to a limit; then 202."""

    parser_classes = [BoundedJSONParser]
    permission_classes = [CanPublish]

    def post(self, request):
        try:
            job = dispatch.start(request.data, source=PublishAttempt.Source.API, caller=str(request.user))
        except PublishError as error:
            return error_response(error)
        seconds, applied = wait_preference(request.headers.get("Prefer", ""))
        job = dispatch.wait(job, seconds)
        if job.is_active:
            headers = {"Location": job.status_url, **({"Preference-Applied": applied} if applied else {})}
            return Response(dispatch.job_body(job), status=status.HTTP_202_ACCEPTED, headers=headers)
        return job_outcome_response(job)


class JobView(APIView):
    permission_classes = [CanPublish]

    def get(self, request, job_id: int):
        job = PublishAttempt.objects.filter(pk=job_id).first()
        if job is None:
            error = PublishError("job_not_found", f"No publish job {job_id}.", http_status=404)
            return error_response(error)
        return Response(dispatch.job_body(job))


def wait_preference(prefer: str) -> tuple[float, str | None]:
    """How long to wait, from RFC 7240 `Prefer`: respond-async answers at once, wait=N caps the wait."""
    limit = dispatch.sync_wait_seconds()
    if "respond-async" in prefer.lower():
        return 0, "respond-async"
    match = _PREFER_WAIT.search(prefer)
    if match:
        return min(limit, int(match.group(1))), f"wait={match.group(1)}"
    return limit, None


def job_outcome_response(job: PublishAttempt) -> Response:
    """An ended job answered as the synchronous API always did: 201 with the record, or the error."""
    if job.status == PublishAttempt.Status.FAILED:
        return error_response(lifecycle.job_error(job))
    return Response({"distribution_record": job.distribution_record}, status=status.HTTP_201_CREATED)


def error_response(error: PublishError) -> Response:
    return Response({"error": error.as_dict()}, status=error.http_status)


def error_handler(exc, context):
    """DRF's own refusals (401, 403, 413, 415, ...) in the same error shape as the pipeline's."""
    if isinstance(exc, RequestDataTooBig):  # Django's own body limit, e.g. on form bodies
        exc = RequestTooLarge()
    response = exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "error")
        message = str(getattr(exc, "detail", exc))
        response.data = {"error": {"code": code, "message": message, "audit_log_id": None}}
    return response
