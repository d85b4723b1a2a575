"""The REST surface: POST /api/distribution/publish, GET /api/distribution/jobs/<id> and POST …/<id>/cancel."""

import re

from django.core.exceptions import RequestDataTooBig
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from distribution.api.authentication import CANCEL_PERMISSION, PUBLISH_PERMISSION
from distribution.api.middleware import CODE_OF_STATUS
from distribution.api.parsers import BoundedJSONParser, RequestTooLarge
from distribution.api.serializers import ErrorResponseSerializer, JobResponseSerializer, PublishResponseSerializer
from distribution.errors import ERRORS, PublishError, error_body
from distribution.jobs import dispatch
from distribution.jobs.bodies import job_body
from distribution.models import PublishJob
from distribution.publishing.plan import PublishRequestSerializer

_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.IGNORECASE)


class CanPublish(permissions.BasePermission):
    """The distribution.publish permission, whoever the caller: session, DRF token or API key."""

    message = f"Publishing needs the {PUBLISH_PERMISSION} permission."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(PUBLISH_PERMISSION))


class CanCancel(permissions.BasePermission):
    """The distribution.cancel permission (a user's, through a session or token; API keys only publish)."""

    message = f"Cancelling a job needs the {CANCEL_PERMISSION} permission."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(CANCEL_PERMISSION))


def error_responses(*codes: str) -> dict[int, OpenApiResponse]:
    """The ErrorResponse body under each status these codes answer with, naming the codes."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(ERRORS[code][0], []).append(code)
    return {
        status_code: OpenApiResponse(
            ErrorResponseSerializer, description="; ".join(f"`{code}`: {ERRORS[code][1]}" for code in group)
        )
        for status_code, group in sorted(by_status.items())
    }


NOT_PUBLISH_ERRORS = ("record_not_found", "job_not_found", "not_found", "unknown_tool")
AUTH_ERRORS = ("not_authenticated", "authentication_failed", "permission_denied", "not_acceptable")


class PublishView(APIView):
    """Enqueue the publish job and wait for it (as the seed's synchronous contract), up to a limit; then 202."""

    parser_classes = [BoundedJSONParser]
    permission_classes = [CanPublish]

    @extend_schema(
        operation_id="publish",
        summary="Publish a QC-approved MP4",
        request=PublishRequestSerializer,
        parameters=[
            OpenApiParameter(
                "Prefer",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="`respond-async`: answer 202 at once; `wait=N`: wait at most N seconds for the job.",
            )
        ],
        responses={
            201: OpenApiResponse(PublishResponseSerializer, description="Published."),
            202: OpenApiResponse(JobResponseSerializer, description="Still running: follow `Location`."),
            **error_responses(
                *(
                    code
                    for code in ERRORS
                    if code not in ("record_not_found", "job_not_found", "not_found", "unknown_tool")
                ),
            ),
        },
    )
    def post(self, request):
        try:
            job = dispatch.start(request.data, source=PublishJob.Source.API, caller=str(request.user))
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
    permission_classes = [CanPublish]

    @extend_schema(
        operation_id="get_job",
        summary="A publish job's state, record or error",
        responses={
            200: JobResponseSerializer,
            **error_responses("job_not_found", *AUTH_ERRORS),
        },
    )
    def get(self, request, job_id: int):
        try:
            return Response(job_body(dispatch.get_job(job_id)))
        except PublishError as error:
            return error_response(error)


class JobCancelView(APIView):
    permission_classes = [CanCancel]

    @extend_schema(
        operation_id="cancel_job",
        summary="Cancel a queued or running publish job",
        description=(
            "A queued job fails at once; a running one stops at its next piece of the asset, what it uploaded is "
            "removed, and it ends `failed` with the code `cancelled` (its audit event and callback are sent). "
            f"Answers the job once it has ended, or after {dispatch.CANCEL_WAIT_SECONDS:.0f} s with it still running."
        ),
        request=None,
        responses={
            200: JobResponseSerializer,
            **error_responses("job_not_found", "job_ended", *AUTH_ERRORS),
        },
    )
    def post(self, request, job_id: int):
        try:
            return Response(job_body(dispatch.cancel(job_id, requested_by=str(request.user))))
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
    """DRF's own refusals (401, 403, 413, 415, ...) in the same error shape as the pipeline's."""
    if isinstance(exc, RequestDataTooBig):  # Django's own body limit, e.g. on form bodies
        exc = RequestTooLarge()
    response = exception_handler(exc, context)
    if response is not None:
        code = getattr(exc, "default_code", "")
        if code not in ERRORS:  # a DRF refusal the contract does not name: the plain code of its status
            code = CODE_OF_STATUS.get(response.status_code, "bad_request")
        response.data = error_body(code, str(getattr(exc, "detail", exc)))
    return response
